//! From logits to predictions: softmax, argmax, and batched prediction over pre-encoded batches.

use serde::{Deserialize, Serialize};

use crate::model::EncodedBatch;

use super::error::RuntimeError;
use super::session::OnnxSession;

/// One row's prediction; `label_id` indexes the alphabetically sorted labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label_id: usize,
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
}

impl Prediction {
    /// Softmax and argmax of one row of logits. An empty row gives label 0 with no probabilities.
    pub fn from_logits(logits: Vec<f32>) -> Prediction {
        let probabilities = softmax(&logits);
        let label_id = argmax(&probabilities).unwrap_or(0);
        Prediction {
            label_id,
            probabilities,
            logits,
        }
    }

    /// The probability of the predicted label (the notebook's max-probability "confidence").
    pub fn confidence(&self) -> f32 {
        self.probabilities
            .get(self.label_id)
            .copied()
            .unwrap_or(0.0)
    }
}

/// Numerically stable softmax (the row maximum is subtracted before exponentiating).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Index of the largest value (the first one on ties; NaN never wins, an all-NaN row gives 0);
/// `None` when empty.
pub fn argmax(values: &[f32]) -> Option<usize> {
    if values.is_empty() {
        return None;
    }
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    Some(best.map_or(0, |(i, _)| i))
}

/// Splits row-major `[batch, num_labels]` logits into predictions.
pub fn predictions_from_logits(num_labels: usize, values: &[f32]) -> Vec<Prediction> {
    if num_labels == 0 {
        return Vec::new();
    }
    values
        .chunks(num_labels)
        .map(|row| Prediction::from_logits(row.to_vec()))
        .collect()
}

/// Predictions for one batch, row by row.
pub fn predict_batch(
    session: &mut OnnxSession,
    batch: &EncodedBatch,
) -> Result<Vec<Prediction>, RuntimeError> {
    let (_, num_labels, values) = session.logits(batch)?;
    Ok(predictions_from_logits(num_labels, &values))
}

/// Predictions for many batches, concatenated in order; every batch must give the same label count.
pub fn predict_batches(
    session: &mut OnnxSession,
    batches: &[EncodedBatch],
) -> Result<Vec<Prediction>, RuntimeError> {
    let mut predictions = Vec::with_capacity(batches.iter().map(|b| b.batch).sum());
    let mut labels: Option<usize> = None;
    // Empty batches (a chunker's remainder) contribute nothing rather than failing the run.
    for batch in batches.iter().filter(|b| b.batch > 0) {
        let (_, num_labels, values) = session.logits(batch)?;
        if let Some(expected) = labels.filter(|&n| n != num_labels) {
            return Err(RuntimeError::BadOutput {
                path: session.path().to_path_buf(),
                output: session.classifier_output().unwrap_or("logits").to_string(),
                detail: format!(
                    "gave {num_labels} labels for one batch and {expected} for another"
                ),
            });
        }
        labels = Some(num_labels);
        predictions.extend(predictions_from_logits(num_labels, &values));
    }
    Ok(predictions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_matches_hand_computed_values() {
        // exp(0), exp(1), exp(2) over their sum 11.107337927...
        let p = softmax(&[1.0, 2.0, 3.0]);
        let expected = [0.090_030_57, 0.244_728_47, 0.665_240_94];
        for (a, b) in p.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
        // Large logits must not overflow.
        let p = softmax(&[1000.0, 1000.0]);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0, -0.5]), Some(2));
        assert_eq!(argmax(&[]), None);
    }

    #[test]
    fn predictions_split_rows_and_report_confidence() {
        let preds = predictions_from_logits(3, &[2.0, 0.0, 0.0, -1.0, 0.0, 3.0]);
        assert_eq!(preds.len(), 2);
        assert_eq!(preds[0].label_id, 0);
        assert_eq!(preds[1].label_id, 2);
        assert_eq!(preds[1].logits, vec![-1.0, 0.0, 3.0]);
        // e^2 / (e^2 + 2) = 0.786986...
        assert!((preds[0].confidence() - 0.786_986).abs() < 1e-5);
        let sum: f32 = preds[1].probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }
}
