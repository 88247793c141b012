//! Phase-level tests on a tiny random BERT and a keyword task with a word-level tokenizer.

use std::path::Path;

use candle_core::Device;

use crate::analysis::plan::{LrBand, PhaseKind};
use crate::model::init::SeededRng;
use crate::model::{tiny_random_bert, BertTokenizer, TrainableBert, Weights};
use crate::train::batching::{encode_texts, pad_id};
use crate::train::checkpoint::TrainerCheckpoint;
use crate::train::evaluate::{embeddings, evaluate_texts, predict_probs, EmbeddingKind};
use crate::train::trainer::{
    run_phase, EarlyStop, EpochReport, EvalSet, NoObserver, PhaseObserver, PhaseSpec, TrainSet,
};

const SPECIALS: [&str; 4] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];
const FILLER: [&str; 16] = [
    "the", "company", "said", "its", "quarter", "results", "shares", "market", "in", "of", "sales",
    "year", "a", "for", "net", "group",
];
/// Keywords by class: negative (0), neutral (1), positive (2).
const KEYWORDS: [[&str; 2]; 3] = [
    ["loss", "fell"],
    ["unchanged", "steady"],
    ["profit", "rose"],
];

/// A word-level BERT-style tokenizer (lowercase, whitespace split, [CLS] ... [SEP]).
fn word_tokenizer(dir: &Path) -> BertTokenizer {
    let words: Vec<&str> = SPECIALS
        .iter()
        .chain(FILLER.iter())
        .chain(KEYWORDS.iter().flatten())
        .copied()
        .collect();
    let vocab: serde_json::Map<String, serde_json::Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
        .collect();
    let added: Vec<serde_json::Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, w)| {
            serde_json::json!({"id": i, "content": w, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    BertTokenizer::from_file(&path).unwrap()
}

/// `n` sentences of 2 to 9 filler words with one class keyword at a random position.
fn keyword_set(n: usize, seed: u64) -> (Vec<String>, Vec<usize>) {
    let mut rng = SeededRng::new(seed);
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = i % 3;
        let len = 2 + (rng.next_u64() % 8) as usize;
        let mut words: Vec<&str> = (0..len)
            .map(|_| FILLER[(rng.next_u64() % FILLER.len() as u64) as usize])
            .collect();
        let kw = KEYWORDS[label][(rng.next_u64() % 2) as usize];
        let pos = (rng.next_u64() % (len as u64 + 1)) as usize;
        words.insert(pos, kw);
        texts.push(words.join(" "));
        labels.push(label);
    }
    (texts, labels)
}

fn train_set(n: usize, seed: u64) -> TrainSet {
    let (texts, labels) = keyword_set(n, seed);
    TrainSet {
        ids: (0..n).map(|i| format!("s{i}")).collect(),
        weights: (0..n).map(|i| 1.0 + (i % 4) as f64 * 0.25).collect(),
        noisy: Vec::new(),
        texts,
        labels,
    }
}

fn eval_set(n: usize, seed: u64) -> EvalSet {
    let (texts, labels) = keyword_set(n, seed);
    EvalSet { texts, labels }
}

fn model(seed: u64) -> TrainableBert {
    let (config, weights) = tiny_random_bert(seed, 3);
    TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap()
}

fn spec(epochs: usize, lr: f64) -> PhaseSpec {
    let band = LrBand {
        low: lr / 4.0,
        high: lr * 2.0,
    };
    PhaseSpec::new(PhaseKind::Weighted, epochs, band, lr, 8, 7)
}

/// Records everything; optionally saves the checkpoint of one epoch and fails right after
/// (a simulated kill).
#[derive(Default)]
struct Recorder {
    reports: Vec<EpochReport>,
    stops: Vec<EarlyStop>,
    starts: usize,
    save_at: Option<(usize, std::path::PathBuf)>,
    kill_after_save: bool,
    saved_files: Vec<std::path::PathBuf>,
}

impl PhaseObserver for Recorder {
    fn phase_started(&mut self, _: &crate::train::trainer::PhaseStart) -> anyhow::Result<()> {
        self.starts += 1;
        Ok(())
    }
    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        checkpoint: &TrainerCheckpoint,
    ) -> anyhow::Result<()> {
        self.reports.push(report.clone());
        if let Some((epoch, dir)) = &self.save_at {
            if *epoch == report.epoch {
                self.saved_files = checkpoint.save(dir)?;
                if self.kill_after_save {
                    anyhow::bail!("killed after epoch {epoch}");
                }
            }
        }
        Ok(())
    }
    fn early_stopped(&mut self, stop: &EarlyStop) -> anyhow::Result<()> {
        self.stops.push(stop.clone());
        Ok(())
    }
}

