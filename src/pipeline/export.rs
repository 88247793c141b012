//! The export stage: the production model directory (fp32 and INT8 ONNX, safetensors, tokenizer
//! files, card, metadata), each model file checked on the validation split, then every exported
//! ONNX file not yet tested read once against the sealed test split.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::analysis::{compute_metrics, Metrics};
use crate::events::{
    ArtifactFile, Event, ExportFormat, ExportValidated, ExportedModel, ModelExported,
    TestEvaluated, TestResult,
};
use crate::export::{card::model_card, write_model_dir, ExportError, ExportedFile, ModelDirSpec};
use crate::model::{hf_dir::read_config, load_hf_dir, BertClassifier, BertTokenizer};
use crate::quantize::{quantize_onnx_bytes, QuantizeOptions};
use crate::runtime::{softmax, OnnxSession, SessionOptions};

use super::baseline::{MAX_LENGTH, PREDICT_BATCH};
use super::train::{load_weights, verify_artifact};
use super::{sealed_test, PipelineError, Writing};

/// Largest |logit difference| allowed between the fp32 ONNX file and candle (DESIGN section 6).
pub const FP32_TOLERANCE: f32 = 1e-4;

/// The model that goes into the directory: the pruned one when pruning is recorded, else the
/// fine-tuned one.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportSource {
    pub name: ExportedModel,
    pub event_kind: &'static str,
    pub weights: ArtifactFile,
    pub config: ArtifactFile,
}

/// Where the directory goes: `artifacts/NAME/model/`.
pub fn export_dir(artifacts: &Path) -> PathBuf {
    artifacts.join("model")
}

/// Validation outputs of one exported file.
struct Checked {
    logits: Vec<Vec<f32>>,
    metrics: Metrics,
}

impl Writing {
    /// What an export made now would hold.
    pub fn export_source(&self) -> Result<ExportSource, PipelineError> {
        // A pruning stage that kept no step hands on the fine-tuned model, and it is named so.
        if let Some(p) = self
            .log
            .state()
            .pruning
            .as_ref()
            .filter(|p| p.kept_step.is_some())
        {
            return Ok(ExportSource {
                name: ExportedModel::Pruned,
                event_kind: "PruningCompleted",
                weights: p.weights.clone(),
                config: p.config.clone(),
            });
        }
        let t = self.log.state().training.as_ref().ok_or_else(|| {
            PipelineError::from(ExportError::NotTrained(self.log.state().name.clone()))
        })?;
        Ok(ExportSource {
            name: ExportedModel::FineTuned,
            event_kind: "TrainingCompleted",
            weights: t.weights.clone(),
            config: t.config.clone(),
        })
    }

    /// Whether the recorded export holds the current source model.
    pub fn export_is_current(&self) -> Result<bool, PipelineError> {
        let source = self.export_source()?;
        Ok(self.log.state().export.as_ref().is_some_and(|e| {
            e.source == source.name
                && e.source_weights_sha256.as_deref() == Some(source.weights.sha256.as_str())
        }))
    }

    /// Writes the directory, validates its files against candle, records `ModelExported` and an
    /// `ExportValidated` per model file (in one transaction, after the files exist).
    pub fn export_model(&mut self, quantize: &QuantizeOptions) -> Result<(), PipelineError> {
        let source = self.export_source()?;
        let config_path = verify_artifact(&source.config)?;
        let weights_path = verify_artifact(&source.weights)?;
        let mut config =
            read_config(&config_path).map_err(|e| PipelineError::Engine(Box::new(e.into())))?;
        if config.labels() != self.data.labels {
            config.set_labels(&self.data.labels);
        }
        let weights = load_weights(&weights_path)?;
        let fp32 = crate::onnx::write_bert_onnx(&config, &weights)?;
        let (int8, report) = quantize_onnx_bytes(&fp32, quantize).map_err(ExportError::from)?;
        let seq = self
            .log
            .store()
            .last_seq(&self.log.state().name, source.event_kind)?
            .unwrap_or(0);
        let dir = export_dir(&self.artifacts);
        let card = model_card(self.log.state());
        let tokenizer = self.tokenizer_path()?;
        let files = write_model_dir(&ModelDirSpec {
            dir: &dir,
            config: &config,
            weights: &weights,
            tokenizer_json: &tokenizer,
            onnx_fp32: &fp32,
            onnx_int8: &int8,
            model_card: &card,
            experiment: &self.log.state().name,
            source: source.name.as_str(),
            source_event_kind: source.event_kind,
            source_event_seq: seq,
            quantization: &quantize.name(),
        })?;
        self.progress.message(&format!(
            "export: wrote {} ({} files; INT8 {}: {} MatMul weights{})",
            dir.display(),
            files.len(),
            quantize.name(),
            report.matmuls,
            if report.embeddings {
                " and the word embeddings"
            } else {
                ""
            }
        ));
        let validations = self.validate_dir(&dir, &files)?;
        let fp32_check = validations
            .iter()
            .find(|v| v.format == ExportFormat::Onnx)
            .and_then(|v| v.max_abs_diff)
            .unwrap_or(f32::INFINITY);
        if fp32_check > FP32_TOLERANCE {
            return Err(PipelineError::ExportMismatch {
                path: dir.join("onnx/model.onnx"),
                max_abs_diff: fp32_check,
            });
        }
        let metadata = files
            .iter()
            .find(|f| f.path == "metadata.json")
            .map(|f| f.sha256.clone())
            .unwrap_or_default();
        let mut events = vec![Event::ModelExported(ModelExported {
            dir: dir.display().to_string(),
            source: source.name,
            files: files
                .iter()
                .map(|f| ArtifactFile {
                    path: f.path.clone(),
                    sha256: f.sha256.clone(),
                    bytes: f.bytes,
                })
                .collect(),
            metadata_sha256: metadata,
            source_weights_sha256: Some(source.weights.sha256.clone()),
            quantization: Some(quantize.name()),
        })];
        for v in &validations {
            self.progress.message(&format!(
                "  {:<22} {:>10.2} MB  validation accuracy {:.4}, macro-F1 {:.4}{}",
                v.file,
                v.size_bytes as f64 / 1e6,
                v.validation.accuracy,
                v.validation.macro_f1,
                v.max_abs_diff
                    .map_or(String::new(), |d| format!(", max |diff| vs candle {d:.2e}"))
            ));
        }
        events.extend(validations.into_iter().map(Event::ExportValidated));
        self.record_all(events)
    }

