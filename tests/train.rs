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
    new_experiment(&db, "t", &model, &data);
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
        "AugmentationApplied",
        "PhaseStarted",
        "EpochCompleted",
        "CheckpointSaved",
        "PhaseCompleted",
        "TrainingCompleted",
        "TestEvaluated",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    // The encoder had no head: the baseline is a plain fit, and the log says how it was fitted.
    let baseline = &events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "BaselineCaptured")
        .unwrap()["payload"];
    assert_eq!(baseline["origin"], "fitted");
    let fit = &baseline["fit"];
    assert_eq!(fit["epochs"].as_u64(), Some(1), "{fit}");
    assert_eq!(fit["lr"].as_f64(), Some(5e-5), "{fit}");
    assert_eq!(fit["batch_size"].as_u64(), Some(32), "{fit}");
    // Augmented samples come from training samples only, each with its source and method.
    let applied = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "AugmentationApplied")
        .unwrap();
    let split = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "SplitMade")
        .unwrap();
    let train_ids: Vec<&str> = split["payload"]["ids"]["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let samples = applied["payload"]["result"]["samples"].as_array().unwrap();
    assert!(!samples.is_empty(), "{}", applied["payload"]);
    for sample in samples {
        let source = sample["source_id"].as_str().unwrap();
        assert!(
            train_ids.contains(&source),
            "{source} is not a training sample"
        );
        assert!(sample["method"].is_string() && sample["detail"].is_string());
    }
    assert!(applied["payload"]["result"]["back_translation"]
        .as_str()
        .unwrap()
        .contains("not available"));

    // Generated samples are capped at half the priority samples.
    let priority = applied["payload"]["priority_samples"].as_u64().unwrap();
    assert!(
        samples.len() as u64 <= priority.div_ceil(2),
        "{}",
        samples.len()
    );

    // Each phase starts from the best model so far by validation macro-F1 and is kept only if
    // it beats it; the averaging, when tried, is adopted only if it beats the best phase.
    let all = events.as_array().unwrap();
    let baseline_f1 = all
        .iter()
        .find(|e| e["kind"] == "BaselineCaptured")
        .unwrap()["payload"]["validation"]["macro_f1"]
        .as_f64()
        .unwrap();
    let mut best = baseline_f1;
    let mut improving = Vec::new();
    for done in all.iter().filter(|e| e["kind"] == "PhaseCompleted") {
        let p = &done["payload"];
        assert_eq!(p["start_macro_f1"].as_f64().unwrap(), best, "{p}");
        let f1 = p["best_macro_f1"].as_f64().unwrap();
        assert_eq!(p["kept"].as_bool().unwrap(), f1 > best, "{p}");
        if f1 > best {
            best = f1;
            improving.push(p["phase"].as_str().unwrap().to_string());
        }
    }
    let completed = &all
        .iter()
        .find(|e| e["kind"] == "TrainingCompleted")
        .unwrap()["payload"];
    let averaging = &completed["averaging"];
    if improving.len() >= 2 {
        let phases: Vec<String> = averaging["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(phases, improving);
        assert_eq!(averaging["best_single_macro_f1"].as_f64().unwrap(), best);
        let adopted = averaging["macro_f1"].as_f64().unwrap() > best;
        assert_eq!(averaging["adopted"].as_bool().unwrap(), adopted);
    } else {
        assert!(averaging.is_null(), "{averaging}");
    }

    // A second run has nothing left to do and records nothing.
    let before = event_count(&db);
    let out = exp(&db, &["train", "t", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_count(&db), before);
}

fn count_kind(db: &std::path::Path, kind: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn.query_row("select count(*) from events where kind = ?1", [kind], |r| {
        r.get(0)
    })
    .unwrap_or(0)
}

fn payload(db: &std::path::Path, kind: &str) -> serde_json::Value {
    let conn = rusqlite::Connection::open(db).unwrap();
    let text: String = conn
        .query_row(
            "select payload from events where kind = ?1 order by seq desc limit 1",
            [kind],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_killed_run_resumes_and_ends_exactly_like_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(dir.path(), 5);
    let data = small_fpb(dir.path(), 600);
    let new = |db: &std::path::Path| {
        new_experiment(db, "t", &model, &data);
    };

    let straight = dir.path().join("straight.db");
    new(&straight);
    assert!(exp(&straight, &["train", "t", "--quiet"]).status.success());

    let killed = dir.path().join("killed.db");
    new(&killed);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(["--db", killed.to_str().unwrap(), "train", "t", "--quiet"])
        .spawn()
        .unwrap();
    // Kill it once two epochs are recorded: it is then inside a later epoch.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while count_kind(&killed, "EpochCompleted") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "training made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        count_kind(&killed, "TestEvaluated") == 0,
        "killed before the end"
    );
    let out = exp(&killed, &["train", "t", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exp(&killed, &["verify", "t"]).status.success());

    // No epoch is recorded twice, and the results are identical.
    assert_eq!(
        count_kind(&killed, "EpochCompleted"),
        count_kind(&straight, "EpochCompleted")
    );
    let a = payload(&straight, "TrainingCompleted");
    let b = payload(&killed, "TrainingCompleted");
    assert_eq!(a["weights"]["sha256"], b["weights"]["sha256"]);
    assert_eq!(a["validation"], b["validation"]);
    let a = payload(&straight, "TestEvaluated");
    let b = payload(&killed, "TestEvaluated");
    assert_eq!(a["candidate"]["metrics"], b["candidate"]["metrics"]);
    assert_eq!(a["flips"], b["flips"]);
}

#[test]
fn a_failing_run_names_the_changed_artifact_and_records_run_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 3);
    let data = small_fpb(dir.path(), 200);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/comprehensive_analysis.tinybert.json");
    let out = exp(
        &db,
        &[
            "new",
            "t",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--analysis",
            fixture.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let copy = dir
        .path()
        .join("artifacts/t/analysis/comprehensive_analysis.json");
    let mut text = std::fs::read_to_string(&copy).unwrap();
    text.push('\n');
    std::fs::write(&copy, text).unwrap();

    let out = exp(&db, &["train", "t", "--quiet"]);
    assert_fails_with(
        &out,
        &[
            "comprehensive_analysis.json",
            "changed since it was recorded",
        ],
    );
    let failed = payload(&db, "RunFailed");
    assert_eq!(failed["command"], "exp train");
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("changed since it was recorded"));
    assert!(exp(&db, &["verify", "t"]).status.success());
}

#[test]
fn a_coded_file_trains_with_the_codes_recorded_by_new() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let names = small_fpb(tmp.path(), 120);
    // The same file with codes for the labels (`sentence@bull`).
    let bytes = std::fs::read(&names).unwrap();
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let coded = text
        .replace("@negative", "@bear")
        .replace("@neutral", "@hold")
        .replace("@positive", "@bull");
    let codes = tmp.path().join("codes.txt");
    std::fs::write(&codes, coded.chars().map(|c| c as u8).collect::<Vec<u8>>()).unwrap();
    let db = tmp.path().join("exp.db");
    let map = ["--label-map", "bear=negative,hold=neutral,bull=positive"];
    new_experiment_with(&db, "codes", &model, &codes, &map);
    new_experiment(&db, "names", &model, &names);
    // And as JSON Lines with integer labels in a field of its own name.
    let jsonl: Vec<String> = text
        .split("\r\n")
        .map(|line| {
            let (sentence, label) = line.rsplit_once('@').unwrap();
            let class = ["negative", "neutral", "positive"]
                .iter()
                .position(|n| *n == label)
                .unwrap();
            serde_json::json!({"body": sentence, "label": class}).to_string()
        })
        .collect();
    let lines = tmp.path().join("small.jsonl");
    std::fs::write(&lines, jsonl.join("\n")).unwrap();
    new_experiment_with(&db, "jsonl", &model, &lines, &["--text-column", "body"]);
    // Every later command reads the file again as `exp new` recorded it.
    for name in ["codes", "jsonl", "names"] {
        let out = exp(&db, &["train", name, "--stages", "train", "--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let labels = |name: &str| -> String {
        conn.query_row(
            "select json_extract(payload, '$.label_counts') from events where experiment = ?1 and kind = 'DatasetLoaded'",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(labels("codes"), labels("names"));
    assert_eq!(labels("jsonl"), labels("names"));
}

/// FinancialPhraseBank's 50% file beside its 66% file: the sentences the annotators split on are
/// recorded as likely label noise and left out of the plan's priorities.
#[test]
fn sentences_the_annotators_split_on_are_not_prioritised() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 3);
    let latin1 = |name: &str| -> Vec<String> {
        let bytes = std::fs::read(fpb(name)).unwrap();
        let text: String = bytes.iter().map(|&b| b as char).collect();
        text.split(['\r', '\n'])
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let confirmed: std::collections::HashSet<String> =
        latin1("Sentences_66Agree.txt").into_iter().collect();
    // Every 16th line of the 50% file: about 300 sentences, of which about 40 are not in the
    // 66% file.
    let picked: Vec<String> = latin1("Sentences_50Agree.txt")
        .into_iter()
        .step_by(16)
        .collect();
    let kept: Vec<&String> = picked.iter().filter(|l| confirmed.contains(*l)).collect();
    let to_file = |lines: Vec<&String>| -> Vec<u8> {
        let joined: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
        joined.join("\r\n").chars().map(|c| c as u8).collect()
    };
    let data = write(
        dir.path(),
        "Sentences_50Agree.txt",
        &to_file(picked.iter().collect()),
    );
    let sibling = write(dir.path(), "Sentences_66Agree.txt", &to_file(kept));
    new_experiment(&db, "t", &model, &data);
    let out = exp(&db, &["train", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("training samples are likely label noise"),
        "{}",
        stderr(&out)
    );

    let split = payload(&db, "SplitMade");
    let train: std::collections::HashSet<&str> = split["ids"]["train"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = picked
        .iter()
        .filter(|l| !confirmed.contains(*l))
        .map(|l| exp::data::sample_id(l.rsplit_once('@').unwrap().0))
        .filter(|id| train.contains(id.as_str()))
        .collect();
    expected.sort();
    expected.dedup();
    assert!(
        expected.len() > 10,
        "{} split sentences in training",
        expected.len()
    );

    let analysis = payload(&db, "AnalysisRecorded");
    let priorities = &analysis["train_priorities"];
    let noise = &priorities["likely_label_noise"];
    let ids: Vec<String> = serde_json::from_value(noise["ids"].clone()).unwrap();
    assert_eq!(ids, expected);
    assert_eq!(noise["file"], sibling.display().to_string());
    assert_eq!(
        noise["sha256"],
        exp::assets::sha256_file(&sibling).unwrap().as_str()
    );
    assert_eq!(noise["weight"], 0.5);

    // The plan counts the baseline's priorities without them.
    let listed = |key: &str| -> std::collections::BTreeSet<String> {
        serde_json::from_value(priorities[key].clone()).unwrap()
    };
    let all: std::collections::BTreeSet<String> = listed("misclassified_ids")
        .union(&listed("low_confidence_ids"))
        .cloned()
        .collect();
    let prioritised = all.iter().filter(|id| !ids.contains(id)).count();
    assert!(
        prioritised < all.len(),
        "some priorities were split sentences"
    );
    let plan = payload(&db, "PlanDerived");
    assert_eq!(
        plan["plan"]["inputs"]["priority_count"].as_u64().unwrap() as usize,
        prioritised
    );
}
