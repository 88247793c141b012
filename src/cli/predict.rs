//! `exp predict` and `exp bench`: run any model in ONNX Runtime or candle.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use exp::assets;
use exp::data::{self, ReadOptions};
use exp::engine::{load_for_engines, Engine, EngineKind, RunnableModel};
use exp::model::{BertTokenizer, Padding};
use exp::runtime::{softmax, GraphOptimization, LatencyConfig, LatencyStats, SessionOptions};

use super::output::{print_json, table};

/// What every model-running command shares.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model: an alias (minilm-l6, minilm-l3-onnx), a Hugging Face model directory or an .onnx file.
    pub model: String,
    /// Tokenizer (tokenizer.json); default: the one beside the model.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Class labels in class-id order, for a model whose head is new or whose file has no label names.
    #[arg(
        long,
        default_value = "negative,neutral,positive",
        value_delimiter = ','
    )]
    pub labels: Vec<String>,
    /// Seed for a classification head the model lacks (it is then untrained: say so, do not trust it).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// ONNX Runtime intra-op threads (default: ONNX Runtime's choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// ONNX Runtime graph optimisation: disable, basic, extended or all.
    #[arg(long, default_value = "all")]
    pub optimization: GraphOptimization,
}

impl ModelArgs {
    /// Loads the model for `engines` (an ONNX classifier that only ORT runs is not imported).
    fn load(&self, engines: &[EngineKind]) -> anyhow::Result<RunnableModel> {
        let source = assets::resolve_model(&self.model, self.tokenizer.as_deref())?;
        load_for_engines(&source, &self.labels, self.seed, engines)
            .with_context(|| format!("loading model {}", source.path.display()))
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            intra_op_threads: self.threads,
            optimization: self.optimization,
            no_spinning: false,
        }
    }
}

fn tokenizer(
    model: &RunnableModel,
    engine: &Engine,
    max_length: usize,
) -> anyhow::Result<BertTokenizer> {
    let path = model
        .source()
        .tokenizer
        .as_ref()
        .context("the model has no tokenizer: pass --tokenizer")?;
    let tokenizer = BertTokenizer::from_file(path)?;
    if let Some(rows) = model.vocab_size() {
        anyhow::ensure!(
            tokenizer.vocab_size() <= rows,
            "tokenizer {} has a vocabulary of {} tokens but the model's word embeddings have {} rows: \
             they do not belong together (pass the model's own tokenizer with --tokenizer)",
            path.display(),
            tokenizer.vocab_size(),
            rows
        );
    }
    Ok(match engine.fixed_sequence_length() {
        Some(n) => tokenizer
            .with_max_length(max_length.min(n))?
            .with_padding(Padding::Fixed(n))?,
        None => tokenizer.with_max_length(max_length)?,
    })
}

fn head_note(model: &RunnableModel) -> Option<String> {
    (!model.initialised().is_empty()).then(|| {
        format!(
            "the model has no trained {}: initialised from the seed, so its predictions mean nothing until it is trained",
            model.initialised().join(", ")
        )
    })
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Texts to classify.
    #[arg(required = true, num_args = 1..)]
    pub texts: Vec<String>,
    /// Engine: ort (ONNX Runtime) or candle.
    #[arg(long, default_value = "ort")]
    pub engine: EngineKind,
    /// Maximum tokens per text (longer texts are truncated).
    #[arg(long, default_value_t = 128)]
    pub max_length: usize,
}

#[derive(Serialize)]
struct PredictionOut {
    text: String,
    label: String,
    label_id: usize,
    probabilities: Vec<(String, f32)>,
    logits: Vec<f32>,
}

#[derive(Serialize)]
struct PredictReport {
    model: String,
    engine: EngineKind,
    onnx_file: Option<String>,
    initialised: Vec<String>,
    predictions: Vec<PredictionOut>,
}

