//! One training phase (FOCUS, WEIGHTED or FULL): epochs of length-bucketed batches with
//! AdamW, layer-wise LR decay, clipping and a warm-up/decay schedule; after each epoch a
//! validation pass, reduce-on-plateau, re-weighting of still-misclassified samples, a
//! checkpoint handed to the observer, and early stopping on validation macro-F1. The best
//! epoch's weights are restored at the end.
//!
//! Determinism: batch order is a function of (seed, phase, epoch), dropout of (seed, phase,
//! step); nothing else draws randomness, so resuming from a checkpoint gives bit-identical
//! results to an uninterrupted run.

use std::time::Instant;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::batching::{batches_per_epoch, encode_texts, epoch_batches, pad_batch, pad_id};
use super::checkpoint::{TrainerCheckpoint, TrainerState, FORMAT_VERSION};
use super::error::TrainError;
use super::evaluate::{argmax_rows, predict_probs};
use super::groups::{build_groups, DEFAULT_LAYER_DECAY, DEFAULT_WEIGHT_DECAY};
use super::loss::{labels_tensor, weighted_cross_entropy, weights_tensor, Reduction};
use super::optimizer::{clip_grad_norm, AdamW};
use super::schedule::{
    linear_warmup_decay, plateau_update, warmup_steps, Plateau, PLATEAU_FACTOR, PLATEAU_PATIENCE,
    WARMUP_FRACTION,
};
use crate::analysis::plan::{LrBand, Phase, PhaseKind, Plan, MAX_SAMPLE_WEIGHT};
use crate::analysis::{compute_metrics, Metrics};
use crate::model::dropout::mix64;
use crate::model::{BertTokenizer, Mode, TrainableBert, Weights};

/// Factor on the weight of a sample still misclassified after an epoch (`PhaseSpec::from_plan`).
pub const REWEIGHT_FACTOR: f64 = 1.5;
pub const ADAM_BETA1: f64 = 0.9;
pub const ADAM_BETA2: f64 = 0.999;
pub const ADAM_EPS: f64 = 1e-8;