fn bits(w: &Weights) -> Vec<(String, Vec<u32>)> {
    w.iter()
        .map(|(k, t)| {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            (k.clone(), v.into_iter().map(f32::to_bits).collect())
        })
        .collect()
}

/// Reports without the wall-clock fields.
fn timeless(reports: &[EpochReport]) -> Vec<EpochReport> {
    reports
        .iter()
        .cloned()
        .map(|mut r| {
            r.samples_per_sec = 0.0;
            r.duration_s = 0.0;
            r
        })
        .collect()
}

#[test]
fn a_phase_learns_the_keyword_task() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let train = train_set(240, 1);
    let val = eval_set(60, 2);
    let mut m = model(3);
    let mut s = spec(8, 5e-3);
    s.early_stopping_patience = 8;
    let mut rec = Recorder::default();
    let out = run_phase(&mut m, &tok, &train, &val, &s, None, &mut rec).unwrap();
    let accs: Vec<f64> = rec.reports.iter().map(|r| r.validation.accuracy).collect();
    let best = out.best_epoch.unwrap();
    assert!(accs[best] >= 0.9, "validation accuracy by epoch {accs:?}");
    assert!(rec.reports[0].validation.accuracy < accs[best]);
    assert_eq!(rec.starts, 1);
    assert_eq!(rec.reports.len(), 8);
    let r = &rec.reports[best];
    assert_eq!(r.validation.per_class_f1.len(), 3);
    assert_eq!(r.validation.confidence_histogram.iter().sum::<usize>(), 60);
    assert_eq!(r.lr.len(), 8);
    assert!(r.train_loss.is_finite() && r.train_loss > 0.0);
    assert!(rec.reports.last().unwrap().train_loss < rec.reports[0].train_loss);
    // The model holds the best epoch's weights on return.
    let probs = predict_probs(
        m.model(),
        &encode_texts(&tok, &val.texts, 64).unwrap(),
        16,
        pad_id(&tok),
    )
    .unwrap();
    let m2 = crate::analysis::compute_metrics(&m.config().labels(), &val.labels, &probs).unwrap();
    assert_eq!(m2.macro_f1, out.best_macro_f1.unwrap());
}

#[test]
fn early_stopping_triggers_when_macro_f1_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let train = train_set(24, 4);
    let val = eval_set(12, 5);
    let mut m = model(6);
    // An LR far below f32 resolution of the weights: validation never changes.
    let mut s = spec(10, 1e-12);
    s.lr_band = LrBand {
        low: 1e-13,
        high: 1e-12,
    };
    let mut rec = Recorder::default();
    let out = run_phase(&mut m, &tok, &train, &val, &s, None, &mut rec).unwrap();
    assert!(out.early_stopped);
    assert_eq!(
        rec.reports.len(),
        3,
        "epoch 0 best, then 2 epochs without improvement"
    );
    assert_eq!(
        rec.reports.iter().map(|r| r.improved).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert_eq!(rec.reports[1].lr_reduced, Some((1e-12, 5e-13)));
    assert_eq!(
        rec.reports[2].lr_reduced, None,
        "no reduction when stopping"
    );
    assert_eq!(rec.stops.len(), 1);
    assert_eq!((rec.stops[0].epoch, rec.stops[0].best_epoch), (2, 0));
}

