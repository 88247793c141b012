//! Classification diagnostics from labels, true classes and predicted probabilities, computed
//! the way the original explainability notebook did (numpy/scikit-learn conventions).

use serde::{Deserialize, Serialize};

use super::AnalysisError;

/// Confidence thresholds the notebook reported coverage and accuracy for.
pub const CONFIDENCE_THRESHOLDS: [f64; 5] = [0.5, 0.7, 0.8, 0.9, 0.95];
/// A sample is "low confidence" when its max probability is below this.
pub const LOW_CONFIDENCE_THRESHOLD: f64 = 0.6;
/// High-entropy samples are those above this percentile of the entropies.
pub const HIGH_ENTROPY_PERCENTILE: f64 = 90.0;
/// Bins of the confidence histogram, equal width over [0, 1].
pub const HISTOGRAM_BINS: usize = 10;

/// Per-class scores. `errors` is support minus true positives (samples of this class that
/// were predicted as something else), as in the notebook's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1_score: f64,
    pub support: usize,
    pub errors: usize,
}

/// Coverage and accuracy of the samples whose max probability is `>= threshold`.
/// `accuracy` is 0.0 when no sample reaches the threshold (the notebook's convention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdStats {
    pub threshold: f64,
    pub accuracy: f64,
    pub coverage: f64,
    pub sample_count: usize,
}

/// Prediction entropy (natural log). `std` is the population standard deviation (numpy's
/// default), `percentile_90` numpy's linear percentile, `high_entropy_samples` the count
/// strictly above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyStats {
    pub mean: f64,
    pub std: f64,
    pub percentile_90: f64,
    pub high_entropy_samples: usize,
}

/// Histogram of max probabilities over fixed bins `[0, 0.1), ..., [0.9, 1.0]` (the last bin
/// closed, like `numpy.histogram(range=(0, 1))`), so histograms of different splits and
/// models are directly comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

/// Everything the analysis reports about one split's predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Class labels in class-id order.
    pub labels: Vec<String>,
    pub sample_count: usize,
    pub accuracy: f64,
    pub error_rate: f64,
    /// Mean of the per-sample max probability.
    pub avg_confidence: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// In class-id order.
    pub per_class: Vec<ClassMetrics>,
    /// Rows are true classes, columns predicted classes.
    pub confusion_matrix: Vec<Vec<usize>>,
    /// The two lowest-F1 classes, lowest first (ties: lower class id first).
    pub problematic_classes: Vec<String>,
    /// One entry per `CONFIDENCE_THRESHOLDS` value, ascending.
    pub thresholds: Vec<ThresholdStats>,
    pub low_confidence_threshold: f64,
    /// Indices (ascending) of samples whose prediction is wrong.
    pub misclassified: Vec<usize>,
    /// Indices (ascending) of samples whose max probability is below `low_confidence_threshold`.
    pub low_confidence: Vec<usize>,
    pub entropy: EntropyStats,
    pub confidence_histogram: Histogram,
}

impl Metrics {
    /// The stats for one of the thresholds, if it was computed.
    pub fn threshold(&self, threshold: f64) -> Option<&ThresholdStats> {
        self.thresholds.iter().find(|t| t.threshold == threshold)
    }
}

/// Predicted class (first maximum, like `numpy.argmax`) and max probability of each row.
pub fn predictions(probs: &[Vec<f32>]) -> Vec<(usize, f64)> {
    probs
        .iter()
        .map(|row| {
            let mut best = 0;
            for (i, &p) in row.iter().enumerate() {
                if p > row[best] {
                    best = i;
                }
            }
            (best, f64::from(row.get(best).copied().unwrap_or(0.0)))
        })
        .collect()
}