/// The samples a phase trains on, in a fixed order (checkpointed weights follow it).
#[derive(Clone, Debug, Default)]
pub struct TrainSet {
    pub texts: Vec<String>,
    pub labels: Vec<usize>,
    pub ids: Vec<String>,
    /// Base sample weights (e.g. `Plan::sample_weights`); used when the phase is weighted.
    pub weights: Vec<f64>,
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
            plan.lr_band,
            phase.learning_rate,
            plan.batch_size,
            seed,
        );
        spec.weighted = phase.weighted;
        spec.reweight_misclassified = phase.weighted.then_some(REWEIGHT_FACTOR);
        spec
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
pub trait PhaseObserver {
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

fn check_inputs(
    model: &TrainableBert,
    train: &TrainSet,
    validation: &EvalSet,
    spec: &PhaseSpec,
) -> Result<(), TrainError> {
    let n = train.texts.len();
    let k = model.config().num_labels();
    let bad = |m: String| Err(TrainError::Input(m));
    if n == 0 {
        return bad("the training set is empty".into());
    }
    if train.labels.len() != n || train.ids.len() != n || train.weights.len() != n {
        return bad(format!(
            "training set columns differ in length: {n} texts, {} labels, {} ids, {} weights",
            train.labels.len(),
            train.ids.len(),
            train.weights.len()
        ));
    }
    if validation.texts.is_empty() || validation.labels.len() != validation.texts.len() {
        return bad(format!(
            "validation set needs texts and one label each: {} texts, {} labels",
            validation.texts.len(),
            validation.labels.len()
        ));
    }
    if let Some(&l) = train
        .labels
        .iter()
        .chain(&validation.labels)
        .find(|&&l| l >= k)
    {
        return bad(format!("label id {l} is not below the model's {k} labels"));
    }
    if let Some(f) = &spec.class_focus {
        if f.len() != k {
            return bad(format!(
                "class_focus has {} factors for {k} classes",
                f.len()
            ));
        }
    }
    if spec.epochs == 0 || spec.batch_size == 0 || spec.eval_batch_size == 0 {
        return bad("epochs, batch_size and eval_batch_size must be positive".into());
    }
    if spec.start_lr.is_nan() || spec.start_lr <= 0.0 {
        return bad(format!("start_lr {} is not positive", spec.start_lr));
    }
    Ok(())
}

/// Initial sample weights: base weights times class focus, capped at 5, when weighted; else 1.
pub fn initial_sample_weights(train: &TrainSet, spec: &PhaseSpec) -> Vec<f64> {
    if !spec.weighted {
        return vec![1.0; train.texts.len()];
    }
    train
        .weights
        .iter()
        .zip(&train.labels)
        .map(|(&w, &l)| {
            let focus = spec.class_focus.as_ref().map_or(1.0, |f| f[l]);
            (w * focus).min(MAX_SAMPLE_WEIGHT)
        })
        .collect()
}

/// Multiplies the weights of `wrong` samples by `factor`, capped at 5; returns how many rose.
pub fn reweight_misclassified(weights: &mut [f64], wrong: &[bool], factor: f64) -> usize {
    let mut raised = 0;
    for (w, &bad) in weights.iter_mut().zip(wrong) {
        if bad {
            let new = (*w * factor).min(MAX_SAMPLE_WEIGHT);
            if new > *w {
                raised += 1;
            }
            *w = new;
        }
    }
    raised
}

/// Runs (or, with `resume`, continues) one phase on `model`; see the module docs.
/// Re-weighting uses the predictions of the epoch's own training forward passes (dropout on,
/// weights moving during the epoch) rather than an extra evaluation pass over the training set:
/// it costs nothing and is what "still gets wrong during this epoch" means.
pub fn run_phase(
    model: &mut TrainableBert,
    tokenizer: &BertTokenizer,
    train: &TrainSet,
    validation: &EvalSet,
    spec: &PhaseSpec,
    resume: Option<&TrainerCheckpoint>,
    observer: &mut dyn PhaseObserver,
) -> Result<PhaseOutcome, TrainError> {
    check_inputs(model, train, validation, spec)?;
    let n = train.texts.len();
    let labels_names = model.config().labels();
    let encoded = encode_texts(tokenizer, &train.texts, spec.max_length)?;
    let val_encoded = encode_texts(tokenizer, &validation.texts, spec.max_length)?;
    let lengths: Vec<usize> = encoded.iter().map(|t| t.len()).collect();
    let pad = pad_id(tokenizer);

    let vars = model.named_vars();
    let specs = build_groups(
        &vars,
        model.config().num_hidden_layers,
        spec.start_lr,
        spec.layer_decay,
        spec.weight_decay,
    );
    let group_info: Vec<GroupInfo> = specs
        .iter()
        .map(|g| GroupInfo {
            name: g.group.name.clone(),
            lr_scale: g.lr_scale,
            weight_decay: g.group.weight_decay,
            parameters: g.group.vars.iter().map(|(_, v)| v.elem_count()).sum(),
        })
        .collect();
    let mut opt = AdamW::new(
        specs.into_iter().map(|g| g.group).collect(),
        ADAM_BETA1,
        ADAM_BETA2,
        ADAM_EPS,
    )
    .map_err(TrainError::optimizer)?;

    let steps_per_epoch = batches_per_epoch(n, spec.batch_size);
    let total_steps = steps_per_epoch * spec.epochs;
    let warmup = warmup_steps(total_steps, spec.warmup_fraction);
    let phase_seed = spec.phase_seed();

    let mut state = TrainerState {
        format_version: FORMAT_VERSION,
        phase: spec.kind,
        next_epoch: 0,
        global_step: 0,
        sample_weights: initial_sample_weights(train, spec),
        best_macro_f1: None,
        best_epoch: None,
        epochs_without_improvement: 0,
        plateau: Plateau {
            lr: spec.start_lr,
            bad_epochs: 0,
        },
        optimizer_step: 0,
        has_best_weights: false,
        finished: false,
    };
    let mut best_weights: Option<Weights> = None;
    if let Some(ck) = resume {
        let s = &ck.state;
        if s.phase != spec.kind || s.sample_weights.len() != n || s.next_epoch > spec.epochs {
            return Err(TrainError::Resume(format!(
                "checkpoint of phase {} at epoch {} with {} samples; this run is phase {} with {} epochs and {n} samples",
                s.phase.name(),
                s.next_epoch,
                s.sample_weights.len(),
                spec.kind.name(),
                spec.epochs
            )));
        }
        model.set_weights(&ck.model)?;
        opt.load_state(&ck.optimizer)
            .map_err(TrainError::optimizer)?;
        best_weights = match (&ck.best_model, s.best_epoch) {
            (Some(b), _) => Some(b.clone()),
            (None, Some(_)) => Some(ck.model.clone()),
            (None, None) => None,
        };
        state = s.clone();
    }

    observer
        .phase_started(&PhaseStart {
            spec: spec.clone(),
            train_samples: n,
            validation_samples: validation.texts.len(),
            steps_per_epoch,
            total_steps,
            warmup_steps: warmup,
            groups: group_info.clone(),
            resumed_at_epoch: resume.map(|c| c.state.next_epoch),
        })
        .map_err(TrainError::Observer)?;

    let mut reports: Vec<EpochReport> = Vec::new();
    let mut early_stopped = false;
    let device = vars
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let dtype = model.model().dtype();

    while !state.finished && state.next_epoch < spec.epochs {
        let epoch = state.next_epoch;
        let started = Instant::now();
        let peak_lr = state.plateau.lr;
        let batches = epoch_batches(
            &lengths,
            &state.sample_weights,
            spec.batch_size,
            phase_seed,
            epoch,
        );
        let mut wrong = vec![false; n];
        let mut loss_sum = 0f64;
        for b in &batches {
            let factor = linear_warmup_decay(state.global_step as usize, total_steps, warmup);
            for (g, info) in group_info.iter().enumerate() {
                opt.set_lr(g, peak_lr * factor * info.lr_scale);
            }
            let eb = pad_batch(&encoded, &b.indices, pad);
            let logits = model.forward(&eb, Mode::train_step(phase_seed, state.global_step))?;
            let labels: Vec<usize> = b.indices.iter().map(|&i| train.labels[i]).collect();
            let w: Vec<f32> = if spec.weighted {
                b.weights.clone()
            } else {
                vec![1.0; b.indices.len()]
            };
            let loss = weighted_cross_entropy(
                &logits,
                &labels_tensor(&labels, &device)?,
                &weights_tensor(&w, dtype, &device)?,
                spec.reduction,
            )?;
            let mut grads = loss.backward()?;
            clip_grad_norm(&mut grads, &vars, spec.grad_clip).map_err(TrainError::optimizer)?;
            opt.step(&grads).map_err(TrainError::optimizer)?;
            loss_sum += loss_value(&loss)? * b.indices.len() as f64;
            for (&i, p) in b.indices.iter().zip(argmax_rows(&logits.detach())?) {
                wrong[i] = p != train.labels[i];
            }
            state.global_step += 1;
        }
        let train_secs = started.elapsed().as_secs_f64();
        let lr: Vec<(String, f64)> = group_info
            .iter()
            .enumerate()
            .map(|(g, info)| (info.name.clone(), opt.lr(g)))
            .collect();

        let probs = predict_probs(model.model(), &val_encoded, spec.eval_batch_size, pad)?;
        let metrics = compute_metrics(&labels_names, &validation.labels, &probs)?;
        let improved = state.best_macro_f1.is_none_or(|b| metrics.macro_f1 > b);
        if improved {
            state.best_macro_f1 = Some(metrics.macro_f1);
            state.best_epoch = Some(epoch);
            state.epochs_without_improvement = 0;
            best_weights = Some(model.weights()?);
        } else {
            state.epochs_without_improvement += 1;
        }
        let reweighted = match spec.reweight_misclassified {
            Some(f) if spec.weighted => {
                reweight_misclassified(&mut state.sample_weights, &wrong, f)
            }
            _ => 0,
        };
        let stop = !improved && state.epochs_without_improvement >= spec.early_stopping_patience;
        let last = epoch + 1 >= spec.epochs;
        // Reduce-on-plateau only matters when another epoch follows.
        let lr_reduced = if stop || last {
            None
        } else {
            let (p, change) = plateau_update(
                state.plateau,
                improved,
                spec.lr_band,
                spec.plateau_factor,
                spec.plateau_patience,
            );
            state.plateau = p;
            change
        };
        state.next_epoch = epoch + 1;
        state.finished = stop || last;

        let report = EpochReport {
            phase: spec.kind,
            epoch,
            train_loss: loss_sum / n as f64,
            validation: ValidationSummary::from_metrics(&metrics),
            lr,
            peak_lr,
            steps: batches.len(),
            global_step: state.global_step,
            samples_per_sec: n as f64 / train_secs.max(1e-9),
            duration_s: started.elapsed().as_secs_f64(),
            lr_reduced,
            improved,
            misclassified: wrong.iter().filter(|&&w| w).count(),
            reweighted,
        };
        let optimizer = opt.state().map_err(TrainError::optimizer)?;
        state.optimizer_step = optimizer.step;
        let checkpoint = TrainerCheckpoint {
            model: model.weights()?,
            optimizer,
            best_model: if improved { None } else { best_weights.clone() },
            state: TrainerState {
                has_best_weights: !improved && best_weights.is_some(),
                ..state.clone()
            },
        };
        observer
            .epoch_completed(&report, &checkpoint)
            .map_err(TrainError::Observer)?;
        reports.push(report);
        if stop {
            early_stopped = true;
            observer
                .early_stopped(&EarlyStop {
                    phase: spec.kind,
                    epoch,
                    best_epoch: state.best_epoch.unwrap_or(epoch),
                    best_macro_f1: state.best_macro_f1.unwrap_or(metrics.macro_f1),
                    patience: spec.early_stopping_patience,
                })
                .map_err(TrainError::Observer)?;
        }
    }

    if let Some(best) = &best_weights {
        model.set_weights(best)?;
    }
    Ok(PhaseOutcome {
        phase: spec.kind,
        reports,
        best_epoch: state.best_epoch,
        best_macro_f1: state.best_macro_f1,
        early_stopped,
        best_weights,
        sample_weights: state.sample_weights,
        global_step: state.global_step,
    })
}

fn loss_value(loss: &Tensor) -> candle_core::Result<f64> {
    loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()
}
