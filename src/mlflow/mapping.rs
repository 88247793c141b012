//! An experiment's events as MLflow operations: which run each goes to, and as which params,
//! metrics, tags, artifacts and model versions. Pure: nothing here talks to a server, so the
//! mapping is tested on its own and a push only sends what it returns.
//!
//! Runs: one parent run for the experiment, and nested runs for the baseline, each training
//! phase, pruning and export. Every operation carries the seq of the event it came from, which is
//! how a push knows what a run has already received.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::events::Event;

/// A run of the pushed experiment, as its `exp.run` tag names it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunKey {
    Experiment,
    Baseline,
    /// A training phase, by its index in the plan.
    Phase(u64),
    Pruning,
    Export,
}

impl RunKey {
    /// The value of the run's `exp.run` tag.
    pub fn tag(&self) -> String {
        match self {
            RunKey::Experiment => "experiment".into(),
            RunKey::Baseline => "baseline".into(),
            RunKey::Phase(i) => format!("phase-{i}"),
            RunKey::Pruning => "pruning".into(),
            RunKey::Export => "export".into(),
        }
    }
}

/// What one operation does to its run.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Param(String, String),
    Metric {
        key: String,
        value: f64,
        step: i64,
    },
    Tag(String, String),
    DeleteTag(String),
    /// The run ends: status FINISHED, end time the event's.
    Finish,
    /// Every file under `dir`, logged as artifacts under `under`.
    Artifacts {
        dir: PathBuf,
        under: String,
    },
    /// A model version of the registered model, from the run's artifacts under `source`.
    Register {
        source: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub seq: i64,
    /// Milliseconds since the Unix epoch (the event's timestamp).
    pub ts_ms: i64,
    pub run: RunKey,
    pub action: Action,
}

/// One event as the mapping reads it: seq, timestamp, and the event with its paths resolved.
pub struct LoggedEvent {
    pub seq: i64,
    pub ts: String,
    pub event: Event,
}

/// The run names and operations of an experiment's events.
#[derive(Debug, Default)]
pub struct Mapping {
    /// Display name of each run (`mlflow.runName`), with the timestamp of its first operation.
    pub runs: BTreeMap<RunKey, (String, i64)>,
    pub ops: Vec<Op>,
}

/// Milliseconds since the epoch of an RFC 3339 timestamp (0 when it does not parse).
pub fn millis(ts: &str) -> i64 {
    humantime::parse_rfc3339(ts)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// A param's value as MLflow shows it: strings bare, lists of scalars joined by commas.
fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(|x| !x.is_object() && !x.is_array()) => Some(
            items
                .iter()
                .filter_map(param_text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Array(_) | Value::Object(_) => None,
        other => Some(other.to_string()),
    }
}

/// The scalar (and scalar-list) leaves of `v` as `prefix.path = value`, objects walked.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        other => {
            if let Some(text) = param_text(other) {
                out.push((prefix.to_string(), text));
            }
        }
    }
}

