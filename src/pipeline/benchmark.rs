//! Benchmarks in the benchmark notebook's terms: every model file the experiment produced
//! (baseline, fine-tuned, the exported fp32 and INT8 files) in ONNX Runtime, side by side in one
//! process (runs interleaved model by model, so load on the machine hits all of them alike), with
//! resident memory (per model, from /proc/self/status) and the file's validation metrics. One `BenchmarkMeasured` per model x format
//! x batch size.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::analysis::compute_metrics;
use crate::assets;
use crate::events::{BenchmarkMeasured, Event, Metrics, ModelType, Provider};
use crate::model::Padding;
use crate::runtime::{latency_stats, OnnxClassifier, SessionOptions};

use super::baseline::{MAX_LENGTH, PREDICT_BATCH};
use super::experiment_data::io_error;
use super::{PipelineError, Writing};

/// ONNX Runtime's execution provider for every measurement here.
pub const PROVIDER: Provider = Provider::Cpu;
/// Tokens per benchmark row (validation texts padded or truncated to it, as the baseline's latency).
pub const BENCH_SEQ_LEN: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchmarkOptions {
    pub batch_sizes: Vec<usize>,
    pub warmup: usize,
    pub iterations: usize,
}

impl Default for BenchmarkOptions {
    fn default() -> Self {
        BenchmarkOptions {
            batch_sizes: vec![1, 8, 32],
            warmup: 3,
            iterations: 20,
        }
    }
}

/// One model file to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchTarget {
    pub model: String,
    pub model_type: ModelType,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// Validation metrics already recorded for this file, if any.
    pub validation: Option<Metrics>,
}

/// Resident set size and its high-water mark of this process, in MB, from /proc/self/status.
pub fn resident_memory_mb() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn rss() -> f64 {
    resident_memory_mb().map_or(0.0, |(rss, _)| rss)
}

/// Resident memory of one model in a process of its own, in MB.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoryProbe {
    /// Before the model is loaded (ONNX Runtime's library and environment already are).
    pub before_mb: f64,
    pub batches: Vec<BatchMemory>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMemory {
    pub batch_size: usize,
    /// Highest and mean resident set over the runs at this batch size.
    pub peak_mb: f64,
    pub mean_mb: f64,
}

/// Runs of each batch size in a memory probe.
const PROBE_RUNS: usize = 3;
/// The text a probe's batches are made of: memory depends on shapes, not on words.
const PROBE_TEXT: &str =
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period.";

/// What `exp memory-probe` does in its own process: loads `model`, then runs each batch size
/// (rows padded to 64 tokens) a few times, sampling the resident set after each run.
pub fn probe_memory(
    model: &Path,
    tokenizer: &Path,
    batch_sizes: &[usize],
) -> Result<MemoryProbe, PipelineError> {
    crate::runtime::env::environment()?;
    let before_mb = rss();
    let classifier =
        OnnxClassifier::open(model, tokenizer, MAX_LENGTH, &SessionOptions::default())?;
    let mut session = classifier.session;
    let seq = session.fixed_sequence_length().unwrap_or(BENCH_SEQ_LEN);
    let padded = classifier.tokenizer.with_padding(Padding::Fixed(seq))?;
    let mut batches = Vec::with_capacity(batch_sizes.len());
    for &batch_size in batch_sizes {
        let texts = vec![PROBE_TEXT; batch_size];
        let prepared = session.prepare(&padded.encode_batch(&texts)?)?;
        let mut samples = Vec::with_capacity(PROBE_RUNS);
        for _ in 0..PROBE_RUNS {
            session.infer(&prepared)?;
            samples.push(rss());
        }
        batches.push(BatchMemory {
            batch_size,
            peak_mb: samples.iter().copied().fold(before_mb, f64::max),
            mean_mb: samples.iter().sum::<f64>() / samples.len() as f64,
        });
    }
    Ok(MemoryProbe { before_mb, batches })
}

