//! The analysis stage: the baseline's errors and confidence on the validation split (the
//! notebook's `comprehensive_analysis.json`), and its priorities on the training split.

use std::path::Path;

use crate::analysis::analysis_json::format_analysis_date;
use crate::analysis::{
    compute_metrics, mine_keywords, read_analysis, AnalysisMetadata, ComprehensiveAnalysis,
    KeywordAnalysis, TfidfParams,
};
use crate::assets;
use crate::events::{
    AnalysisRecorded, AnalysisSource, AnalysisSummary, BaselineCaptured, LikelyLabelNoise,
    TrainPriorities,
};
use crate::runtime::{OnnxClassifier, SessionOptions};

use super::baseline::{MAX_LENGTH, PREDICT_BATCH};
use super::experiment_data::{io_error, write_atomic, ExperimentData};
use super::PipelineError;

pub const ANALYSIS_FILE: &str = "comprehensive_analysis.json";
pub const SUMMARY_FILE: &str = "analysis_summary.txt";

fn open_baseline(
    baseline: &BaselineCaptured,
    tokenizer: &Path,
) -> Result<OnnxClassifier, PipelineError> {
    Ok(OnnxClassifier::open(
        Path::new(&baseline.onnx.path),
        tokenizer,
        MAX_LENGTH,
        &SessionOptions::default(),
    )?)
}

/// Misclassified and low-confidence training samples of the baseline, by id.
pub fn train_priorities(
    classifier: &mut OnnxClassifier,
    data: &ExperimentData,
) -> Result<TrainPriorities, PipelineError> {
    let probs = classifier.probabilities(&data.texts(&data.train), PREDICT_BATCH)?;
    let metrics = compute_metrics(&data.labels, &data.label_ids(&data.train), &probs)?;
    let ids = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .map(|&i| data.dataset.samples[data.train[i]].id.clone())
            .collect()
    };
    Ok(TrainPriorities {
        misclassified_ids: ids(&metrics.misclassified),
        low_confidence_ids: ids(&metrics.low_confidence),
        likely_label_noise: likely_label_noise(data)?,
    })
}

/// Weight factor of likely label noise in the WEIGHTED phase.
pub const LABEL_NOISE_WEIGHT: f64 = 0.5;

/// The training samples the annotators split on, where the data has agreement levels.
fn likely_label_noise(data: &ExperimentData) -> Result<Option<LikelyLabelNoise>, PipelineError> {
    let Some(low) = crate::data::low_agreement(&data.dataset, &data.options)? else {
        return Ok(None);
    };
    let mut ids: Vec<String> = data
        .ids(&data.train)
        .into_iter()
        .filter(|id| low.ids.contains(id))
        .collect();
    ids.sort_unstable();
    Ok(Some(LikelyLabelNoise {
        file: low.file.display().to_string(),
        sha256: low.sha256,
        rule: format!(
            "not in {} with this label, the file of sentences on which {}",
            low.file.display(),
            low.rule
        ),
        weight: LABEL_NOISE_WEIGHT,
        ids,
    }))
}

fn summary(analysis: &ComprehensiveAnalysis) -> AnalysisSummary {
    let p = &analysis.performance_metrics;
    AnalysisSummary {
        samples: analysis.metadata.dataset_size,
        accuracy: p.overall_accuracy,
        error_rate: p.error_rate,
        avg_confidence: p.avg_confidence,
        misclassified: analysis.sample_indices.misclassified.len(),
        low_confidence: analysis.sample_indices.low_confidence.len(),
        problematic_classes: analysis.class_analysis.problematic_classes.clone(),
        learning_rate: analysis.recommendations.fine_tuning.learning_rate.clone(),
        pruning: analysis.recommendations.pruning.strategy.clone(),
        problematic_keywords: analysis
            .linguistic_analysis
            .problematic_keywords
            .iter()
            .take(5)
            .map(|(k, _)| k.clone())
            .collect(),
    }
}

fn write_files(
    analysis: &ComprehensiveAnalysis,
    json: &[u8],
    dir: &Path,
) -> Result<(String, String, String), PipelineError> {
    let json_path = dir.join(ANALYSIS_FILE);
    let summary_path = dir.join(SUMMARY_FILE);
    write_atomic(&json_path, json)?;
    crate::faults::point("analysis-write");
    write_atomic(&summary_path, analysis.render_summary().as_bytes())?;
    Ok((
        json_path.display().to_string(),
        assets::sha256_file(&json_path)?,
        summary_path.display().to_string(),
    ))
}

