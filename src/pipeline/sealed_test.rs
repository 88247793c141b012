//! The sealed test split: one ONNX file's result on it, and a candidate compared with the
//! baseline (flips, their sample ids, McNemar's exact test). Training evaluates the baseline
//! and the fine-tuned model; export evaluates each new file against the recorded baseline.

use std::path::Path;

use crate::analysis::compute_metrics;
use crate::analysis::stats::{correct_mask, flips, mcnemar_exact, wilson_interval};
use crate::events::{TestEvaluated, TestResult};
use crate::runtime::{OnnxClassifier, SessionOptions};

use super::baseline::{MAX_LENGTH, PREDICT_BATCH};
use super::experiment_data::ExperimentData;
use super::PipelineError;

/// `model`'s result on the sealed test split, run in ONNX Runtime from `onnx_path`.
pub(crate) fn evaluate(
    data: &ExperimentData,
    tokenizer: &Path,
    model: &str,
    onnx_path: &Path,
    sha256: &str,
) -> Result<TestResult, PipelineError> {
    let test = data.sealed_test();
    let mut classifier =
        OnnxClassifier::open(onnx_path, tokenizer, MAX_LENGTH, &SessionOptions::default())?;
    let probs = classifier.probabilities(&data.texts(test), PREDICT_BATCH)?;
    let metrics = compute_metrics(&data.labels, &data.label_ids(test), &probs)?;
    let n_correct = test.len() - metrics.misclassified.len();
    Ok(TestResult {
        model: model.to_string(),
        onnx_path: onnx_path.display().to_string(),
        onnx_sha256: sha256.to_string(),
        samples: test.len(),
        correct: n_correct,
        accuracy: metrics.accuracy,
        accuracy_ci95: wilson_interval(n_correct, test.len()),
        metrics: (&metrics).into(),
    })
}

/// The candidate against the baseline on the same sealed test samples.
pub(crate) fn compare(
    data: &ExperimentData,
    baseline: TestResult,
    candidate: TestResult,
) -> TestEvaluated {
    let test = data.sealed_test();
    let base_correct = correct_mask(&baseline.metrics.misclassified, test.len());
    let cand_correct = correct_mask(&candidate.metrics.misclassified, test.len());
    let f = flips(&base_correct, &cand_correct);
    let ids = data.ids(test);
    let pick = |want: (bool, bool)| -> Vec<String> {
        (0..test.len())
            .filter(|&i| (base_correct[i], cand_correct[i]) == want)
            .map(|i| ids[i].clone())
            .collect()
    };
    TestEvaluated {
        fixed_ids: pick((false, true)),
        broken_ids: pick((true, false)),
        mcnemar_p: mcnemar_exact(f.fixed, f.broken),
        flips: (&f).into(),
        baseline,
        candidate,
    }
}
