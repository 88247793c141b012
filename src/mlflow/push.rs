//! `exp mlflow push`: sends what the tracking server has not received yet.
//!
//! Progress lives on the MLflow side, so `exp.db` stays append-only: every run carries an
//! `exp.seq` tag, the seq of the last event whose operations it has received, set in the same
//! `log-batch` request as those metrics (MLflow applies a batch as a whole), so a killed push
//! never logs a metric twice. Operations that are not a batch (artifact uploads, model versions,
//! tag removals) are safe to repeat and are followed by their own `exp.seq`. The experiment and
//! its runs are found again by the `exp.origin` tag: the hash of the log's first event.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::client::{field, Client, MlflowError};
use super::mapping::{map_events, Action, LoggedEvent, Op, RunKey};
use crate::store::{paths, Store};

/// What to push where.
pub struct PushOptions {
    pub tracking_uri: String,
    /// The MLflow experiment's name (default: the exp experiment's).
    pub mlflow_experiment: Option<String>,
    /// The registered model the exported ONNX model becomes a version of (default: the MLflow
    /// experiment's name).
    pub registered_model: Option<String>,
}

/// One run as the push left it.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run: String,
    pub name: String,
    pub run_id: String,
    pub created: bool,
    pub params: usize,
    pub metrics: usize,
    pub tags: usize,
    pub artifact_files: usize,
    /// The seq of the last event the run has received.
    pub through_seq: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PushReport {
    pub experiment: String,
    pub tracking_uri: String,
    pub mlflow_experiment: String,
    pub mlflow_experiment_id: String,
    /// The last seq pushed before this push (None: the first push).
    pub previous_seq: Option<i64>,
    /// The experiment's last seq, now pushed.
    pub through_seq: i64,
    /// Events after `previous_seq` (those this push sent, or found already sent).
    pub new_events: usize,
    pub runs: Vec<RunReport>,
    /// `NAME/VERSION` of model versions registered by this push.
    pub model_versions: Vec<String>,
}

impl PushReport {
    /// Params, metrics, tags and artifact files sent by this push, in all.
    pub fn items(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.params + r.metrics + r.tags + r.artifact_files)
            .sum()
    }
}

/// MLflow's limits on one `log-batch` request.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;

