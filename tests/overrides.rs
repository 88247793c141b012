//! `--set key=value`: plan values given by hand, recorded in `PlanDerived` beside the derived
//! ones, refused with the valid keys when wrong, and shown by `exp compare`. `--split-seed`:
//! the split's seed apart from the training seed.

mod common;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[test]
fn overrides_are_recorded_beside_the_derived_plan_and_bad_ones_record_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment(&db, "plain-plan", &model, &data);
    let before = event_count(&db);

    // A bad key or value is refused with what is valid; nothing is recorded.
    let refused: [(&[&str], &[&str]); 6] = [
        (
            &["--set", "epoch=2"],
            &[
                "--set epoch: unknown key",
                "epochs, lr_band, batch_size, phases, pruning_target, budget, recipe",
            ],
        ),
        (&["--set", "epochs=0"], &["--set epochs=0", "1 to 100"]),
        (&["--set", "phases=FOCUS+PLAIN"], &["joined by '+'"]),
        (
            &["--set", "epochs=2", "--set", "epochs=3"],
            &["--set epochs is given twice (2 and 3)"],
        ),
        (
            &["--recipe", "plain", "--set", "phases=FULL"],
            &[
                "the plain recipe has one phase of its own",
                "nothing was recorded",
            ],
        ),
        (
            &["--recipe", "plain", "--set", "recipe=analysis"],
            &["--recipe plain and --set recipe=analysis disagree"],
        ),
    ];
    for (extra, fragments) in refused {
        let out = exp(&db, &new_args("refused", &model, &data, extra));
        assert_fails_with(&out, fragments);
        assert_eq!(event_count(&db), before, "{extra:?}");
    }

    // exp new's settings are recorded with the experiment and applied when the plan is derived,
    // exp train's over them key by key.
    new_experiment_with(
        &db,
        "by-hand",
        &model,
        &data,
        &[
            "--set",
            "epochs=3",
            "--set",
            "phases=focus+FULL",
            "--set",
            "batch_size=16",
        ],
    );
    let created = &payloads(&db, "by-hand", "ExperimentCreated")[0];
    assert_eq!(
        created["overrides"],
        serde_json::json!([
            {"key": "epochs", "value": "3"},
            {"key": "phases", "value": "FOCUS+FULL"},
            {"key": "batch_size", "value": "16"},
        ])
    );
    let out = exp(
        &db,
        &[
            "train",
            "by-hand",
            "--stages",
            "train",
            "--set",
            "epochs=1",
            "--set",
            "lr_band=1e-4..3e-4",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("plan: --set epochs=1 in place of the derived"),
        "{}",
        stderr(&out)
    );

    // The same experiment's plan without overrides: what the analysis derived.
    let out = exp(
        &db,
        &["train", "plain-plan", "--stages", "train", "--quiet"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let derived = &payloads(&db, "plain-plan", "PlanDerived")[0];
    assert!(derived.get("overrides").is_none(), "{derived}");

    let recorded = &payloads(&db, "by-hand", "PlanDerived")[0];
    let applied = recorded["overrides"].as_array().unwrap();
    let row = |key: &str| {
        applied
            .iter()
            .find(|o| o["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {recorded}"))
    };
    let d = &derived["plan"];
    assert_eq!(applied.len(), 4, "{recorded}");
    assert_eq!(row("epochs")["value"], "1");
    assert_eq!(row("epochs")["derived"], d["epochs"].to_string());
    assert_eq!(row("batch_size")["value"], "16");
    assert_eq!(row("batch_size")["derived"], d["batch_size"].to_string());
    assert_eq!(row("phases")["value"], "FOCUS+FULL");
    assert_eq!(row("lr_band")["value"], "0.0001..0.0003");
    let plan = &recorded["plan"];
    assert_eq!(plan["epochs"], 1);
    assert_eq!(plan["batch_size"], 16);
    let scale = (16.0f64 / 32.0).sqrt();
    assert!(close(plan["lr_scale"].as_f64().unwrap(), scale), "{plan}");
    let phases = plan["phases"].as_array().unwrap();
    let kinds: Vec<&str> = phases.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["FOCUS", "FULL"]);
    assert!(close(
        phases[0]["learning_rate"].as_f64().unwrap(),
        3e-4 * scale
    ));
    assert!(close(
        phases[1]["learning_rate"].as_f64().unwrap(),
        1e-4 * scale
    ));
    assert!(phases.iter().all(|p| p["epochs"] == 1));
    // The phases trained as set.
    let started = payloads(&db, "by-hand", "PhaseStarted");
    assert_eq!(started.len(), 2);
    assert_eq!(started[0]["start"]["spec"]["batch_size"], 16);
    assert_eq!(payloads(&db, "by-hand", "EpochCompleted").len(), 2);

    // Once the plan is recorded, other values are refused (the phases follow the plan), the
    // same ones are not.
    let before = event_count(&db);
    let out = exp(&db, &["train", "by-hand", "--set", "epochs=2"]);
    assert_fails_with(
        &out,
        &[
            "--set epochs=2",
            "has its plan recorded (with ",
            "epochs=1",
            "nothing was recorded",
        ],
    );
    assert_eq!(event_count(&db), before);
    let out = exp(&db, &["plan", "by-hand", "--set", "epochs=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("set by hand: epochs=1 (derived: "),
        "{}",
        stdout(&out)
    );

    // exp compare lists them among the settings that differ.
    let out = exp(&db, &["compare", "by-hand", "plain-plan", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let differing = json["comparison"]["differing"].as_array().unwrap();
    let values = |key: &str| {
        differing
            .iter()
            .find(|r| r["key"] == key)
            .map(|r| r["values"].clone())
            .unwrap_or_else(|| panic!("{key} not among {differing:?}"))
    };
    assert_eq!(values("set.epochs"), serde_json::json!(["1", null]));
    assert_eq!(
        values("set.phases"),
        serde_json::json!(["FOCUS+FULL", null])
    );
    assert_eq!(values("plan.batch_size")[0], "16");
}

#[test]
fn the_split_seed_varies_apart_from_the_training_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment_with(&db, "train-seed-1", &model, &data, &["--seed", "1"]);
    new_experiment_with(
        &db,
        "train-seed-2",
        &model,
        &data,
        &["--seed", "2", "--split-seed", "1"],
    );
    new_experiment_with(&db, "split-seed-2", &model, &data, &["--seed", "2"]);
    let split = |name: &str| payloads(&db, name, "SplitMade")[0].clone();
    assert_eq!(
        split("train-seed-1")["digest"],
        split("train-seed-2")["digest"]
    );
    assert_ne!(
        split("train-seed-2")["digest"],
        split("split-seed-2")["digest"]
    );
    assert_eq!(split("train-seed-2")["seed"], 1);
    let created = &payloads(&db, "train-seed-2", "ExperimentCreated")[0];
    assert_eq!(created["seed"], 2);
    assert_eq!(created["split_seed"], 1);
    // A split seed equal to the seed is not written: the log reads as before split seeds.
    new_experiment_with(
        &db,
        "same",
        &model,
        &data,
        &["--seed", "3", "--split-seed", "3"],
    );
    assert!(payloads(&db, "same", "ExperimentCreated")[0]
        .get("split_seed")
        .is_none());
}