/// Computes all metrics. `truth[i]` is the class id of sample `i`, `probs[i]` its class
/// probabilities in class-id order. Comparisons with thresholds are done in f64 on the
/// f32 probabilities; sums and means are accumulated in f64.
pub fn compute_metrics(
    labels: &[String],
    truth: &[usize],
    probs: &[Vec<f32>],
) -> Result<Metrics, AnalysisError> {
    validate_inputs(labels, truth, probs)?;
    let n = truth.len();
    let k = labels.len();
    let preds = predictions(probs);

    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &(p, _)) in truth.iter().zip(&preds) {
        confusion[t][p] += 1;
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let accuracy = correct as f64 / n as f64;
    let confidences: Vec<f64> = preds.iter().map(|&(_, c)| c).collect();
    let avg_confidence = confidences.iter().sum::<f64>() / n as f64;

    let per_class = class_metrics(labels, &confusion);
    let macro_f1 = per_class.iter().map(|c| c.f1_score).sum::<f64>() / k as f64;
    let weighted_f1 = per_class
        .iter()
        .map(|c| c.f1_score * c.support as f64)
        .sum::<f64>()
        / n as f64;

    let misclassified: Vec<usize> = (0..n).filter(|&i| preds[i].0 != truth[i]).collect();
    let low_confidence: Vec<usize> = (0..n)
        .filter(|&i| confidences[i] < LOW_CONFIDENCE_THRESHOLD)
        .collect();
    let thresholds = CONFIDENCE_THRESHOLDS
        .iter()
        .map(|&t| threshold_stats(t, &confidences, &preds, truth))
        .collect();
    let entropies: Vec<f64> = probs.iter().map(|row| entropy(row)).collect();

    Ok(Metrics {
        labels: labels.to_vec(),
        sample_count: n,
        accuracy,
        error_rate: 1.0 - accuracy,
        avg_confidence,
        macro_f1,
        weighted_f1,
        problematic_classes: lowest_f1(&per_class, 2),
        per_class,
        confusion_matrix: confusion,
        thresholds,
        low_confidence_threshold: LOW_CONFIDENCE_THRESHOLD,
        misclassified,
        low_confidence,
        entropy: entropy_stats(&entropies),
        confidence_histogram: histogram(&confidences, HISTOGRAM_BINS),
    })
}

fn validate_inputs(
    labels: &[String],
    truth: &[usize],
    probs: &[Vec<f32>],
) -> Result<(), AnalysisError> {
    let bad = |message: String| Err(AnalysisError::Input(message));
    if labels.is_empty() {
        return bad("no class labels given".into());
    }
    if truth.is_empty() {
        return bad("no samples given".into());
    }
    if truth.len() != probs.len() {
        return bad(format!(
            "{} true labels but {} probability rows",
            truth.len(),
            probs.len()
        ));
    }
    for (i, (&t, row)) in truth.iter().zip(probs).enumerate() {
        if t >= labels.len() {
            return bad(format!(
                "sample {i}: class id {t} is out of range for {} labels",
                labels.len()
            ));
        }
        if row.len() != labels.len() {
            return bad(format!(
                "sample {i}: {} probabilities for {} labels",
                row.len(),
                labels.len()
            ));
        }
        if let Some(p) = row.iter().find(|p| !p.is_finite() || **p < 0.0) {
            return bad(format!(
                "sample {i}: probability {p} is not a finite non-negative number"
            ));
        }
    }
    Ok(())
}