#[test]
fn reweighting_raises_weights_of_misclassified_samples() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let train = train_set(30, 8);
    let val = eval_set(12, 9);
    let mut m = model(10);
    let mut s = spec(1, 1e-12);
    s.weighted = true;
    s.reweight_misclassified = Some(2.0);
    s.class_focus = Some(vec![1.0, 2.0, 1.0]);
    let mut rec = Recorder::default();
    let out = run_phase(&mut m, &tok, &train, &val, &s, None, &mut rec).unwrap();
    let r = &rec.reports[0];
    assert!(r.misclassified > 0 && r.reweighted > 0);
    let mut raised = 0;
    for i in 0..30 {
        let start = train.weights[i] * if train.labels[i] == 1 { 2.0 } else { 1.0 };
        let now = out.sample_weights[i];
        if now != start {
            assert_eq!(now, (start * 2.0).min(5.0), "sample {i}");
            raised += 1;
        }
    }
    assert_eq!(raised, r.reweighted);
    assert_eq!(
        r.reweighted, r.misclassified,
        "no weight here is near the cap"
    );
}

#[test]
fn reweighting_leaves_likely_label_noise_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let mut train = train_set(30, 8);
    train.noisy = (0..30).map(|i| i % 2 == 0).collect();
    let val = eval_set(12, 9);
    let mut m = model(10);
    let mut s = spec(1, 1e-12);
    s.weighted = true;
    s.reweight_misclassified = Some(2.0);
    let mut rec = Recorder::default();
    let out = run_phase(&mut m, &tok, &train, &val, &s, None, &mut rec).unwrap();
    let r = &rec.reports[0];
    let raised: Vec<usize> = (0..30)
        .filter(|&i| out.sample_weights[i] != train.weights[i])
        .collect();
    assert!(!raised.is_empty(), "some clean sample was misclassified");
    assert!(raised.iter().all(|i| i % 2 == 1), "raised: {raised:?}");
    assert_eq!(raised.len(), r.reweighted);
    assert!(
        r.misclassified > r.reweighted,
        "noisy ones were misclassified too"
    );
}

#[test]
fn kill_and_resume_is_bit_identical_to_a_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let train = train_set(40, 11);
    let val = eval_set(15, 12);
    let mut s = spec(3, 2e-3);
    s.weighted = true;
    s.reweight_misclassified = Some(1.5);
    s.early_stopping_patience = 5;

    let mut straight = model(13);
    let mut rec_a = Recorder::default();
    let out_a = run_phase(&mut straight, &tok, &train, &val, &s, None, &mut rec_a).unwrap();

    let ck_dir = dir.path().join("ck");
    let mut killed = model(13);
    let mut rec_b = Recorder {
        save_at: Some((0, ck_dir.clone())),
        kill_after_save: true,
        ..Recorder::default()
    };
    let err = run_phase(&mut killed, &tok, &train, &val, &s, None, &mut rec_b).unwrap_err();
    assert!(err.to_string().contains("killed after epoch 0"), "{err}");
    let names: Vec<String> = rec_b
        .saved_files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "model.safetensors",
            "optimizer.safetensors",
            "trainer_state.json"
        ]
    );
    assert_eq!(
        std::fs::read_dir(&ck_dir).unwrap().count(),
        3,
        "no temporary files left"
    );

    let ck = TrainerCheckpoint::load(&ck_dir).unwrap();
    assert_eq!(ck.state.next_epoch, 1);
    // A different model: everything must come from the checkpoint.
    let mut resumed = model(99);
    let mut rec_c = Recorder::default();
    let out_c = run_phase(&mut resumed, &tok, &train, &val, &s, Some(&ck), &mut rec_c).unwrap();

    assert_eq!(rec_c.reports.len(), 2);
    let mut joined = rec_b.reports.clone();
    joined.extend(rec_c.reports.iter().cloned());
    assert_eq!(timeless(&joined), timeless(&rec_a.reports));
    assert_eq!(
        bits(&straight.weights().unwrap()),
        bits(&resumed.weights().unwrap())
    );
    assert_eq!(out_a.sample_weights, out_c.sample_weights);
    assert_eq!(out_a.best_epoch, out_c.best_epoch);
    assert_eq!(out_a.global_step, out_c.global_step);
    assert!(rec_a.reports.iter().any(|r| r.reweighted > 0));

    // Resuming from the last epoch's checkpoint only restores the best weights.
    let end_dir = dir.path().join("end");
    let mut again = model(13);
    let mut rec_d = Recorder {
        save_at: Some((2, end_dir.clone())),
        ..Recorder::default()
    };
    run_phase(&mut again, &tok, &train, &val, &s, None, &mut rec_d).unwrap();
    let end = TrainerCheckpoint::load(&end_dir).unwrap();
    assert!(end.state.finished);
    let mut restored = model(98);
    let out_e = run_phase(
        &mut restored,
        &tok,
        &train,
        &val,
        &s,
        Some(&end),
        &mut NoObserver,
    )
    .unwrap();
    assert!(out_e.reports.is_empty());
    assert_eq!(
        bits(&straight.weights().unwrap()),
        bits(&restored.weights().unwrap())
    );
}