/// Runs `probe_memory` in a child `exp memory-probe` process and reads its JSON.
fn run_memory_probe(
    model: &Path,
    tokenizer: &Path,
    batch_sizes: &[usize],
) -> Result<MemoryProbe, PipelineError> {
    let exe = std::env::current_exe().map_err(io_error("locating the exp binary".to_string()))?;
    let sizes: Vec<String> = batch_sizes.iter().map(|b| b.to_string()).collect();
    let output = std::process::Command::new(&exe)
        .arg("memory-probe")
        .arg(model)
        .arg("--tokenizer")
        .arg(tokenizer)
        .arg("--batch-sizes")
        .arg(sizes.join(","))
        .output()
        .map_err(io_error(format!("running {} memory-probe", exe.display())))?;
    let failed = |why: String| {
        PipelineError::Runtime(Box::new(crate::runtime::RuntimeError::Latency(format!(
            "memory probe of {}: {why}",
            model.display()
        ))))
    };
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("unreadable output: {e}")))
}

impl Writing {
    /// The model files to benchmark, each file once (the exported fp32 file of an unpruned model
    /// is byte for byte the fine-tuned ONNX file, and is measured as `fine-tuned`).
    pub fn benchmark_targets(&self) -> Vec<BenchTarget> {
        let mut out: Vec<BenchTarget> = Vec::new();
        let mut push = |t: BenchTarget| {
            if !out.iter().any(|o| o.sha256 == t.sha256) {
                out.push(t);
            }
        };
        if let Some(b) = &self.log.state().baseline {
            push(BenchTarget {
                model: "baseline".to_string(),
                model_type: ModelType::OnnxFp32,
                path: PathBuf::from(&b.onnx.path),
                sha256: b.onnx.sha256.clone(),
                bytes: b.onnx.bytes,
                validation: Some(b.validation.clone()),
            });
        }
        if let Some(t) = &self.log.state().training {
            push(BenchTarget {
                model: "fine-tuned".to_string(),
                model_type: ModelType::OnnxFp32,
                path: PathBuf::from(&t.onnx.path),
                sha256: t.onnx.sha256.clone(),
                bytes: t.onnx.bytes,
                validation: Some(t.validation.clone()),
            });
        }
        if let Some(e) = &self.log.state().export {
            for (rel, suffix, model_type) in [
                ("onnx/model.onnx", "", ModelType::OnnxFp32),
                ("onnx/model.int8.onnx", "-int8", ModelType::OnnxInt8),
            ] {
                let Some(f) = e.files.iter().find(|f| f.path == rel) else {
                    continue;
                };
                let validation = self
                    .log
                    .state()
                    .export_validations
                    .iter()
                    .find(|v| v.sha256 == f.sha256)
                    .map(|v| v.validation.clone());
                push(BenchTarget {
                    model: format!("{}{suffix}", e.source),
                    model_type,
                    path: Path::new(&e.dir).join(rel),
                    sha256: f.sha256.clone(),
                    bytes: f.bytes,
                    validation,
                });
            }
        }
        out
    }

