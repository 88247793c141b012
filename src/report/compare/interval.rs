//! A 95% interval for macro-F1 on the sealed test, by the bootstrap. Resampling test samples
//! with replacement only ever looks at each sample's (true, predicted) pair, so resampling the
//! cells of the confusion matrix in proportion to their counts is the same bootstrap, and needs
//! nothing but the recorded matrix.

use crate::data::SplitMix64;

/// Resamples; fixed with the seed so the same log gives the same interval.
const RESAMPLES: usize = 2000;
const SEED: u64 = 0x005e_edf1;

/// Macro-F1 of a confusion matrix (rows true, columns predicted): the mean over classes of
/// 2TP / (2TP + FP + FN), a class with no samples and no predictions counting 0.
pub fn macro_f1(matrix: &[Vec<usize>]) -> f64 {
    let n = matrix.len();
    if n == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (k, row) in matrix.iter().enumerate() {
        let tp = row[k] as f64;
        let predicted: usize = matrix.iter().map(|r| r[k]).sum();
        let actual: usize = row.iter().sum();
        let denominator = predicted as f64 + actual as f64;
        if denominator > 0.0 {
            sum += 2.0 * tp / denominator;
        }
    }
    sum / n as f64
}

/// The 2.5th and 97.5th percentiles of macro-F1 over bootstrap resamples of the test samples.
pub fn macro_f1_ci95(matrix: &[Vec<usize>]) -> Option<(f64, f64)> {
    let n = matrix.len();
    let cells: Vec<(usize, usize, usize)> = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| (i, j, matrix[i][j]))
        .filter(|c| c.2 > 0)
        .collect();
    let total: usize = cells.iter().map(|c| c.2).sum();
    if total == 0 {
        return None;
    }
    // Cumulative counts: a draw below `ends[c]` and at or above `ends[c - 1]` lands in cell c.
    let ends: Vec<usize> = cells
        .iter()
        .scan(0, |acc, c| {
            *acc += c.2;
            Some(*acc)
        })
        .collect();
    let mut rng = SplitMix64::new(SEED);
    let mut scores = Vec::with_capacity(RESAMPLES);
    let mut resampled = vec![vec![0usize; n]; n];
    for _ in 0..RESAMPLES {
        resampled.iter_mut().for_each(|row| row.fill(0));
        for _ in 0..total {
            let draw = rng.below(total as u64) as usize;
            let c = ends.partition_point(|&e| e <= draw);
            let (i, j, _) = cells[c];
            resampled[i][j] += 1;
        }
        scores.push(macro_f1(&resampled));
    }
    scores.sort_by(f64::total_cmp);
    let at = |q: f64| scores[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    Some((at(0.025), at(0.975)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_of_a_known_matrix() {
        // Class 0: tp 8, fp 2, fn 2 -> 0.8; class 1: tp 8, fp 2, fn 2 -> 0.8.
        let m = vec![vec![8, 2], vec![2, 8]];
        assert!((macro_f1(&m) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn the_interval_holds_the_point_and_narrows_with_more_samples() {
        let small = vec![vec![40, 5, 5], vec![6, 120, 14], vec![4, 10, 36]];
        let large: Vec<Vec<usize>> = small
            .iter()
            .map(|r| r.iter().map(|c| c * 16).collect())
            .collect();
        let point = macro_f1(&small);
        let (lo, hi) = macro_f1_ci95(&small).unwrap();
        assert!(lo < point && point < hi, "{lo} {point} {hi}");
        let (lo16, hi16) = macro_f1_ci95(&large).unwrap();
        // sqrt(16) = 4 times narrower, give or take the resampling.
        let ratio = (hi - lo) / (hi16 - lo16);
        assert!((3.0..5.5).contains(&ratio), "{ratio}");
        assert_eq!(macro_f1_ci95(&small), macro_f1_ci95(&small), "seeded");
        assert_eq!(macro_f1_ci95(&[vec![0, 0], vec![0, 0]]), None);
    }
}