/// Precision, recall, F1 (0.0 where undefined, like scikit-learn's `zero_division=0`),
/// support and errors from a confusion matrix (rows true, columns predicted).
pub fn class_metrics(labels: &[String], confusion: &[Vec<usize>]) -> Vec<ClassMetrics> {
    let k = confusion.len();
    (0..k)
        .map(|c| {
            let tp = confusion[c][c];
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = (0..k).map(|r| confusion[r][c]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1_score = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                label: labels[c].clone(),
                precision,
                recall,
                f1_score,
                support,
                errors: support - tp,
            }
        })
        .collect()
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Labels of the `count` lowest-F1 classes, lowest first (stable: ties keep class-id order).
pub fn lowest_f1(per_class: &[ClassMetrics], count: usize) -> Vec<String> {
    let mut order: Vec<&ClassMetrics> = per_class.iter().collect();
    order.sort_by(|a, b| a.f1_score.total_cmp(&b.f1_score));
    order
        .into_iter()
        .take(count)
        .map(|c| c.label.clone())
        .collect()
}

fn threshold_stats(
    threshold: f64,
    confidences: &[f64],
    preds: &[(usize, f64)],
    truth: &[usize],
) -> ThresholdStats {
    let confident: Vec<usize> = (0..confidences.len())
        .filter(|&i| confidences[i] >= threshold)
        .collect();
    let right = confident
        .iter()
        .filter(|&&i| preds[i].0 == truth[i])
        .count();
    ThresholdStats {
        threshold,
        accuracy: ratio(right, confident.len()),
        coverage: confident.len() as f64 / confidences.len() as f64,
        sample_count: confident.len(),
    }
}

/// Shannon entropy in nats, with 0 * ln 0 taken as 0.
pub fn entropy(row: &[f32]) -> f64 {
    row.iter()
        .map(|&p| f64::from(p))
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum()
}

/// Mean, population std, 90th percentile and count above it.
pub fn entropy_stats(entropies: &[f64]) -> EntropyStats {
    let n = entropies.len() as f64;
    let mean = entropies.iter().sum::<f64>() / n;
    let var = entropies.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
    let p90 = percentile_linear(entropies, HIGH_ENTROPY_PERCENTILE);
    EntropyStats {
        mean,
        std: var.sqrt(),
        percentile_90: p90,
        high_entropy_samples: entropies.iter().filter(|&&e| e > p90).count(),
    }
}

/// `numpy.percentile(values, q)` with the default linear method, including numpy's
/// two-sided interpolation formula (so results agree to the last bit).
pub fn percentile_linear(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    let lo = virtual_index.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let gamma = virtual_index - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Equal-width histogram over [0, 1]; values outside are clamped into the end bins.
pub fn histogram(values: &[f64], bins: usize) -> Histogram {
    let mut counts = vec![0usize; bins];
    for &v in values {
        let bin = ((v * bins as f64).floor().max(0.0) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    Histogram {
        edges: (0..=bins).map(|i| i as f64 / bins as f64).collect(),
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        ["negative", "neutral", "positive"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Six samples, worked out by hand:
    /// truth  0 0 1 1 2 2; predicted 0 1 1 1 2 0; max-probs .9 .55 .7 .95 .8 .5
    fn case() -> (Vec<usize>, Vec<Vec<f32>>) {
        let truth = vec![0, 0, 1, 1, 2, 2];
        let probs = vec![
            vec![0.9, 0.05, 0.05],
            vec![0.25, 0.55, 0.2],
            vec![0.1, 0.7, 0.2],
            vec![0.03, 0.95, 0.02],
            vec![0.1, 0.1, 0.8],
            vec![0.5, 0.2, 0.3],
        ];
        (truth, probs)
    }

    #[test]
    fn hand_computed_case() {
        let (truth, probs) = case();
        let m = compute_metrics(&labels(), &truth, &probs).unwrap();
        assert_eq!(m.sample_count, 6);
        assert_eq!(
            m.confusion_matrix,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]
        );
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-15);
        assert!((m.error_rate - 2.0 / 6.0).abs() < 1e-15);
        let mean_conf = (0.9f32 as f64
            + 0.55f32 as f64
            + 0.7f32 as f64
            + 0.95f32 as f64
            + 0.8f32 as f64
            + 0.5f32 as f64)
            / 6.0;
        assert!((m.avg_confidence - mean_conf).abs() < 1e-12);
        assert_eq!(m.misclassified, vec![1, 5]);
        // negative: tp 1, predicted 2, support 2 -> p .5 r .5 f1 .5
        // neutral: tp 2, predicted 3, support 2 -> p 2/3 r 1 f1 .8
        // positive: tp 1, predicted 1, support 2 -> p 1 r .5 f1 2/3
        let c = &m.per_class;
        assert_eq!(
            (c[0].precision, c[0].recall, c[0].f1_score),
            (0.5, 0.5, 0.5)
        );
        assert!((c[1].precision - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(c[1].recall, 1.0);
        assert!((c[1].f1_score - 0.8).abs() < 1e-15);
        assert_eq!((c[2].precision, c[2].recall), (1.0, 0.5));
        assert!((c[2].f1_score - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(
            c.iter().map(|c| (c.support, c.errors)).collect::<Vec<_>>(),
            vec![(2, 1), (2, 0), (2, 1)]
        );
        assert!((m.macro_f1 - (0.5 + 0.8 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
        assert!((m.weighted_f1 - m.macro_f1).abs() < 1e-15); // equal supports
        assert_eq!(m.problematic_classes, vec!["negative", "positive"]);
    }

    #[test]
    fn thresholds_low_confidence_and_histogram() {
        let (truth, probs) = case();
        let m = compute_metrics(&labels(), &truth, &probs).unwrap();
        // max-probs as f64 of f32: .9 .55 .7 .95 .8 .5 ; f32 0.7 and 0.8 and 0.9 and 0.95
        // are slightly below / above their decimal value, so compute the expected set the
        // same way the code does.
        let conf: Vec<f64> = [0.9f32, 0.55, 0.7, 0.95, 0.8, 0.5]
            .iter()
            .map(|&c| f64::from(c))
            .collect();
        let right = [true, false, true, true, true, false];
        for t in &m.thresholds {
            let idx: Vec<usize> = (0..6).filter(|&i| conf[i] >= t.threshold).collect();
            assert_eq!(t.sample_count, idx.len(), "threshold {}", t.threshold);
            let r = idx.iter().filter(|&&i| right[i]).count();
            let acc = if idx.is_empty() {
                0.0
            } else {
                r as f64 / idx.len() as f64
            };
            assert_eq!(t.accuracy, acc);
            assert_eq!(t.coverage, idx.len() as f64 / 6.0);
        }
        // 0.5 threshold: all six (0.5f32 == 0.5 exactly), accuracy 4/6.
        assert_eq!(m.thresholds[0].sample_count, 6);
        // 0.95: f32 0.95 = 0.949999988 < 0.95, so nobody; accuracy is 0.0 by convention.
        assert_eq!(m.threshold(0.95).unwrap().sample_count, 0);
        assert_eq!(m.threshold(0.95).unwrap().accuracy, 0.0);
        assert_eq!(m.low_confidence, vec![1, 5]);
        // bins: .5 -> 5, .55 -> 5, .7(f32 .69999) -> 6, .8(f32 .80000001) -> 8, .9(f32 .899999) -> 8, .95 -> 9
        assert_eq!(
            m.confidence_histogram.counts,
            vec![0, 0, 0, 0, 0, 2, 1, 0, 2, 1]
        );
        assert_eq!(m.confidence_histogram.edges.len(), 11);
    }

    #[test]
    fn entropy_and_percentile_match_numpy() {
        // -(.5 ln .5 * 2) = ln 2; uniform over 3 = ln 3; one-hot = 0.
        assert!((entropy(&[0.5, 0.5, 0.0]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(entropy(&[1.0, 0.0, 0.0]), 0.0);
        // numpy.percentile([1,2,3,4,5,6,7,8,9,10], 90) == 9.1
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile_linear(&v, 90.0) - 9.1).abs() < 1e-12);
        // numpy.percentile([3, 1, 2], 90) == 2.8
        assert!((percentile_linear(&[3.0, 1.0, 2.0], 90.0) - 2.8).abs() < 1e-12);
        let s = entropy_stats(&v);
        assert_eq!(s.mean, 5.5);
        assert!((s.std - 8.25f64.sqrt()).abs() < 1e-12); // numpy.std, ddof=0
        assert_eq!(s.high_entropy_samples, 1); // only 10 > 9.1
    }

    #[test]
    fn rejects_bad_inputs() {
        let (truth, probs) = case();
        let err = compute_metrics(&labels(), &truth[..5], &probs).unwrap_err();
        assert!(
            err.to_string()
                .contains("5 true labels but 6 probability rows"),
            "{err}"
        );
        let mut bad = probs.clone();
        bad[2] = vec![0.5, 0.5];
        let err = compute_metrics(&labels(), &truth, &bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("sample 2: 2 probabilities for 3 labels"),
            "{err}"
        );
        let err = compute_metrics(&labels(), &[0, 3, 1, 1, 2, 2], &probs).unwrap_err();
        assert!(err.to_string().contains("sample 1: class id 3"), "{err}");
        assert!(compute_metrics(&labels(), &[], &[]).is_err());
    }

    /// 300 seeded random samples, reference values from numpy 2.4 / scikit-learn 1.9
    /// (tests/fixtures/analysis/make_metrics_fixture.py).
    #[test]
    fn matches_numpy_and_sklearn_on_random_predictions() {
        let fx: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/analysis/metrics_random.json"
        ))
        .unwrap();
        let ints = |v: &serde_json::Value| -> Vec<usize> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect()
        };
        let floats = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let close =
            |a: f64, b: f64, what: &str| assert!((a - b).abs() < 1e-12, "{what}: {a} vs {b}");
        let truth = ints(&fx["truth"]);
        let probs: Vec<Vec<f32>> = fx["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| floats(r).into_iter().map(|x| x as f32).collect())
            .collect();
        let m = compute_metrics(&labels(), &truth, &probs).unwrap();
        close(m.accuracy, fx["accuracy"].as_f64().unwrap(), "accuracy");
        close(
            m.avg_confidence,
            fx["avg_confidence"].as_f64().unwrap(),
            "avg_confidence",
        );
        assert_eq!(m.misclassified, ints(&fx["misclassified"]));
        assert_eq!(m.low_confidence, ints(&fx["low_confidence"]));
        let cm: Vec<Vec<usize>> = fx["confusion_matrix"]
            .as_array()
            .unwrap()
            .iter()
            .map(ints)
            .collect();
        assert_eq!(m.confusion_matrix, cm);
        for (c, cls) in m.per_class.iter().enumerate() {
            close(cls.precision, floats(&fx["precision"])[c], "precision");
            close(cls.recall, floats(&fx["recall"])[c], "recall");
            close(cls.f1_score, floats(&fx["f1"])[c], "f1");
            assert_eq!(cls.support, ints(&fx["support"])[c]);
        }
        close(m.macro_f1, fx["macro_f1"].as_f64().unwrap(), "macro_f1");
        close(
            m.weighted_f1,
            fx["weighted_f1"].as_f64().unwrap(),
            "weighted_f1",
        );
        for t in &m.thresholds {
            let want = &fx["thresholds"][t.threshold.to_string()];
            close(
                t.accuracy,
                want["accuracy"].as_f64().unwrap(),
                "threshold accuracy",
            );
            close(t.coverage, want["coverage"].as_f64().unwrap(), "coverage");
            assert_eq!(
                t.sample_count as u64,
                want["sample_count"].as_u64().unwrap()
            );
        }
        close(
            m.entropy.mean,
            fx["entropy_mean"].as_f64().unwrap(),
            "entropy mean",
        );
        close(
            m.entropy.std,
            fx["entropy_std"].as_f64().unwrap(),
            "entropy std",
        );
        close(
            m.entropy.percentile_90,
            fx["entropy_p90"].as_f64().unwrap(),
            "p90",
        );
        assert_eq!(
            m.entropy.high_entropy_samples as u64,
            fx["high_entropy_samples"].as_u64().unwrap()
        );
        assert_eq!(m.confidence_histogram.counts, ints(&fx["histogram"]));
    }
}
