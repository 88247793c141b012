//! The control arm: `--recipe plain` trains one plain fine-tune of the model as loaded, recorded
//! like any experiment; `exp report A --compare B` pairs two experiments on the sealed test when
//! they share a split and says "unpaired" when they do not.

mod common;

use std::path::Path;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

fn train(db: &Path, name: &str) {
    let out = exp(db, &["train", name, "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn comparison(db: &Path, name: &str, other: &str, out_dir: &Path) -> (Value, String) {
    let out = exp(
        db,
        &[
            "report",
            name,
            "--compare",
            other,
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("comparison.json")).unwrap()).unwrap();
    (json["comparisons"][0].clone(), stdout(&out))
}

#[test]
fn the_plain_recipe_is_a_control_arm_paired_with_experiments_on_its_split() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");

    // A name that is not a recipe is refused by the argument parser, naming the set.
    let out = exp(&db, &new_args("x", &model, &data, &["--recipe", "fancy"]));
    assert_fails_with(&out, &["fancy", "analysis, plain"]);

    new_experiment_with(&db, "control", &model, &data, &["--recipe", "plain"]);
    new_experiment_with(&db, "targeted", &model, &data, &[]);
    new_experiment_with(
        &db,
        "elsewhere",
        &model,
        &data,
        &["--recipe", "plain", "--seed", "7"],
    );
    let created = &payloads(&db, "control", "ExperimentCreated")[0];
    assert_eq!(created["recipe"], "plain");
    // The default recipe is not written, so that logs keep hashing as before recipes existed.
    assert!(payloads(&db, "targeted", "ExperimentCreated")[0]
        .get("recipe")
        .is_none());

    // The plain recipe's work is fixed: a budget is refused before anything runs.
    let before = event_count(&db);
    let out = exp(&db, &["train", "control", "--budget", "15m"]);
    assert_fails_with(&out, &["plain recipe", "--budget", "nothing was recorded"]);
    assert_eq!(event_count(&db), before);

    train(&db, "control");
    let plan = &payloads(&db, "control", "PlanDerived")[0]["plan"];
    assert_eq!(plan["recipe"], "plain");
    assert_eq!(plan["batch_size"], 32);
    let phases = plan["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1, "{plan}");
    assert_eq!(phases[0]["kind"], "PLAIN");
    assert_eq!(phases[0]["learning_rate"], 5e-5);
    assert_eq!(phases[0]["epochs"], 3);
    assert_eq!(phases[0]["weighted"], false);
    assert!(plan["augmentation"].as_array().unwrap().is_empty());
    // Hugging Face's plain fine-tune: one rate for every layer, the linear schedule alone, every
    // epoch run.
    let started = &payloads(&db, "control", "PhaseStarted")[0];
    let spec = &started["start"]["spec"];
    assert_eq!(spec["layer_decay"], 1.0, "{started}");
    assert_eq!(spec["plateau_factor"], 1.0);
    assert_eq!(spec["weight_decay"], 0.01);
    assert_eq!(spec["warmup_fraction"], 0.1);
    assert_eq!(spec["grad_clip"], 1.0);
    assert_eq!(spec["max_length"], 64);
    let epochs = payloads(&db, "control", "EpochCompleted");
    assert_eq!(epochs.len(), 3, "no early stop in the plain recipe");
    assert!(payloads(&db, "control", "AugmentationApplied").is_empty());
    assert_eq!(payloads(&db, "control", "TestEvaluated").len(), 1);

    // Asking for the other recipe once the plan is recorded is refused, recording nothing.
    let before = event_count(&db);
    let out = exp(&db, &["train", "control", "--recipe", "analysis"]);
    assert_fails_with(
        &out,
        &[
            "--recipe analysis",
            "recorded with recipe plain",
            "nothing was recorded",
        ],
    );
    assert_eq!(event_count(&db), before);

    // Same data and seed: the same split, so the two fine-tuned models pair sample by sample.
    train(&db, "targeted");
    let (cmp, text) = comparison(&db, "targeted", "control", &tmp.path().join("r1"));
    assert_eq!(cmp["pairing"], "paired", "{cmp}");
    let flips = &cmp["flips"];
    let samples = cmp["after"]["samples"].as_u64().unwrap();
    let total: u64 = ["fixed", "broken", "still_wrong", "still_right"]
        .iter()
        .map(|k| flips[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, samples);
    // Each model's wrong answers, as recorded, give the flips.
    let wrong = |v: &Value| -> Vec<u64> {
        v["misclassified"]
            .as_array()
            .map(|a| a.iter().map(|x| x.as_u64().unwrap()).collect())
            .unwrap_or_default()
    };
    let control_test = &payloads(&db, "control", "TestEvaluated")[0]["candidate"]["metrics"];
    let targeted_test = &payloads(&db, "targeted", "TestEvaluated")[0]["candidate"]["metrics"];
    let (c, t) = (wrong(control_test), wrong(targeted_test));
    let fixed = c.iter().filter(|i| !t.contains(i)).count() as u64;
    let broken = t.iter().filter(|i| !c.contains(i)).count() as u64;
    assert_eq!(flips["fixed"].as_u64().unwrap(), fixed);
    assert_eq!(flips["broken"].as_u64().unwrap(), broken);
    let p = cmp["mcnemar_p"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{cmp}");
    assert!(
        text.contains("paired on the same sealed test samples, control:fine-tuned -> fine-tuned"),
        "{text}"
    );

    // --model chooses the report's model; one the experiment does not have is refused.
    let out = exp(
        &db,
        &[
            "report",
            "targeted",
            "--model",
            "baseline",
            "--compare",
            "control",
            "--out",
            tmp.path().join("r3").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("r3/comparison.json")).unwrap())
            .unwrap();
    assert_eq!(json["subject"]["model"], "baseline");
    assert_eq!(json["comparisons"][0]["pairing"], "paired");
    let out = exp(&db, &["report", "targeted", "--model", "pruned-int8"]);
    assert_fails_with(&out, &["--model pruned-int8", "baseline, fine-tuned"]);

    // Another seed: another split, reported side by side but never tested as paired.
    train(&db, "elsewhere");
    let (cmp, text) = comparison(&db, "control", "elsewhere", &tmp.path().join("r2"));
    assert_eq!(cmp["pairing"], "unpaired", "{cmp}");
    assert!(cmp.get("mcnemar_p").is_none(), "{cmp}");
    assert!(cmp["pairing_note"]
        .as_str()
        .unwrap()
        .contains("different splits"));
    assert!(text.contains("unpaired, different splits"), "{text}");
    let card = std::fs::read_to_string(tmp.path().join("r2/model_card.md")).unwrap();
    assert!(card.contains("unpaired"), "{card}");
}