pub fn predict(args: PredictArgs, json: bool) -> anyhow::Result<ExitCode> {
    let model = args.model.load(&[args.engine])?;
    let mut engine = model.open(args.engine, &args.model.session_options())?;
    let tokenizer = tokenizer(&model, &engine, args.max_length)?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&texts)?;
    let (rows, classes, logits) = engine.logits(&batch)?;
    let labels = model.labels();
    anyhow::ensure!(
        classes == labels.len(),
        "the model outputs {classes} classes but has {} labels",
        labels.len()
    );
    let predictions: Vec<PredictionOut> = (0..rows)
        .map(|i| {
            let row = &logits[i * classes..(i + 1) * classes];
            let probs = softmax(row);
            let best = exp::runtime::argmax(&probs).unwrap_or(0);
            PredictionOut {
                text: args.texts[i].clone(),
                label: labels[best].clone(),
                label_id: best,
                probabilities: labels.iter().cloned().zip(probs).collect(),
                logits: row.to_vec(),
            }
        })
        .collect();
    let onnx_file = match &engine {
        Engine::Ort { onnx_path, .. } => Some(onnx_path.display().to_string()),
        Engine::Candle { .. } => None,
    };
    if json {
        print_json(&PredictReport {
            model: model.source().spec.clone(),
            engine: args.engine,
            onnx_file,
            initialised: model.initialised().to_vec(),
            predictions,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(note) = head_note(&model) {
        eprintln!("note: {note}");
    }
    let mut header = vec!["LABEL".to_string()];
    header.extend(labels.iter().map(|l| format!("P({l})")));
    header.push("LOGITS".into());
    header.push("TEXT".into());
    let rows: Vec<Vec<String>> = predictions
        .iter()
        .map(|p| {
            let mut row = vec![p.label.clone()];
            row.extend(p.probabilities.iter().map(|(_, v)| format!("{v:.4}")));
            let logits: Vec<String> = p.logits.iter().map(|v| format!("{v:.3}")).collect();
            row.push(logits.join(" "));
            row.push(p.text.clone());
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    print!("{}", table(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Engines to measure, side by side: ort, candle or both.
    #[arg(long, default_value = "ort", value_parser = ["ort", "candle", "both"])]
    pub engine: String,
    /// Batch sizes.
    #[arg(long, default_value = "1,4,8", value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// Untimed runs before timing each batch size.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Timed runs per batch size.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// Every input is padded (or truncated) to this many tokens, as the benchmark notebook does.
    #[arg(long, default_value_t = 64)]
    pub seq_len: usize,
    /// Texts to feed (any dataset file `exp new` reads); default: built-in financial sentences.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Used when no `--data` is given: short and long sentences in the style of financial news.
const BENCH_TEXTS: [&str; 8] = [
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period a year earlier.",
    "The company expects net sales to decline slightly in the second half of the year.",
    "Shares in the bank fell 4 percent after it reported weaker than expected quarterly results.",
    "The contract covers the delivery of two paper machines and is valued at roughly EUR 50 million.",
    "Net interest income was flat compared with the previous quarter.",
    "The board proposes a dividend of EUR 0.45 per share for the financial year.",
    "Demand for steel products weakened in Europe, and the group cut its full-year outlook.",
    "The acquisition is expected to be completed by the end of March, subject to regulatory approval.",
];

fn bench_texts(data: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let Some(path) = data else {
        return Ok(BENCH_TEXTS.iter().map(|s| s.to_string()).collect());
    };
    let dataset = data::load(path, &ReadOptions::default())?;
    Ok(dataset
        .samples
        .into_iter()
        .take(64)
        .map(|s| s.text)
        .collect())
}

#[derive(Serialize)]
struct BenchRow {
    engine: EngineKind,
    #[serde(flatten)]
    stats: LatencyStats,
}

pub fn bench(args: BenchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let kinds = match args.engine.as_str() {
        "both" => vec![EngineKind::Ort, EngineKind::Candle],
        "candle" => vec![EngineKind::Candle],
        _ => vec![EngineKind::Ort],
    };
    let model = args.model.load(&kinds)?;
    let texts = bench_texts(args.data.as_deref())?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let config = LatencyConfig {
        batch_sizes: args.batch_sizes.clone(),
        warmup: args.warmup,
        iterations: args.iterations,
    };
    let mut rows = Vec::new();
    for kind in kinds {
        let mut engine = model.open(kind, &args.model.session_options())?;
        let tokenizer = tokenizer(&model, &engine, args.seq_len)?.with_padding(Padding::Fixed(
            engine.fixed_sequence_length().unwrap_or(args.seq_len),
        ))?;
        let pool = tokenizer.encode_batch(&texts)?;
        if !json {
            eprintln!(
                "measuring {} on {:?}: {} warm-up + {} timed runs per batch size, {} tokens per input",
                serde_json::to_string(&kind)?.trim_matches('"'),
                model.source().spec,
                args.warmup,
                args.iterations,
                pool.seq_len
            );
        }
        for stats in engine.measure_latency(&pool, &config, args.model.threads)? {
            rows.push(BenchRow {
                engine: kind,
                stats,
            });
        }
    }
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let s = &r.stats;
            vec![
                serde_json::to_string(&r.engine)
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_string(),
                s.batch_size.to_string(),
                format!("{:.2}", s.mean_ms),
                format!("{:.2}", s.std_ms),
                format!("{:.2}", s.min_ms),
                format!("{:.2}", s.p50_ms),
                format!("{:.2}", s.p95_ms),
                format!("{:.2}", s.p99_ms),
                format!("{:.1}", s.throughput_samples_per_sec),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "ENGINE",
                "BATCH",
                "MEAN_MS",
                "STD_MS",
                "MIN_MS",
                "P50_MS",
                "P95_MS",
                "P99_MS",
                "SAMPLES/S"
            ],
            &table_rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