    /// Candle on the exported safetensors (the reference), then both ONNX files in ONNX Runtime
    /// on the same batches of the validation split, tokenised by the exported tokenizer.
    fn validate_dir(
        &self,
        dir: &Path,
        files: &[ExportedFile],
    ) -> Result<Vec<ExportValidated>, PipelineError> {
        let tokenizer =
            BertTokenizer::from_file(&dir.join("tokenizer.json"))?.with_max_length(MAX_LENGTH)?;
        let (config, weights, _) = load_hf_dir(dir, &self.data.labels, 0)
            .map_err(|e| PipelineError::Engine(Box::new(e.into())))?;
        let candle_model = BertClassifier::from_weights(&config, &weights, &Device::Cpu)?;
        let mut sessions = [
            OnnxSession::open(&dir.join("onnx/model.onnx"), &SessionOptions::default())?,
            OnnxSession::open(
                &dir.join("onnx/model.int8.onnx"),
                &SessionOptions::default(),
            )?,
        ];
        let texts = self.data.texts(&self.data.validation);
        let truth = self.data.label_ids(&self.data.validation);
        let logits = crate::engine::side_by_side_logits(
            &candle_model,
            &mut sessions,
            &tokenizer,
            &texts,
            PREDICT_BATCH,
        )?;
        let checked = logits
            .into_iter()
            .map(|l| -> Result<Checked, PipelineError> {
                let probs: Vec<Vec<f32>> = l.iter().map(|r| softmax(r)).collect();
                let metrics = compute_metrics(&self.data.labels, &truth, &probs)?;
                Ok(Checked { logits: l, metrics })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let diff = |c: &Checked| crate::engine::max_abs_diff(&c.logits, &checked[0].logits);
        let file = |rel: &str| files.iter().find(|f| f.path == rel).cloned();
        let mut out = Vec::new();
        for (k, (rel, format)) in [
            ("model.safetensors", ExportFormat::Safetensors),
            ("onnx/model.onnx", ExportFormat::Onnx),
            ("onnx/model.int8.onnx", ExportFormat::OnnxInt8),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(f) = file(rel) else { continue };
            out.push(ExportValidated {
                file: rel.to_string(),
                format,
                sha256: f.sha256,
                size_bytes: f.bytes,
                // The safetensors file is the reference the others are measured against.
                max_abs_diff: (k > 0).then(|| diff(&checked[k])),
                validation: (&checked[k].metrics).into(),
            });
        }
        Ok(out)
    }

    /// Reads the sealed test split once for each exported ONNX file it has not seen (by sha256),
    /// against the baseline's recorded test result.
    pub fn test_exported_files(&mut self) -> Result<(), PipelineError> {
        let Some(export) = self.log.state().export.clone() else {
            return Ok(());
        };
        let Some(first) = self.log.state().test.clone() else {
            // The fine-tuned model's own test comes first (exp train's order).
            return Ok(());
        };
        let tested: BTreeSet<String> = self
            .log
            .state()
            .tests
            .iter()
            .map(|t| t.candidate.onnx_sha256.clone())
            .collect();
        let dir = PathBuf::from(&export.dir);
        for (rel, suffix) in [("onnx/model.onnx", ""), ("onnx/model.int8.onnx", "-int8")] {
            let Some(file) = export.files.iter().find(|f| f.path == rel) else {
                continue;
            };
            if tested.contains(&file.sha256) {
                continue;
            }
            let path = dir.join(rel);
            verify_artifact(&ArtifactFile {
                path: path.display().to_string(),
                ..file.clone()
            })?;
            let model = format!("{}{suffix}", export.source);
            let event = self.sealed_test(&first.baseline, &model, &path, &file.sha256)?;
            self.progress.message(&format!(
                "sealed test: {model} accuracy {:.4} (baseline {:.4}), macro-F1 {:.4}",
                event.candidate.accuracy, event.baseline.accuracy, event.candidate.metrics.macro_f1
            ));
            self.record(Event::TestEvaluated(event))?;
        }
        Ok(())
    }

    fn sealed_test(
        &self,
        baseline: &TestResult,
        model: &str,
        onnx_path: &Path,
        sha256: &str,
    ) -> Result<TestEvaluated, PipelineError> {
        let tokenizer = self.tokenizer_path()?;
        let candidate = sealed_test::evaluate(&self.data, &tokenizer, model, onnx_path, sha256)?;
        Ok(sealed_test::compare(
            &self.data,
            baseline.clone(),
            candidate,
        ))
    }
}
