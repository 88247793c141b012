//! Whether the report's model and another experiment's model can be compared sample by sample on
//! the sealed test split. Two experiments pair only when their splits are the same (equal
//! `SplitMade` digests): then the test samples are the same, in the same order, and each
//! result's `misclassified` positions give the flips and McNemar's exact test. Models evaluated
//! on different samples are reported side by side as unpaired, never tested as if paired.

use serde::Serialize;

use crate::analysis::stats::{correct_mask, flips, mcnemar_exact};
use crate::events::{Flips, TestResult};
use crate::state::Experiment;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "pairing", rename_all = "lowercase")]
pub enum Pairing {
    /// `before` is the other experiment's model, `after` the report's.
    Paired {
        flips: Flips,
        mcnemar_p: f64,
    },
    Unpaired {
        reason: String,
    },
}

fn digest(state: &Experiment) -> Option<&str> {
    state.split.as_ref().map(|s| s.digest.as_str())
}

fn correct(result: &TestResult) -> Vec<bool> {
    correct_mask(&result.metrics.misclassified, result.samples)
}

/// Pairs `after` (of `subject`) with `before` (of `other`).
pub fn pair(
    subject: &Experiment,
    after: &TestResult,
    other: &Experiment,
    before: &TestResult,
) -> Pairing {
    let short = |d: Option<&str>| d.map_or("none".to_string(), |d| d.chars().take(12).collect());
    match (digest(subject), digest(other)) {
        (Some(a), Some(b)) if a == b => {}
        (a, b) => {
            return Pairing::Unpaired {
                reason: format!(
                "different splits (digest {} vs {}): the models were tested on different samples",
                short(a),
                short(b)
            ),
            }
        }
    }
    if before.samples != after.samples {
        return Pairing::Unpaired {
            reason: format!(
                "the results cover {} and {} samples of the same split",
                before.samples, after.samples
            ),
        };
    }
    let f = flips(&correct(before), &correct(after));
    Pairing::Paired {
        mcnemar_p: mcnemar_exact(f.fixed, f.broken),
        flips: Flips {
            fixed: f.fixed,
            broken: f.broken,
            still_wrong: f.still_wrong,
            still_right: f.still_right,
        },
    }
}

impl Pairing {
    /// One line for the terminal and the model card.
    pub fn describe(&self, before: &str, after: &str) -> String {
        match self {
            Pairing::Paired { flips, mcnemar_p } => format!(
                "paired on the same sealed test samples, {before} -> {after}: fixed {}, broken {}, still wrong {}; McNemar exact p = {:.3e}",
                flips.fixed, flips.broken, flips.still_wrong, mcnemar_p
            ),
            Pairing::Unpaired { reason } => format!("{before} vs {after}: unpaired, {reason}"),
        }
    }
}
