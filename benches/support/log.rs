//! Events as the pipeline writes them, with made-up numbers, for the store and report benches:
//! an experiment's first events (creation, data, split, baseline), then what a long-lived
//! experiment piles up (epochs with their checkpoints, benchmarks measured again and again), then
//! the end of training and the sealed test. Typed events, so a change of the catalogue breaks the
//! build here rather than the bench at run time; sizes follow a real FinancialPhraseBank run
//! (an `EpochCompleted` payload is about 1.2 kB, a `BenchmarkMeasured` about 0.7 kB).

use std::collections::BTreeMap;

use exp::analysis::compute_metrics;
use exp::analysis::stats::{flips, mcnemar_exact, wilson_interval};
use exp::events::records::ValidationSummary;
use exp::events::{
    ArtifactFile, BaselineCaptured, BaselineOrigin, BenchmarkMeasured, CheckpointSaved, DataFormat,
    DatasetLoaded, EpochCompleted, EpochReport, Event, ExperimentCreated, LatencyStats, Metrics,
    ModelFormat, ModelSource, ModelType, PhaseCompleted, PhaseKind, Provider, ReadSpec,
    SchemaVersion, SplitCounts, SplitIds, SplitMade, TestEvaluated, TestResult, TrainingCompleted,
};
use exp::runtime::latency_stats;
use exp::store::{Store, StoreError};

/// The experiment every generated event belongs to.
pub const EXPERIMENT: &str = "bench";

const LABELS: [&str; 3] = ["negative", "neutral", "positive"];
/// The real 70/15/15 split of `Sentences_50Agree.txt`.
const SPLIT: [usize; 3] = [3386, 726, 726];
const PHASES: [PhaseKind; 3] = [PhaseKind::Focus, PhaseKind::Weighted, PhaseKind::Full];

/// splitmix64: deterministic numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn labels() -> Vec<String> {
    LABELS.iter().map(|l| l.to_string()).collect()
}

fn file(path: &str, seed: u64) -> ArtifactFile {
    ArtifactFile {
        path: path.to_string(),
        sha256: format!("{:016x}", Rng(seed).next()).repeat(4),
        bytes: 90_000_000 + seed % 1000,
    }
}

/// Validation predictions right with probability `accuracy`, and their metrics (computed by the
/// pipeline's own `compute_metrics`).
fn predictions(seed: u64, accuracy: f64) -> (Vec<bool>, Metrics) {
    let mut rng = Rng(seed);
    let n = SPLIT[1];
    let truth: Vec<usize> = (0..n).map(|i| [1, 1, 2, 0, 1, 2][i % 6]).collect();
    let mut correct = Vec::with_capacity(n);
    let probs: Vec<Vec<f32>> = truth
        .iter()
        .map(|&t| {
            let right = rng.unit() < accuracy;
            correct.push(right);
            let predicted = if right {
                t
            } else {
                (t + 1 + rng.next() as usize % 2) % 3
            };
            let top = 0.4 + 0.6 * rng.unit();
            let mut row = vec![((1.0 - top) / 2.0) as f32; 3];
            row[predicted] = top as f32;
            row
        })
        .collect();
    let metrics = compute_metrics(&labels(), &truth, &probs).expect("valid predictions");
    (correct, Metrics::from(&metrics))
}

fn latency(seed: u64, batch_size: usize, mean_ms: f64) -> LatencyStats {
    let mut rng = Rng(seed);
    let durations: Vec<f64> = (0..20)
        .map(|_| mean_ms * (0.8 + 0.4 * rng.unit()))
        .collect();
    LatencyStats::from(
        &latency_stats(batch_size, &durations, None).expect("durations are not empty"),
    )
}

fn test_result(model: &str, seed: u64, accuracy: f64) -> (Vec<bool>, TestResult) {
    let (correct, metrics) = predictions(seed, accuracy);
    let right = correct.iter().filter(|&&c| c).count();
    let result = TestResult {
        model: model.to_string(),
        onnx_path: format!("artifacts/{EXPERIMENT}/{model}/model.onnx"),
        onnx_sha256: file("x", seed).sha256,
        samples: correct.len(),
        correct: right,
        accuracy: metrics.accuracy,
        accuracy_ci95: wilson_interval(right, correct.len()),
        metrics,
    };
    (correct, result)
}

