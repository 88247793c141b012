//! `exp sweep`: sibling experiments over seeds and plan values, continued after a kill with
//! nothing recorded twice, and compared with `exp compare --sweep` (training seeds paired,
//! split seeds unpaired).

mod common;

use std::path::Path;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

fn count(db: &Path, name: &str, kind: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "select count(*) from events where experiment = ?1 and kind = ?2",
        [name, kind],
        |r| r.get(0),
    )
    .unwrap()
}

fn compare_sweep(db: &Path, name: &str) -> Value {
    let out = exp(db, &["compare", "--sweep", name, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str::<Value>(&stdout(&out)).unwrap()["comparison"].clone()
}

fn keys(comparison: &Value) -> Vec<String> {
    comparison["differing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

/// `exp sweep NAME` over `axes`, each member one epoch of one phase, training only.
fn sweep_args<'a>(name: &'a str, data: &'a str, model: &'a str, axes: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sweep", name, "--data", data, "--model", model];
    args.extend_from_slice(axes);
    args.extend([
        "--set",
        "phases=FULL",
        "--set",
        "epochs=1",
        "--stages",
        "train",
        "--quiet",
    ]);
    args
}

#[test]
fn a_killed_sweep_continues_and_training_seeds_pair_while_split_seeds_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    let (model, data) = (model.to_str().unwrap(), data.to_str().unwrap());
    let args = sweep_args("seeds", data, model, &["--seeds", "1,2,3"]);

    // Killed as the second member starts its phase (each member trains one phase).
    kill_at(&db, &args, "record:PhaseStarted@2");
    assert_eq!(count(&db, "seeds", "SweepDefined"), 1);
    assert_eq!(count(&db, "seeds-1", "TestEvaluated"), 1);
    assert_eq!(count(&db, "seeds-2", "ExperimentCreated"), 1);
    assert_eq!(count(&db, "seeds-2", "PhaseStarted"), 0);
    assert_eq!(count(&db, "seeds-3", "ExperimentCreated"), 0);

    // Run again: it continues; nothing is recorded twice.
    let out = exp(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("3 member(s), continuing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(count(&db, "seeds", "SweepDefined"), 1);
    for member in ["seeds-1", "seeds-2", "seeds-3"] {
        for kind in [
            "ExperimentCreated",
            "PlanDerived",
            "PhaseStarted",
            "EpochCompleted",
            "TestEvaluated",
        ] {
            assert_eq!(count(&db, member, kind), 1, "{member} {kind}");
        }
    }
    // A sweep is not an experiment: `exp ls` lists its members only.
    let out = exp(&db, &["ls", "--json"]);
    let listed = stdout(&out);
    assert!(
        listed.contains("seeds-3") && !listed.contains("\"seeds\""),
        "{listed}"
    );

    // The same name with other members is refused, recording nothing.
    let before = event_count(&db);
    let mut other = args.clone();
    other[7] = "1,2";
    let out = exp(&db, &other);
    assert_fails_with(&out, &["sweep 'seeds' is recorded with other members"]);
    assert_eq!(event_count(&db), before);

    // Training seeds: one split, so every two members are paired; the settings that differ
    // are the seed and what each seed's analysis derived, never what they share.
    let c = compare_sweep(&db, "seeds");
    let differing = keys(&c);
    assert!(differing.contains(&"seed".to_string()), "{differing:?}");
    for shared in [
        "split_seed",
        "split.digest",
        "model",
        "data",
        "set.phases",
        "set.epochs",
    ] {
        assert!(
            !differing.contains(&shared.to_string()),
            "{shared}: {differing:?}"
        );
    }
    let pairs = c["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 3);
    assert!(pairs.iter().all(|p| p["pairing"] == "paired"), "{pairs:?}");
    assert_eq!(c["group"]["members"], 3);

    // Split seeds: other splits, never tested as paired.
    let out = exp(
        &db,
        &sweep_args("splits", data, model, &["--split-seeds", "1,2"]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let c = compare_sweep(&db, "splits");
    assert!(keys(&c).contains(&"split_seed".to_string()));
    assert!(!keys(&c).contains(&"seed".to_string()));
    let pairs = c["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0]["pairing"], "unpaired");

    // A grid: members per value, and mean +- std per group over the seeds.
    let out = exp(
        &db,
        &sweep_args(
            "grid",
            data,
            model,
            &["--seeds", "1,2", "--grid", "batch_size=16,32"],
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let c = compare_sweep(&db, "grid");
    let groups = c["groups"].as_array().unwrap();
    let labels: Vec<&str> = groups
        .iter()
        .map(|g| g["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["batch_size=16", "batch_size=32"]);
    assert_eq!(groups[0]["names"], serde_json::json!(["grid-1", "grid-3"]));
    assert_eq!(groups[0]["members"], 2);
    assert!(groups[0]["accuracy_mean"].as_f64().is_some());
    assert!(keys(&c).contains(&"set.batch_size".to_string()));
    let out = exp(&db, &["compare", "--sweep", "grid"]);
    assert!(
        stdout(&out).contains("batch_size=16  accuracy"),
        "{}",
        stdout(&out)
    );

    // A sweep is no experiment to show, train or tag; its definition is among its events.
    for args in [
        &["show", "seeds"][..],
        &["train", "seeds"],
        &["tag", "seeds", "k=v"],
    ] {
        let out = exp(&db, args);
        assert_fails_with(&out, &["'seeds' is a sweep, not an experiment"]);
    }
    let out = exp(
        &db,
        &[
            "mlflow",
            "push",
            "seeds",
            "--tracking-uri",
            "http://127.0.0.1:9",
        ],
    );
    assert_fails_with(&out, &["'seeds' is a sweep, not an experiment"]);
    let out = exp(&db, &["events", "seeds"]);
    assert!(stdout(&out).contains("SweepDefined"), "{}", stdout(&out));

    // A sweep name that is an experiment, and an unknown sweep, are refused.
    let out = exp(&db, &["compare", "--sweep", "seeds-1"]);
    assert_fails_with(&out, &["'seeds-1' is an experiment, not a sweep"]);
    let out = exp(&db, &["compare", "--sweep", "nosuch"]);
    assert_fails_with(&out, &["no sweep named 'nosuch'"]);
}
