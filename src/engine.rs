//! The two inference engines behind one interface: any model (an HF directory or an ONNX file)
//! runs in ONNX Runtime and in candle, so the two can be compared on the same inputs.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use crate::assets::{self, ModelFormat, ResolvedModel};
use crate::model::{
    hf_dir::read_config, init::init_missing, load_hf_dir, BertClassifier, BertConfig,
    BertTokenizer, EncodedBatch, HfDirError, Mode, ModelError, TokenizerError, Weights,
};
use crate::onnx::{self, OnnxError, OnnxInfo, OnnxSummary};
use crate::runtime::batch::cycle_rows;
use crate::runtime::latency::{latency_stats, measure_latency, LatencyConfig, LatencyStats};
use crate::runtime::{OnnxSession, RuntimeError, SessionOptions};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    HfDir(#[from] HfDirError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("{model}: the model has {found} classes but {expected} labels were given ({labels})")]
    LabelCount {
        model: PathBuf,
        found: usize,
        expected: usize,
        labels: String,
    },
    // These two leave the file out of the message: `load_for_engines`' callers name the model
    // they were loading (`exp`: "loading model PATH: ..."), and saying it twice reads badly.
    #[error(
        "candle cannot run a quantized ONNX model (it uses {}): run it with --engine ort",
        ops.join(", ")
    )]
    QuantizedForCandle { path: PathBuf, ops: Vec<String> },
    #[error(
        "a quantized ONNX model without a logits output: no classification head can be added to \
         it (quantize the classifier instead)"
    )]
    QuantizedWithoutHead { path: PathBuf },
    /// `origin` says where the names were read: the file's stored config, or a config.json.
    #[error(
        "the labels of {origin} are {found:?} but the labels asked for are {requested:?} (pass --labels {})",
        found.join(",")
    )]
    LabelMismatch {
        origin: String,
        found: Vec<String>,
        requested: Vec<String>,
    },
    #[error("{}: the model was loaded for ONNX Runtime only", path.display())]
    OrtOnly { path: PathBuf },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Ort,
    Candle,
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ort" => Ok(EngineKind::Ort),
            "candle" => Ok(EngineKind::Candle),
            other => Err(format!("unknown engine '{other}': expected ort or candle")),
        }
    }
}

/// A model's weights in memory, with what loading had to make up.
pub struct LoadedModel {
    pub source: ResolvedModel,
    pub config: BertConfig,
    pub weights: Weights,
    /// Parameters the file lacked and that were initialised from the seed (pooler, classifier).
    pub initialised: Vec<String>,
    /// Present when the model came from an ONNX file.
    pub onnx: Option<OnnxInfo>,
}

impl LoadedModel {
    pub fn labels(&self) -> Vec<String> {
        self.config.labels()
    }
}

/// Loads any model as a classifier for `labels`; a missing head is initialised from `seed`.
pub fn load_model(
    source: &ResolvedModel,
    labels: &[String],
    seed: u64,
) -> Result<LoadedModel, EngineError> {
    match source.format {
        ModelFormat::HfDir => {
            let (config, weights, report) = load_hf_dir(&source.path, labels, seed)?;
            Ok(LoadedModel {
                source: source.clone(),
                config,
                weights,
                initialised: report.initialised,
                onnx: None,
            })
        }
        ModelFormat::Onnx => {
            let imported = onnx::import_bert(&source.path)?;
            let mut config = imported.config;
            let mut weights = imported.weights;
            let found = config.num_labels();
            if found > 0 && found != labels.len() {
                return Err(EngineError::LabelCount {
                    model: source.path.clone(),
                    found,
                    expected: labels.len(),
                    labels: labels.join(", "),
                });
            }
            config.set_labels(labels);
            let initialised = init_missing(&config, &mut weights, seed)?;
            Ok(LoadedModel {
                source: source.clone(),
                config,
                weights,
                initialised,
                onnx: Some(imported.info),
            })
        }
    }
}

/// A complete ONNX classifier that ONNX Runtime runs as the file is. It is not imported into
/// candle weights: ORT needs nothing from them, and the importer maps fp32 BERT weights only, so
/// an INT8 file (integer tables and scales) could not be imported at all.
#[derive(Clone, Debug)]
pub struct OrtOnlyModel {
    pub source: ResolvedModel,
    pub labels: Vec<String>,
    /// The word-embedding rows, to check the tokenizer against, when the file tells.
    pub vocab_size: Option<usize>,
}

/// What `exp predict` and `exp bench` run: weights in memory (any engine), or a file that only
/// ORT runs.
pub enum RunnableModel {
    Loaded(Box<LoadedModel>),
    OrtOnly(OrtOnlyModel),
}

impl RunnableModel {
    pub fn source(&self) -> &ResolvedModel {
        match self {
            RunnableModel::Loaded(m) => &m.source,
            RunnableModel::OrtOnly(m) => &m.source,
        }
    }

    pub fn labels(&self) -> Vec<String> {
        match self {
            RunnableModel::Loaded(m) => m.labels(),
            RunnableModel::OrtOnly(m) => m.labels.clone(),
        }
    }