/// Creation, data, split (with its 4,838 sample ids) and the baseline.
pub fn head() -> Vec<Event> {
    let mut rng = Rng(1);
    let ids = |n: usize, rng: &mut Rng| -> Vec<String> {
        (0..n).map(|_| format!("{:016x}", rng.next())).collect()
    };
    let per_label = |total: usize| -> BTreeMap<String, usize> {
        let shares = [0.125, 0.594, 0.281];
        LABELS
            .iter()
            .zip(shares)
            .map(|(l, s)| (l.to_string(), (total as f64 * s) as usize))
            .collect()
    };
    let data_path = "/data/FinancialPhraseBank/Sentences_50Agree.txt".to_string();
    let (_, baseline) = predictions(2, 0.67);
    vec![
        Event::ExperimentCreated(ExperimentCreated {
            name: EXPERIMENT.to_string(),
            model: ModelSource {
                spec: "minilm-l6".into(),
                format: ModelFormat::HfDir,
                path: "/cache/exp/assets/minilm-l6".into(),
                sha256: file("w", 3).sha256,
                tokenizer: Some("/cache/exp/assets/minilm-l6/tokenizer.json".into()),
            },
            data_path: data_path.clone(),
            seed: 42,
            split: [70, 15, 15],
            exp_version: env!("CARGO_PKG_VERSION").to_string(),
            recipe: Default::default(),
            overrides: Default::default(),
            split_seed: None,
            environment: None,
        }),
        Event::DatasetLoaded(DatasetLoaded {
            path: data_path,
            sha256: file("d", 4).sha256,
            format: DataFormat::Fpb,
            encoding: "latin-1".into(),
            rows_read: 4846,
            samples: SPLIT.iter().sum(),
            labels: labels(),
            label_counts: per_label(SPLIT.iter().sum()),
            duplicates: 8,
            conflicts: Vec::new(),
            read: ReadSpec {
                format: DataFormat::Fpb,
                header: None,
                text_column: None,
                label_column: None,
                text_field: None,
                label_field: None,
                known_labels: labels(),
                label_map: None,
            },
        }),
        Event::SplitMade(SplitMade {
            seed: 42,
            percentages: [70, 15, 15],
            counts: SplitCounts {
                train: SPLIT[0],
                validation: SPLIT[1],
                test: SPLIT[2],
            },
            label_counts: ["train", "validation", "test"]
                .iter()
                .zip(SPLIT)
                .map(|(s, n)| (s.to_string(), per_label(n)))
                .collect(),
            digest: file("s", 5).sha256,
            ids: SplitIds {
                train: ids(SPLIT[0], &mut rng),
                validation: ids(SPLIT[1], &mut rng),
                test: ids(SPLIT[2], &mut rng),
            },
        }),
        Event::BaselineCaptured(BaselineCaptured {
            schema_version: SchemaVersion,
            origin: BaselineOrigin::Model,
            onnx: ArtifactFile {
                bytes: 90_911_354,
                ..file(&format!("artifacts/{EXPERIMENT}/baseline/model.onnx"), 6)
            },
            labels: labels(),
            validation: baseline,
            latency: vec![latency(7, 1, 27.0), latency(8, 8, 150.0)],
            fit: None,
        }),
    ]
}