    /// Measures the targets (all of them with `again`, else those lacking a batch size) and
    /// records one `BenchmarkMeasured` per target x batch size, in one transaction.
    pub fn benchmark(
        &mut self,
        options: &BenchmarkOptions,
        again: bool,
    ) -> Result<(), PipelineError> {
        let done: BTreeSet<(String, usize)> = self
            .log
            .state()
            .benchmarks
            .iter()
            .map(|b| (b.sha256.clone(), b.latency.batch_size))
            .collect();
        let targets: Vec<BenchTarget> = self
            .benchmark_targets()
            .into_iter()
            .filter(|t| {
                again
                    || options
                        .batch_sizes
                        .iter()
                        .any(|&b| !done.contains(&(t.sha256.clone(), b)))
            })
            .collect();
        if targets.is_empty() {
            return Ok(());
        }
        if options.iterations == 0 || options.batch_sizes.contains(&0) {
            return Err(PipelineError::Runtime(Box::new(
                crate::runtime::RuntimeError::Latency(
                    "benchmarks need at least one iteration and batch sizes of at least 1"
                        .to_string(),
                ),
            )));
        }
        let tokenizer = self.tokenizer_path()?;
        let texts = self.data.texts(&self.data.validation);
        let truth = self.data.label_ids(&self.data.validation);
        let max_batch = options.batch_sizes.iter().copied().max().unwrap_or(1);
        let pool_texts: Vec<&str> = texts.iter().cycle().take(max_batch).copied().collect();
        for target in &targets {
            let found = assets::sha256_file(&target.path)?;
            if found != target.sha256 {
                return Err(PipelineError::ArtifactChanged {
                    path: target.path.clone(),
                    recorded: target.sha256.clone(),
                    found,
                });
            }
        }

        // Memory: each model in a fresh process of its own (`exp memory-probe`), so that what
        // this process loaded and freed before (training, other sessions) does not hide it.
        let mut memory: Vec<Vec<(f64, f64, f64)>> = Vec::with_capacity(targets.len());
        for target in &targets {
            let probe = run_memory_probe(&target.path, &tokenizer, &options.batch_sizes)?;
            memory.push(
                probe
                    .batches
                    .iter()
                    .map(|b| (b.peak_mb, b.mean_mb, b.peak_mb - probe.before_mb))
                    .collect(),
            );
        }
        // Every model's session is open at once and they run in turns: idle sessions' threads
        // must not spin (measured: 2-3x longer latencies on 2 cores with four sessions open).
        let side_by_side = SessionOptions {
            no_spinning: true,
            ..SessionOptions::default()
        };
        let open = |path: &Path| OnnxClassifier::open(path, &tokenizer, MAX_LENGTH, &side_by_side);
        let encode =
            |c: &OnnxClassifier, n: usize| -> Result<crate::model::EncodedBatch, PipelineError> {
                let seq = c.session.fixed_sequence_length().unwrap_or(BENCH_SEQ_LEN);
                Ok(c.tokenizer
                    .clone()
                    .with_padding(Padding::Fixed(seq))?
                    .encode_batch(&pool_texts[..n])?)
            };

        // The sessions timed side by side, each with its validation metrics.
        struct Loaded {
            target: BenchTarget,
            classifier: OnnxClassifier,
            metrics: Metrics,
        }
        let mut loaded: Vec<Loaded> = Vec::new();
        for target in targets {
            let mut classifier = open(&target.path)?;
            let metrics = match &target.validation {
                Some(m) => m.clone(),
                None => {
                    let probs = classifier.probabilities(&texts, PREDICT_BATCH)?;
                    Metrics::from(&compute_metrics(&self.data.labels, &truth, &probs)?)
                }
            };
            loaded.push(Loaded {
                target,
                classifier,
                metrics,
            });
        }

        let mut events = Vec::new();
        for (b, &batch_size) in options.batch_sizes.iter().enumerate() {
            // Latency, side by side: one timed run of each model in turn, `iterations` times.
            let mut inputs = Vec::with_capacity(loaded.len());
            for l in &mut loaded {
                let prepared = l
                    .classifier
                    .session
                    .prepare(&encode(&l.classifier, batch_size)?)?;
                for _ in 0..options.warmup {
                    l.classifier.session.infer(&prepared)?;
                }
                inputs.push(prepared);
            }
            let mut durations: Vec<Vec<f64>> =
                vec![Vec::with_capacity(options.iterations); loaded.len()];
            for _ in 0..options.iterations {
                for (k, l) in loaded.iter_mut().enumerate() {
                    let start = Instant::now();
                    l.classifier.session.infer(&inputs[k])?;
                    durations[k].push(start.elapsed().as_secs_f64() * 1000.0);
                }
            }
            for (k, l) in loaded.iter().enumerate() {
                let threads = l.classifier.session.options().intra_op_threads;
                let latency = latency_stats(batch_size, &durations[k], threads)?;
                let (peak, avg, overhead) = memory[k][b];
                self.progress.message(&format!(
                    "  {:<16} {:<9} batch {:>3}: mean {:>9.2} ms, p95 {:>9.2} ms, {:>8.1} samples/s, +{:.1} MB resident",
                    l.target.model,
                    l.target.model_type,
                    batch_size,
                    latency.mean_ms,
                    latency.p95_ms,
                    latency.throughput_samples_per_sec,
                    overhead
                ));
                events.push(Event::BenchmarkMeasured(BenchmarkMeasured {
                    model: l.target.model.clone(),
                    model_type: l.target.model_type,
                    provider: PROVIDER,
                    file: l.target.path.display().to_string(),
                    sha256: l.target.sha256.clone(),
                    model_size_mb: l.target.bytes as f64 / (1024.0 * 1024.0),
                    latency: (&latency).into(),
                    peak_memory_mb: peak,
                    avg_memory_mb: avg,
                    memory_overhead_mb: overhead.max(0.0),
                    accuracy: l.metrics.accuracy,
                    f1_score: l.metrics.macro_f1,
                    validation_samples: l.metrics.sample_count,
                }));
            }
        }
        self.record_all(events)
    }
}
