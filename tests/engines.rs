//! ONNX Runtime and candle agree on real models and real sentences (issue: model core).

mod common;

use candle_core::Device;
use common::*;
use exp::assets::{self, Asset};
use exp::data::{self, ReadOptions};
use exp::model::{BertClassifier, BertTokenizer, Mode};
use exp::runtime::{OnnxSession, SessionOptions};

/// `n` real FinancialPhraseBank sentences of mixed lengths (every 37th sample).
fn real_sentences(n: usize) -> Vec<String> {
    let dataset = data::load(&fpb("Sentences_50Agree.txt"), &ReadOptions::default()).unwrap();
    let texts: Vec<String> = dataset
        .samples
        .iter()
        .step_by(37)
        .take(n)
        .map(|s| s.text.clone())
        .collect();
    assert_eq!(texts.len(), n);
    texts
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn tokenizer() -> BertTokenizer {
    let dir = assets::ensure(Asset::MiniLmL6).unwrap();
    BertTokenizer::from_file(&dir.join("tokenizer.json")).unwrap()
}

#[test]
fn minilm_l3_onnx_imported_into_candle_matches_onnx_runtime() {
    let path = assets::ensure(Asset::MiniLmL3Onnx).unwrap();
    let imported = exp::onnx::import_bert(&path).unwrap();
    let texts = real_sentences(32);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer().encode_batch(&refs).unwrap();
    let lengths: Vec<i64> = (0..batch.batch)
        .map(|r| {
            batch.attention_mask[r * batch.seq_len..(r + 1) * batch.seq_len]
                .iter()
                .sum()
        })
        .collect();
    assert!(
        lengths.iter().min() < lengths.iter().max(),
        "the batch mixes lengths, so padding is exercised: {lengths:?}"
    );

    // The file is an encoder: the (unused) pooler is filled in so the model can be built.
    let mut weights = imported.weights.clone();
    let filled = exp::model::init::init_missing(&imported.config, &mut weights, 0).unwrap();
    assert!(
        filled.iter().all(|name| name.starts_with("bert.pooler.")),
        "{filled:?}"
    );
    let model = BertClassifier::from_weights(&imported.config, &weights, &Device::Cpu).unwrap();
    let candle_hidden = model
        .encode(&batch, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();

    let mut session = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    let outputs = session.run(&batch).unwrap();
    let ort_hidden = outputs.get(&imported.info.encoder_output_name).unwrap();
    assert_eq!(ort_hidden.shape, vec![32, batch.seq_len, 384]);
    let diff = max_abs_diff(&candle_hidden, &ort_hidden.data);
    eprintln!("max abs diff {diff:e}");
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

#[test]
fn minilm_l6_with_seeded_head_exported_by_our_writer_matches_candle_in_ort() {
    let labels: Vec<String> = ["negative", "neutral", "positive"]
        .map(String::from)
        .to_vec();
    let dir = assets::ensure(Asset::MiniLmL6).unwrap();
    let (config, weights, report) = exp::model::load_hf_dir(&dir, &labels, 42).unwrap();
    assert_eq!(report.initialised, ["classifier.weight", "classifier.bias"]);

    let onnx_dir = tempfile::tempdir().unwrap();
    let onnx_path = onnx_dir.path().join("model.onnx");
    exp::onnx::save_bert_onnx(&onnx_path, &config, &weights).unwrap();

    let texts = real_sentences(64);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer().encode_batch(&refs).unwrap();

    let model = BertClassifier::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let candle_logits = model
        .forward(&batch, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut session = OnnxSession::open(&onnx_path, &SessionOptions::default()).unwrap();
    let (rows, classes, ort_logits) = session.logits(&batch).unwrap();
    assert_eq!((rows, classes), (64, 3));
    let diff = max_abs_diff(&candle_logits, &ort_logits);
    eprintln!("max abs diff {diff:e}");
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

#[test]
fn predict_gives_the_same_answer_in_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("unused.db");
    let run = |engine: &str| -> serde_json::Value {
        let out = exp(
            &db,
            &[
                "predict",
                "minilm-l3-onnx",
                "Operating profit rose to EUR 13.1 mn.",
                "Sales fell sharply in the quarter.",
                "--engine",
                engine,
                "--json",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ort = run("ort");
    let candle = run("candle");
    assert_eq!(ort["initialised"], candle["initialised"]);
    assert_eq!(
        ort["initialised"].as_array().unwrap().len(),
        4,
        "pooler and classifier are new: {}",
        ort["initialised"]
    );
    for i in 0..2 {
        let a = &ort["predictions"][i];
        let b = &candle["predictions"][i];
        assert_eq!(a["label"], b["label"]);
        for j in 0..3 {
            let x = a["logits"][j].as_f64().unwrap();
            let y = b["logits"][j].as_f64().unwrap();
            assert!((x - y).abs() < 1e-4, "logit {j} of text {i}: {x} vs {y}");
        }
    }
    assert!(!db.exists(), "predict does not touch the event log");
}

#[test]
fn a_tokenizer_that_does_not_fit_the_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx/bert_op17_dynamic_logits.onnx");
    let tokenizer = assets::ensure(Asset::MiniLmL6)
        .unwrap()
        .join("tokenizer.json");
    let out = exp(
        &dir.path().join("x.db"),
        &[
            "predict",
            fixture.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "some text",
        ],
    );
    assert_fails_with(&out, &["vocabulary of 30522 tokens", "100 rows"]);
}

#[test]
fn bench_reports_consistent_latency_statistics_for_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let out = exp(
        &dir.path().join("x.db"),
        &[
            "bench",
            "minilm-l3-onnx",
            "--engine",
            "both",
            "--batch-sizes",
            "1,2",
            "--warmup",
            "1",
            "--iterations",
            "3",
            "--seq-len",
            "16",
            "--threads",
            "1",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        let f = |k: &str| row[k].as_f64().unwrap();
        assert!(f("min_ms") <= f("p50_ms") && f("p50_ms") <= f("p95_ms"));
        assert!(f("p95_ms") <= f("p99_ms") && f("p99_ms") <= f("max_ms"));
        let expected = f("batch_size") * 1000.0 / f("mean_ms");
        assert!((f("throughput_samples_per_sec") - expected).abs() < 1e-6 * expected);
        assert_eq!(row["iterations"], 3);
    }
    assert_eq!(rows[0]["engine"], "ort");
    assert_eq!(rows[3]["engine"], "candle");
}
