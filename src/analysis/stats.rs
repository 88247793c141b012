//! Significance on the sealed test split: Wilson intervals and McNemar's exact test.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// 95% Wilson score interval of `successes` out of `n` (`(0, 1)` when `n` is 0).
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// How two models' per-sample correctness differs on the same samples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flips {
    /// Wrong before, right after.
    pub fixed: usize,
    /// Right before, wrong after.
    pub broken: usize,
    pub still_wrong: usize,
    pub still_right: usize,
}

/// Whether each of `samples` samples was classified correctly, from the positions of those that
/// were not (a recorded result's `misclassified`).
pub fn correct_mask(misclassified: &[usize], samples: usize) -> Vec<bool> {
    let mut correct = vec![true; samples];
    for &i in misclassified {
        if let Some(c) = correct.get_mut(i) {
            *c = false;
        }
    }
    correct
}

pub fn flips(before: &[bool], after: &[bool]) -> Flips {
    let mut f = Flips {
        fixed: 0,
        broken: 0,
        still_wrong: 0,
        still_right: 0,
    };
    for (&b, &a) in before.iter().zip(after) {
        match (b, a) {
            (false, true) => f.fixed += 1,
            (true, false) => f.broken += 1,
            (false, false) => f.still_wrong += 1,
            (true, true) => f.still_right += 1,
        }
    }
    f
}

/// Two-sided exact McNemar p-value on the discordant pairs: under the null hypothesis the
/// `fixed` count is Binomial(fixed + broken, 1/2).
pub fn mcnemar_exact(fixed: usize, broken: usize) -> f64 {
    let n = fixed + broken;
    if n == 0 {
        return 1.0;
    }
    let k = fixed.min(broken);
    // Sum of C(n, i) / 2^n for i <= k, in log space so large n does not overflow.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // 81 of 263 (a textbook example): 0.2553 .. 0.3662.
        let (lo, hi) = wilson_interval(81, 263);
        assert!(
            (lo - 0.2553).abs() < 5e-4 && (hi - 0.3662).abs() < 5e-4,
            "{lo} {hi}"
        );
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
        let (lo, hi) = wilson_interval(10, 10);
        // All successes: the lower bound is n / (n + z^2).
        assert!(
            (hi - 1.0).abs() < 1e-12 && (lo - 10.0 / (10.0 + Z95 * Z95)).abs() < 1e-12,
            "{lo}"
        );
    }

    #[test]
    fn mcnemar_exact_matches_the_binomial_tail() {
        // b=1, c=9: 2 * (1 + 10) / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_exact(9, 1) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large counts stay finite: 300 vs 200 is clearly significant.
        let p = mcnemar_exact(300, 200);
        assert!(p > 0.0 && p < 1e-5, "{p}");
    }

    #[test]
    fn flips_count_each_pair_once() {
        let f = flips(&[true, false, false, true], &[true, true, false, false]);
        assert_eq!(
            f,
            Flips {
                fixed: 1,
                broken: 1,
                still_wrong: 1,
                still_right: 1
            }
        );
    }
}