/// The `i`-th of `n` bulk events, in cycles of four: an epoch, its checkpoint, and a benchmark
/// at batch 1 and 8 (of the baseline or the fine-tuned model, so `comparison.csv` keeps four rows).
/// Epochs run through the three phases in order.
pub fn bulk(i: usize, n: usize) -> Event {
    let cycle = i / 4;
    let cycles = n.div_ceil(4).max(1);
    let index = (cycle * PHASES.len() / cycles).min(PHASES.len() - 1);
    let first_of_phase = (index * cycles).div_ceil(PHASES.len());
    let epoch = cycle - first_of_phase;
    let phase = PHASES[index];
    let mut rng = Rng(i as u64);
    match i % 4 {
        0 => {
            let accuracy = 0.80 + 0.05 * rng.unit();
            let mut histogram = vec![0usize; 10];
            for _ in 0..SPLIT[1] {
                let bin = (4.0 + 6.0 * rng.unit().powf(0.3)) as usize;
                histogram[bin.min(9)] += 1;
            }
            let lr: Vec<(String, f64)> = ["head", "layer.5", "layer.4", "layer.3"]
                .iter()
                .chain(&["layer.2", "layer.1", "layer.0", "embeddings"])
                .enumerate()
                .flat_map(|(depth, unit)| {
                    let lr = 2.5e-4 * 0.9f64.powi(depth as i32) * rng.unit();
                    [
                        (format!("{unit}/decay"), lr),
                        (format!("{unit}/no_decay"), lr),
                    ]
                })
                .collect();
            Event::EpochCompleted(EpochCompleted {
                index,
                report: EpochReport {
                    phase,
                    epoch,
                    train_loss: 0.3 + 0.4 * rng.unit(),
                    validation: ValidationSummary {
                        accuracy,
                        macro_f1: accuracy - 0.03,
                        per_class_f1: (0..3).map(|_| 0.7 + 0.2 * rng.unit()).collect(),
                        mean_confidence: 0.8 + 0.1 * rng.unit(),
                        confidence_histogram: histogram,
                    },
                    lr,
                    peak_lr: 2.5e-4,
                    steps: 533,
                    global_step: 533 * (cycle as u64 + 1),
                    samples_per_sec: 18.0 + rng.unit(),
                    duration_s: 250.0 + 10.0 * rng.unit(),
                    lr_reduced: None,
                    improved: rng.unit() < 0.3,
                    misclassified: 1000 + (rng.next() % 100) as usize,
                    reweighted: 0,
                },
                pruning_step: None,
            })
        }
        1 => {
            let dir = |e: usize| {
                format!(
                    "artifacts/{EXPERIMENT}/checkpoints/{}/epoch-{e}",
                    phase.name()
                )
            };
            Event::CheckpointSaved(CheckpointSaved {
                index,
                phase,
                epoch,
                dir: dir(epoch),
                files: ["model.safetensors", "optimizer.safetensors", "state.json"]
                    .iter()
                    .enumerate()
                    .map(|(k, f)| file(&format!("{}/{f}", dir(epoch)), (i * 3 + k) as u64))
                    .collect(),
                removed: epoch.checked_sub(1).map(dir),
            })
        }
        k => {
            let model = if cycle % 2 == 0 {
                "baseline"
            } else {
                "fine-tuned"
            };
            let batch = if k == 2 { 1 } else { 8 };
            let accuracy = if model == "baseline" { 0.67 } else { 0.84 };
            Event::BenchmarkMeasured(BenchmarkMeasured {
                model: model.into(),
                model_type: ModelType::OnnxFp32,
                provider: Provider::Cpu,
                file: format!("artifacts/{EXPERIMENT}/{model}/model.onnx"),
                sha256: file("m", 9).sha256,
                model_size_mb: 86.7,
                latency: latency(i as u64, batch, 27.0 * batch as f64),
                peak_memory_mb: 1164.0 + rng.unit(),
                avg_memory_mb: 1150.0 + rng.unit(),
                memory_overhead_mb: 0.05,
                accuracy,
                f1_score: accuracy - 0.1,
                validation_samples: SPLIT[1],
            })
        }
    }
}

/// The phases' ends, the fine-tuned model and its sealed test against the baseline.
pub fn tail() -> Vec<Event> {
    let mut events: Vec<Event> = PHASES
        .iter()
        .enumerate()
        .map(|(index, phase)| {
            Event::PhaseCompleted(PhaseCompleted {
                index,
                phase: *phase,
                epochs_run: 4,
                best_epoch: Some(2),
                best_macro_f1: Some(0.81 + 0.01 * index as f64),
                early_stopped: true,
                weights: file(
                    &format!("artifacts/{EXPERIMENT}/phases/{index}.safetensors"),
                    20,
                ),
                start_macro_f1: Some(0.6),
                kept: Some(true),
            })
        })
        .collect();
    let (_, validation) = predictions(21, 0.84);
    events.push(Event::TrainingCompleted(TrainingCompleted {
        weights: file(
            &format!("artifacts/{EXPERIMENT}/fine-tuned/model.safetensors"),
            22,
        ),
        config: file(
            &format!("artifacts/{EXPERIMENT}/fine-tuned/config.json"),
            23,
        ),
        onnx: file(&format!("artifacts/{EXPERIMENT}/fine-tuned/model.onnx"), 24),
        validation,
        onnx_max_abs_diff: 2e-6,
        averaging: None,
    }));
    let (before, baseline) = test_result("baseline", 25, 0.67);
    let (after, candidate) = test_result("fine-tuned", 26, 0.84);
    let changed = flips(&before, &after);
    let ids = |want: (bool, bool)| -> Vec<String> {
        before
            .iter()
            .zip(&after)
            .enumerate()
            .filter(|(_, (&b, &a))| (b, a) == want)
            .map(|(k, _)| format!("{k:016x}"))
            .collect()
    };
    events.push(Event::TestEvaluated(TestEvaluated {
        mcnemar_p: mcnemar_exact(changed.fixed, changed.broken),
        fixed_ids: ids((false, true)),
        broken_ids: ids((true, false)),
        flips: (&changed).into(),
        baseline,
        candidate,
    }));
    events
}

/// Writes an experiment of `total` events (head, bulk, tail) through the store's batch append,
/// `batch` events per transaction, as `Writing::record_all` appends them.
pub fn write_log(store: &mut Store, total: usize, batch: usize) -> Result<(), StoreError> {
    let lock = store.lock(EXPERIMENT, "bench")?;
    let head = head();
    let tail = tail();
    let n = total.saturating_sub(head.len() + tail.len());
    store.append(&lock, &head)?;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let events: Vec<Event> = (i..end).map(|k| bulk(k, n)).collect();
        store.append(&lock, &events)?;
        i = end;
    }
    store.append(&lock, &tail)?;
    Ok(())
}