#[test]
fn real_minilm_tokenizer_encodes_and_truncates() {
    let dir = crate::assets::ensure(crate::assets::Asset::MiniLmL6).unwrap();
    let tok = BertTokenizer::from_file(&dir.join("tokenizer.json")).unwrap();
    let texts = vec![
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn".to_string(),
        "Sales fell".to_string(),
    ];
    let enc = encode_texts(&tok, &texts, 6).unwrap();
    assert_eq!(enc[0].len(), 6);
    assert_eq!(
        (enc[0].ids[0], enc[0].ids[5]),
        (101, 102),
        "[CLS] ... [SEP]"
    );
    let full = encode_texts(&tok, &texts, 64).unwrap();
    assert_eq!(&full[0].ids[..5], &enc[0].ids[..5]);
    assert!(full[0].len() > 6 && full[1].len() < 6);
    assert_eq!(full[1], enc[1], "short texts are not touched");
    assert_eq!(pad_id(&tok), 0);
}

#[test]
fn evaluation_is_independent_of_batching_and_embeds() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let val = eval_set(10, 14);
    let m = model(15);
    let enc = encode_texts(&tok, &val.texts, 64).unwrap();
    let pad = pad_id(&tok);
    let batched = predict_probs(m.model(), &enc, 4, pad).unwrap();
    let single = predict_probs(m.model(), &enc, 1, pad).unwrap();
    assert_eq!(batched.len(), 10);
    for (a, b) in batched.iter().zip(&single) {
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
    let mean = embeddings(m.model(), &enc, 4, pad, EmbeddingKind::MeanLastHidden).unwrap();
    let pooled = embeddings(m.model(), &enc, 4, pad, EmbeddingKind::Pooled).unwrap();
    assert_eq!((mean.len(), mean[0].len(), pooled[0].len()), (10, 32, 32));
    assert!(
        pooled.iter().flatten().all(|v| v.abs() <= 1.0),
        "tanh output"
    );
    let both = evaluate_texts(
        m.model(),
        &tok,
        &val.texts,
        64,
        3,
        Some(EmbeddingKind::Pooled),
    )
    .unwrap();
    assert_eq!(both.embeddings.as_ref().unwrap().len(), 10);
    for (a, b) in both.probs.iter().zip(&batched) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5);
        }
    }
    let alone = embeddings(m.model(), &enc[3..4], 1, pad, EmbeddingKind::MeanLastHidden).unwrap();
    for (x, y) in mean[3].iter().zip(&alone[0]) {
        assert!(
            (x - y).abs() < 1e-4,
            "padding does not change the mean embedding"
        );
    }
}

#[test]
fn truncation_keeps_sep_and_bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let tok = word_tokenizer(dir.path());
    let enc = encode_texts(&tok, &["the company said its sales rose".to_string()], 4).unwrap();
    assert_eq!(enc[0].ids, [2, 4, 5, 3]);
    let mut m = model(1);
    let mut train = train_set(6, 1);
    train.labels[2] = 7;
    let err = run_phase(
        &mut m,
        &tok,
        &train,
        &eval_set(3, 2),
        &spec(1, 1e-3),
        None,
        &mut NoObserver,
    )
    .unwrap_err();
    assert!(err.to_string().contains("label id 7"), "{err}");
}