/// A run on the server, as the push found or created it.
struct ServerRun {
    id: String,
    artifact_uri: String,
    seq: i64,
    tags: BTreeMap<String, String>,
    status: String,
    end_time: Option<i64>,
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t.get("key")?.as_str()?.to_string(),
                        t.get("value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn kv(key: &str, value: &str) -> Value {
    json!({"key": key, "value": value})
}

/// Reads the log of `name` with its paths resolved under the database's directory.
fn read_log(store: &Store, name: &str) -> Result<(Vec<LoggedEvent>, String, String), MlflowError> {
    let log = |e: crate::store::StoreError| MlflowError::Log(e.to_string());
    let stored = store.events(name, None).map_err(log)?;
    let (Some(first), Some(last)) = (stored.first(), stored.last()) else {
        return Err(MlflowError::Log(format!(
            "there is no experiment '{name}' in {}",
            store.path().display()
        )));
    };
    if store.is_sweep(name).map_err(log)? {
        return Err(MlflowError::Log(format!(
            "'{name}' is a sweep, not an experiment: push its members (`exp events {name}` lists them)"
        )));
    }
    let (origin, last_hash) = (first.hash.clone(), last.hash.clone());
    let mut events = Vec::with_capacity(stored.len());
    for s in &stored {
        let mut event = s.event().map_err(log)?;
        event.for_each_path(|p| paths::resolve(store.base_dir(), p));
        events.push(LoggedEvent {
            seq: s.seq,
            ts: s.ts.clone(),
            event,
        });
    }
    Ok((events, origin, last_hash))
}

/// The MLflow experiment for this log: found by name and checked to be ours, or created.
fn experiment_id(
    client: &Client,
    mlflow_name: &str,
    name: &str,
    origin: &str,
) -> Result<String, MlflowError> {
    let endpoint = "experiments/get-by-name";
    match client.get(endpoint, &[("experiment_name", mlflow_name)]) {
        Ok(found) => {
            let tags = tags_of(&found["experiment"]["tags"]);
            let why = match tags.get("exp.origin") {
                Some(o) if o == origin => {
                    return Ok(field(&found, &["experiment", "experiment_id"], endpoint)?.into())
                }
                Some(o) => format!(
                    "its exp.origin tag is {}..., this log's first event hashes to {}...",
                    &o[..o.len().min(12)],
                    &origin[..origin.len().min(12)]
                ),
                None => "it has no exp.origin tag: exp did not create it".to_string(),
            };
            Err(MlflowError::NameTaken {
                mlflow: mlflow_name.to_string(),
                experiment: name.to_string(),
                why,
            })
        }
        Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => {
            let created = client.post(
                "experiments/create",
                &json!({
                    "name": mlflow_name,
                    "tags": [kv("exp.origin", origin), kv("exp.experiment", name)],
                }),
            )?;
            Ok(field(&created, &["experiment_id"], "experiments/create")?.to_string())
        }
        Err(e) => Err(e),
    }
}

/// The runs of this log already on the server, by their `exp.run` tag.
fn existing_runs(
    client: &Client,
    experiment_id: &str,
    origin: &str,
) -> Result<BTreeMap<String, ServerRun>, MlflowError> {
    let mut runs = BTreeMap::new();
    let mut page_token: Option<String> = None;
    loop {
        let mut body = json!({
            "experiment_ids": [experiment_id],
            "filter": format!("tags.`exp.origin` = '{origin}'"),
            "max_results": 1000,
        });
        if let Some(t) = &page_token {
            body["page_token"] = json!(t);
        }
        let found = client.post("runs/search", &body)?;
        for run in found["runs"].as_array().into_iter().flatten() {
            let tags = tags_of(&run["data"]["tags"]);
            let Some(key) = tags.get("exp.run").cloned() else {
                continue;
            };
            runs.insert(
                key,
                ServerRun {
                    id: field(run, &["info", "run_id"], "runs/search")?.to_string(),
                    artifact_uri: field(run, &["info", "artifact_uri"], "runs/search")?.to_string(),
                    seq: tags
                        .get("exp.seq")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    tags,
                    status: run["info"]["status"].as_str().unwrap_or("").to_string(),
                    end_time: run["info"]["end_time"]
                        .as_i64()
                        .or_else(|| run["info"]["end_time"].as_str()?.parse().ok()),
                },
            );
        }
        page_token = found["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if page_token.is_none() {
            return Ok(runs);
        }
    }
}

/// Operations of one run waiting to go out in one `log-batch`.
#[derive(Default)]
struct Batch {
    metrics: Vec<Value>,
    params: Vec<Value>,
    tags: Vec<Value>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.params.is_empty() && self.tags.is_empty()
    }

    fn fits(&self, other: &Batch) -> bool {
        self.metrics.len() + other.metrics.len() <= MAX_METRICS
            && self.params.len() + other.params.len() <= MAX_PARAMS
            && self.tags.len() + other.tags.len() < MAX_TAGS
    }

    fn extend(&mut self, other: Batch) {
        self.metrics.extend(other.metrics);
        self.params.extend(other.params);
        self.tags.extend(other.tags);
    }
}

struct Pusher<'a> {
    client: &'a Client,
    report: RunReport,
    run: ServerRun,
    registered_model: &'a str,
    model_versions: Vec<String>,
}

