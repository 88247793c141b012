//! `exp export` and `exp benchmark` on a tiny trained model: the directory's files and metadata,
//! the validation and sealed-test events, re-runs that add nothing, and the directory loaded by
//! Python (`transformers.AutoTokenizer` + `onnxruntime`) predicting what `exp predict` predicts.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use sha2::{Digest, Sha256};

fn events_of(db: &Path, name: &str, kind: &str) -> Vec<serde_json::Value> {
    let out = exp(db, &["events", name, "--kind", kind, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"].clone())
        .collect()
}

fn trained_experiment(dir: &Path) -> PathBuf {
    let db = dir.join("exp.db");
    let model = tiny_encoder_dir(dir, 5);
    let data = small_fpb(dir, 300);
    new_experiment(&db, "t", &model, &data);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    db
}

#[test]
fn export_writes_a_validated_directory_and_benchmarks_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = trained_experiment(tmp.path());

    // Export before training is refused with a message naming the stage.
    let out = exp(
        &db,
        &[
            "new",
            "u",
            "--model",
            tmp.path().join("tiny-encoder").to_str().unwrap(),
            "--data",
            tmp.path().join("small.txt").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_fails_with(
        &exp(&db, &["export", "u"]),
        &["no fine-tuned model", "exp train u"],
    );

    let out = exp(&db, &["export", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = PathBuf::from(report["export"]["dir"].as_str().unwrap());
    assert_eq!(report["export"]["source"], "fine-tuned");

    // Every file of DESIGN section 6 is there, and metadata.json has the sha256 of each other one.
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["experiment"], "t");
    assert_eq!(metadata["source_event"]["kind"], "TrainingCompleted");
    assert!(metadata["source_event"]["seq"].as_i64().unwrap() > 3);
    let listed = metadata["files"].as_object().unwrap();
    for rel in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "labels.json",
        "onnx/model.onnx",
        "onnx/model.int8.onnx",
        "model_card.md",
    ] {
        let bytes = std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            listed[rel]["sha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(&bytes)),
            "{rel}"
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["id2label"]["0"], "negative");
    assert_eq!(config["id2label"]["2"], "positive");
    let vocab = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
    assert_eq!(vocab.lines().count(), 30522);
    // No temporary directory is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One ModelExported, three validations; the fp32 file agrees with candle, INT8 is smaller.
    let exported = events_of(&db, "t", "ModelExported");
    assert_eq!(exported.len(), 1);
    let metadata_sha = hex::encode(Sha256::digest(
        std::fs::read(dir.join("metadata.json")).unwrap(),
    ));
    assert_eq!(
        exported[0]["metadata_sha256"].as_str().unwrap(),
        metadata_sha
    );
    let validations = events_of(&db, "t", "ExportValidated");
    let formats: Vec<&str> = validations
        .iter()
        .map(|v| v["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["safetensors", "onnx", "onnx-int8"]);
    let fp32 = &validations[1];
    let int8 = &validations[2];
    assert!(fp32["max_abs_diff"].as_f64().unwrap() <= 1e-4, "{fp32}");
    assert!(int8["max_abs_diff"].as_f64().unwrap() > 0.0, "{int8}");
    let (fp32_size, int8_size) = (
        fp32["size_bytes"].as_u64().unwrap(),
        int8["size_bytes"].as_u64().unwrap(),
    );
    assert!(
        int8_size * 10 <= fp32_size * 3,
        "int8 {int8_size} vs fp32 {fp32_size}"
    );
    let fp32_acc = fp32["validation"]["accuracy"].as_f64().unwrap();
    let candle_acc = validations[0]["validation"]["accuracy"].as_f64().unwrap();
    assert_eq!(fp32_acc, candle_acc);

    // The exported fp32 file is the fine-tuned ONNX file (already tested); the INT8 one is new.
    let tests = events_of(&db, "t", "TestEvaluated");
    let models: Vec<&str> = tests
        .iter()
        .map(|t| t["candidate"]["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["fine-tuned", "fine-tuned-int8"]);
    assert_eq!(tests[1]["baseline"], tests[0]["baseline"]);
    assert_eq!(tests[1]["candidate"]["onnx_sha256"], int8["sha256"]);

    // Re-running the stage adds nothing; --again writes a new export.
    let before = event_count(&db);
    let out = exp(&db, &["export", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("onnx/model.int8.onnx"),
        "{}",
        stdout(&out)
    );
    assert_eq!(event_count(&db), before);

    // Benchmarks: baseline, fine-tuned and INT8, each at each batch size, then nothing more.
    let out = exp(
        &db,
        &[
            "benchmark",
            "t",
            "--batch-sizes",
            "1,8",
            "--iterations",
            "3",
            "--warmup",
            "1",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    for r in rows {
        let l = &r["latency"];
        assert_eq!(l["iterations"], 3);
        assert!(l["mean_ms"].as_f64().unwrap() > 0.0);
        assert!(r["peak_memory_mb"].as_f64().unwrap() >= r["avg_memory_mb"].as_f64().unwrap());
        assert!(r["avg_memory_mb"].as_f64().unwrap() > 0.0);
        assert_eq!(r["provider"], "CPUExecutionProvider");
    }
    let int8_row = rows
        .iter()
        .find(|r| r["model"] == "fine-tuned-int8")
        .unwrap();
    assert_eq!(int8_row["model_type"], "onnx-int8");
    assert_eq!(int8_row["accuracy"], int8["validation"]["accuracy"]);
    let before = event_count(&db);
    let out = exp(
        &db,
        &[
            "benchmark",
            "t",
            "--batch-sizes",
            "1,8",
            "--iterations",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_count(&db), before);
    assert_eq!(events_of(&db, "t", "BenchmarkMeasured").len(), 6);

    the_int8_file_runs_in_ort(&db, &dir);
    python_loads_the_directory(&db, &dir);
}

/// The label and probabilities `exp predict --json` gives each text.
fn predictions(db: &Path, args: &[&str], texts: &[&str]) -> Vec<(String, Vec<f64>)> {
    let mut args = args.to_vec();
    args.push("--json");
    args.extend(texts);
    let out = exp(db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["initialised"].as_array().unwrap().len(), 0);
    report["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let probs = p["probabilities"].as_array().unwrap();
            let values: Vec<f64> = probs.iter().map(|pair| pair[1].as_f64().unwrap()).collect();
            (p["label"].as_str().unwrap().to_string(), values)
        })
        .collect()
}

/// `exp predict` and `exp bench --engine ort` run the exported INT8 file in ONNX Runtime as it is
/// (its tokenizer found in the directory above `onnx/`), predicting the fp32 file's labels;
/// candle refuses it with one clear message.
fn the_int8_file_runs_in_ort(db: &Path, dir: &Path) {
    let texts = [
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn a year earlier.",
        "Net sales decreased by 15 percent and the company cut its outlook.",
        "The annual general meeting will be held in Helsinki on 20 March.",
        "Shares in the bank fell 4 percent after weaker than expected results.",
        "The board proposes a dividend of EUR 0.45 per share.",
    ];
    let fp32 = dir.join("onnx/model.onnx");
    let int8 = dir.join("onnx/model.int8.onnx");
    let expected = predictions(db, &["predict", fp32.to_str().unwrap()], &texts);
    let got = predictions(db, &["predict", int8.to_str().unwrap()], &texts);
    assert_eq!(got.len(), texts.len());
    for (i, ((label, probs), (fp32_label, _))) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            label, fp32_label,
            "text {i}: INT8 {got:?} vs fp32 {expected:?}"
        );
        let sum: f64 = probs.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-4,
            "text {i}: probabilities {probs:?}"
        );
    }

    let out = exp(
        db,
        &[
            "bench",
            int8.to_str().unwrap(),
            "--engine",
            "ort",
            "--batch-sizes",
            "1,8",
            "--warmup",
            "1",
            "--iterations",
            "3",
            "--seq-len",
            "32",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in rows {
        assert_eq!(r["engine"], "ort");
        assert!(r["mean_ms"].as_f64().unwrap() > 0.0, "{r}");
    }

    for args in [
        vec!["predict", int8.to_str().unwrap(), "--engine", "candle", "x"],
        vec!["bench", int8.to_str().unwrap(), "--engine", "both"],
    ] {
        let out = exp(db, &args);
        assert_fails_with(
            &out,
            &[
                "model.int8.onnx",
                "candle cannot run a quantized ONNX model",
                "--engine ort",
            ],
        );
        assert_eq!(
            stderr(&out).matches("candle cannot").count(),
            1,
            "{}",
            stderr(&out)
        );
    }
    // The file keeps the labels it was trained with; other names are refused, not swapped in.
    assert_fails_with(
        &exp(
            db,
            &["predict", int8.to_str().unwrap(), "--labels", "a,b,c", "x"],
        ),
        &[
            "model.int8.onnx",
            "the labels of the file's stored config",
            "--labels",
        ],
    );
}

const PY: &str = r#"
import json, sys
import numpy as np
import onnxruntime
from transformers import AutoTokenizer
d = sys.argv[1]
texts = json.load(open(sys.argv[2]))
tok = AutoTokenizer.from_pretrained(d)
enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
sess = onnxruntime.InferenceSession(d + "/onnx/model.onnx", providers=["CPUExecutionProvider"])
feeds = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
logits = sess.run(None, feeds)[0]
labels = json.load(open(d + "/labels.json"))["labels"]
print(json.dumps({"labels": [labels[int(i)] for i in logits.argmax(axis=1)], "logits": logits.tolist(), "lower": tok("PROFIT")["input_ids"] == tok("profit")["input_ids"]}))
"#;

fn python_loads_the_directory(db: &Path, dir: &Path) {
    let Some((python, path)) = python_with(&["transformers", "onnxruntime", "numpy"]) else {
        return;
    };
    let text = std::fs::read(fpb("Sentences_50Agree.txt")).unwrap();
    let text: String = text.iter().map(|&b| b as char).collect();
    let texts: Vec<&str> = text
        .split(['\r', '\n'])
        .filter_map(|l| l.rsplit_once('@').map(|(t, _)| t.trim()))
        .filter(|t| !t.is_empty())
        .step_by(37)
        .take(50)
        .collect();
    assert_eq!(texts.len(), 50);
    let texts_file = dir.parent().unwrap().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_string(&texts).unwrap()).unwrap();
    let mut cmd = Command::new(&python);
    cmd.args(["-c", PY]).arg(dir).arg(&texts_file);
    if let Some(p) = &path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        py["lower"], true,
        "the exported tokenizer lower-cases like the original"
    );

    let onnx = dir.join("onnx/model.onnx");
    let tokenizer = dir.join("tokenizer.json");
    let mut args = vec![
        "predict",
        onnx.to_str().unwrap(),
        "--tokenizer",
        tokenizer.to_str().unwrap(),
        "--json",
    ];
    args.extend(texts.iter().copied());
    let out = exp(db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours = ours["predictions"].as_array().unwrap();
    let theirs_labels = py["labels"].as_array().unwrap();
    let theirs_logits = py["logits"].as_array().unwrap();
    assert_eq!(ours.len(), 50);
    let mut same = 0;
    for (i, p) in ours.iter().enumerate() {
        let a: Vec<f64> = p["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let b: Vec<f64> = theirs_logits[i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() < 1e-3,
                "text {i}: logits {a:?} vs Python {b:?}"
            );
        }
        if p["label"] == theirs_labels[i] {
            same += 1;
        }
    }
    assert_eq!(
        same,
        50,
        "labels differ from Python's on {} of 50 texts",
        50 - same
    );
}