    /// Parameters that loading initialised from the seed (never any for an ORT-only file).
    pub fn initialised(&self) -> &[String] {
        match self {
            RunnableModel::Loaded(m) => &m.initialised,
            RunnableModel::OrtOnly(_) => &[],
        }
    }

    pub fn vocab_size(&self) -> Option<usize> {
        match self {
            RunnableModel::Loaded(m) => Some(m.config.vocab_size),
            RunnableModel::OrtOnly(m) => m.vocab_size,
        }
    }

    pub fn open(&self, kind: EngineKind, options: &SessionOptions) -> Result<Engine, EngineError> {
        match (self, kind) {
            (RunnableModel::Loaded(m), kind) => Engine::open(kind, m, options),
            (RunnableModel::OrtOnly(m), EngineKind::Ort) => {
                let session = OnnxSession::open(&m.source.path, options)?;
                Ok(Engine::Ort {
                    session,
                    onnx_path: m.source.path.clone(),
                })
            }
            // `load_for_engines` only returns an ORT-only model when no other engine was asked for.
            (RunnableModel::OrtOnly(m), EngineKind::Candle) => Err(EngineError::OrtOnly {
                path: m.source.path.clone(),
            }),
        }
    }
}

/// Loads `source` for `engines`. A complete ONNX classifier that only ORT will run is not
/// imported (see [`OrtOnlyModel`]); a quantized file asked of candle is refused up front.
pub fn load_for_engines(
    source: &ResolvedModel,
    labels: &[String],
    seed: u64,
    engines: &[EngineKind],
) -> Result<RunnableModel, EngineError> {
    if source.format == ModelFormat::Onnx {
        let summary = onnx::summarise(&source.path)?;
        if summary.is_quantized() && engines.contains(&EngineKind::Candle) {
            return Err(EngineError::QuantizedForCandle {
                path: source.path.clone(),
                ops: summary.quantized_ops,
            });
        }
        if engines.iter().all(|&k| k == EngineKind::Ort) && summary.logits.is_some() {
            return Ok(RunnableModel::OrtOnly(ort_only(source, labels, summary)?));
        }
        if summary.is_quantized() {
            return Err(EngineError::QuantizedWithoutHead {
                path: source.path.clone(),
            });
        }
    }
    Ok(RunnableModel::Loaded(Box::new(load_model(
        source, labels, seed,
    )?)))
}

/// The file's labels: those its stored config names, else those of the `config.json` of the
/// model directory it was exported into (`DIR/onnx/model.onnx` beside `DIR/config.json`), else
/// the requested ones; named labels must be the requested ones, as for a model directory.
fn ort_only(
    source: &ResolvedModel,
    labels: &[String],
    summary: OnnxSummary,
) -> Result<OrtOnlyModel, EngineError> {
    let path = &source.path;
    let mut found = summary
        .config
        .as_ref()
        .map(|c| ("the file's stored config".to_string(), c.labels()));
    if found.as_ref().is_none_or(|(_, l)| l.is_empty()) {
        if let Some(config_path) = assets::file_beside_onnx(path, "config.json") {
            let labels = read_config(&config_path)?.labels();
            found = Some((config_path.display().to_string(), labels));
        }
    }
    let found = found.filter(|(_, l)| !l.is_empty() && !are_placeholders(l));
    if let Some((origin, found)) = &found {
        if found.as_slice() != labels {
            return Err(EngineError::LabelMismatch {
                origin: origin.clone(),
                found: found.clone(),
                requested: labels.to_vec(),
            });
        }
    }
    let classes = summary.logits.as_ref().and_then(|l| l.classes);
    if let Some(classes) = classes.filter(|&n| n != labels.len()) {
        return Err(EngineError::LabelCount {
            model: path.clone(),
            found: classes,
            expected: labels.len(),
            labels: labels.join(", "),
        });
    }
    Ok(OrtOnlyModel {
        source: source.clone(),
        labels: labels.to_vec(),
        vocab_size: summary.vocab_size,
    })
}

/// Hugging Face's placeholder names (`LABEL_0`, `LABEL_1`, ...) name nothing: the requested
/// names apply to such a file, as they do on the candle route.
fn are_placeholders(labels: &[String]) -> bool {
    labels
        .iter()
        .enumerate()
        .all(|(i, name)| *name == format!("LABEL_{i}"))
}

/// A running engine.
pub enum Engine {
    Ort {
        session: OnnxSession,
        onnx_path: PathBuf,
    },
    Candle {
        model: BertClassifier,
    },
}

