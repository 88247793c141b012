//! `exp train` end to end on a tiny model: every stage is an event, and a killed run resumes.

mod common;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;

#[test]
fn train_runs_every_stage_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 3);
    let data = small_fpb(dir.path(), 300);
    let out = exp(
        &db,
        &["new", "t", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = exp(&db, &["train", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let test: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let samples = test["baseline"]["samples"].as_u64().unwrap();
    assert_eq!(samples, test["candidate"]["samples"].as_u64().unwrap());
    let f = &test["flips"];
    let total: u64 = ["fixed", "broken", "still_wrong", "still_right"]
        .iter()
        .map(|k| f[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, samples);
    let p = test["mcnemar_p"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    let out = exp(&db, &["verify", "t"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = exp(&db, &["events", "t", "--json"]);
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    eprintln!("{kinds:?}");
    for kind in [
        "BaselineCaptured",
        "AnalysisRecorded",
        "PlanDerived",
        "PhaseStarted",
        "EpochCompleted",
        "CheckpointSaved",
        "PhaseCompleted",
        "TrainingCompleted",
        "TestEvaluated",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    // A second run has nothing left to do and records nothing.
    let before = event_count(&db);
    let out = exp(&db, &["train", "t", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_count(&db), before);
}
