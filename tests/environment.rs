//! The environment of every run: in `ExperimentCreated`, and in `RunStarted` ahead of the first
//! event of each run that records anything; printed by `exp show`, flagged by `exp compare`.

mod common;

use std::path::Path;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

fn kinds_and_payloads(db: &Path, name: &str) -> Vec<(String, Value)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("select kind, payload from events where experiment = ?1 order by seq")
        .unwrap();
    stmt.query_map([name], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .unwrap()
    .map(|row| {
        let (kind, payload) = row.unwrap();
        (kind, serde_json::from_str(&payload).unwrap())
    })
    .collect()
}

#[test]
fn every_run_that_records_says_where_it_ran() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment(&db, "a", &model, &data);
    new_experiment(&db, "b", &model, &data);

    // exp new: the environment is a field of ExperimentCreated (still 3 events).
    let events = kinds_and_payloads(&db, "a");
    assert_eq!(events.len(), 3);
    let env = &events[0].1["environment"];
    assert_eq!(env["exp_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        env["rustc"].as_str().unwrap().starts_with("rustc "),
        "{env}"
    );
    assert!(env["candle"].as_str().unwrap().starts_with("0."), "{env}");
    assert!(env["threads"].as_u64().unwrap() >= 1);
    assert!(
        ["avx512f", "fma", "scalar", "portable"].contains(&env["gemm_kernels"].as_str().unwrap())
    );
    assert!(!env["cpu"].as_str().unwrap().is_empty());
    // The ONNX Runtime library the tests use: its version and the file's sha256.
    let ort = &env["onnxruntime"];
    let library = Path::new(ort["path"].as_str().unwrap());
    assert_eq!(
        ort["sha256"],
        exp::assets::sha256_file(library).unwrap(),
        "{ort}"
    );
    assert!(ort["version"].as_str().unwrap().starts_with("1."), "{ort}");

    // A refused run records nothing, not even its start.
    let before = event_count(&db);
    let out = exp(&db, &["train", "a", "--restart-phase"]);
    assert!(!out.status.success());
    assert_eq!(event_count(&db), before);

    // A run that records: RunStarted first, in the same transaction as what follows.
    let out = exp_env(
        &db,
        &["train", "a", "--stages", "train", "--quiet"],
        &[("RAYON_NUM_THREADS", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events = kinds_and_payloads(&db, "a");
    assert_eq!(events[3].0, "RunStarted");
    assert_eq!(events[3].1["command"], "exp train");
    assert_eq!(events[3].1["environment"]["threads"], 1);
    let runs = events.iter().filter(|(k, _)| k == "RunStarted").count();
    assert_eq!(runs, 1);
    // A run with nothing left to do records nothing.
    let out = exp(&db, &["train", "a", "--stages", "train", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kinds_and_payloads(&db, "a").len(), events.len());

    let out = exp(&db, &["show", "a"]);
    let text = stdout(&out);
    assert!(text.contains("environment exp new: exp "), "{text}");
    assert!(text.contains("environment exp train at "), "{text}");
    assert!(text.contains("1 threads"), "{text}");

    // Plain SQL: every run's environment.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, i64)> = conn
        .prepare("select command, threads from v_runs where experiment = 'a' order by seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, "exp new");
    assert_eq!(rows[1], ("exp train".to_string(), 1));

    // Members that ran in different environments are flagged by compare.
    let out = exp_env(
        &db,
        &["train", "b", "--stages", "train", "--quiet"],
        &[("RAYON_NUM_THREADS", "3")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = exp(&db, &["compare", "a", "b", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["comparison"]["environment_differs"],
        serde_json::json!(["env.threads"])
    );
    let out = exp(&db, &["compare", "a", "b"]);
    assert!(
        stdout(&out).contains("the members ran in different environments (threads)"),
        "{}",
        stdout(&out)
    );
}
