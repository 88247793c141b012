//! Baseline capture: the model as it is (when it is already a classifier), exported to ONNX and
//! measured on the validation split in ONNX Runtime.

use std::path::{Path, PathBuf};

use crate::analysis::compute_metrics;
use crate::assets::{self, ModelFormat, ResolvedModel};
use crate::engine::{load_model, LoadedModel};
use crate::events::{ArtifactFile, BaselineCaptured, BaselineOrigin, SchemaVersion};
use crate::onnx;
use crate::runtime::{OnnxClassifier, SessionOptions};
use crate::state::Experiment;

use super::experiment_data::{io_error, write_atomic, ExperimentData};
use super::records::latency_records;
use super::PipelineError;

/// Texts per inference batch when predicting a whole split.
pub const PREDICT_BATCH: usize = 32;
/// Tokens per text when predicting (texts are truncated beyond it).
pub const MAX_LENGTH: usize = 128;

/// The experiment's model as `exp new` recorded it; refuses weights that changed since.
pub fn recorded_model(state: &Experiment) -> Result<ResolvedModel, PipelineError> {
    let created = state
        .created
        .as_ref()
        .ok_or_else(|| PipelineError::Incomplete(state.name.clone()))?;
    let m = &created.model;
    let format = ModelFormat::from(m.format);
    let path = PathBuf::from(&m.path);
    let weights_file = match format {
        ModelFormat::HfDir => path.join("model.safetensors"),
        ModelFormat::Onnx => path.clone(),
    };
    let found = assets::sha256_file(&weights_file)?;
    if found != m.sha256 {
        return Err(PipelineError::ModelChanged {
            path: weights_file,
            recorded: m.sha256.clone(),
            found,
        });
    }
    Ok(ResolvedModel {
        spec: m.spec.clone(),
        format,
        path,
        weights_file,
        tokenizer: m.tokenizer.as_ref().map(PathBuf::from),
    })
}

/// Loads the experiment's model as a classifier for the dataset's labels.
pub fn load_experiment_model(
    state: &Experiment,
    data: &ExperimentData,
) -> Result<LoadedModel, PipelineError> {
    let source = recorded_model(state)?;
    let seed = state.created.as_ref().map_or(42, |c| c.seed);
    Ok(load_model(&source, &data.labels, seed)?)
}

/// Captures the baseline of a model that already has a trained classification head.
pub fn capture_baseline(
    state: &Experiment,
    data: &ExperimentData,
    artifacts: &Path,
) -> Result<BaselineCaptured, PipelineError> {
    let model = load_experiment_model(state, data)?;
    if !model.initialised.is_empty() {
        return Err(PipelineError::NeedsFittedBaseline {
            model: model.source.spec.clone(),
            missing: model.initialised.join(", "),
        });
    }
    let onnx_path = artifacts.join("baseline").join("model.onnx");
    let as_is = model.onnx.as_ref().is_some_and(|i| i.has_classifier);
    let bytes = if as_is {
        std::fs::read(&model.source.path)
            .map_err(io_error(format!("reading {}", model.source.path.display())))?
    } else {
        onnx::write_bert_onnx(&model.config, &model.weights)?
    };
    if as_is {
        // The file as the user has it, with the external data files it names beside it.
        let from = model.source.path.parent().unwrap_or(Path::new("."));
        for file in onnx::external_data_files(&bytes)? {
            let (src, dst) = (from.join(&file), onnx_path.with_file_name(&file));
            let data = std::fs::read(&src)
                .map_err(io_error(format!("reading external data {}", src.display())))?;
            write_atomic(&dst, &data)?;
        }
    }
    write_atomic(&onnx_path, &bytes)?;
    measure_baseline(
        BaselineOrigin::Model,
        &onnx_path,
        tokenizer_of(&model)?,
        &data.labels,
        data,
    )
}

pub fn tokenizer_of(model: &LoadedModel) -> Result<&Path, PipelineError> {
    model
        .source
        .tokenizer
        .as_deref()
        .ok_or_else(|| PipelineError::NoTokenizer(model.source.spec.clone()))
}

/// Validation metrics and latency of a baseline ONNX file.
pub fn measure_baseline(
    origin: BaselineOrigin,
    onnx_path: &Path,
    tokenizer: &Path,
    labels: &[String],
    data: &ExperimentData,
) -> Result<BaselineCaptured, PipelineError> {
    let mut classifier =
        OnnxClassifier::open(onnx_path, tokenizer, MAX_LENGTH, &SessionOptions::default())?;
    let texts = data.texts(&data.validation);
    let probs = classifier.probabilities(&texts, PREDICT_BATCH)?;
    let validation = compute_metrics(labels, &data.label_ids(&data.validation), &probs)?;

    let latency = classifier.validation_latency(&texts, 30)?;
    let size_bytes = std::fs::metadata(onnx_path)
        .map_err(io_error(format!("reading {}", onnx_path.display())))?
        .len();
    Ok(BaselineCaptured {
        schema_version: SchemaVersion,
        origin,
        onnx: ArtifactFile {
            path: onnx_path.display().to_string(),
            sha256: assets::sha256_file(onnx_path)?,
            bytes: size_bytes,
        },
        labels: labels.to_vec(),
        validation: (&validation).into(),
        latency: latency_records(&latency),
        fit: None,
    })
}
