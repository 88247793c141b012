//! Baseline capture, analysis (computed and imported) and the plan, end to end through `exp`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use exp::assets::{self, Asset};

const FIXTURE: &str = "../shared/fixtures/comprehensive_analysis.tinybert.json";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)
}

fn labels() -> Vec<String> {
    ["negative", "neutral", "positive"]
        .map(String::from)
        .to_vec()
}

/// minilm-l6 with a seeded (untrained) head, saved as a Hugging Face classifier directory.
fn classifier_dir(dir: &Path) -> PathBuf {
    let l6 = assets::ensure(Asset::MiniLmL6).unwrap();
    let (config, weights, _) = exp::model::load_hf_dir(&l6, &labels(), 7).unwrap();
    let out = dir.join("classifier");
    exp::model::save_hf_dir(&out, &config, &weights).unwrap();
    std::fs::copy(l6.join("tokenizer.json"), out.join("tokenizer.json")).unwrap();
    out
}

#[test]
fn the_fixture_alone_yields_the_notebooks_plan() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_50Agree.txt");
    let out = exp(
        &db,
        &[
            "new",
            "fpb",
            "--data",
            data.to_str().unwrap(),
            "--analysis",
            fixture().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("cannot be matched"),
        "{}",
        stdout(&out)
    );

    let out = exp(&db, &["plan", "fpb", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let derived: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plan = &derived["plan"];
    assert_eq!(plan["lr_band"]["low"], 5e-5);
    assert_eq!(plan["lr_band"]["high"], 1e-4);
    assert_eq!(
        plan["target_classes"],
        serde_json::json!(["positive", "negative"])
    );
    assert_eq!(plan["inputs"]["misclassified_count"], 253);
    assert_eq!(plan["inputs"]["low_confidence_count"], 195);
    assert_eq!(plan["inputs"]["priority_count"], 352);
    assert_eq!(plan["epochs"], 4);
    assert_eq!(plan["weight_multiplier"], 2.5);
    assert_eq!(plan["health"], "fair");
    assert_eq!(plan["pruning"]["level"], "conservative");
    assert_eq!(plan["batch_size"], 16);
    assert_eq!(derived["priorities_from_training_split"], false);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let kinds: Vec<String> = conn
        .prepare("select kind from events order by seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        kinds,
        [
            "ExperimentCreated",
            "DatasetLoaded",
            "SplitMade",
            "AnalysisRecorded",
            "RunStarted",
            "PlanDerived"
        ]
    );
    // A second `exp plan` re-uses the recorded plan.
    assert!(exp(&db, &["plan", "fpb"]).status.success());
    assert_eq!(event_count(&db), 6);
}

#[test]
fn a_malformed_analysis_file_is_refused_with_its_json_path_and_nothing_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_AllAgree.txt");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    value["performance_metrics"]["overall_accuracy"] = serde_json::json!("high");
    let bad = write(dir.path(), "bad.json", value.to_string().as_bytes());
    let out = exp(
        &db,
        &[
            "new",
            "x",
            "--data",
            data.to_str().unwrap(),
            "--analysis",
            bad.to_str().unwrap(),
        ],
    );
    assert_fails_with(&out, &["bad.json", "performance_metrics.overall_accuracy"]);
    assert_eq!(event_count(&db), 0);
}

#[test]
fn an_encoder_without_a_head_cannot_be_the_baseline_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_AllAgree.txt");
    assert!(exp(&db, &["new", "x", "--data", data.to_str().unwrap()])
        .status
        .success());
    let out = exp(&db, &["analyze", "x"]);
    assert_fails_with(
        &out,
        &["no trained classification head", "classifier.weight"],
    );
    assert_eq!(event_count(&db), 3);
}

#[test]
fn a_computed_analysis_has_the_notebooks_keys_and_is_self_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = classifier_dir(dir.path());
    let data = fpb("Sentences_AllAgree.txt");
    new_experiment(&db, "c", &model, &data);
    let out = exp(&db, &["analyze", "c", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = PathBuf::from(recorded["analysis"]["path"].as_str().unwrap());
    let ours: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    same_keys_and_types(&theirs, &ours, "");

    let validation = 339;
    let perf = &ours["performance_metrics"];
    let accuracy = perf["overall_accuracy"].as_f64().unwrap();
    let error_rate = perf["error_rate"].as_f64().unwrap();
    assert!((accuracy + error_rate - 1.0).abs() < 1e-12);
    assert_eq!(ours["metadata"]["dataset_size"], validation);
    let support: u64 = ["negative", "neutral", "positive"]
        .iter()
        .map(|l| {
            ours["class_analysis"]["class_metrics"][l]["support"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(support, validation);
    let matrix = ours["class_analysis"]["confusion_matrix"]
        .as_array()
        .unwrap();
    let off_diagonal: u64 = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .filter(|(i, j)| i != j)
        .map(|(i, j)| matrix[i][j].as_u64().unwrap())
        .sum();
    assert_eq!(
        perf["total_misclassifications"].as_u64().unwrap(),
        off_diagonal
    );
    assert_eq!(
        ours["sample_indices"]["misclassified"]
            .as_array()
            .unwrap()
            .len() as u64,
        off_diagonal
    );

    // Low confidence means max-prob < 0.6: recompute the baseline's probabilities here.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (onnx_path, ids): (String, String) = conn
        .query_row(
            "select b.onnx_path, json_extract(s.payload, '$.ids.validation')
             from v_baselines b join events s on s.kind = 'SplitMade'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let ids: Vec<String> = serde_json::from_str(&ids).unwrap();
    let dataset = exp::data::load(&data, &exp::data::ReadOptions::default()).unwrap();
    let texts: Vec<&str> = ids
        .iter()
        .map(|id| {
            dataset
                .samples
                .iter()
                .find(|s| &s.id == id)
                .unwrap()
                .text
                .as_str()
        })
        .collect();
    let mut classifier = exp::runtime::OnnxClassifier::open(
        &on_disk(&db, &onnx_path),
        &model.join("tokenizer.json"),
        128,
        &Default::default(),
    )
    .unwrap();
    let probs = classifier.probabilities(&texts, 32).unwrap();
    let expected: Vec<u64> = probs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.iter().cloned().fold(0.0f32, f32::max) < 0.6)
        .map(|(i, _)| i as u64)
        .collect();
    let listed: Vec<u64> = ours["confidence_analysis"]["low_confidence_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(listed, expected);

    // The baseline and the training-split priorities are recorded.
    let out = exp(&db, &["plan", "c", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let derived: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(derived["priorities_from_training_split"], true);
    assert_eq!(derived["plan"]["inputs"]["train_size"], 1581);
    assert!(Path::new(&path)
        .with_file_name("analysis_summary.txt")
        .is_file());
}

/// Every key of `reference` exists in `ours` with the same JSON type, recursively (lists are
/// compared through their first element).
fn same_keys_and_types(reference: &serde_json::Value, ours: &serde_json::Value, at: &str) {
    use serde_json::Value;
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    assert_eq!(kind(reference), kind(ours), "type differs at {at}");
    match (reference, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (key, value) in r {
                let child = format!("{at}.{key}");
                let Some(theirs) = o.get(key) else {
                    panic!("missing key {child}");
                };
                same_keys_and_types(value, theirs, &child);
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(a), Some(b)) = (r.first(), o.first()) {
                same_keys_and_types(a, b, &format!("{at}[0]"));
            }
        }
        _ => {}
    }
}
