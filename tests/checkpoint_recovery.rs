//! A killed run whose latest checkpoint is missing or changed resumes from the one before it;
//! with none usable the phase restarts from its start; `exp train --restart-phase` restarts it on
//! request. Each rejection and restart is an event, the run succeeds (no `RunFailed`), the log
//! verifies, and the fine-tuned weights equal an uninterrupted run's (training is deterministic
//! from a checkpoint and from a phase's start).
//!
//! With the tiny model every phase early-stops after its third epoch, so a kill at
//! `checkpoint-saved@3` leaves the first phase with two recorded checkpoints (epochs 1 and 2)
//! and the third written but not recorded.

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
        let dir = scratch("checkpoint_recovery", "reference");
        let model = tiny_encoder_dir(&dir, 11);
        let data = small_fpb(&dir, 300);
        let db = dir.join("exp.db");
        new_experiment(&db, "t", &model, &data);
        train(&db, &[]);
        Reference {
            model,
            data,
            events: events(&db),
        }
    })
}

/// `exp train t --stages train ARGS`, which must succeed; returns its stderr.
fn train(db: &Path, args: &[&str]) -> String {
    let mut all = vec!["train", "t", "--stages", "train"];
    all.extend_from_slice(args);
    let out = exp(db, &all);
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

fn events(db: &Path) -> Vec<Value> {
    let out = exp(db, &["events", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn of_kind(events: &[Value], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["payload"].clone())
        .collect()
}

/// Runs `exp train` with `EXP_FAULT=point`, waits until it announces the point, SIGKILLs it.
fn kill_at(db: &Path, point: &str) {
    kill_at_stages(db, point, "train")
}

/// A new experiment killed with the first phase's epochs 1 and 2 checkpointed and recorded;
/// returns the database and the two checkpoints' events (epoch 1's first).
fn killed_in_first_phase(name: &str) -> (PathBuf, [Value; 2]) {
    let reference = reference();
    let dir = scratch("checkpoint_recovery", name);
    let db = dir.join("exp.db");
    new_experiment(&db, "t", &reference.model, &reference.data);
    kill_at(&db, "checkpoint-saved@3");
    let saved = of_kind(&events(&db), "CheckpointSaved");
    assert_eq!(saved.len(), 2, "{saved:?}");
    for (epoch, c) in saved.iter().enumerate() {
        assert_eq!(c["index"], 0);
        assert_eq!(c["epoch"], epoch);
        // The previous checkpoint stays on disk until the next one is recorded.
        assert!(on_disk(&db, c["dir"].as_str().unwrap()).is_dir(), "{c}");
        assert_eq!(c["removed"], Value::Null, "{c}");
    }
    (db, [saved[0].clone(), saved[1].clone()])
}

/// What every recovered run ends with: the log verifies, no `RunFailed`, the first phase ran its
/// three epochs (as far as the state and `v_phases` say), no checkpoint directory is left, and
/// the fine-tuned weights and sealed-test accuracy are the uninterrupted run's.
fn check_recovered(db: &Path) -> Vec<Value> {
    let out = exp(db, &["verify", "t"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let ours = events(db);
    assert!(of_kind(&ours, "RunFailed").is_empty());
    let reference = &reference().events;
    let completed = of_kind(&ours, "PhaseCompleted");
    let expected = of_kind(reference, "PhaseCompleted");
    assert_eq!(completed.len(), expected.len());
    for (a, b) in completed.iter().zip(&expected) {
        assert_eq!(a["epochs_run"], b["epochs_run"]);
        assert_eq!(a["best_epoch"], b["best_epoch"]);
        assert_eq!(a["weights"]["sha256"], b["weights"]["sha256"]);
    }
    let weights =
        |events: &[Value]| of_kind(events, "TrainingCompleted")[0]["weights"]["sha256"].clone();
    assert_eq!(weights(&ours), weights(reference));
    let accuracy =
        |events: &[Value]| of_kind(events, "TestEvaluated")[0]["candidate"]["accuracy"].clone();
    assert_eq!(accuracy(&ours), accuracy(reference));

    // The state counts each epoch once; so do the views, with the superseded rows marked.
    let out = exp(db, &["show", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs = of_kind(reference, "EpochCompleted").len();
    assert_eq!(state["epochs"].as_array().unwrap().len(), epochs);
    assert_eq!(state["checkpoints"], serde_json::json!([]));
    assert_eq!(state["phase_in_progress"], Value::Null);
    let conn = rusqlite::Connection::open(db).unwrap();
    let live: i64 = conn
        .query_row(
            "SELECT count(*) FROM v_epochs WHERE experiment = 't' AND NOT superseded",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(live as usize, epochs);
    let recorded: i64 = conn
        .query_row(
            "SELECT epochs_recorded FROM v_phases WHERE experiment = 't' AND phase_index = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, completed[0]["epochs_run"].as_i64().unwrap());

    let left: Vec<PathBuf> =
        std::fs::read_dir(db.parent().unwrap().join("artifacts/t/checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    assert!(left.is_empty(), "{left:?}");
    ours
}

/// The `PhaseStarted` of phase 0 recorded by the last run that started or resumed it.
fn last_start_of_first_phase(events: &[Value]) -> Value {
    of_kind(events, "PhaseStarted")
        .into_iter()
        .rfind(|p| p["index"] == 0)
        .unwrap()
}

#[test]
fn a_deleted_latest_checkpoint_is_rejected_and_the_run_resumes_from_the_one_before() {
    let (db, [first, latest]) = killed_in_first_phase("deleted");
    let dir = latest["dir"].as_str().unwrap();
    std::fs::remove_dir_all(on_disk(&db, dir)).unwrap();

    let err = train(&db, &[]);
    assert!(
        err.contains("skipping the checkpoint after epoch 2"),
        "{err}"
    );
    assert!(err.contains("missing"), "{err}");
    assert!(
        err.contains("resuming from the checkpoint after epoch 1"),
        "{err}"
    );
    let ours = check_recovered(&db);
    let rejected = of_kind(&ours, "CheckpointRejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["dir"], dir);
    assert_eq!(rejected[0]["epoch"], 1);
    assert!(
        rejected[0]["reason"].as_str().unwrap().contains("missing"),
        "{rejected:?}"
    );
    assert!(of_kind(&ours, "PhaseRestarted").is_empty());
    // Resumed from the checkpoint after the first epoch: the second is trained again.
    assert_eq!(
        last_start_of_first_phase(&ours)["start"]["resumed_at_epoch"],
        1
    );
    assert_eq!(first["epoch"], 0);
}

#[test]
fn a_changed_checkpoint_file_is_rejected_with_the_sha256_mismatch() {
    let (db, [_, latest]) = killed_in_first_phase("corrupted");
    let file = on_disk(
        &db,
        latest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with("model.safetensors"))
            .unwrap()["path"]
            .as_str()
            .unwrap(),
    );
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let err = train(&db, &[]);
    assert!(err.contains("sha256 mismatch"), "{err}");
    let ours = check_recovered(&db);
    let rejected = of_kind(&ours, "CheckpointRejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["dir"], latest["dir"]);
    let reason = rejected[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("sha256 mismatch") && reason.contains(file.to_str().unwrap()),
        "{reason}"
    );
    assert_eq!(
        last_start_of_first_phase(&ours)["start"]["resumed_at_epoch"],
        1
    );
}

#[test]
fn with_no_usable_checkpoint_the_phase_restarts_from_its_start() {
    let (db, [first, latest]) = killed_in_first_phase("none-left");
    std::fs::remove_dir_all(on_disk(&db, latest["dir"].as_str().unwrap())).unwrap();
    // The older one is there but changed: a file of it missing.
    let state = on_disk(&db, first["dir"].as_str().unwrap()).join("trainer_state.json");
    std::fs::remove_file(&state).unwrap();

    let err = train(&db, &[]);
    assert!(err.contains("restarting from its start"), "{err}");
    let ours = check_recovered(&db);
    let rejected = of_kind(&ours, "CheckpointRejected");
    let dirs: Vec<&Value> = rejected.iter().map(|r| &r["dir"]).collect();
    assert_eq!(dirs, [&latest["dir"], &first["dir"]], "newest first");
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .contains(state.to_str().unwrap()));
    let restarted = of_kind(&ours, "PhaseRestarted");
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert_eq!(restarted[0]["index"], 0);
    assert_eq!(restarted[0]["phase"], "FOCUS");
    // Both recorded epochs went with their rejected checkpoints.
    assert_eq!(restarted[0]["discarded_epochs"], 0);
    assert_eq!(
        last_start_of_first_phase(&ours)["start"]["resumed_at_epoch"],
        Value::Null
    );
    // Every retry used to fail the same way and append a RunFailed; now the next run is a no-op.
    train(&db, &[]);
    assert_eq!(events(&db).len(), ours.len());
}

#[test]
fn restart_phase_is_refused_without_a_phase_in_progress_and_restarts_one() {
    let reference = reference();
    let dir = scratch("checkpoint_recovery", "restart-refused");
    let db = dir.join("exp.db");
    new_experiment(&db, "t", &reference.model, &reference.data);
    let before = event_count(&db);
    let out = exp(&db, &["train", "t", "--stages", "train", "--restart-phase"]);
    assert_fails_with(
        &out,
        &[
            "'t'",
            "no training phase in progress",
            "nothing was recorded",
        ],
    );
    assert_eq!(event_count(&db), before);

    let (db, [first, latest]) = killed_in_first_phase("restart");
    let err = train(&db, &["--restart-phase"]);
    assert!(
        err.contains("restarting from its start (requested)"),
        "{err}"
    );
    let ours = check_recovered(&db);
    assert!(of_kind(&ours, "CheckpointRejected").is_empty());
    let restarted = of_kind(&ours, "PhaseRestarted");
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert_eq!(restarted[0]["reason"], "requested");
    assert_eq!(restarted[0]["discarded_epochs"], 2);
    assert_eq!(
        last_start_of_first_phase(&ours)["start"]["resumed_at_epoch"],
        Value::Null
    );
    // The epochs were trained again into the same directories, which the new events name.
    let saved = of_kind(&ours, "CheckpointSaved");
    assert_eq!(saved[2]["dir"], first["dir"]);
    assert_eq!(saved[3]["dir"], latest["dir"]);

    // Once the phases are done there is none in progress.
    let before = event_count(&db);
    let out = exp(&db, &["train", "t", "--stages", "train", "--restart-phase"]);
    assert_fails_with(&out, &["no training phase in progress"]);
    assert_eq!(event_count(&db), before);
}

/// An uninterrupted run keeps the last two checkpoints of a phase: each `CheckpointSaved`
/// removes the one two epochs back.
#[test]
fn a_checkpoint_is_removed_when_the_one_after_the_next_is_recorded() {
    let saved = of_kind(&reference().events, "CheckpointSaved");
    for (i, c) in saved.iter().enumerate() {
        let expected = match c["epoch"].as_u64().unwrap() {
            0 | 1 => Value::Null,
            _ => saved[i - 2]["dir"].clone(),
        };
        assert_eq!(c["removed"], expected, "{c}");
    }
}
