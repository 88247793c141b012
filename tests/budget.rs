//! `exp train --budget`: the plan measures throughput, allocates its phases' epochs and the
//! pruning within the budget, records every allocation with its estimate and what it left out,
//! and the later stages follow the allocation.

mod common;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

#[test]
fn a_budget_too_small_for_the_plan_runs_what_fits_and_records_what_it_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment(&db, "t", &model, &data);

    let out = exp(&db, &["train", "t", "--budget", "nonsense"]);
    assert_fails_with(&out, &["--budget", "nonsense"]);

    // One second: nothing but the last phase's one epoch fits (it runs even over the budget).
    let out = exp(
        &db,
        &[
            "train",
            "t",
            "--budget",
            "1s",
            "--stages",
            "train,prune,export",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out) + &stdout(&out);
    assert!(text.contains("left out: pruning"), "{text}");

    let derived = &payloads(&db, "t", "PlanDerived")[0];
    let budget = &derived["budget"];
    assert_eq!(budget["budget_s"], 1.0);
    let t = &budget["throughput"];
    assert!(t["train_samples_per_s"].as_f64().unwrap() > 0.0, "{t}");
    assert!(t["eval_samples_per_s"].as_f64().unwrap() > 0.0, "{t}");
    let epochs: Vec<u64> = budget["phase_epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_u64().unwrap())
        .collect();
    assert_eq!(epochs.iter().filter(|&&e| e > 0).count(), 1, "{budget}");
    assert_eq!(*epochs.last().unwrap(), 1);
    let left_out: Vec<&str> = budget["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        left_out.iter().any(|l| l.starts_with("pruning")),
        "{left_out:?}"
    );
    // Every phase but the last, pruning, and the last phase's epochs beyond its first.
    assert_eq!(left_out.len(), epochs.len() + 1, "{left_out:?}");
    assert!(
        left_out.last().unwrap().contains("epochs, 1 kept"),
        "{left_out:?}"
    );
    assert!(budget["pruning_steps"].as_array().unwrap().is_empty());
    // The estimate is over the budget, and says so by being recorded as it is.
    assert!(budget["estimate_total_s"].as_f64().unwrap() > 1.0);
    let items = budget["items"].as_array().unwrap();
    assert!(items
        .iter()
        .all(|i| i["estimate_s"].as_f64().unwrap() > 0.0));
    assert_eq!(items.last().unwrap()["item"], "tail");

    // The plan holds only the allocated phase, with its allocated epoch; training followed it.
    let phases = derived["plan"]["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 1, "{phases:?}");
    assert_eq!(phases[0]["epochs"], 1);
    assert_eq!(payloads(&db, "t", "PhaseStarted").len(), 1);
    assert_eq!(payloads(&db, "t", "EpochCompleted").len(), 1);
    // Pruning was left out, so nothing of it is recorded and the fine-tuned model is exported.
    assert!(payloads(&db, "t", "PruningStep").is_empty());
    let exported = &payloads(&db, "t", "ModelExported")[0];
    assert_eq!(exported["source"], "fine-tuned", "{exported}");

    // A later run with another budget goes on with the recorded plan, and says so.
    let out = exp(&db, &["train", "t", "--budget", "10m", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out) + &stdout(&out);
    assert!(
        text.contains(
            "recorded with a budget of 1 s; --budget 10m applies only to a plan not derived yet"
        ),
        "{text}"
    );
    assert_eq!(payloads(&db, "t", "PlanDerived").len(), 1);

    // Pruning can still be asked for by name.
    let out = exp(
        &db,
        &["prune", "t", "--steps", "20", "--recovery-epochs", "0"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(payloads(&db, "t", "PruningStep").len(), 1);
}

#[test]
fn a_generous_budget_prunes_in_one_step_with_its_recovery_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment(&db, "t", &model, &data);
    let out = exp(
        &db,
        &[
            "train",
            "t",
            "--budget",
            "10h",
            "--stages",
            "train,prune",
            "--quiet",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let derived = &payloads(&db, "t", "PlanDerived")[0];
    let budget = &derived["budget"];
    assert!(
        budget["left_out"].as_array().unwrap().is_empty(),
        "{budget}"
    );
    let steps = budget["pruning_steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(budget["recovery_epochs"], 2);
    // The plan's phases keep their epochs, and pruning ran the one allocated step.
    let planned: Vec<&Value> = derived["plan"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let allocated = budget["phase_epochs"].as_array().unwrap();
    assert_eq!(planned.len(), allocated.len());
    for (p, a) in planned.iter().zip(allocated) {
        assert_eq!(&p["epochs"], a);
    }
    let pruning_steps = payloads(&db, "t", "PruningStep");
    assert_eq!(pruning_steps.len(), 1, "{pruning_steps:?}");
    assert_eq!(pruning_steps[0]["target_fraction"], steps[0]);
    assert_eq!(pruning_steps[0]["recovery_epochs"], 2);
    let recovery = payloads(&db, "t", "EpochCompleted")
        .into_iter()
        .filter(|e| e.get("pruning_step").is_some_and(|s| !s.is_null()))
        .count();
    assert_eq!(recovery, 2);

    // The report sets each allocation's estimate beside the wall time it took.
    let out = exp(&db, &["report", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tmp.path().join("reports/t");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("training_summary.json")).unwrap()).unwrap();
    let table = &summary["budget"];
    assert_eq!(table["budget_s"], 36000.0);
    let rows = table["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["item"].as_str().unwrap()).collect();
    assert_eq!(names.last(), Some(&"tail"));
    assert!(names.contains(&"pruning"), "{names:?}");
    for row in rows {
        assert!(row["actual_s"].as_f64().unwrap() >= 0.0, "{row}");
        assert!(row["estimate_s"].as_f64().unwrap() > 0.0, "{row}");
    }
    let total = table["actual_total_s"].as_f64().unwrap();
    assert!(total >= table["spent_before_plan_s"].as_f64().unwrap());
    let card = std::fs::read_to_string(dir.join("model_card.md")).unwrap();
    let section = &card[card.find("## Time budget").expect("a time budget section")..];
    assert!(section.contains("| pruning | 1 step(s) to "), "{section}");
    assert!(section.contains("| tail |"), "{section}");
}

#[test]
fn pruning_that_no_longer_fits_the_time_left_is_revised_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");
    new_experiment(&db, "t", &model, &data);
    // The budget's clock reads 9 h 59 min 50 s more than it should when pruning is about to
    // start: the phases "ran" far slower than the probe measured, and the 10 s left do not hold
    // the export's fixed work, let alone pruning.
    let out = exp_env(
        &db,
        &["train", "t", "--budget", "10h", "--stages", "train,prune"],
        &[("EXP_FAULT", "budget-clock+35990")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let allocated = &payloads(&db, "t", "PlanDerived")[0]["budget"];
    assert_eq!(allocated["pruning_steps"].as_array().unwrap().len(), 1);
    let revised = payloads(&db, "t", "BudgetRevised");
    assert_eq!(revised.len(), 1, "{revised:?}");
    let r = &revised[0];
    assert_eq!(r["item"], "pruning");
    assert_eq!(r["revised"], "no pruning");
    assert!(
        r["allocated"]
            .as_str()
            .unwrap()
            .contains("2 recovery epoch(s)"),
        "{r}"
    );
    assert!(r["pruning_steps"].as_array().unwrap().is_empty());
    assert!(r["elapsed_s"].as_f64().unwrap() >= 35990.0);
    assert!(payloads(&db, "t", "PruningStep").is_empty());
    let text = stderr(&out);
    assert!(text.contains("pruning revised from 1 step(s) to"), "{text}");
    assert!(
        text.contains("pruning: left out by the time budget (pruning revised during the run"),
        "{text}"
    );

    // A second run (the clock is this command's again) follows the recorded revision.
    let out = exp(&db, &["train", "t", "--stages", "train,prune"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(payloads(&db, "t", "BudgetRevised").len(), 1);
    assert!(payloads(&db, "t", "PruningStep").is_empty());

    let out = exp(&db, &["show", "t"]);
    assert!(
        stdout(&out).contains("revised     pruning from 1 step(s) to "),
        "{}",
        stdout(&out)
    );

    // The report lists the revision beside the allocation.
    let out = exp(&db, &["report", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let card = std::fs::read_to_string(tmp.path().join("reports/t/model_card.md")).unwrap();
    assert!(card.contains("Revised during the run:"), "{card}");
    assert!(
        card.contains("- pruning revised from 1 step(s) to "),
        "{card}"
    );
}
