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

use super::batching::{batches_per_epoch, encode_texts, epoch_batches, pad_batch, pad_id};
use super::checkpoint::{TrainerCheckpoint, TrainerState, FORMAT_VERSION};
use super::error::TrainError;
use super::evaluate::{argmax_rows, predict_probs};
use super::groups::build_groups;
use super::loss::{distillation_loss, labels_tensor, weighted_cross_entropy, weights_tensor};
use super::optimizer::AdamW;
use super::schedule::{linear_warmup_decay, plateau_update, warmup_steps, Plateau};
use crate::analysis::compute_metrics;
use crate::analysis::plan::MAX_SAMPLE_WEIGHT;
use crate::model::{BertTokenizer, Mode, TrainableBert, Weights};

pub use super::observer::{
    EarlyStop, EpochReport, GroupInfo, NoObserver, PhaseObserver, PhaseOutcome, PhaseStart,
    StepProgress, ValidationSummary,
};
pub use super::spec::{Distillation, EvalSet, PhaseSpec, TrainSet, REWEIGHT_FACTOR};

pub const ADAM_BETA1: f64 = 0.9;
pub const ADAM_BETA2: f64 = 0.999;
pub const ADAM_EPS: f64 = 1e-8;

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

/// Why a checkpoint cannot continue the phase `spec` over `n` training samples, if it cannot.
pub fn resume_mismatch(ck: &TrainerCheckpoint, spec: &PhaseSpec, n: usize) -> Option<String> {
    let s = &ck.state;
    if s.phase != spec.kind || s.sample_weights.len() != n || s.next_epoch > spec.epochs {
        return Some(format!(
            "checkpoint of phase {} at epoch {} with {} samples; this run is phase {} with {} epochs and {n} samples",
            s.phase.name(),
            s.next_epoch,
            s.sample_weights.len(),
            spec.kind.name(),
            spec.epochs
        ));
    }
    None
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
    run_phase_with(
        model, tokenizer, train, validation, spec, resume, observer, None,
    )
}

/// [`run_phase`] with knowledge distillation: the loss is [`distillation_loss`] between the
/// model's logits and the teacher's logits of each training sample (sample weights are not
/// used), e.g. recovery training of a pruned model from the unpruned one.
pub fn run_phase_distilled(
    model: &mut TrainableBert,
    tokenizer: &BertTokenizer,
    train: &TrainSet,
    validation: &EvalSet,
    spec: &PhaseSpec,
    distillation: &Distillation,
    observer: &mut dyn PhaseObserver,
) -> Result<PhaseOutcome, TrainError> {
    run_phase_with(
        model,
        tokenizer,
        train,
        validation,
        spec,
        None,
        observer,
        Some(distillation),
    )
}

fn check_distillation(
    distillation: &Distillation,
    n: usize,
    classes: usize,
) -> Result<(), TrainError> {
    let bad = |m: String| Err(TrainError::Input(m));
    if distillation.teacher_logits.len() != n {
        return bad(format!(
            "distillation has teacher logits for {} samples; the training set has {n}",
            distillation.teacher_logits.len()
        ));
    }
    if let Some((i, row)) = distillation
        .teacher_logits
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != classes)
    {
        return bad(format!(
            "teacher logits of sample {i} have {} values for {classes} classes",
            row.len()
        ));
    }
    if !(distillation.temperature.is_finite() && distillation.temperature > 0.0) {
        return bad(format!(
            "distillation temperature {} is not positive",
            distillation.temperature
        ));
    }
    if !(0.0..=1.0).contains(&distillation.alpha) {
        return bad(format!(
            "distillation alpha {} is not in [0, 1]",
            distillation.alpha
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_phase_with(
    model: &mut TrainableBert,
    tokenizer: &BertTokenizer,
    train: &TrainSet,
    validation: &EvalSet,
    spec: &PhaseSpec,
    resume: Option<&TrainerCheckpoint>,
    observer: &mut dyn PhaseObserver,
    distillation: Option<&Distillation>,
) -> Result<PhaseOutcome, TrainError> {
    check_inputs(model, train, validation, spec)?;
    let classes = model.config().num_labels();
    if let Some(d) = distillation {
        check_distillation(d, train.texts.len(), classes)?;
    }
    let n = train.texts.len();
    let labels_names = model.config().labels();
    let encoded = encode_texts(tokenizer, &train.texts, spec.max_length)?;
    let val_encoded = encode_texts(tokenizer, &validation.texts, spec.max_length)?;
    let lengths: Vec<usize> = encoded.iter().map(|t| t.len()).collect();
    let pad = pad_id(tokenizer);

    let vars = model.named_vars();
    let plain_vars: Vec<candle_core::Var> = vars.iter().map(|(_, v)| v.clone()).collect();
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
        if let Some(mismatch) = resume_mismatch(ck, spec, n) {
            return Err(TrainError::Resume(mismatch));
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
    // Resuming a phase that stopped early: the stop is part of the outcome, and a crash may
    // have come before it was reported, so it is reported again (an observer that recorded it
    // already ignores the repeat).
    if let Some(s) = resume.map(|c| &c.state) {
        let waited = s.epochs_without_improvement;
        if let (true, true, Some(best_epoch), Some(best_macro_f1)) = (
            s.finished,
            waited > 0 && waited >= spec.early_stopping_patience,
            s.best_epoch,
            s.best_macro_f1,
        ) {
            early_stopped = true;
            observer
                .early_stopped(&EarlyStop {
                    phase: spec.kind,
                    epoch: s.next_epoch - 1,
                    best_epoch,
                    best_macro_f1,
                    patience: spec.early_stopping_patience,
                })
                .map_err(TrainError::Observer)?;
        }
    }
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
        let mut samples_done = 0usize;
        for (step, b) in batches.iter().enumerate() {
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
            let loss = match distillation {
                Some(d) => {
                    let rows: Vec<f32> = b
                        .indices
                        .iter()
                        .flat_map(|&i| d.teacher_logits[i].iter().copied())
                        .collect();
                    let teacher = Tensor::from_vec(rows, (b.indices.len(), classes), &device)?
                        .to_dtype(dtype)?;
                    distillation_loss(
                        &logits,
                        &teacher,
                        &labels_tensor(&labels, &device)?,
                        d.alpha,
                        d.temperature,
                    )?
                }
                None => weighted_cross_entropy(
                    &logits,
                    &labels_tensor(&labels, &device)?,
                    &weights_tensor(&w, dtype, &device)?,
                    spec.reduction,
                )?,
            };
            let grads = loss.backward()?;
            opt.step_clipped(&grads, &plain_vars, spec.grad_clip)
                .map_err(TrainError::optimizer)?;
            loss_sum += loss_value(&loss)? * b.indices.len() as f64;
            for (&i, p) in b.indices.iter().zip(argmax_rows(&logits.detach())?) {
                wrong[i] = p != train.labels[i];
            }
            state.global_step += 1;
            samples_done += b.indices.len();
            observer
                .step_completed(&StepProgress {
                    phase: spec.kind,
                    epoch,
                    step: step + 1,
                    steps: batches.len(),
                    running_loss: loss_sum / samples_done as f64,
                })
                .map_err(TrainError::Observer)?;
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
                let wrong: Vec<bool> = wrong
                    .iter()
                    .enumerate()
                    .map(|(i, &w)| w && !train.noisy.get(i).copied().unwrap_or(false))
                    .collect();
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
