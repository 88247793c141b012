//! Read-only commands: `exp ls`, `exp show`, `exp events`, `exp verify`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;

use exp::events::Event;
use exp::state::Experiment;
use exp::store::{Store, StoreError};

use super::output::{print_json, table};

/// Opens the database read-only; `None` when it does not exist yet (no experiments).
fn open_existing(db: &Path) -> anyhow::Result<Option<Store>> {
    if !db.exists() && !db.is_symlink() {
        return Ok(None);
    }
    Ok(Some(Store::open_read_only(db)?))
}

/// Folds an experiment, saying so plainly when its log has events this version cannot read.
fn fold(store: &Store, name: &str) -> anyhow::Result<Experiment> {
    Experiment::load(store, name, None).map_err(|e| match newer_writer(store, name, &e) {
        Some(why) => anyhow::anyhow!("experiment '{name}' {why}"),
        None => anyhow::Error::new(e).context(format!("replaying experiment '{name}'")),
    })
}

/// When a fold failed on an event of a kind this version does not know, or on a payload it
/// cannot read: "was written by a newer exp ..." with the version its creation recorded.
fn newer_writer(store: &Store, name: &str, error: &StoreError) -> Option<String> {
    let StoreError::BadPayload { seq, kind, .. } = error else {
        return None;
    };
    let ours = env!("CARGO_PKG_VERSION");
    let written_by = store
        .events(name, Some("ExperimentCreated"))
        .ok()
        .and_then(|events| events.into_iter().next())
        .and_then(|e| e.payload.get("exp_version")?.as_str().map(str::to_string));
    let version = match &written_by {
        Some(v) if v != ours => format!(" (version {v})"),
        _ => String::new(),
    };
    let what = if Event::KINDS.contains(&kind.as_str()) {
        format!("event {seq} ({kind}) has a payload that exp {ours} cannot read")
    } else {
        format!("event {seq} has kind '{kind}', which exp {ours} does not know")
    };
    Some(format!(
        "was written by a newer exp{version}: {what}; `exp verify` still checks its chain"
    ))
}

/// The database, read-only, when it holds experiment `name`.
fn holding(db: &Path, name: &str) -> anyhow::Result<Store> {
    let store = open_existing(db)?.filter(|s| s.exists(name).unwrap_or(false));
    let Some(store) = store else {
        bail!(
            "no experiment '{name}' in {} (see `exp ls`; create one with `exp new`)",
            db.display()
        );
    };
    Ok(store)
}

fn load(db: &Path, name: &str) -> anyhow::Result<(Store, Experiment)> {
    let store = holding(db, name)?;
    if store.is_sweep(name)? {
        bail!("'{name}' is a sweep, not an experiment: its members are its experiments (`exp compare --sweep {name}` compares them; `exp events {name}` shows its definition)");
    }
    let state = fold(&store, name)?;
    Ok((store, state))
}

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Only experiments with this tag (KEY=VALUE; repeat for several, all must hold).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = exp::pipeline::annotate::parse_tag)]
    pub tags: Vec<exp::events::TagSet>,
    /// Only experiments whose v_experiments row meets this SQL condition, e.g.
    /// "test_accuracy > 0.8" (the database is opened read-only).
    #[arg(long = "where", value_name = "SQL")]
    pub condition: Option<String>,
}