impl Engine {
    /// Opens `model` in the engine. ORT runs an ONNX classifier file as it is; anything else
    /// (an HF directory, an ONNX encoder given a new head) is written by our ONNX writer first.
    pub fn open(
        kind: EngineKind,
        model: &LoadedModel,
        options: &SessionOptions,
    ) -> Result<Engine, EngineError> {
        match kind {
            EngineKind::Candle => Ok(Engine::Candle {
                model: BertClassifier::from_weights(&model.config, &model.weights, &Device::Cpu)?,
            }),
            EngineKind::Ort => {
                let as_is = model.onnx.as_ref().is_some_and(|info| info.has_classifier)
                    && model.initialised.is_empty();
                let onnx_path = if as_is {
                    model.source.path.clone()
                } else {
                    export_to_cache(&model.config, &model.weights)?
                };
                let session = OnnxSession::open(&onnx_path, options)?;
                Ok(Engine::Ort { session, onnx_path })
            }
        }
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Engine::Ort { .. } => EngineKind::Ort,
            Engine::Candle { .. } => EngineKind::Candle,
        }
    }

    /// The sequence length inputs must be padded to, when the model fixes it.
    pub fn fixed_sequence_length(&self) -> Option<usize> {
        match self {
            Engine::Ort { session, .. } => session.fixed_sequence_length(),
            Engine::Candle { .. } => None,
        }
    }

    /// Logits of a batch: `(batch, num_labels, row-major values)`.
    pub fn logits(
        &mut self,
        batch: &EncodedBatch,
    ) -> Result<(usize, usize, Vec<f32>), EngineError> {
        match self {
            Engine::Ort { session, .. } => Ok(session.logits(batch)?),
            Engine::Candle { model } => {
                let logits = model.forward(batch, Mode::Eval)?;
                let (b, n) = logits.dims2()?;
                Ok((b, n, logits.flatten_all()?.to_vec1::<f32>()?))
            }
        }
    }

    /// Latency per batch size, as `runtime::latency` measures ORT; candle is timed the same way
    /// (warm-up, then timed forward passes over the same rows).
    pub fn measure_latency(
        &mut self,
        pool: &EncodedBatch,
        config: &LatencyConfig,
        threads: Option<usize>,
    ) -> Result<Vec<LatencyStats>, EngineError> {
        match self {
            Engine::Ort { session, .. } => Ok(measure_latency(session, pool, config)?),
            Engine::Candle { model } => {
                let mut results = Vec::new();
                for &batch_size in &config.batch_sizes {
                    let batch = cycle_rows(pool, batch_size)?;
                    for _ in 0..config.warmup {
                        model.forward(&batch, Mode::Eval)?;
                    }
                    let mut durations = Vec::with_capacity(config.iterations);
                    for _ in 0..config.iterations {
                        let start = Instant::now();
                        // `to_vec2` forces the result, as ORT returns materialised outputs.
                        model.forward(&batch, Mode::Eval)?.to_vec2::<f32>()?;
                        durations.push(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    results.push(latency_stats(batch_size, &durations, threads)?);
                }
                Ok(results)
            }
        }
    }
}

/// Writes the model with our ONNX writer into the cache, named by the content's sha256, and
/// returns the path (re-used when the same weights are exported again).
pub fn export_to_cache(config: &BertConfig, weights: &Weights) -> Result<PathBuf, EngineError> {
    let bytes = onnx::write_bert_onnx(config, weights)?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let dir = assets::exp_home().join("onnx-cache");
    std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io {
        context: format!("creating {}", dir.display()),
        source,
    })?;
    let path = dir.join(format!("{}.onnx", &digest[..16]));
    if !path.is_file() {
        onnx::save(&path, &bytes)?;
    }
    Ok(path)
}

/// Logits of the candle model and of each ONNX Runtime session on the same batches of `texts`
/// (`batch` texts each, tokenised once): `[candle, first session, ...]`, one row per text. The
/// check that an ONNX file computes what the candle model does (the fine-tuned model, every
/// exported file) is made from these.
pub fn side_by_side_logits(
    model: &BertClassifier,
    sessions: &mut [OnnxSession],
    tokenizer: &BertTokenizer,
    texts: &[&str],
    batch: usize,
) -> Result<Vec<Vec<Vec<f32>>>, EngineError> {
    let mut logits: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(texts.len()); sessions.len() + 1];
    for chunk in texts.chunks(batch.max(1)) {
        let encoded = tokenizer.encode_batch(chunk)?;
        let candle: Vec<f32> = model
            .forward(&encoded, Mode::Eval)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let classes = candle.len() / encoded.batch.max(1);
        logits[0].extend(candle.chunks(classes.max(1)).map(<[f32]>::to_vec));
        for (k, session) in sessions.iter_mut().enumerate() {
            let (_, classes, values) = session.logits(&encoded)?;
            logits[k + 1].extend(values.chunks(classes.max(1)).map(<[f32]>::to_vec));
        }
    }
    Ok(logits)
}

/// The largest |a - b| over two sets of logits of the same texts.
pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0f32, f32::max)
}

#[cfg(test)]
mod label_tests {
    use super::are_placeholders;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_hugging_face_placeholders_in_order_name_nothing() {
        assert!(are_placeholders(&names(&["LABEL_0", "LABEL_1", "LABEL_2"])));
        assert!(!are_placeholders(&names(&[
            "negative", "neutral", "positive"
        ])));
        assert!(!are_placeholders(&names(&["LABEL_1", "LABEL_0"])));
        assert!(!are_placeholders(&names(&["LABEL_0", "neutral"])));
    }
}
