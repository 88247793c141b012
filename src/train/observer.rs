//! What the trainer tells the pipeline: per-epoch reports, phase start and early stop, the
//! observer they go through, and the phase's outcome.

use serde::{Deserialize, Serialize};

use super::checkpoint::TrainerCheckpoint;
use super::spec::PhaseSpec;
use crate::analysis::plan::PhaseKind;
use crate::analysis::Metrics;
use crate::model::Weights;

/// Validation numbers of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationSummary {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// In class-id order.
    pub per_class_f1: Vec<f64>,
    pub mean_confidence: f64,
    /// Counts of max probability in `[0, 0.1), ..., [0.9, 1.0]`.
    pub confidence_histogram: Vec<usize>,
}

impl ValidationSummary {
    pub fn from_metrics(m: &Metrics) -> Self {
        Self {
            accuracy: m.accuracy,
            macro_f1: m.macro_f1,
            per_class_f1: m.per_class.iter().map(|c| c.f1_score).collect(),
            mean_confidence: m.avg_confidence,
            confidence_histogram: m.confidence_histogram.counts.clone(),
        }
    }
}

/// What the pipeline turns into an `EpochCompleted` event (and `LrReduced` when `lr_reduced`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub phase: PhaseKind,
    /// 0-based.
    pub epoch: usize,
    /// Mean over the epoch's samples of their batch's loss.
    pub train_loss: f64,
    pub validation: ValidationSummary,
    /// Each group's LR at the epoch's last step.
    pub lr: Vec<(String, f64)>,
    /// The peak LR the schedule scaled during this epoch.
    pub peak_lr: f64,
    pub steps: usize,
    pub global_step: u64,
    /// Training samples per second (training part only; wall clock, not reproducible).
    pub samples_per_sec: f64,
    /// Training plus validation time (wall clock, not reproducible).
    pub duration_s: f64,
    /// The peak LR change applied before the next epoch.
    pub lr_reduced: Option<(f64, f64)>,
    /// Whether validation macro-F1 beat every earlier epoch of the phase.
    pub improved: bool,
    /// Training samples misclassified during this epoch's forward passes.
    pub misclassified: usize,
    /// Samples whose weight this epoch's re-weighting raised.
    pub reweighted: usize,
}

/// One optimiser group as a `PhaseStarted` event describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    /// Factor on the phase's peak LR (layer-wise decay).
    pub lr_scale: f64,
    pub weight_decay: f64,
    /// Number of scalar parameters.
    pub parameters: usize,
}

/// What the pipeline turns into a `PhaseStarted` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseStart {
    pub spec: PhaseSpec,
    pub train_samples: usize,
    pub validation_samples: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub warmup_steps: usize,
    pub groups: Vec<GroupInfo>,
    /// `Some(epoch)` when resuming from a checkpoint.
    pub resumed_at_epoch: Option<usize>,
}

/// What the pipeline turns into an `EarlyStopped` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub phase: PhaseKind,
    pub epoch: usize,
    pub best_epoch: usize,
    pub best_macro_f1: f64,
    pub patience: usize,
}

/// Receives the phase's progress; an error aborts the phase (returned as `TrainError::Observer`).
/// Progress inside an epoch, after each optimiser step (for progress bars).
#[derive(Clone, Debug, PartialEq)]
pub struct StepProgress {
    pub phase: PhaseKind,
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    pub steps: usize,
    /// Mean training loss of the epoch so far.
    pub running_loss: f64,
}

pub trait PhaseObserver {
    fn step_completed(&mut self, _progress: &StepProgress) -> anyhow::Result<()> {
        Ok(())
    }
    fn phase_started(&mut self, _start: &PhaseStart) -> anyhow::Result<()> {
        Ok(())
    }
    /// Called after every epoch with the checkpoint to save (resuming from it continues at
    /// the next epoch).
    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        checkpoint: &TrainerCheckpoint,
    ) -> anyhow::Result<()>;
    fn early_stopped(&mut self, _stop: &EarlyStop) -> anyhow::Result<()> {
        Ok(())
    }
}

/// An observer that ignores everything.
pub struct NoObserver;

impl PhaseObserver for NoObserver {
    fn epoch_completed(&mut self, _: &EpochReport, _: &TrainerCheckpoint) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct PhaseOutcome {
    pub phase: PhaseKind,
    /// Reports of the epochs run by this call (after a resume: only the resumed ones).
    pub reports: Vec<EpochReport>,
    pub best_epoch: Option<usize>,
    pub best_macro_f1: Option<f64>,
    pub early_stopped: bool,
    /// The weights the model holds on return (the best epoch's).
    pub best_weights: Option<Weights>,
    /// Sample weights after the last re-weighting, in training-set order.
    pub sample_weights: Vec<f64>,
    pub global_step: u64,
}