pub fn ls(db: &Path, args: &LsArgs, json: bool) -> anyhow::Result<ExitCode> {
    let Some(store) = open_existing(db)? else {
        if json {
            print_json(&Vec::<Experiment>::new())?;
        } else {
            println!("no experiments ({} does not exist yet)", db.display());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let names = match &args.condition {
        Some(sql) => store
            .experiments_where(sql)
            .map_err(|e| anyhow::anyhow!("--where {sql:?}: {e}"))?,
        None => store.experiments()?,
    };
    let mut summaries = Vec::new();
    for name in names {
        summaries.push(match Experiment::load(&store, &name, None) {
            Ok(state) => summary(&state),
            Err(e) => match newer_writer(&store, &name, &e) {
                Some(why) => unreadable(&store, &name, why)?,
                None => {
                    return Err(
                        anyhow::Error::new(e).context(format!("replaying experiment '{name}'"))
                    )
                }
            },
        });
    }
    summaries.retain(|s| {
        args.tags
            .iter()
            .all(|t| s.tags.get(&t.key) == t.value.as_ref())
    });
    if json {
        print_json(&summaries)?;
        return Ok(ExitCode::SUCCESS);
    }
    if summaries.is_empty() && (args.condition.is_some() || !args.tags.is_empty()) {
        println!("no experiments in {} match", db.display());
        return Ok(ExitCode::SUCCESS);
    }
    if summaries.is_empty() {
        println!("no experiments in {}", db.display());
        return Ok(ExitCode::SUCCESS);
    }
    let notes: Vec<String> = summaries
        .iter()
        .filter_map(|s| Some(format!("{}: {}", s.name, s.unreadable.as_ref()?)))
        .collect();
    let rows: Vec<Vec<String>> = summaries
        .into_iter()
        .map(|sum| {
            vec![
                sum.name,
                sum.status.to_string(),
                sum.model,
                sum.samples.map_or("-".into(), |n| n.to_string()),
                sum.events.to_string(),
                sum.created_at,
                exp::state::tags_text(&sum.tags),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["NAME", "STATUS", "MODEL", "SAMPLES", "EVENTS", "CREATED", "TAGS"],
            &rows
        )
    );
    for note in notes {
        println!("\n{note}");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Summary {
    name: String,
    status: &'static str,
    model: String,
    samples: Option<usize>,
    events: usize,
    created_at: String,
    tags: std::collections::BTreeMap<String, String>,
    /// Why the log could not be folded (events from a newer exp); absent when it could.
    #[serde(skip_serializing_if = "Option::is_none")]
    unreadable: Option<String>,
}

/// The row of an experiment whose log this version cannot fold: what its raw events say.
fn unreadable(store: &Store, name: &str, why: String) -> anyhow::Result<Summary> {
    let events = store.events(name, None)?;
    let created = events.iter().find(|e| e.kind == "ExperimentCreated");
    let text = |key: &str| {
        created
            .and_then(|e| e.payload.pointer(key)?.as_str().map(str::to_string))
            .unwrap_or_else(|| "-".to_string())
    };
    Ok(Summary {
        name: name.to_string(),
        status: "written by a newer exp",
        model: text("/model/spec"),
        samples: None,
        events: events.len(),
        created_at: created.map(|e| e.ts.clone()).unwrap_or_default(),
        tags: Default::default(),
        unreadable: Some(why),
    })
}

fn summary(state: &Experiment) -> Summary {
    Summary {
        name: state.name.clone(),
        status: state.status(),
        model: state
            .created
            .as_ref()
            .map_or("-".into(), |c| c.model.spec.clone()),
        samples: state.dataset.as_ref().map(|d| d.samples),
        events: state.events,
        created_at: state.created_at.clone().unwrap_or_default(),
        tags: state.tags.clone(),
        unreadable: None,
    }
}

/// The folded state as JSON, without the split's id lists (long; `exp events NAME --kind
/// SplitMade` prints them).
pub fn print_state_json(state: &Experiment) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(state)?;
    if let Some(split) = value.get_mut("split").and_then(|s| s.as_object_mut()) {
        split.remove("ids");
    }
    print_json(&value)
}

/// Two lines: the build and libraries, then the machine.
fn print_environment(run: &str, e: &exp::events::Environment) {
    let ort = e
        .onnxruntime
        .as_ref()
        .map_or("not loaded".to_string(), |o| {
            format!(
                "{} (sha256 {})",
                o.version,
                o.sha256.chars().take(12).collect::<String>()
            )
        });
    println!(
        "environment {run}: exp {} (commit {}), {}, candle {}, ort {}, tokenizers {}, ONNX Runtime {ort}",
        e.exp_version,
        e.git_commit.chars().take(12).collect::<String>(),
        e.rustc,
        e.candle,
        e.ort_crate,
        e.tokenizers
    );
    println!(
        "            {}; {} (matrix kernels {}), {} threads; {}",
        e.cpu,
        e.cpu_features.join(" "),
        e.gemm_kernels,
        e.threads,
        e.os
    );
}

pub fn show(db: &Path, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (_, state) = load(db, name)?;
    if json {
        print_state_json(&state)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("experiment  {}", state.name);
    println!("status      {}", state.status());
    if let Some((ts, run)) = state.runs.last() {
        print_environment(
            &format!("{} at {ts} (latest run)", run.command),
            &run.environment,
        );
    }
    if !state.tags.is_empty() {
        println!("tags        {}", exp::state::tags_text(&state.tags));
    }
    for (ts, text) in &state.notes {
        println!("note        {ts}: {text}");
    }
    if let Some(created) = &state.created {
        println!("created     {}", state.created_at.as_deref().unwrap_or("?"));
        if let Some(e) = &created.environment {
            print_environment("exp new", e);
        }
        println!(
            "model       {} ({}, {})",
            created.model.spec, created.model.format, created.model.path
        );
        println!("data        {}", created.data_path);
        match created.split_seed {
            Some(split) => println!("seed        {} (split seed {split})", created.seed),
            None => println!("seed        {}", created.seed),
        }
        if !created.overrides.is_empty() {
            let set: Vec<String> = created.overrides.iter().map(|o| o.to_string()).collect();
            println!("--set       {}", set.join(", "));
        }
    }
    if let Some(data) = &state.dataset {
        println!(
            "dataset     {} rows read, {} samples, {} duplicates collapsed, {} conflicting texts excluded ({}; sha256 {})",
            data.rows_read,
            data.samples,
            data.duplicates,
            data.conflicts.len(),
            data.encoding,
            &data.sha256[..12]
        );
    }
    if let Some(split) = &state.split {
        println!(
            "split       {}/{}/{} % -> train {}, validation {}, test {} (sealed); digest {}",
            split.percentages[0],
            split.percentages[1],
            split.percentages[2],
            split.counts.train,
            split.counts.validation,
            split.counts.test,
            &split.digest[..12]
        );
        let labels: Vec<&String> = state
            .dataset
            .as_ref()
            .map(|d| d.labels.iter().collect())
            .unwrap_or_default();
        let rows: Vec<Vec<String>> = ["train", "validation", "test"]
            .iter()
            .map(|part| {
                let counts = split.label_counts.get(*part);
                let mut row = vec![part.to_string()];
                row.extend(labels.iter().map(|l| {
                    counts
                        .and_then(|c| c.get(*l))
                        .copied()
                        .unwrap_or(0)
                        .to_string()
                }));
                row
            })
            .collect();
        let mut header = vec!["SPLIT"];
        header.extend(labels.iter().map(|l| l.as_str()));
        println!();
        print!("{}", table(&header, &rows));
    }
    if let Some(b) = &state.baseline {
        let latency: Vec<String> = b
            .latency
            .iter()
            .map(|l| format!("batch {} {:.1} ms", l.batch_size, l.mean_ms))
            .collect();
        println!(
            "baseline    {} ({}): validation accuracy {:.4}, macro-F1 {:.4}; {:.1} MB; ORT {}",
            b.onnx.path,
            b.origin,
            b.validation.accuracy,
            b.validation.macro_f1,
            b.onnx.bytes as f64 / 1e6,
            latency.join(", ")
        );
    }
    if let Some((seq, a)) = &state.analysis {
        println!(
            "analysis    {} ({}, event {seq}): error rate {:.4}, {} misclassified, {} low-confidence; lr {}",
            a.path,
            a.source,
            a.summary.error_rate,
            a.summary.misclassified,
            a.summary.low_confidence,
            a.summary.learning_rate
        );
    }
    if let Some(p) = &state.plan {
        let phases: Vec<String> = p
            .plan
            .phases
            .iter()
            .map(|ph| format!("{} x{}", ph.kind.name(), ph.epochs))
            .collect();
        println!(
            "plan        {} recipe, health {}, batch {}, lr {:.1e}..{:.1e}, phases (max epochs) {}; `exp plan {}` shows it",
            p.plan.recipe,
            p.plan.health.name(),
            p.plan.batch_size,
            p.plan.lr_band.low,
            p.plan.lr_band.high,
            phases.join(" -> "),
            state.name
        );
        if !p.overrides.is_empty() {
            let set: Vec<String> = p
                .overrides
                .iter()
                .map(|o| format!("{}={} (derived {})", o.key, o.value, o.derived))
                .collect();
            println!("set by hand {}", set.join(", "));
        }
        if let Some(b) = &p.budget {
            println!(
                "budget      {:.0} s: estimate {:.0} s; {} left out{}",
                b.budget_s,
                b.estimate_total_s,
                b.left_out.len(),
                if b.left_out.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", b.left_out.join("; "))
                }
            );
            for r in &state.budget_revisions {
                println!("revised     {} {}", r.item, r.describe());
            }
        }
    }
    if let Some(a) = &state.augmentation {
        let counts: Vec<String> = a
            .result
            .counts
            .iter()
            .map(|(m, n)| format!("{m:?} {n}"))
            .collect();
        println!(
            "augmented   {} ({} priority samples)",
            counts.join(", "),
            a.priority_samples
        );
    }
    if !state.epochs.is_empty() {
        let last = &state.epochs[state.epochs.len() - 1].report;
        println!(
            "training    {} epochs in {} phases completed; last: {} epoch {}, validation accuracy {:.4}, macro-F1 {:.4}",
            state.epochs.len(),
            state.phases_completed.len(),
            last.phase.name(),
            last.epoch + 1,
            last.validation.accuracy,
            last.validation.macro_f1
        );
    }
    if let Some(t) = &state.training {
        println!(
            "fine-tuned  {}: validation accuracy {:.4}, macro-F1 {:.4} (ONNX vs candle max diff {:.1e})",
            t.onnx.path, t.validation.accuracy, t.validation.macro_f1, t.onnx_max_abs_diff
        );
    }
    if let Some(t) = &state.test {
        println!(
            "test        baseline {:.4} -> fine-tuned {:.4} on {} sealed samples; fixed {}, broken {}; McNemar p {:.2e}",
            t.baseline.accuracy,
            t.candidate.accuracy,
            t.candidate.samples,
            t.flips.fixed,
            t.flips.broken,
            t.mcnemar_p
        );
    }
    for failure in &state.failures {
        println!(
            "failed      {} at {}: {}",
            failure.command, failure.stage, failure.error
        );
    }
    println!(
        "\n{} events; `exp events {}` lists them",
        state.events, state.name
    );
    Ok(ExitCode::SUCCESS)
}

pub fn events(db: &Path, name: &str, kind: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    if let Some(kind) = kind {
        if !Event::KINDS.contains(&kind) {
            bail!(
                "unknown event kind '{kind}'; kinds: {}",
                Event::KINDS.join(", ")
            );
        }
    }
    // Not folded: the raw events print even when this version cannot fold them.
    let store = holding(db, name)?;
    let events = store.events(name, kind)?;
    if json {
        print_json(&events)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut payload = e.payload.to_string();
            if payload.chars().count() > 90 {
                payload = payload.chars().take(87).collect::<String>() + "...";
            }
            vec![e.seq.to_string(), e.ts.clone(), e.kind.clone(), payload]
        })
        .collect();
    print!("{}", table(&["SEQ", "TIME", "KIND", "PAYLOAD"], &rows));
    Ok(ExitCode::SUCCESS)
}

/// One file a live event names, checked on disk.
#[derive(Serialize)]
struct FileCheck {
    experiment: String,
    what: String,
    path: String,
    /// `matches`, `missing` or `changed`.
    status: &'static str,
}

/// Every file the experiments' live events name, re-hashed.
fn check_files(store: &Store, names: &[String]) -> anyhow::Result<Vec<FileCheck>> {
    let mut checks = Vec::new();
    for name in names {
        let state = fold(store, name)?;
        for (what, file) in state.artifact_files() {
            let status = match exp::assets::sha256_file(Path::new(&file.path)) {
                Err(_) => "missing",
                Ok(found) if found == file.sha256 => "matches",
                Ok(_) => "changed",
            };
            checks.push(FileCheck {
                experiment: name.clone(),
                what,
                path: file.path,
                status,
            });
        }
    }
    Ok(checks)
}

pub fn verify(db: &Path, name: Option<&str>, files: bool, json: bool) -> anyhow::Result<ExitCode> {
    let Some(store) = open_existing(db)? else {
        bail!("{} does not exist: nothing to verify", db.display());
    };
    if let Some(name) = name {
        if !store.exists(name)? {
            bail!("no experiment '{name}' in {}", db.display());
        }
    }
    let reports = store.verify(name)?;
    let names: Vec<String> = reports.iter().map(|r| r.experiment.clone()).collect();
    let checks = if files {
        check_files(&store, &names)?
    } else {
        Vec::new()
    };
    let bad_files = checks.iter().filter(|c| c.status != "matches").count();
    let ok = reports.iter().all(|r| r.ok()) && bad_files == 0;
    if json {
        let mut out = serde_json::json!({ "ok": ok, "experiments": reports });
        if files {
            out["files"] = serde_json::to_value(&checks)?;
        }
        print_json(&out)?;
    } else {
        for r in &reports {
            match &r.first_bad {
                None => println!("ok    {} ({} events, chain intact)", r.experiment, r.events),
                Some(b) => println!(
                    "BAD   {}: first bad event seq {} ({}): {}",
                    r.experiment, b.seq, b.kind, b.reason
                ),
            }
        }
        if reports.is_empty() {
            println!("no events in {}", db.display());
        }
        if files {
            let base = exp::store::paths::base_dir(db);
            for c in checks.iter().filter(|c| c.status != "matches") {
                let shown = Path::new(&c.path)
                    .strip_prefix(&base)
                    .map_or_else(|_| c.path.clone(), |p| p.display().to_string());
                println!(
                    "{:<7} {} {}: {shown}",
                    c.status.to_uppercase(),
                    c.experiment,
                    c.what
                );
            }
            println!(
                "{} files named by live events: {} match, {bad_files} missing or changed",
                checks.len(),
                checks.len() - bad_files
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