impl Pusher<'_> {
    /// Sends `batch`, with `exp.seq` = `seq` when given (atomic with the batch).
    fn send(&mut self, mut batch: Batch, seq: Option<i64>) -> Result<(), MlflowError> {
        if let Some(seq) = seq {
            batch.tags.push(kv("exp.seq", &seq.to_string()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.report.metrics += batch.metrics.len();
        self.report.params += batch.params.len();
        self.report.tags += batch.tags.len() - usize::from(seq.is_some());
        self.client.post(
            "runs/log-batch",
            &json!({
                "run_id": self.run.id,
                "metrics": batch.metrics,
                "params": batch.params,
                "tags": batch.tags,
            }),
        )?;
        crate::faults::point("mlflow-sent");
        if let Some(seq) = seq {
            self.run.seq = seq;
            self.report.through_seq = seq;
        }
        Ok(())
    }

    /// The run's artifact root below the proxy (`/EXPERIMENT/RUN/artifacts`).
    fn artifact_root(&self) -> Result<String, MlflowError> {
        let uri = &self.run.artifact_uri;
        let rest =
            uri.strip_prefix("mlflow-artifacts:")
                .ok_or_else(|| MlflowError::ArtifactStore {
                    run: self.report.run.clone(),
                    uri: uri.clone(),
                })?;
        // `mlflow-artifacts://host:port/path` names a server; the path is what the proxy takes.
        let path = match rest.strip_prefix("//") {
            Some(with_host) => with_host
                .find('/')
                .map_or("", |i| &with_host[i..])
                .to_string(),
            None => rest.to_string(),
        };
        Ok(path.trim_end_matches('/').to_string())
    }

    fn upload_dir(&mut self, dir: &Path, under: &str) -> Result<(), MlflowError> {
        let root = self.artifact_root()?;
        let mut stack = vec![dir.to_path_buf()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|source| MlflowError::File {
                path: d.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        for path in files {
            let rel = path
                .strip_prefix(dir)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let bytes = std::fs::read(&path).map_err(|source| MlflowError::File {
                path: path.clone(),
                source,
            })?;
            self.client
                .put_artifact(&root, &format!("{under}/{rel}"), &bytes)?;
            self.report.artifact_files += 1;
        }
        Ok(())
    }

    /// A model version from the run's artifacts under `source`, unless this event made one.
    fn register(&mut self, source: &str, seq: i64) -> Result<(), MlflowError> {
        let name = self.registered_model.to_string();
        match self
            .client
            .post("registered-models/create", &json!({ "name": name }))
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        let filter = format!(
            "name = '{}' and run_id = '{}'",
            name.replace('\'', "\\'"),
            self.run.id
        );
        let found = self
            .client
            .get("model-versions/search", &[("filter", filter.as_str())])?;
        let seq_text = seq.to_string();
        let already = found["model_versions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| tags_of(&v["tags"]).get("exp.seq") == Some(&seq_text));
        if already {
            return Ok(());
        }
        let uri = format!("{}/{source}", self.run.artifact_uri.trim_end_matches('/'));
        let created = self.client.post(
            "model-versions/create",
            &json!({
                "name": name,
                "source": uri,
                "run_id": self.run.id,
                "tags": [kv("exp.seq", &seq_text)],
                "description": format!("exp export (event {seq}): onnx/model.onnx, onnx/model.int8.onnx and the Hugging Face files"),
            }),
        )?;
        let version = field(
            &created,
            &["model_version", "version"],
            "model-versions/create",
        )?;
        self.model_versions.push(format!("{name}/{version}"));
        Ok(())
    }

    /// The operations of one event that are not a batch, then its own `exp.seq`.
    fn apply_unbatched(&mut self, seq: i64, ops: &[&Op]) -> Result<(), MlflowError> {
        for op in ops {
            match &op.action {
                Action::Artifacts { dir, under } => self.upload_dir(dir, under)?,
                Action::Register { source } => self.register(source, seq)?,
                Action::DeleteTag(key) => {
                    let body = json!({"run_id": self.run.id, "key": key});
                    match self.client.post("runs/delete-tag", &body) {
                        Ok(_) => self.report.tags += 1,
                        // Already gone: a push killed after removing it.
                        Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => {}
                        Err(e) => return Err(e),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Sends the run's operations from events after the ones it has received.
    fn push_ops(&mut self, ops: &[&Op]) -> Result<(), MlflowError> {
        let mut pending = Batch::default();
        let mut pending_seq: Option<i64> = None;
        let mut i = 0;
        while i < ops.len() {
            let seq = ops[i].seq;
            let group: Vec<&Op> = ops[i..]
                .iter()
                .take_while(|o| o.seq == seq)
                .copied()
                .collect();
            i += group.len();
            if seq <= self.run.seq {
                continue;
            }
            let mut batch = Batch::default();
            let mut unbatched = Vec::new();
            for op in &group {
                match &op.action {
                    Action::Metric { key, value, step } => batch.metrics.push(json!({
                        "key": key, "value": value, "timestamp": op.ts_ms, "step": step,
                    })),
                    Action::Param(k, v) => batch.params.push(kv(k, v)),
                    Action::Tag(k, v) => batch.tags.push(kv(k, v)),
                    Action::Finish => {}
                    _ => unbatched.push(*op),
                }
            }
            if unbatched.is_empty() {
                if !pending.fits(&batch) {
                    self.send(std::mem::take(&mut pending), pending_seq)?;
                }
                pending.extend(batch);
                pending_seq = Some(seq);
                continue;
            }
            // Params and tags are safe to send again; the rest of the event goes after them.
            self.send(std::mem::take(&mut pending), pending_seq)?;
            pending_seq = None;
            self.send(batch, None)?;
            self.apply_unbatched(seq, &unbatched)?;
            self.send(Batch::default(), Some(seq))?;
        }
        self.send(pending, pending_seq)
    }
}

/// Pushes experiment `name` of `store` to the tracking server; `progress` hears one line per run.
pub fn push(
    store: &Store,
    name: &str,
    options: &PushOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<PushReport, MlflowError> {
    let (events, origin, last_hash) = read_log(store, name)?;
    let through_seq = events.last().map_or(0, |e| e.seq);
    let mapping = map_events(name, &events);
    let client = Client::new(&options.tracking_uri);
    let mlflow_name = options.mlflow_experiment.as_deref().unwrap_or(name);
    let registered_model = options.registered_model.as_deref().unwrap_or(mlflow_name);
    let experiment_id = experiment_id(&client, mlflow_name, name, &origin)?;
    let mut existing = existing_runs(&client, &experiment_id, &origin)?;

    let previous_seq = existing
        .get(&RunKey::Experiment.tag())
        .and_then(|r| r.tags.get("exp.pushed_seq"))
        .and_then(|s| s.parse::<i64>().ok());
    let mut report = PushReport {
        experiment: name.to_string(),
        tracking_uri: client.uri().to_string(),
        mlflow_experiment: mlflow_name.to_string(),
        mlflow_experiment_id: experiment_id.clone(),
        previous_seq,
        through_seq,
        new_events: events
            .iter()
            .filter(|e| e.seq > previous_seq.unwrap_or(0))
            .count(),
        runs: Vec::new(),
        model_versions: Vec::new(),
    };

    let mut parent_id: Option<String> = None;
    for (key, (run_name, start_ms)) in &mapping.runs {
        let tag = key.tag();
        let ops: Vec<&Op> = mapping.ops.iter().filter(|o| &o.run == key).collect();
        let (run, created) = match existing.remove(&tag) {
            Some(run) => (run, false),
            None => {
                let mut tags = vec![
                    kv("exp.run", &tag),
                    kv("exp.origin", &origin),
                    kv("exp.experiment", name),
                ];
                if let Some(parent) = &parent_id {
                    tags.push(kv("mlflow.parentRunId", parent));
                }
                let created = client.post(
                    "runs/create",
                    &json!({
                        "experiment_id": experiment_id,
                        "run_name": run_name,
                        "start_time": start_ms,
                        "tags": tags,
                    }),
                )?;
                let run = ServerRun {
                    id: field(&created, &["run", "info", "run_id"], "runs/create")?.to_string(),
                    artifact_uri: field(&created, &["run", "info", "artifact_uri"], "runs/create")?
                        .to_string(),
                    seq: 0,
                    tags: BTreeMap::new(),
                    status: "RUNNING".to_string(),
                    end_time: None,
                };
                (run, true)
            }
        };
        if *key == RunKey::Experiment {
            parent_id = Some(run.id.clone());
        }
        let mut pusher = Pusher {
            client: &client,
            report: RunReport {
                run: tag.clone(),
                name: run_name.clone(),
                run_id: run.id.clone(),
                created,
                params: 0,
                metrics: 0,
                tags: 0,
                artifact_files: 0,
                through_seq: run.seq,
            },
            run,
            registered_model,
            model_versions: Vec::new(),
        };
        pusher.push_ops(&ops)?;
        // A run ends with its stage: its Finish operations, the parent once training completed,
        // the export run at its last event; updated when the server has it otherwise.
        let completed = |o: &&Op| matches!(&o.action, Action::Tag(k, v) if k == "exp.training" && v == "completed");
        let end_ms = match key {
            RunKey::Experiment if ops.iter().any(completed) => ops.last().map(|o| o.ts_ms),
            RunKey::Export => ops.last().map(|o| o.ts_ms),
            _ => ops
                .iter()
                .filter(|o| o.action == Action::Finish)
                .map(|o| o.ts_ms)
                .max(),
        };
        if let Some(end) = end_ms {
            if pusher.run.status != "FINISHED" || pusher.run.end_time != Some(end) {
                client.post(
                    "runs/update",
                    &json!({"run_id": pusher.run.id, "status": "FINISHED", "end_time": end}),
                )?;
            }
        }
        let line = format!(
            "{:<12} {:<24} {} params, {} metrics, {} tags, {} files{}",
            tag,
            run_name,
            pusher.report.params,
            pusher.report.metrics,
            pusher.report.tags,
            pusher.report.artifact_files,
            if pusher.report.created {
                " (new run)"
            } else {
                ""
            }
        );
        progress(&line);
        report.model_versions.extend(pusher.model_versions);
        report.runs.push(pusher.report);
    }

    if previous_seq != Some(through_seq) {
        if let Some(parent) = &parent_id {
            client.post(
                "runs/log-batch",
                &json!({
                    "run_id": parent,
                    "tags": [kv("exp.pushed_seq", &through_seq.to_string()), kv("exp.pushed_hash", &last_hash)],
                }),
            )?;
        }
    }
    Ok(report)
}