/// Runs the baseline on the validation split and writes the analysis in the notebook's schema.
pub fn compute_analysis(
    experiment: &str,
    baseline: &BaselineCaptured,
    tokenizer: &Path,
    data: &ExperimentData,
    artifacts: &Path,
) -> Result<AnalysisRecorded, PipelineError> {
    let mut classifier = open_baseline(baseline, tokenizer)?;
    let texts = data.texts(&data.validation);
    let probs = classifier.probabilities(&texts, PREDICT_BATCH)?;
    let metrics = compute_metrics(&data.labels, &data.label_ids(&data.validation), &probs)?;
    let params = TfidfParams::default();
    let keywords = if metrics.misclassified.is_empty() {
        KeywordAnalysis::empty(&params)
    } else {
        mine_keywords(&texts, &metrics.misclassified, &params)?
    };
    let meta = AnalysisMetadata {
        analysis_date: format_analysis_date(std::time::SystemTime::now()),
        model_path: baseline.onnx.path.clone(),
        model_name: format!("{experiment}-baseline"),
        model_type: "onnx".to_string(),
        split: Some("validation".to_string()),
    };
    let ids = data.ids(&data.validation);
    let analysis = ComprehensiveAnalysis::build(&metrics, &keywords, meta, Some(&ids));
    let (path, sha256, summary_path) = write_files(
        &analysis,
        analysis.to_json_pretty().as_bytes(),
        &artifacts.join("analysis"),
    )?;
    let priorities = train_priorities(&mut classifier, data)?;
    Ok(AnalysisRecorded {
        source: AnalysisSource::Computed,
        path,
        sha256,
        summary_path,
        imported_from: None,
        indices_reused: true,
        sample_sets_note: "computed on this experiment's validation split; training priorities from the baseline's predictions on the training split".to_string(),
        summary: summary(&analysis),
        train_priorities: Some(priorities),
    })
}

/// Reads a notebook-produced analysis, validates it against this experiment, and records it.
/// Its sample indices are re-used only when its `sample_ids` are exactly this experiment's
/// validation samples; otherwise its recommendations are used and the sample sets recomputed.
pub fn import_analysis(
    file: &Path,
    baseline: Option<(&BaselineCaptured, &Path)>,
    data: &ExperimentData,
    artifacts: &Path,
) -> Result<AnalysisRecorded, PipelineError> {
    let analysis = read_analysis(file)?;
    analysis
        .check_labels(&data.labels)
        .map_err(|e| crate::analysis::AnalysisError::File {
            file: file.to_path_buf(),
            source: Box::new(e),
        })?;
    let validation_ids = data.ids(&data.validation);
    let file_ids = analysis.sample_ids.as_ref();
    let reusable = file_ids.is_some_and(|ids| {
        analysis.metadata.dataset_size == validation_ids.len()
            && ids.misclassified.len() == analysis.sample_indices.misclassified.len()
            && ids
                .misclassified
                .iter()
                .zip(&analysis.sample_indices.misclassified)
                .all(|(id, &i)| validation_ids.get(i) == Some(id))
    });
    let note = if reusable {
        "the file's sample ids match this experiment's validation split: its indices are re-used"
            .to_string()
    } else if file_ids.is_none() {
        format!(
            "the file lists sample indices into its own {}-sample evaluation set without sample ids, so they cannot be matched to this experiment's {} validation samples: its recommendations are used and the sample sets are recomputed from this experiment's baseline",
            analysis.metadata.dataset_size,
            validation_ids.len()
        )
    } else {
        "the file's sample ids are not this experiment's validation samples: its recommendations are used and the sample sets are recomputed from this experiment's baseline".to_string()
    };
    let bytes = std::fs::read(file).map_err(io_error(format!("reading {}", file.display())))?;
    let (path, sha256, summary_path) = write_files(&analysis, &bytes, &artifacts.join("analysis"))?;
    let train_priorities = match baseline {
        Some((baseline, tokenizer)) => {
            let mut classifier = open_baseline(baseline, tokenizer)?;
            Some(train_priorities(&mut classifier, data)?)
        }
        None => None,
    };
    Ok(AnalysisRecorded {
        source: AnalysisSource::Imported,
        path,
        sha256,
        summary_path,
        imported_from: Some(file.display().to_string()),
        indices_reused: reusable,
        sample_sets_note: note,
        summary: summary(&analysis),
        train_priorities,
    })
}
