//! Tests against the notebook's real output (`tests/fixtures/analysis/
//! comprehensive_analysis.tinybert.json`, a copy of shared/fixtures/).

use serde_json::{json, Value};

use super::metrics::class_metrics;
use super::plan::{balanced_class_weights, Health, PhaseKind};
use super::recommend::PruningLevel;
use super::*;

const FIXTURE: &str =
    include_str!("../../tests/fixtures/analysis/comprehensive_analysis.tinybert.json");

fn fixture_value() -> Value {
    serde_json::from_str(FIXTURE).unwrap()
}

fn fixture() -> ComprehensiveAnalysis {
    parse_analysis(FIXTURE).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Every key of `theirs` is in `ours` with the same JSON type (ints and floats distinct),
/// recursively; list items are compared with the first item of the other list.
fn same_structure(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    if kind(ours) != kind(theirs) {
        out.push(format!(
            "{path}: ours {} theirs {}",
            kind(ours),
            kind(theirs)
        ));
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            // Same keys in the same order, apart from our extra keys.
            let shared: Vec<&String> = ka.iter().copied().filter(|k| b.contains_key(*k)).collect();
            if shared != kb {
                out.push(format!("{path}: keys {ka:?} vs {kb:?}"));
            }
            for (k, v) in b {
                if let Some(o) = a.get(k) {
                    same_structure(o, v, &format!("{path}.{k}"), out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let Some(first) = b.first() {
                for (i, o) in a.iter().enumerate() {
                    same_structure(o, b.get(i).unwrap_or(first), &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn fixture_reads_and_reserialises_identically() {
    let a = fixture();
    let ours = serde_json::to_value(&a).unwrap();
    let theirs = fixture_value();
    let mut diffs = Vec::new();
    same_structure(&ours, &theirs, "", &mut diffs);
    same_structure(&theirs, &ours, "", &mut diffs);
    assert!(diffs.is_empty(), "{diffs:#?}");
    // No extra keys on a notebook file, and every value round-trips exactly.
    assert_eq!(ours, theirs);
    assert_eq!(a.labels(), vec!["negative", "neutral", "positive"]);
    assert_eq!(a.confidence_analysis.confidence_analysis.0.len(), 5);
    assert_eq!(
        a.confidence_analysis
            .confidence_analysis
            .get(0.95)
            .unwrap()
            .sample_count,
        0
    );
    let (word, score) = &a.linguistic_analysis.problematic_keywords[0];
    assert_eq!(word, "pct");
    assert!((score - 0.012928207308460879).abs() < 1e-17);
    assert_eq!(a.linguistic_analysis.protective_keywords.len(), 10);
}

#[test]
fn fixture_numbers_agree_with_its_confusion_matrix() {
    let a = fixture();
    let cm = &a.class_analysis.confusion_matrix;
    let labels = a.labels();
    let recomputed = class_metrics(&labels, cm);
    for (c, (label, e)) in recomputed.iter().zip(&a.class_analysis.class_metrics.0) {
        assert_eq!(&c.label, label);
        assert_eq!((c.support, c.errors), (e.support, e.errors), "{label}");
        assert!((c.precision - e.precision).abs() < 1e-15, "{label}");
        assert!((c.recall - e.recall).abs() < 1e-15, "{label}");
        assert!((c.f1_score - e.f1_score).abs() < 1e-15, "{label}");
    }
    // errors = support - true positives: 151-128, 720-598, 341-233.
    assert_eq!(
        recomputed.iter().map(|c| c.errors).collect::<Vec<_>>(),
        vec![23, 122, 108]
    );
    let trace: usize = (0..3).map(|i| cm[i][i]).sum();
    assert_eq!(trace, 959);
    assert!((a.performance_metrics.overall_accuracy - 959.0 / 1212.0).abs() < 1e-15);
    assert_eq!(a.performance_metrics.total_misclassifications, 1212 - 959);
    assert_eq!(
        metrics::lowest_f1(&recomputed, 2),
        a.class_analysis.problematic_classes
    );
    for (t, e) in &a.confidence_analysis.confidence_analysis.0 {
        // serde_json (without its float_roundtrip feature) may read the last digit 1 ulp off.
        assert!(
            (e.coverage - e.sample_count as f64 / 1212.0).abs() < 1e-15,
            "threshold {t}"
        );
    }
    // The recommendations follow from the numbers by the notebook's rules.
    let lr = recommend::LrBandKind::from_accuracy(a.performance_metrics.overall_accuracy);
    assert_eq!(
        a.recommendations.fine_tuning.learning_rate,
        lr.recommendation()
    );
    let at = a.confidence_analysis.confidence_analysis.get(0.9).unwrap();
    let level = PruningLevel::from_confidence(at.coverage, at.accuracy);
    assert_eq!(a.recommendations.pruning.strategy, level.strategy());
    a.validate().unwrap();
}

#[test]
fn fixture_yields_the_plan() {
    let a = fixture();
    let plan = derive_plan(&a, 3392).unwrap();
    assert_eq!((plan.lr_band.low, plan.lr_band.high), (5e-5, 1e-4));
    assert_eq!(plan.target_classes, vec!["positive", "negative"]);
    assert_eq!(
        (
            plan.inputs.misclassified_count,
            plan.inputs.low_confidence_count
        ),
        (253, 195)
    );
    assert_eq!(plan.inputs.priority_count, 352);
    assert_eq!(plan.epochs, 4);
    assert_eq!(plan.weight_multiplier, 2.5);
    assert_eq!(plan.health, Health::Fair);
    assert_eq!(plan.pruning.level, PruningLevel::Conservative);
    assert_eq!(
        (plan.pruning.min_percent, plan.pruning.max_percent),
        (10, 20)
    );
    assert_eq!(plan.batch_size, 16);
    assert_eq!(plan.weight_scale, 1.0); // 352 / 3392 < 30%
    let kinds: Vec<PhaseKind> = plan.phases.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![PhaseKind::Focus, PhaseKind::Weighted, PhaseKind::Full]
    );
    // Batch 16: the band's rates times sqrt(16/32).
    let scale = 0.5f64.sqrt();
    assert_eq!(plan.lr_scale, scale);
    assert_eq!(plan.phases[0].learning_rate, 1e-4 * scale);
    assert_eq!(
        (
            plan.phases[0].priority_samples,
            plan.phases[0].other_samples
        ),
        (352, 352)
    );
    assert!(
        (plan.phases[1].learning_rate - 7.5e-5 * scale).abs() < 1e-18 && plan.phases[1].weighted
    );
    assert_eq!(plan.phases[2].learning_rate, 5e-5 * scale);
    assert_eq!(plan.phases[2].other_samples, 3392 - 352);
    assert!(plan
        .augmentation
        .iter()
        .any(|m| m.name == "back-translation" && !m.available));
    let table = plan.render_table();
    assert!(
        table.contains("fair") && table.contains("FOCUS") && table.contains("5e-5 .. 1e-4"),
        "{table}"
    );

    // The plan serialises with every input recorded and reads back equal.
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(v["inputs"]["priority_count"], json!(352));
    assert_eq!(v["health"], json!("fair"));
    assert_eq!(v["phases"][0]["kind"], json!("FOCUS"));
    assert_eq!(serde_json::from_value::<Plan>(v).unwrap(), plan);

    // A small training set: 352 priority of 704 is 50%, so extra weight is scaled by 0.6.
    let small = derive_plan(&a, 704).unwrap();
    assert!((small.weight_scale - 0.6).abs() < 1e-15);
    assert_eq!(derive_plan(&a, 0).unwrap_err(), PlanError::EmptyTrainingSet);
}

#[test]
fn plan_rules_at_their_boundaries() {
    assert_eq!(plan::epochs_and_multiplier(0.26), (5, 3.0));
    assert_eq!(plan::epochs_and_multiplier(0.25), (4, 2.5));
    assert_eq!(plan::epochs_and_multiplier(0.15), (3, 2.0));
    assert_eq!(plan::batch_size(501), 8);
    assert_eq!(plan::batch_size(500), 16);
    assert_eq!(plan::batch_size(200), 32);
    assert_eq!(Health::assess(0.95, 0.05, 0.9), Health::Excellent);
    assert_eq!(Health::assess(0.95, 0.05, 0.8), Health::Good);
    assert_eq!(Health::assess(0.86, 0.14, 0.8), Health::Good);
    assert_eq!(
        Health::assess(0.7912541254125413, 0.20874587458745875, 0.7314174453860068),
        Health::Fair
    );
    assert_eq!(Health::assess(0.75, 0.25, 0.55), Health::Poor);
    assert_eq!(
        Health::Good.phases(),
        &[PhaseKind::Weighted, PhaseKind::Full]
    );
    assert_eq!(Health::Excellent.phases(), &[PhaseKind::Full]);

    // m = 2.5, no scaling, class weight 1.
    assert_eq!(sample_weight(true, true, 2.5, 1.0, 1.0), 3.75);
    assert_eq!(sample_weight(true, false, 2.5, 1.0, 1.0), 2.5);
    assert_eq!(sample_weight(false, true, 2.5, 1.0, 1.0), 2.0);
    assert_eq!(sample_weight(false, false, 2.5, 1.0, 1.0), 1.0);
    // Scaled by 0.5: 1 + 2.75 * 0.5; class weight 2 then cap at 5.
    assert_eq!(sample_weight(true, true, 2.5, 0.5, 1.0), 2.375);
    assert_eq!(sample_weight(true, true, 2.5, 1.0, 2.0), 5.0);
    assert_eq!(sample_weight(false, false, 2.5, 1.0, 0.5), 0.5);
    // 6 samples: class 0 x3, 1 x2, 2 x1 -> 6/9, 1, 2.
    let w = balanced_class_weights(&[0, 0, 0, 1, 1, 2], 3);
    assert_eq!(w, vec![6.0 / 9.0, 1.0, 2.0]);
}

#[test]
fn plan_sample_weights_combine_the_rules() {
    let plan = derive_plan(&fixture(), 3392).unwrap();
    let labels = [0, 0, 0, 1, 1, 2];
    let w = plan.sample_weights(&labels, 3, &[0, 3], &[0, 5]);
    let cw = [6.0 / 9.0, 1.0, 2.0];
    assert_eq!(w[0], 3.75 * cw[0]);
    assert_eq!(w[1], cw[0]);
    assert_eq!(w[3], 2.5);
    assert_eq!(w[5], 4.0); // 0.8 * 2.5 * 2
}

/// A small synthetic split: texts built from word lists, probabilities fixed per sample.
fn synthetic() -> (Vec<String>, Vec<usize>, Vec<Vec<f32>>, Vec<String>) {
    let labels = vec![
        "negative".to_string(),
        "neutral".to_string(),
        "positive".to_string(),
    ];
    let words = [
        ["profit fell sharply", "loss widened", "sales dropped"],
        [
            "company announced plan",
            "meeting held today",
            "board appointed director",
        ],
        [
            "profit rose strongly",
            "sales increased",
            "order intake grew",
        ],
    ];
    let mut texts = Vec::new();
    let mut truth = Vec::new();
    let mut probs = Vec::new();
    for i in 0..60usize {
        let t = i % 3;
        let text = format!(
            "{} in quarter {} {}",
            words[t][i % 3],
            i % 7,
            words[(t + 1) % 3][(i / 3) % 3]
        );
        texts.push(text);
        truth.push(t);
        // Every 5th sample is predicted as the next class; confidences vary with i.
        let pred = if i % 5 == 0 { (t + 1) % 3 } else { t };
        let top = 0.4 + 0.55 * ((i * 7) % 11) as f32 / 10.0;
        let mut row = vec![(1.0 - top) / 2.0; 3];
        row[pred] = top;
        probs.push(row);
    }
    (labels, truth, probs, texts)
}

#[test]
fn built_analysis_has_the_notebook_structure_and_validates() {
    let (labels, truth, probs, texts) = synthetic();
    let m = compute_metrics(&labels, &truth, &probs).unwrap();
    let k = mine_keywords(&texts, &m.misclassified, &TfidfParams::default()).unwrap();
    assert!(!k.problematic.is_empty() && !k.protective.is_empty());
    let ids: Vec<String> = (0..texts.len()).map(|i| format!("{i:016x}")).collect();
    let meta = AnalysisMetadata {
        analysis_date: analysis_json::format_analysis_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_755_256_068),
        ),
        model_path: "models/minilm".into(),
        model_name: "minilm".into(),
        model_type: "candle".into(),
        split: Some("validation".into()),
    };
    assert_eq!(meta.analysis_date, "2025-08-15 11:07:48");
    let a = ComprehensiveAnalysis::build(&m, &k, meta, Some(&ids));
    a.validate().unwrap();

    let ours = serde_json::to_value(&a).unwrap();
    let mut diffs = Vec::new();
    same_structure(&ours, &fixture_value(), "", &mut diffs);
    assert!(diffs.is_empty(), "{diffs:#?}");
    assert_eq!(
        ours["sample_ids"]["misclassified"][0],
        json!("0000000000000000")
    );
    assert_eq!(
        ours["performance_metrics"]["total_misclassifications"],
        json!(12)
    );
    assert!(ours["confidence_analysis"]["confidence_analysis"]["threshold_0.95"].is_object());

    // Written and read back through a file, it is the same analysis.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comprehensive_analysis.json");
    std::fs::write(&path, a.to_json_pretty()).unwrap();
    assert_eq!(read_analysis(&path).unwrap(), a);
    a.check_labels(&labels).unwrap();
    let err = a
        .check_labels(&["neg".to_string(), "pos".to_string()])
        .unwrap_err();
    assert_eq!(err.json_path(), Some("class_analysis.class_metrics"));

    let summary = a.render_summary();
    assert!(
        summary.contains("Accuracy: 80.00%") && summary.contains("validation split"),
        "{summary}"
    );
    assert!(summary.contains(&a.recommendations.fine_tuning.learning_rate));
}

/// Applies `edit` to the fixture and returns the error's JSON path and message.
fn broken(edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut v = fixture_value();
    edit(&mut v);
    let err = analysis_from_value(v).unwrap_err();
    (err.json_path().unwrap().to_string(), err.to_string())
}

#[test]
fn malformed_files_name_the_json_path() {
    let (p, msg) = broken(|v| v["performance_metrics"]["overall_accuracy"] = json!("0.79"));
    assert_eq!(p, "performance_metrics.overall_accuracy");
    assert_eq!(
        msg,
        "performance_metrics.overall_accuracy: expected a number, found a string"
    );

    let (p, msg) = broken(|v| {
        v["class_analysis"]["class_metrics"]["neutral"]
            .as_object_mut()
            .unwrap()
            .remove("recall");
    });
    assert_eq!(p, "class_analysis.class_metrics.neutral.recall");
    assert!(msg.ends_with("missing key"), "{msg}");

    let (p, _) = broken(|v| {
        v.as_object_mut().unwrap().remove("recommendations");
    });
    assert_eq!(p, "recommendations");

    let (p, msg) = broken(|v| v["sample_indices"]["misclassified"][3] = json!(1300));
    assert_eq!(p, "sample_indices.misclassified[3]");
    assert!(
        msg.contains("out of range for metadata.dataset_size 1212"),
        "{msg}"
    );

    let (p, msg) = broken(|v| v["sample_indices"]["low_confidence"][0] = json!(-1));
    assert_eq!(p, "sample_indices.low_confidence[0]");
    assert!(msg.contains("expected a non-negative integer"), "{msg}");

    let (p, _) = broken(|v| v["class_analysis"]["problematic_classes"] = json!([]));
    assert_eq!(p, "class_analysis.problematic_classes");

    let (p, msg) = broken(|v| v["sample_indices"]["misclassified"] = json!([]));
    assert_eq!(p, "sample_indices.misclassified");
    assert!(
        msg.contains("0 indices but performance_metrics.total_misclassifications is 253"),
        "{msg}"
    );

    let (p, _) = broken(|v| {
        v["recommendations"]["fine_tuning"]["focus_samples"]["low_confidence_count"] = json!(194)
    });
    assert_eq!(
        p,
        "recommendations.fine_tuning.focus_samples.low_confidence_count"
    );

    let (p, _) = broken(|v| {
        v["recommendations"]["fine_tuning"]["target_classes"] = json!(["positive", "bullish"])
    });
    assert_eq!(p, "recommendations.fine_tuning.target_classes[1]");

    let (p, _) = broken(|v| v["class_analysis"]["confusion_matrix"][1][1] = json!(599));
    assert_eq!(p, "class_analysis.confusion_matrix");

    let (p, _) =
        broken(|v| v["class_analysis"]["class_metrics"]["negative"]["precision"] = json!(0.7));
    assert_eq!(p, "class_analysis.class_metrics.negative.precision");

    let (p, _) = broken(|v| {
        v["confidence_analysis"]["confidence_analysis"]["threshold_0.7"]["coverage"] = json!(0.5)
    });
    assert_eq!(
        p,
        "confidence_analysis.confidence_analysis.threshold_0.7.coverage"
    );

    let (p, _) =
        broken(|v| v["linguistic_analysis"]["problematic_keywords"][2] = json!(["compared"]));
    assert_eq!(p, "linguistic_analysis.problematic_keywords[2]");

    let (p, _) = broken(|v| v["recommendations"]["fine_tuning"]["learning_rate"] = json!("fast"));
    assert_eq!(p, "recommendations.fine_tuning.learning_rate");

    let (p, _) = broken(|v| v["confidence_analysis"]["low_confidence_indices"][0] = json!(1));
    assert_eq!(p, "confidence_analysis.low_confidence_indices");

    // A file error names the file too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, "{\"metadata\": 3}").unwrap();
    let err = read_analysis(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: metadata: expected an object, found a number (3)",
            path.display()
        )
    );
    assert!(read_analysis(dir.path().join("missing.json"))
        .unwrap_err()
        .to_string()
        .contains("missing.json"));
}

#[test]
fn overrides_replace_derived_values_and_keep_what_they_replaced() {
    use super::overrides::{apply, Setting};
    let plan = derive_plan(&fixture(), 3392).unwrap();
    let set = |texts: &[&str]| -> Vec<Setting> {
        texts.iter().map(|t| Setting::parse(t).unwrap()).collect()
    };
    let (changed, applied) = apply(
        plan.clone(),
        &set(&["phases=FULL+FOCUS", "pruning_target=35%", "budget=15m"]),
    )
    .unwrap();
    let kinds: Vec<PhaseKind> = changed.phases.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [PhaseKind::Full, PhaseKind::Focus]);
    // Phases keep the rules' rates and sample sets for their kind.
    let derived_focus = plan.phases.iter().find(|p| p.kind == PhaseKind::Focus);
    assert_eq!(Some(&changed.phases[1]), derived_focus);
    assert_eq!(changed.pruning.target_percent, Some(35));
    let rows: Vec<(&str, &str, &str)> = applied
        .iter()
        .map(|a| (a.key.as_str(), a.value.as_str(), a.derived.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("phases", "FULL+FOCUS", "FOCUS+WEIGHTED+FULL"),
            ("pruning_target", "35%", "10-20%"),
            ("budget", "15m", "none"),
        ]
    );
    // The plain recipe takes one rate and no phases.
    let plain = plan.clone().into_plain();
    let (changed, _) = apply(plain.clone(), &set(&["lr_band=2e-5", "epochs=6"])).unwrap();
    assert_eq!(changed.phases.len(), 1);
    assert_eq!(changed.phases[0].kind, PhaseKind::Plain);
    assert_eq!(changed.phases[0].learning_rate, 2e-5);
    assert_eq!(changed.phases[0].epochs, 6);
    assert!(apply(plain.clone(), &set(&["lr_band=1e-5..5e-5"]))
        .unwrap_err()
        .to_string()
        .contains("one learning rate"));
    assert!(apply(plain, &set(&["phases=FULL"])).is_err());
}
