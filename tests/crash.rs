//! The crash matrix: `exp train` is SIGKILLed at named points, then resumed, again and again.
//! The points are the `EXP_FAULT` test hook (src/faults.rs): the process announces the point on
//! stderr and waits there, and the test kills it with SIGKILL. After every kill and at the end:
//! `exp verify` accepts the log, every event parses (`exp show` folds it), every artifact a live
//! event references exists with the recorded sha256, and in the end the events, the fine-tuned
//! weights and the sealed-test result equal those of an uninterrupted run with the same seed.
//! Pruning and export have their own chain (`killed_during_pruning_and_export_...`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

/// The model and data every run shares (read-only), and the uninterrupted run's events.
struct Reference {
    model: PathBuf,
    data: PathBuf,
    events: Vec<Value>,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = scratch("crash", "reference");
        let model = tiny_encoder_dir(&dir, 11);
        let data = small_fpb(&dir, 300);
        let db = dir.join("exp.db");
        new_experiment(&db, "t", &model, &data);
        let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
        assert!(out.status.success(), "{}", stderr(&out));
        check_log(&db);
        Reference {
            model,
            data,
            events: events(&db),
        }
    })
}

/// The events as `exp events --json` prints them.
fn events(db: &Path) -> Vec<Value> {
    let out = exp(db, &["events", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["kind"] == kind).count()
}

/// Runs `exp train` with `EXP_FAULT=point`, waits until it announces the point, SIGKILLs it.
fn kill_at(db: &Path, point: &str) {
    kill_at_stages(db, point, "train")
}

/// `exp verify` accepts the log and `exp show` folds every event.
fn check_log(db: &Path) {
    let out = exp(db, &["verify", "t"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = exp(db, &["show", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_artifacts(db, &events(db));
}

/// Every file a live event names (path + sha256) exists with that hash. A checkpoint stops
/// being live when a later `CheckpointSaved` says it was removed or its phase completed.
fn check_artifacts(db: &Path, events: &[Value]) {
    let mut live: Vec<(usize, String, String)> = Vec::new(); // (seq, path, sha256)
    let mut checkpoints: Vec<(usize, String, Option<u64>)> = Vec::new(); // (seq, dir, phase)
    for event in events {
        let seq = event["seq"].as_u64().unwrap() as usize;
        let payload = &event["payload"];
        match event["kind"].as_str().unwrap() {
            // The model's path is its directory; the sha256 is of its weights file.
            "ExperimentCreated" => continue,
            "CheckpointSaved" => {
                if let Some(removed) = payload["removed"].as_str() {
                    retire(&mut live, &mut checkpoints, |dir, _| dir == removed);
                }
                checkpoints.push((
                    seq,
                    payload["dir"].as_str().unwrap().to_string(),
                    payload["index"].as_u64(),
                ));
            }
            "PhaseCompleted" => {
                let index = payload["index"].as_u64();
                retire(&mut live, &mut checkpoints, |_, phase| phase == index);
            }
            // The model directory's files are named relative to it.
            "ModelExported" => {
                let dir = on_disk(db, payload["dir"].as_str().unwrap());
                for file in payload["files"].as_array().unwrap() {
                    let path = dir.join(file["path"].as_str().unwrap());
                    let sha256 = file["sha256"].as_str().unwrap().to_string();
                    live.push((seq, path.display().to_string(), sha256));
                }
                continue;
            }
            _ => {}
        }
        collect_files(payload, seq, &mut live);
    }
    for (seq, path, sha256) in &live {
        let found = exp::assets::sha256_file(&on_disk(db, path))
            .unwrap_or_else(|e| panic!("event {seq} names {path}, which cannot be read: {e}"));
        assert_eq!(&found, sha256, "event {seq} names {path} with another hash");
    }
}

fn retire(
    live: &mut Vec<(usize, String, String)>,
    checkpoints: &mut Vec<(usize, String, Option<u64>)>,
    gone: impl Fn(&str, Option<u64>) -> bool,
) {
    let seqs: Vec<usize> = checkpoints
        .iter()
        .filter(|(_, dir, phase)| gone(dir, *phase))
        .map(|(seq, _, _)| *seq)
        .collect();
    live.retain(|(seq, _, _)| !seqs.contains(seq));
    checkpoints.retain(|(seq, _, _)| !seqs.contains(seq));
}

fn collect_files(value: &Value, seq: usize, out: &mut Vec<(usize, String, String)>) {
    match value {
        Value::Object(map) => {
            for (path_key, sha_key) in [("path", "sha256"), ("onnx_path", "onnx_sha256")] {
                if let (Some(Value::String(p)), Some(Value::String(s))) =
                    (map.get(path_key), map.get(sha_key))
                {
                    out.push((seq, p.clone(), s.clone()));
                }
            }
            map.values().for_each(|v| collect_files(v, seq, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_files(v, seq, out)),
        _ => {}
    }
}

/// An event as it should repeat in any run: artifact paths relative to the run's artifacts
/// directory, wall-clock measurements dropped.
fn normalized(event: &Value, dir: &Path) -> Value {
    fn walk(value: &Value, prefix: &str) -> Value {
        match value {
            Value::String(s) => Value::String(s.replace(prefix, "<artifacts>")),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(v, prefix)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "duration_s" | "samples_per_sec" | "latency")
                    })
                    .map(|(k, v)| (k.clone(), walk(v, prefix)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let mut payload = event["payload"].clone();
    if event["kind"] == "PlanDerived" {
        // A seq: the runs before it (RunStarted each) move it; `plan_points_at_its_analysis`
        // checks what it points at.
        payload.as_object_mut().unwrap().remove("analysis_seq");
    }
    if event["kind"] == "AnalysisRecorded" {
        // The file records when and from where it was made; `same_analysis` compares the rest.
        payload.as_object_mut().unwrap().remove("sha256");
    }
    let prefix = std::path::absolute(dir.join("artifacts"))
        .unwrap()
        .display()
        .to_string();
    serde_json::json!({"kind": event["kind"], "payload": walk(&payload, &prefix)})
}

/// A plan's `analysis_seq` is the seq of the log's (last) AnalysisRecorded before it.
fn plan_points_at_its_analysis(events: &[Value]) {
    let mut analysis = None;
    for e in events {
        if e["kind"] == "AnalysisRecorded" {
            analysis = e["seq"].as_i64();
        }
        if e["kind"] == "PlanDerived" {
            assert_eq!(e["payload"]["analysis_seq"].as_i64(), analysis, "{e}");
        }
    }
}

/// The analysis files of two runs agree but for the time they were made and the model's path.
fn same_analysis(a: &Path, b: &Path) {
    let read = |dir: &Path| -> Value {
        let file = dir.join("artifacts/t/analysis/comprehensive_analysis.json");
        let mut value: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let metadata = value["metadata"].as_object_mut().unwrap();
        assert!(metadata.remove("analysis_date").is_some());
        assert!(metadata.remove("model_path").is_some());
        value
    };
    assert_eq!(read(a), read(b));
}

/// Kills `exp train` at each point in turn, checking the log after every kill, then lets it
/// finish and compares everything with the uninterrupted run.
fn crash_and_resume(name: &str, points: &[&str]) {
    let reference = reference();
    let dir = scratch("crash", name);
    let db = dir.join("exp.db");
    new_experiment(&db, "t", &reference.model, &reference.data);
    for point in points {
        let before = events(&db);
        kill_at(&db, point);
        check_log(&db);
        let after = events(&db);
        assert_eq!(count(&after, "RunFailed"), 0, "{point}");
        if let Some(kind) = point.strip_prefix("record:") {
            assert_eq!(
                count(&after, kind),
                count(&before, kind),
                "killed before {kind} was recorded"
            );
        }
        assert_eq!(
            count(&after, "TestEvaluated"),
            0,
            "{point}: killed before the end"
        );
    }
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_log(&db);

    // The same events as the uninterrupted run, except that every run that starts or resumes
    // a phase records its own PhaseStarted, and every run that records anything its RunStarted.
    let ours = events(&db);
    let reference_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash/reference");
    let facts = |events: &[Value], dir: &Path| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["kind"] != "PhaseStarted" && e["kind"] != "RunStarted")
            .map(|e| normalized(e, dir))
            .collect()
    };
    plan_points_at_its_analysis(&ours);
    let a = facts(&reference.events, &reference_dir);
    let b = facts(&ours, &dir);
    assert_eq!(a.len(), b.len(), "{:?}", kinds(&ours));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "an event differs from the uninterrupted run's");
    }
    same_analysis(&reference_dir, &dir);
    let starts = |events: &[Value]| -> Vec<u64> {
        let mut indices: Vec<u64> = events
            .iter()
            .filter(|e| e["kind"] == "PhaseStarted")
            .map(|e| e["payload"]["index"].as_u64().unwrap())
            .collect();
        indices.dedup();
        indices
    };
    assert_eq!(starts(&reference.events), starts(&ours));
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[test]
fn killed_during_baseline_analysis_and_plan_it_resumes_to_the_same_result() {
    crash_and_resume(
        "early",
        &[
            "baseline-step@2",
            "record:BaselineCaptured",
            "analysis-write",
            "record:AnalysisRecorded",
            "record:PlanDerived",
            "record:AugmentationApplied",
        ],
    );
}

#[test]
fn killed_during_epochs_and_checkpoint_writes_it_resumes_to_the_same_result() {
    crash_and_resume(
        "training",
        &[
            "train-step@3",
            "checkpoint-saved@1",
            "checkpoint-write@2",
            "train-step@5",
            "record:EarlyStopped",
            "record:PhaseCompleted",
            "record:TrainingCompleted",
            "record:TestEvaluated",
        ],
    );
}

#[test]
fn a_half_written_checkpoint_is_never_recorded_or_read() {
    let reference = reference();
    let dir = scratch("crash", "half-checkpoint");
    let db = dir.join("exp.db");
    new_experiment(&db, "t", &reference.model, &reference.data);
    kill_at(&db, "checkpoint-write@1");
    // The model file is on disk, the state file is not, and no event names the directory.
    let checkpoints: Vec<PathBuf> = std::fs::read_dir(dir.join("artifacts/t/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    assert!(checkpoints[0].join("model.safetensors").exists());
    assert!(!checkpoints[0].join("trainer_state.json").exists());
    let recorded = events(&db);
    assert_eq!(count(&recorded, "CheckpointSaved"), 0);
    assert_eq!(count(&recorded, "EpochCompleted"), 0);
    check_log(&db);
    // The resumed run redoes the epoch and ends like the uninterrupted one.
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    check_log(&db);
    let last = |events: &[Value], kind: &str| -> Value {
        events.iter().rev().find(|e| e["kind"] == kind).unwrap()["payload"].clone()
    };
    let ours = events(&db);
    assert_eq!(
        last(&reference.events, "TrainingCompleted")["weights"]["sha256"],
        last(&ours, "TrainingCompleted")["weights"]["sha256"]
    );
    let strip = |mut v: Value| {
        for side in ["baseline", "candidate"] {
            v[side].as_object_mut().unwrap().remove("onnx_path");
        }
        v
    };
    assert_eq!(
        strip(last(&reference.events, "TestEvaluated")),
        strip(last(&ours, "TestEvaluated"))
    );
}

/// Pruning and export, killed inside a recovery epoch, before a step is recorded, before the
/// stage's end is recorded, while the model directory is written and before it is recorded: the
/// resumed run ends with the same pruned model, export validations and sealed-test results as an
/// uninterrupted run, and no temporary export directory is left.
#[test]
fn killed_during_pruning_and_export_it_resumes_to_the_same_result() {
    const STAGES: &str = "train,prune,export";
    let reference = reference();
    let run = |db: &Path| {
        let out = exp(db, &["train", "t", "--quiet", "--stages", STAGES]);
        assert!(out.status.success(), "{}", stderr(&out));
        check_log(db);
    };
    let straight_dir = scratch("crash", "late-straight");
    let straight = straight_dir.join("exp.db");
    new_experiment(&straight, "t", &reference.model, &reference.data);
    run(&straight);

    let dir = scratch("crash", "late");
    let db = dir.join("exp.db");
    new_experiment(&db, "t", &reference.model, &reference.data);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for point in [
        "prune-recovery@2",
        "record:PruningStep",
        "record:PruningCompleted",
        "export-write",
        "record:ModelExported",
    ] {
        let before = events(&db);
        kill_at_stages(&db, point, STAGES);
        check_log(&db);
        let after = events(&db);
        assert_eq!(count(&after, "RunFailed"), 0, "{point}");
        if let Some(kind) = point.strip_prefix("record:") {
            assert_eq!(count(&after, kind), count(&before, kind), "{point}");
        }
    }
    run(&db);

    let (ours, theirs) = (events(&db), events(&straight));
    assert_eq!(
        count(&ours, "PruningStep"),
        count(&theirs, "PruningStep"),
        "{:?}",
        kinds(&ours)
    );
    let payloads = |events: &[Value], kind: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["payload"].clone())
            .collect()
    };
    let pruned = |events: &[Value]| -> Value {
        let p = payloads(events, "PruningCompleted").pop().unwrap();
        serde_json::json!([
            p["weights"]["sha256"],
            p["shape"],
            p["validation"],
            p["kept_step"]
        ])
    };
    assert_eq!(pruned(&ours), pruned(&theirs));
    let validated = |events: &[Value]| -> Vec<Value> {
        payloads(events, "ExportValidated")
            .into_iter()
            .map(|v| {
                serde_json::json!([v["file"], v["sha256"], v["validation"], v["max_abs_diff"]])
            })
            .collect()
    };
    assert_eq!(validated(&ours), validated(&theirs));
    assert_eq!(count(&ours, "ModelExported"), 1);
    let tests = |events: &[Value]| -> Vec<Value> {
        payloads(events, "TestEvaluated")
            .into_iter()
            .map(|mut v| {
                for side in ["baseline", "candidate"] {
                    v[side].as_object_mut().unwrap().remove("onnx_path");
                }
                v
            })
            .collect()
    };
    assert_eq!(tests(&ours), tests(&theirs));
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("artifacts/t"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".model."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
