//! Learning-rate schedules as pure functions: linear warm-up then linear decay (Hugging Face's
//! `get_linear_schedule_with_warmup`), and reduce-on-plateau within the plan's band.

use serde::{Deserialize, Serialize};

use crate::analysis::plan::LrBand;

/// Fraction of a phase's optimiser steps spent warming up.
pub const WARMUP_FRACTION: f64 = 0.1;
/// Reduce-on-plateau factor.
pub const PLATEAU_FACTOR: f64 = 0.5;
/// Epochs without macro-F1 improvement before the LR is reduced.
pub const PLATEAU_PATIENCE: usize = 1;

/// Warm-up steps for a phase of `total_steps`: `floor(fraction * total)`.
pub fn warmup_steps(total_steps: usize, fraction: f64) -> usize {
    (fraction * total_steps as f64).floor() as usize
}

/// The factor on the peak LR at optimiser step `step` (0-based), exactly as Hugging Face:
/// `step / warmup` while warming up (so the first step has factor 0 when there is a
/// warm-up), then `(total - step) / (total - warmup)`, never below 0.
pub fn linear_warmup_decay(step: usize, total_steps: usize, warmup: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let remaining = total_steps.saturating_sub(step) as f64;
    (remaining / total_steps.saturating_sub(warmup).max(1) as f64).max(0.0)
}

/// Reduce-on-plateau bookkeeping: the peak LR the schedule scales and the epochs without
/// improvement since the last improvement or reduction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    pub lr: f64,
    pub bad_epochs: usize,
}

/// After an epoch: an improvement resets the counter; `patience` epochs without one multiply
/// the LR by `factor`, never below `band.low` (an LR already at or below it stays), and reset
/// the counter. Returns the new state and `(from, to)` when the LR changed.
pub fn plateau_update(
    state: Plateau,
    improved: bool,
    band: LrBand,
    factor: f64,
    patience: usize,
) -> (Plateau, Option<(f64, f64)>) {
    if improved {
        return (
            Plateau {
                lr: state.lr,
                bad_epochs: 0,
            },
            None,
        );
    }
    let bad_epochs = state.bad_epochs + 1;
    if bad_epochs < patience {
        return (
            Plateau {
                lr: state.lr,
                bad_epochs,
            },
            None,
        );
    }
    let to = (state.lr * factor).max(band.low);
    if to < state.lr {
        (
            Plateau {
                lr: to,
                bad_epochs: 0,
            },
            Some((state.lr, to)),
        )
    } else {
        (
            Plateau {
                lr: state.lr,
                bad_epochs: 0,
            },
            None,
        )
    }
}