fn number(v: &Value, path: &[&str]) -> Option<f64> {
    let mut at = v;
    for p in path {
        at = match p.parse::<usize>() {
            Ok(i) if at.is_array() => at.get(i)?,
            _ => at.get(p)?,
        };
    }
    match at {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        other => other.as_f64(),
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(param_text)
}

/// Mean latency at batch size `b` from a `latency` array of per-batch-size measurements.
fn latency_at(v: &Value, b: u64) -> Option<f64> {
    v.get("latency")?
        .as_array()?
        .iter()
        .find(|l| l.get("batch_size").and_then(Value::as_u64) == Some(b))
        .and_then(|l| l.get("mean_ms"))
        .and_then(Value::as_f64)
}

/// Builds the operations of one experiment's events, in seq order.
pub struct Mapper {
    out: Mapping,
    notes: Vec<String>,
    seq: i64,
    ts_ms: i64,
}

impl Mapper {
    fn push(&mut self, run: RunKey, action: Action) {
        self.out.ops.push(Op {
            seq: self.seq,
            ts_ms: self.ts_ms,
            run,
            action,
        });
    }

    fn open(&mut self, run: RunKey, name: String) {
        let ts = self.ts_ms;
        self.out.runs.entry(run).or_insert((name, ts));
    }

    fn param(&mut self, run: RunKey, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.push(run, Action::Param(key.to_string(), value));
        }
    }

    fn metric(&mut self, run: RunKey, key: &str, value: Option<f64>, step: i64) {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            self.push(
                run,
                Action::Metric {
                    key: key.to_string(),
                    value,
                    step,
                },
            );
        }
    }

    fn tag(&mut self, run: RunKey, key: &str, value: impl Into<String>) {
        self.push(run, Action::Tag(key.to_string(), value.into()));
    }

    fn event(&mut self, name: &str, e: &LoggedEvent) {
        self.seq = e.seq;
        self.ts_ms = millis(&e.ts);
        let p = e.event.payload();
        let parent = RunKey::Experiment;
        match &e.event {
            Event::ExperimentCreated(_) => {
                self.open(parent.clone(), name.to_string());
                for key in ["data_path", "seed", "exp_version"] {
                    self.param(parent.clone(), key, text(&p, key));
                }
                if let Some(model) = p.get("model") {
                    for key in ["spec", "format", "path"] {
                        self.param(parent.clone(), &format!("model.{key}"), text(model, key));
                    }
                    if let Some(sha) = text(model, "sha256") {
                        self.tag(parent.clone(), "exp.model_sha256", sha);
                    }
                }
                self.param(parent.clone(), "split", p.get("split").and_then(param_text));
            }
            Event::DatasetLoaded(_) => {
                for key in ["format", "encoding", "rows_read", "samples", "duplicates"] {
                    self.param(parent.clone(), &format!("data.{key}"), text(&p, key));
                }
                if let Some(sha) = text(&p, "sha256") {
                    self.tag(parent.clone(), "exp.dataset_sha256", sha);
                }
            }
            Event::SplitMade(_) => {
                if let Some(counts) = p.get("counts") {
                    let mut flat = Vec::new();
                    flatten("split", counts, &mut flat);
                    for (k, v) in flat {
                        self.param(parent.clone(), &k, Some(v));
                    }
                }
                if let Some(digest) = text(&p, "digest") {
                    self.tag(parent.clone(), "exp.split_digest", digest);
                }
            }
            Event::BaselineCaptured(_) => {
                let run = RunKey::Baseline;
                self.open(run.clone(), "baseline".into());
                self.param(run.clone(), "origin", text(&p, "origin"));
                if let Some(fit) = p.get("fit") {
                    let mut flat = Vec::new();
                    flatten("fit", fit, &mut flat);
                    for (k, v) in flat {
                        self.param(run.clone(), &k, Some(v));
                    }
                }
                for (key, path) in [
                    ("val_accuracy", ["validation", "accuracy"]),
                    ("val_macro_f1", ["validation", "macro_f1"]),
                    ("val_avg_confidence", ["validation", "avg_confidence"]),
                ] {
                    self.metric(run.clone(), key, number(&p, &path), 0);
                }
                self.metric(run.clone(), "latency_b1_ms", latency_at(&p, 1), 0);
                self.metric(run.clone(), "latency_b8_ms", latency_at(&p, 8), 0);
                self.push(run, Action::Finish);
            }
            Event::AnalysisRecorded(_) => {
                if let Some(summary) = p.get("summary") {
                    let mut flat = Vec::new();
                    flatten("analysis", summary, &mut flat);
                    for (k, v) in flat {
                        self.param(RunKey::Baseline, &k, Some(v));
                    }
                }
            }
            Event::PlanDerived(_) => {
                let mut flat = Vec::new();
                for key in ["plan", "budget"] {
                    if let Some(v) = p.get(key) {
                        flatten(key, v, &mut flat);
                    }
                }
                // `--set` values, beside the plan values they produced.
                for o in p["overrides"].as_array().into_iter().flatten() {
                    if let (Some(k), Some(v)) = (o["key"].as_str(), o["value"].as_str()) {
                        flat.push((format!("set.{k}"), v.to_string()));
                    }
                }
                for (k, v) in flat {
                    self.param(parent.clone(), &k, Some(v));
                }
            }
            Event::BudgetRevised(_) => {
                self.tag(
                    parent.clone(),
                    &format!("exp.budget_revised.{}", e.seq),
                    p.to_string(),
                );
            }
            Event::AugmentationApplied(_) => {
                let index = p.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(counts) = p.get("result").and_then(|r| r.get("counts")) {
                    let mut flat = Vec::new();
                    flatten("augmentation", counts, &mut flat);
                    for (k, v) in flat {
                        self.param(RunKey::Phase(index), &k, Some(v));
                    }
                }
            }
            Event::PhaseStarted(_) => {
                let index = p.get("index").and_then(Value::as_u64).unwrap_or(0);
                let run = RunKey::Phase(index);
                let start = p.get("start").cloned().unwrap_or(Value::Null);
                let spec = start.get("spec").cloned().unwrap_or(Value::Null);
                let kind = text(&spec, "kind").unwrap_or_default();
                // A resumed phase starts again: its run is the same, its params already logged.
                if self.out.runs.contains_key(&run)
                    && self.out.ops.iter().any(|o| {
                        o.run == run && matches!(&o.action, Action::Param(k, _) if k == "kind")
                    })
                {
                    return;
                }
                self.open(run.clone(), format!("phase {index} {kind}"));
                self.param(run.clone(), "kind", Some(kind));
                for key in ["batch_size", "start_lr", "epochs", "weighted"] {
                    self.param(run.clone(), key, text(&spec, key));
                }
                self.param(run, "train_samples", text(&start, "train_samples"));
            }
            Event::EpochCompleted(_) => {
                let report = p.get("report").cloned().unwrap_or(Value::Null);
                let step = number(&report, &["global_step"]).unwrap_or(0.0) as i64;
                let (run, prefix) = match p.get("pruning_step").and_then(Value::as_u64) {
                    Some(_) => (RunKey::Pruning, "recovery_"),
                    None => (
                        RunKey::Phase(p.get("index").and_then(Value::as_u64).unwrap_or(0)),
                        "",
                    ),
                };
                for (key, path) in [
                    ("train_loss", &["train_loss"][..]),
                    ("val_accuracy", &["validation", "accuracy"]),
                    ("val_macro_f1", &["validation", "macro_f1"]),
                    ("val_mean_confidence", &["validation", "mean_confidence"]),
                    ("samples_per_sec", &["samples_per_sec"]),
                    ("epoch_duration_s", &["duration_s"]),
                    ("peak_lr", &["peak_lr"]),
                ] {
                    self.metric(
                        run.clone(),
                        &format!("{prefix}{key}"),
                        number(&report, path),
                        step,
                    );
                }
            }
            Event::LrReduced(_) | Event::EarlyStopped(_) | Event::PhaseRestarted(_) => {
                let index = p.get("index").and_then(Value::as_u64).unwrap_or(0);
                let key = format!("exp.{}.{}", e.event.kind(), e.seq);
                self.tag(RunKey::Phase(index), &key, p.to_string());
            }
            Event::PhaseCompleted(_) => {
                let index = p.get("index").and_then(Value::as_u64).unwrap_or(0);
                let run = RunKey::Phase(index);
                self.metric(
                    run.clone(),
                    "best_macro_f1",
                    number(&p, &["best_macro_f1"]),
                    0,
                );
                for key in ["best_epoch", "epochs_run", "early_stopped", "kept"] {
                    if let Some(v) = text(&p, key) {
                        self.tag(run.clone(), &format!("exp.{key}"), v);
                    }
                }
                self.push(run, Action::Finish);
            }
            Event::TrainingCompleted(_) => {
                for (key, path) in [
                    ("val_accuracy", ["validation", "accuracy"]),
                    ("val_macro_f1", ["validation", "macro_f1"]),
                ] {
                    self.metric(parent.clone(), key, number(&p, &path), 0);
                }
                if let Some(adopted) = p.get("averaging").and_then(|a| a.get("adopted")) {
                    self.tag(parent.clone(), "exp.averaging_adopted", adopted.to_string());
                }
                self.tag(parent.clone(), "exp.training", "completed");
            }
            Event::TestEvaluated(_) => {
                for role in ["baseline", "candidate"] {
                    let Some(r) = p.get(role) else { continue };
                    let Some(model) = text(r, "model") else {
                        continue;
                    };
                    for (key, path) in [
                        ("accuracy", &["accuracy"][..]),
                        ("accuracy_ci95_low", &["accuracy_ci95", "0"]),
                        ("accuracy_ci95_high", &["accuracy_ci95", "1"]),
                        ("macro_f1", &["metrics", "macro_f1"]),
                    ] {
                        self.metric(
                            parent.clone(),
                            &format!("test.{model}.{key}"),
                            number(r, path),
                            0,
                        );
                    }
                }
                if let (Some(b), Some(c)) = (
                    p.get("baseline").and_then(|r| text(r, "model")),
                    p.get("candidate").and_then(|r| text(r, "model")),
                ) {
                    let key = format!("test.{c}.vs.{b}.mcnemar_p");
                    self.metric(parent.clone(), &key, number(&p, &["mcnemar_p"]), 0);
                }
            }
            Event::RunFailed(_) => {
                self.tag(parent.clone(), "exp.failed", p.to_string());
            }
            Event::PruningStep(_) => {
                let run = RunKey::Pruning;
                self.open(run.clone(), "pruning".into());
                let step = number(&p, &["step"]).unwrap_or(0.0) as i64;
                for (key, path) in [
                    ("target_fraction", &["target_fraction"][..]),
                    ("parameters", &["shape", "parameters"]),
                    ("encoder_parameters", &["shape", "encoder_parameters"]),
                    ("val_accuracy", &["validation", "accuracy"]),
                    ("val_macro_f1", &["validation", "macro_f1"]),
                    ("kept", &["kept"]),
                ] {
                    self.metric(run.clone(), key, number(&p, path), step);
                }
                self.metric(run, "latency_b1_ms", latency_at(&p, 1), step);
            }
            Event::PruningCompleted(_) => {
                let run = RunKey::Pruning;
                self.open(run.clone(), "pruning".into());
                for key in ["method", "kept_step", "steps_run", "sparsity"] {
                    self.param(run.clone(), key, text(&p, key));
                }
                self.push(run, Action::Finish);
            }
            Event::ModelExported(_) => {
                let run = RunKey::Export;
                self.open(run.clone(), "export".into());
                for key in ["source", "quantization"] {
                    if let Some(v) = text(&p, key) {
                        self.tag(run.clone(), &format!("exp.{key}"), v);
                    }
                }
                if let Some(dir) = p.get("dir").and_then(Value::as_str) {
                    self.push(
                        run.clone(),
                        Action::Artifacts {
                            dir: PathBuf::from(dir),
                            under: "model".into(),
                        },
                    );
                    self.push(
                        run,
                        Action::Register {
                            source: "model".into(),
                        },
                    );
                }
            }
            Event::ExportValidated(_) => {
                let run = RunKey::Export;
                let Some(file) = text(&p, "file") else { return };
                for (key, path) in [
                    ("max_abs_diff", &["max_abs_diff"][..]),
                    ("size_bytes", &["size_bytes"]),
                    ("val_accuracy", &["validation", "accuracy"]),
                    ("val_macro_f1", &["validation", "macro_f1"]),
                ] {
                    self.metric(run.clone(), &format!("{file}.{key}"), number(&p, path), 0);
                }
            }
            Event::BenchmarkMeasured(_) => {
                let model = text(&p, "model").unwrap_or_default();
                let kind = text(&p, "model_type").unwrap_or_default();
                let batch = number(&p, &["latency", "batch_size"]).unwrap_or(0.0) as i64;
                let prefix = format!("bench.{model}.{kind}.b{batch}");
                for (key, path) in [
                    ("mean_ms", &["latency", "mean_ms"][..]),
                    ("p50_ms", &["latency", "p50_ms"]),
                    ("p95_ms", &["latency", "p95_ms"]),
                    ("throughput", &["latency", "throughput_samples_per_sec"]),
                    ("peak_memory_mb", &["peak_memory_mb"]),
                    ("model_size_mb", &["model_size_mb"]),
                    ("accuracy", &["accuracy"]),
                    ("f1_score", &["f1_score"]),
                ] {
                    self.metric(
                        parent.clone(),
                        &format!("{prefix}.{key}"),
                        number(&p, path),
                        0,
                    );
                }
            }
            Event::ReportGenerated(_) => {
                if let Some(dir) = p.get("dir").and_then(Value::as_str) {
                    self.push(
                        parent.clone(),
                        Action::Artifacts {
                            dir: PathBuf::from(dir),
                            under: "report".into(),
                        },
                    );
                }
            }
            Event::TagSet(t) => match &t.value {
                Some(v) => self.tag(parent.clone(), &t.key, v.clone()),
                None => self.push(parent.clone(), Action::DeleteTag(t.key.clone())),
            },
            // Where the latest run ran, as one tag (JSON) on the parent.
            Event::RunStarted(r) => {
                if let Ok(text) = serde_json::to_string(&r.environment) {
                    self.tag(parent.clone(), "exp.environment", text);
                }
            }
            Event::NoteAdded(n) => {
                self.notes.push(format!("{}: {}", e.ts, n.text));
                let all = self.notes.join("\n\n");
                self.tag(parent.clone(), "mlflow.note.content", all);
            }
            // Files that stay on this machine (checkpoints) and decisions about them; a sweep's
            // definition is in a stream of its own, never an experiment's.
            Event::CheckpointSaved(_) | Event::CheckpointRejected(_) | Event::SweepDefined(_) => {}
        }
    }
}

/// The mapping of an experiment's events (in seq order).
pub fn map_events(name: &str, events: &[LoggedEvent]) -> Mapping {
    let mut mapper = Mapper {
        out: Mapping::default(),
        notes: Vec::new(),
        seq: 0,
        ts_ms: 0,
    };
    for e in events {
        mapper.event(name, e);
    }
    let mut out = mapper.out;
    // Every run that has operations exists, named by its tag when no event named it, and starts
    // at its first operation.
    for op in &out.ops {
        let entry = out
            .runs
            .entry(op.run.clone())
            .or_insert_with(|| (op.run.tag(), op.ts_ms));
        entry.1 = entry.1.min(op.ts_ms);
    }
    out
}
