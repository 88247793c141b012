//! What a phase trains on and how: the training and validation sets and the phase spec.

use serde::{Deserialize, Serialize};

use super::groups::{DEFAULT_LAYER_DECAY, DEFAULT_WEIGHT_DECAY};
use super::loss::Reduction;
use super::schedule::{PLATEAU_FACTOR, PLATEAU_PATIENCE, WARMUP_FRACTION};
use crate::analysis::plan::{LrBand, Phase, PhaseKind, Plan};
use crate::model::dropout::mix64;

/// Factor on the weight of a sample still misclassified after an epoch (`PhaseSpec::from_plan`).
pub const REWEIGHT_FACTOR: f64 = 1.5;

/// The samples a phase trains on, in a fixed order (checkpointed weights follow it).
#[derive(Clone, Debug, Default)]
pub struct TrainSet {
    pub texts: Vec<String>,
    pub labels: Vec<usize>,
    pub ids: Vec<String>,
    /// Base sample weights (e.g. `Plan::sample_weights`); used when the phase is weighted.
    pub weights: Vec<f64>,
    /// Samples whose label is likely noise: the per-epoch re-weighting never raises them. Empty:
    /// none.
    pub noisy: Vec<bool>,
}

/// Knowledge distillation for a phase (`trainer::run_phase_distilled`): the teacher's logits of
/// every training sample, in `TrainSet` order, and the loss' temperature and weight `alpha` on
/// the soft targets (`loss::distillation_loss`).
#[derive(Clone, Debug, Default)]
pub struct Distillation {
    pub teacher_logits: Vec<Vec<f32>>,
    pub temperature: f64,
    pub alpha: f64,
}

#[derive(Clone, Debug, Default)]
pub struct EvalSet {
    pub texts: Vec<String>,
    pub labels: Vec<usize>,
}

/// Everything that defines a phase's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpec {
    pub kind: PhaseKind,
    /// Maximum epochs.
    pub epochs: usize,
    pub lr_band: LrBand,
    /// The peak LR (of the head; lower layers get less) before any plateau reduction.
    pub start_lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// Whether the loss uses sample weights (false: every weight is 1, no re-weighting).
    pub weighted: bool,
    /// Per-class factors on the base weights (target-class focus); `None`: all 1.
    pub class_focus: Option<Vec<f64>>,
    /// After each epoch, weights of misclassified samples are multiplied by this (capped at 5).
    pub reweight_misclassified: Option<f64>,
    pub early_stopping_patience: usize,
    pub grad_clip: f64,
    pub max_length: usize,
    pub layer_decay: f64,
    pub weight_decay: f64,
    pub warmup_fraction: f64,
    pub plateau_factor: f64,
    pub plateau_patience: usize,
    pub eval_batch_size: usize,
    pub reduction: Reduction,
}

impl PhaseSpec {
    /// The defaults of DESIGN 5: early stopping patience 2, clipping 1.0, max length 64, layer
    /// decay 0.9, weight decay 0.01, warm-up 10%, plateau factor 0.5 / patience 1, unweighted.
    pub fn new(
        kind: PhaseKind,
        epochs: usize,
        lr_band: LrBand,
        start_lr: f64,
        batch_size: usize,
        seed: u64,
    ) -> Self {
        Self {
            kind,
            epochs,
            lr_band,
            start_lr,
            batch_size,
            seed,
            weighted: false,
            class_focus: None,
            reweight_misclassified: None,
            early_stopping_patience: 2,
            grad_clip: 1.0,
            max_length: 64,
            layer_decay: DEFAULT_LAYER_DECAY,
            weight_decay: DEFAULT_WEIGHT_DECAY,
            warmup_fraction: WARMUP_FRACTION,
            plateau_factor: PLATEAU_FACTOR,
            plateau_patience: PLATEAU_PATIENCE,
            eval_batch_size: 64,
            reduction: Reduction::Count,
        }
    }

    /// A plan's phase: its epochs, LR, weighting and the plan's band and batch size; weighted
    /// phases re-weight misclassified samples by [`REWEIGHT_FACTOR`].
    pub fn from_plan(plan: &Plan, phase: &Phase, seed: u64) -> Self {
        let mut spec = Self::new(
            phase.kind,
            phase.epochs,
            plan.lr_band.scaled(plan.lr_scale),
            phase.learning_rate,
            plan.batch_size,
            seed,
        );
        spec.weighted = phase.weighted;
        spec.reweight_misclassified = phase.weighted.then_some(REWEIGHT_FACTOR);
        if phase.kind == PhaseKind::Plain {
            spec = spec.plain();
        }
        spec
    }

    /// As people fine-tune without exp (Hugging Face's Trainer): every layer at the same rate,
    /// the linear schedule alone (no plateau reduction) and every epoch run (no early stop).
    /// The epoch with the best validation macro-F1 is kept, as in every phase.
    pub fn plain(self) -> Self {
        Self {
            layer_decay: 1.0,
            plateau_factor: 1.0,
            early_stopping_patience: self.epochs.max(1),
            ..self
        }
    }

    /// The seed of this phase's randomness: the run seed mixed with the phase kind.
    pub fn phase_seed(&self) -> u64 {
        let tag = self
            .kind
            .name()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
        mix64(self.seed ^ mix64(tag))
    }
}
