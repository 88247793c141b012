//! The pruning stage (DESIGN 6): iterative structured pruning of attention heads and FFN
//! neurons (or unstructured magnitude pruning), each step followed by recovery training with
//! knowledge distillation from the unpruned fine-tuned model, measured in ONNX Runtime on the
//! validation split and recorded as a `PruningStep`; a step is kept only while validation
//! accuracy stays within the tolerance of the fine-tuned model. `PruningCompleted` names the
//! model that goes on to export. A killed run resumes after the last recorded step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use crate::analysis::compute_metrics;
use crate::analysis::plan::{LrBand, PhaseKind, Plan, PruningPlan};
use crate::compress::{
    self, magnitude_importance, magnitude_prune, model_shape, reapply_zeros, removal_targets,
    select_keep, shrink, sparsity, taylor_importance, CompressError,
};
use crate::events::{
    self, ArtifactFile, EpochCompleted, Event, ModelShape, PruningCompleted, PruningStep,
};
use crate::model::hf_dir::read_config;
use crate::model::shapes::param_shapes;
use crate::model::{BertClassifier, BertConfig, BertTokenizer, Mode, TrainableBert, Weights};
use crate::onnx;
use crate::recorder::Recorder;
use crate::runtime::{LatencyStats, OnnxClassifier, SessionOptions};
use crate::train::batching::{encode_texts, epoch_batches, pad_batch, pad_id, EncodedText};
use crate::train::checkpoint::TrainerCheckpoint;
use crate::train::observer::{EpochReport, PhaseObserver, StepProgress};
use crate::train::spec::{Distillation, EvalSet, PhaseSpec, TrainSet};
use crate::train::trainer::run_phase_distilled;

use super::baseline::{MAX_LENGTH, PREDICT_BATCH};
use super::experiment_data::{write_atomic, write_atomic_with};
use super::progress::{Progress, Update};
use super::records::latency_records;
use super::train::{artifact, load_weights, verify_artifact, write_weights};
use super::{PipelineError, Writing};

/// What is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneMethod {
    /// Attention heads and FFN neurons: the matrices shrink.
    Structured,
    /// The smallest weights set to zero: same shapes, sparsity only.
    Magnitude,
}

impl PruneMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PruneMethod::Structured => "structured",
            PruneMethod::Magnitude => "magnitude",
        }
    }
}

impl From<PruneMethod> for events::PruningMethod {
    fn from(x: PruneMethod) -> Self {
        match x {
            PruneMethod::Structured => events::PruningMethod::Structured,
            PruneMethod::Magnitude => events::PruningMethod::Magnitude,
        }
    }
}

impl std::str::FromStr for PruneMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "structured" => Ok(PruneMethod::Structured),
            "magnitude" => Ok(PruneMethod::Magnitude),
            other => Err(format!(
                "unknown pruning method '{other}': expected structured or magnitude"
            )),
        }
    }
}

/// How heads and neurons are scored (structured pruning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportanceKind {
    /// Taylor: |sum(grad * weight)| per unit over training batches.
    Gradient,
    /// L2 norm of the unit's weights.
    Magnitude,
}

impl ImportanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportanceKind::Gradient => "gradient",
            ImportanceKind::Magnitude => "magnitude",
        }
    }
}

impl From<ImportanceKind> for events::Importance {
    fn from(x: ImportanceKind) -> Self {
        match x {
            ImportanceKind::Gradient => events::Importance::Gradient,
            ImportanceKind::Magnitude => events::Importance::Magnitude,
        }
    }
}

impl std::str::FromStr for ImportanceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gradient" => Ok(ImportanceKind::Gradient),
            "magnitude" => Ok(ImportanceKind::Magnitude),
            other => Err(format!(
                "unknown importance '{other}': expected gradient or magnitude"
            )),
        }
    }
}

/// How the pruning stage runs.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneOptions {
    pub method: PruneMethod,
    pub importance: ImportanceKind,
    /// Cumulative fractions of the fine-tuned model's encoder parameters to remove (structured)
    /// or sparsity of its encoder matrices (magnitude), one per step. Empty: from the analysis'
    /// recommendation (see [`pruning_schedule`]).
    pub steps: Vec<f64>,
    /// Epochs of distillation after each step (0: none).
    pub recovery_epochs: usize,
    pub temperature: f64,
    /// Weight of the soft (teacher) targets in the distillation loss.
    pub alpha: f64,
    /// Largest validation accuracy drop (absolute) for a step to be kept.
    pub tolerance: f64,
    /// Peak learning rate of recovery training; `None`: the plan's band bottom (its FULL phase).
    pub recovery_lr: Option<f64>,
    /// Recovery batch size; `None`: the plan's.
    pub batch_size: Option<usize>,
    /// Training batches the gradient importance is accumulated over, and their size.
    pub importance_batches: usize,
    pub importance_batch_size: usize,
    /// Timed runs per batch size for the ONNX Runtime latency of each step.
    pub latency_iterations: usize,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            method: PruneMethod::Structured,
            importance: ImportanceKind::Gradient,
            steps: Vec::new(),
            // One epoch was not enough to bring a 30% step of a real fine-tuned MiniLM back within
            // a point (-2.5 after one epoch, -0.3 after two).
            recovery_epochs: 2,
            temperature: 3.0,
            alpha: 0.7,
            tolerance: 0.01,
            recovery_lr: None,
            batch_size: None,
            importance_batches: 32,
            importance_batch_size: 32,
            latency_iterations: 30,
        }
    }
}

/// Steps continue in 10-point increments up to at least this percentage while they are kept.
pub const SCHEDULE_TOP_PERCENT: u32 = 40;

/// The step fractions and where they came from: the given steps, or from the analysis'
/// recommended range (its minimum is the first step) in 10-point steps up to the larger of its
/// maximum and [`SCHEDULE_TOP_PERCENT`] (steps stop at the first one outside the tolerance).
pub fn pruning_schedule(options: &PruneOptions, plan: Option<&PruningPlan>) -> (Vec<f64>, String) {
    if !options.steps.is_empty() {
        return (options.steps.clone(), "steps given by the user".to_string());
    }
    if let Some(target) = plan.and_then(|p| p.target_percent) {
        return (
            vec![target as f64 / 100.0],
            format!("the plan's pruning target (--set pruning_target={target}%): one step"),
        );
    }
    let (low, high, note) = match plan {
        Some(p) => (
            p.min_percent.max(1),
            p.max_percent.max(SCHEDULE_TOP_PERCENT),
            format!(
                "the analysis recommends {} pruning ({}-{}%): steps start at {}% and continue by 10 points while accuracy holds",
                p.level.name(),
                p.min_percent,
                p.max_percent,
                p.min_percent.max(1)
            ),
        ),
        None => (
            10,
            SCHEDULE_TOP_PERCENT,
            "no plan recorded: steps start at 10%".to_string(),
        ),
    };
    let steps = (low..=high).step_by(10).map(|p| p as f64 / 100.0).collect();
    (steps, note)
}

impl From<CompressError> for PipelineError {
    fn from(e: CompressError) -> Self {
        PipelineError::Compress(Box::new(e))
    }
}

/// What every step's recovery training shares: the training texts encoded once, the teacher's
/// logits on them, and the validation set.
struct Recovery {
    tokenizer: BertTokenizer,
    train: TrainSet,
    encoded: Vec<EncodedText>,
    validation: EvalSet,
    teacher_logits: Vec<Vec<f32>>,
    lr: f64,
    batch_size: usize,
    seed: u64,
}

/// Logits of `model` on `texts` in input order (eval mode, batches of similar length).
fn logits_of(
    model: &BertClassifier,
    texts: &[EncodedText],
    pad: i64,
) -> Result<Vec<Vec<f32>>, PipelineError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    let mut out = vec![Vec::new(); texts.len()];
    for chunk in order.chunks(64) {
        let batch = pad_batch(texts, chunk, pad);
        let rows = model.forward(&batch, Mode::Eval)?.to_vec2::<f32>()?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i] = row;
        }
    }
    Ok(out)
}

/// Progress of recovery training (a bar per epoch, a line at its end); records nothing: the
/// step's event summarises it.
struct RecoveryObserver<'a> {
    step: usize,
    log: &'a mut Recorder,
    progress: &'a mut dyn Progress,
}

impl RecoveryObserver<'_> {
    fn task(&self, epoch: usize) -> String {
        format!("step {} recovery epoch {}", self.step, epoch + 1)
    }
}

impl PhaseObserver for RecoveryObserver<'_> {
    fn step_completed(&mut self, progress: &StepProgress) -> anyhow::Result<()> {
        crate::faults::point("prune-recovery");
        let task = self.task(progress.epoch);
        super::train::report_step(self.progress, &task, progress);
        Ok(())
    }

    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        _: &TrainerCheckpoint,
    ) -> anyhow::Result<()> {
        let task = self.task(report.epoch);
        self.progress.update(Update::TaskFinished { task: &task });
        // Every epoch is an event: v_epochs and the time accounting see recovery training too.
        self.log.record(Event::EpochCompleted(EpochCompleted {
            index: self.step,
            report: report.into(),
            pruning_step: Some(self.step),
        }))?;
        self.progress.message(&format!(
            "  recovery epoch {}: distillation loss {:.4}, validation accuracy {:.4} (candle), {:.1} samples/s, {:.0} s",
            report.epoch + 1,
            report.train_loss,
            report.validation.accuracy,
            report.samples_per_sec,
            report.duration_s
        ));
        Ok(())
    }
}

/// `config.json` as `save_hf_dir` writes it.
fn config_json(config: &BertConfig) -> Result<Vec<u8>, PipelineError> {
    let value = crate::model::hf_dir::config_json(config).map_err(|e| {
        PipelineError::Compress(Box::new(CompressError::Invalid(format!(
            "config as JSON: {e}"
        ))))
    })?;
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Ok((text + "\n").into_bytes())
}

fn total(v: &[usize]) -> usize {
    v.iter().sum()
}

/// What the pruning loop does next at a schedule position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    /// The position has a kept attempt.
    Done,
    /// Prune the last kept model (the fine-tuned one when none is kept yet).
    Iterative,
    /// The iterative attempt fell outside the tolerance: try the same target once more, in one
    /// shot from the fine-tuned model (small steps compound their damage; one cut may not).
    OneShot,
    /// No attempt is left, here or at an earlier position.
    Stop,
}

/// `recorded` holds the (position, kept) of every recorded attempt, in order.
fn next_attempt(recorded: &[(usize, bool)], step: usize) -> Attempt {
    let kept_at = |p: usize| recorded.iter().any(|&(s, k)| s == p && k);
    if recorded.iter().any(|&(s, _)| s < step && !kept_at(s)) {
        return Attempt::Stop;
    }
    if kept_at(step) {
        return Attempt::Done;
    }
    let tried = recorded.iter().filter(|&&(s, _)| s == step).count();
    let kept_before = recorded.iter().any(|&(s, k)| s < step && k);
    match tried {
        0 => Attempt::Iterative,
        // A first attempt that started from the fine-tuned model already is not retried.
        1 if kept_before => Attempt::OneShot,
        _ => Attempt::Stop,
    }
}

/// What one step produced before it is recorded.
struct StepFiles {
    weights: ArtifactFile,
    config: ArtifactFile,
    onnx: PathBuf,
}

impl Writing {
    /// Prunes the fine-tuned model unless the log already records the pruning stage; resumes
    /// after the last recorded step.
    pub fn ensure_pruning(&mut self, options: &PruneOptions) -> Result<(), PipelineError> {
        if self.log.state().pruning.is_some() {
            return Ok(());
        }
        let training = self
            .log
            .state()
            .training
            .clone()
            .ok_or_else(|| PipelineError::NotTrained(self.log.state().name.clone()))?;
        let reference_config = read_config(&verify_artifact(&training.config)?)
            .map_err(crate::engine::EngineError::from)?;
        let reference_weights = load_weights(&verify_artifact(&training.weights)?)?;
        let reference_shape = model_shape(&reference_config);
        let reference_accuracy = training.validation.accuracy;
        let plan = self.log.state().plan.as_ref().map(|p| Plan::from(&p.plan));
        // A time budget chose the steps and recovery epochs, unless the user named steps; a
        // revision during the run (the phases ran slower than the probe) replaces them.
        if options.steps.is_empty() {
            self.revise_pruning_budget()?;
        }
        let state = self.log.state();
        let budget = match &state.plan {
            Some(p) if options.steps.is_empty() => p.budget.clone().map(|mut b| {
                if let Some(r) = state.budget_revisions.iter().rfind(|r| r.item == "pruning") {
                    b.pruning_steps = r.pruning_steps.clone();
                    b.recovery_epochs = r.recovery_epochs;
                    b.left_out.insert(
                        0,
                        format!(
                            "pruning revised during the run from {} to {}",
                            r.allocated, r.revised
                        ),
                    );
                }
                b
            }),
            _ => None,
        };
        if let Some(b) = budget.as_ref().filter(|b| b.pruning_steps.is_empty()) {
            let reason = b.left_out.iter().find(|l| l.starts_with("pruning"));
            self.progress.message(&format!(
                "pruning: left out by the time budget ({}); `exp prune {} --steps 0.2` prunes anyway",
                reason.map_or("no time left", |l| l.as_str()),
                self.log.state().name
            ));
            return Ok(());
        }
        let budgeted = budget.as_ref().map(|b| PruneOptions {
            steps: b.pruning_steps.clone(),
            recovery_epochs: b.recovery_epochs,
            ..options.clone()
        });
        let options = budgeted.as_ref().unwrap_or(options);
        let (schedule, note) = match &budget {
            Some(b) => (
                b.pruning_steps.clone(),
                format!(
                    "allocated by the time budget: {} step(s), {} recovery epoch(s) each",
                    b.pruning_steps.len(),
                    b.recovery_epochs
                ),
            ),
            None => pruning_schedule(options, plan.as_ref().map(|p| &p.pruning)),
        };
        if let Some(bad) = schedule.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
            return Err(CompressError::Invalid(format!(
                "pruning step {bad} is not a fraction in (0, 1)"
            ))
            .into());
        }
        let percents: Vec<String> = schedule
            .iter()
            .map(|f| format!("{:.0}%", f * 100.0))
            .collect();
        self.progress.message(&format!(
            "pruning ({}, importance {}): steps {}; {note}",
            options.method.as_str(),
            options.importance.as_str(),
            percents.join(", ")
        ));
        self.progress.message(&format!(
            "  fine-tuned model: validation accuracy {:.4}, {} encoder parameters (attention + FFN), {} in all; tolerance {:.1} points",
            reference_accuracy,
            reference_shape.encoder_parameters,
            reference_shape.parameters,
            options.tolerance * 100.0
        ));
        let mut recovery: Option<Recovery> = None;
        let mut i = 0;
        while i < schedule.len() {
            let step = i + 1;
            let target = schedule[i];
            let recorded: Vec<(usize, bool)> = self
                .log
                .state()
                .pruning_steps
                .iter()
                .map(|s| (s.step, s.kept))
                .collect();
            let one_shot = match next_attempt(&recorded, step) {
                Attempt::Done => {
                    i += 1;
                    continue;
                }
                Attempt::Stop => break,
                Attempt::Iterative => false,
                Attempt::OneShot => true,
            };
            let last_kept = self.log.state().pruning_steps.iter().rev().find(|s| s.kept);
            let (config, weights) = match (last_kept, one_shot) {
                (Some(last), false) => (
                    read_config(&verify_artifact(&last.config)?)
                        .map_err(crate::engine::EngineError::from)?,
                    load_weights(&verify_artifact(&last.weights)?)?,
                ),
                _ => (reference_config.clone(), reference_weights.clone()),
            };
            let ctx: &Recovery = match &mut recovery {
                Some(ctx) => ctx,
                slot @ None => slot.insert(self.recovery_context(
                    &reference_config,
                    &reference_weights,
                    options,
                    plan.as_ref(),
                )?),
            };
            if one_shot {
                self.progress.message(&format!(
                    "step {step} again, in one shot from the fine-tuned model ({:.0}%)",
                    target * 100.0
                ));
            }
            let event = self.prune_step(
                step,
                target,
                one_shot,
                options,
                ctx,
                (&config, &weights),
                (&reference_config, &reference_shape, reference_accuracy),
            )?;
            self.record(Event::PruningStep(event))?;
        }
        self.complete_pruning(options, &training, &reference_config, reference_shape)
    }

    /// Tokenised training texts, the teacher's logits on them and the recovery settings.
    fn recovery_context(
        &mut self,
        reference_config: &BertConfig,
        reference_weights: &Weights,
        options: &PruneOptions,
        plan: Option<&crate::analysis::plan::Plan>,
    ) -> Result<Recovery, PipelineError> {
        let started = Instant::now();
        let tokenizer = BertTokenizer::from_file(&self.tokenizer_path()?)?;
        let indices = &self.data.train;
        let train = TrainSet {
            texts: self
                .data
                .texts(indices)
                .iter()
                .map(|t| t.to_string())
                .collect(),
            labels: self.data.label_ids(indices),
            ids: self.data.ids(indices),
            weights: vec![1.0; indices.len()],
            noisy: Vec::new(),
        };
        let validation = EvalSet {
            texts: self
                .data
                .texts(&self.data.validation)
                .iter()
                .map(|t| t.to_string())
                .collect(),
            labels: self.data.label_ids(&self.data.validation),
        };
        // The trainer truncates to the spec's max_length; the teacher sees the same tokens.
        let max_length = PhaseSpec::new(
            PhaseKind::Full,
            1,
            LrBand {
                low: 1.0,
                high: 1.0,
            },
            1.0,
            1,
            0,
        )
        .max_length;
        let encoded = encode_texts(&tokenizer, &train.texts, max_length)?;
        let teacher =
            BertClassifier::from_weights(reference_config, reference_weights, &Device::Cpu)?;
        let teacher_logits = logits_of(&teacher, &encoded, pad_id(&tokenizer))?;
        self.progress.message(&format!(
            "  teacher logits of {} training samples from the fine-tuned model ({:.0} s)",
            train.texts.len(),
            started.elapsed().as_secs_f64()
        ));
        Ok(Recovery {
            tokenizer,
            train,
            encoded,
            validation,
            teacher_logits,
            lr: options
                .recovery_lr
                .or(plan.map(|p| p.lr_band.low))
                .unwrap_or(5e-5),
            batch_size: options
                .batch_size
                .or(plan.map(|p| p.batch_size))
                .unwrap_or(16),
            seed: self.log.state().created.as_ref().map_or(42, |c| c.seed),
        })
    }

    /// One step: importance, pruning, recovery with distillation, files, ORT validation and latency.
    #[allow(clippy::too_many_arguments)]
    fn prune_step(
        &mut self,
        step: usize,
        target: f64,
        one_shot: bool,
        options: &PruneOptions,
        ctx: &Recovery,
        (config, weights): (&BertConfig, &Weights),
        (reference_config, reference_shape, reference_accuracy): (&BertConfig, &ModelShape, f64),
    ) -> Result<PruningStep, PipelineError> {
        let started = Instant::now();
        let current = model_shape(config);
        let layers = config.num_hidden_layers;
        let (pruned_config, pruned_weights, heads_removed, neurons_removed, importance) =
            match options.method {
                PruneMethod::Structured => {
                    let scores = match options.importance {
                        ImportanceKind::Magnitude => magnitude_importance(config, weights)?,
                        ImportanceKind::Gradient => {
                            self.gradient_importance(step, config, weights, options, ctx)?
                        }
                    };
                    let targets = removal_targets(reference_config, target);
                    let gone_heads = total(&reference_shape.heads) - total(&current.heads);
                    let gone_neurons =
                        total(&reference_shape.ffn_neurons) - total(&current.ffn_neurons);
                    let keep = select_keep(
                        config,
                        &scores,
                        targets.heads.saturating_sub(gone_heads),
                        targets.neurons.saturating_sub(gone_neurons),
                    )?;
                    let (h, n) = keep.removed(config);
                    let (c, w) = shrink(config, weights, &keep)?;
                    (c, w, h, n, options.importance.into())
                }
                PruneMethod::Magnitude => (
                    config.clone(),
                    magnitude_prune(config, weights, target)?,
                    vec![0; layers],
                    vec![0; layers],
                    events::Importance::Magnitude,
                ),
            };
        let shape = model_shape(&pruned_config);
        match options.method {
            PruneMethod::Structured => self.progress.message(&format!(
                "step {step} ({:.0}% of encoder parameters): heads removed per layer {heads_removed:?}, FFN neurons {neurons_removed:?}; encoder parameters {} -> {} ({:.1}% below the fine-tuned model)",
                target * 100.0,
                current.encoder_parameters,
                shape.encoder_parameters,
                100.0 * (1.0 - shape.encoder_parameters as f64 / reference_shape.encoder_parameters as f64)
            )),
            PruneMethod::Magnitude => self.progress.message(&format!(
                "step {step}: encoder matrices {:.1}% zero (shapes unchanged: no dense speed-up)",
                100.0 * sparsity(&pruned_config, &pruned_weights)?
            )),
        }
        let recovered = if options.recovery_epochs > 0 {
            let mut model =
                TrainableBert::from_weights(&pruned_config, &pruned_weights, &Device::Cpu)?;
            let spec = PhaseSpec::new(
                PhaseKind::Full,
                options.recovery_epochs,
                LrBand {
                    low: ctx.lr,
                    high: ctx.lr,
                },
                ctx.lr,
                ctx.batch_size,
                ctx.seed ^ (0x9E0 + step as u64),
            );
            let distillation = Distillation {
                teacher_logits: ctx.teacher_logits.clone(),
                temperature: options.temperature,
                alpha: options.alpha,
            };
            run_phase_distilled(
                &mut model,
                &ctx.tokenizer,
                &ctx.train,
                &ctx.validation,
                &spec,
                &distillation,
                &mut RecoveryObserver {
                    step,
                    log: &mut self.log,
                    progress: &mut *self.progress,
                },
            )
            .map_err(|e| PipelineError::Training(Box::new(e)))?;
            let trained = model.weights()?;
            match options.method {
                // Recovery moved the zeros; the pruned positions stay pruned.
                PruneMethod::Magnitude => reapply_zeros(&pruned_config, &pruned_weights, &trained)?,
                PruneMethod::Structured => trained,
            }
        } else {
            pruned_weights
        };
        let files = self.write_step(step, one_shot, &pruned_config, &recovered)?;
        let (validation, latency) = self.measure_onnx(&files.onnx, options)?;
        let drop = reference_accuracy - validation.accuracy;
        // A hair of slack so that an accuracy exactly `tolerance` below is kept despite rounding.
        let kept = drop <= options.tolerance + 1e-9;
        let ms = |b: usize| {
            latency
                .iter()
                .find(|l| l.batch_size == b)
                .map_or(f64::NAN, |l| l.mean_ms)
        };
        self.progress.message(&format!(
            "  step {step}: validation accuracy {:.4} (fine-tuned {:.4}, {:+.2} points): {}; ORT latency {:.2} ms at batch 1, {:.2} ms at batch 8; {:.0} s",
            validation.accuracy,
            reference_accuracy,
            -100.0 * drop,
            if kept { "kept" } else { "not kept" },
            ms(1),
            ms(8),
            started.elapsed().as_secs_f64()
        ));
        Ok(PruningStep {
            step,
            target_fraction: target,
            importance,
            heads_removed,
            neurons_removed,
            shape,
            reference_shape: reference_shape.clone(),
            recovery_epochs: options.recovery_epochs,
            temperature: options.temperature,
            alpha: options.alpha,
            validation: (&validation).into(),
            reference_accuracy,
            kept,
            latency: latency_records(&latency),
            weights: files.weights,
            config: files.config,
            one_shot,
        })
    }

    fn gradient_importance(
        &mut self,
        step: usize,
        config: &BertConfig,
        weights: &Weights,
        options: &PruneOptions,
        ctx: &Recovery,
    ) -> Result<compress::Importance, PipelineError> {
        let started = Instant::now();
        let lengths: Vec<usize> = ctx.encoded.iter().map(|t| t.len()).collect();
        let ones = vec![1.0; lengths.len()];
        let pad = pad_id(&ctx.tokenizer);
        let batches: Vec<_> = epoch_batches(
            &lengths,
            &ones,
            options.importance_batch_size,
            ctx.seed ^ (0x1A4 + step as u64),
            0,
        )
        .into_iter()
        .take(options.importance_batches)
        .map(|b| {
            let labels: Vec<usize> = b.indices.iter().map(|&i| ctx.train.labels[i]).collect();
            (pad_batch(&ctx.encoded, &b.indices, pad), labels)
        })
        .collect();
        let model = TrainableBert::from_weights(config, weights, &Device::Cpu)?;
        let scores = taylor_importance(&model, &batches, |_, _| {})?;
        self.progress.message(&format!(
            "  gradient importance over {} training batches of {} ({:.0} s)",
            batches.len(),
            options.importance_batch_size,
            started.elapsed().as_secs_f64()
        ));
        Ok(scores)
    }

    /// Writes the step's weights, config and ONNX into `pruning/step-N/`, each file atomically.
    fn write_step(
        &self,
        step: usize,
        one_shot: bool,
        config: &BertConfig,
        weights: &Weights,
    ) -> Result<StepFiles, PipelineError> {
        let name = if one_shot {
            format!("step-{step}-one-shot")
        } else {
            format!("step-{step}")
        };
        let dir = self.artifacts.join("pruning").join(name);
        // Only the model's own tensors, so the file matches the config exactly.
        let own: Weights = param_shapes(config)
            .into_iter()
            .map(|(name, _)| {
                let t = weights[&name].clone();
                (name, t)
            })
            .collect();
        let weights_path = dir.join("model.safetensors");
        write_weights(&weights_path, &own)?;
        let config_path = dir.join("config.json");
        write_atomic(&config_path, &config_json(config)?)?;
        let onnx_path = dir.join("model.onnx");
        let bytes = onnx::write_bert_onnx(config, &own)?;
        write_atomic_with(&onnx_path, |tmp| std::fs::write(tmp, &bytes))?;
        Ok(StepFiles {
            weights: artifact(&weights_path)?,
            config: artifact(&config_path)?,
            onnx: onnx_path,
        })
    }

    /// Validation metrics and latency at batch 1 and 8 of an ONNX file in ONNX Runtime.
    fn measure_onnx(
        &self,
        onnx_path: &Path,
        options: &PruneOptions,
    ) -> Result<(crate::analysis::Metrics, Vec<LatencyStats>), PipelineError> {
        let mut classifier = OnnxClassifier::open(
            onnx_path,
            &self.tokenizer_path()?,
            MAX_LENGTH,
            &SessionOptions::default(),
        )?;
        let texts = self.data.texts(&self.data.validation);
        let probs = classifier.probabilities(&texts, PREDICT_BATCH)?;
        let validation = compute_metrics(
            &self.data.labels,
            &self.data.label_ids(&self.data.validation),
            &probs,
        )?;
        // The same pool and padding as the baseline's latency, so the numbers compare.
        let latency = classifier.validation_latency(&texts, options.latency_iterations)?;
        Ok((validation, latency))
    }

    /// Records `PruningCompleted`: the last kept step's model, else the fine-tuned model.
    fn complete_pruning(
        &mut self,
        options: &PruneOptions,
        training: &crate::events::TrainingCompleted,
        reference_config: &BertConfig,
        reference_shape: ModelShape,
    ) -> Result<(), PipelineError> {
        let kept = self
            .log
            .state()
            .pruning_steps
            .iter()
            .rev()
            .find(|s| s.kept)
            .cloned();
        let (weights, config, shape, validation) = match &kept {
            Some(s) => (
                s.weights.clone(),
                s.config.clone(),
                s.shape.clone(),
                s.validation.clone(),
            ),
            None => (
                training.weights.clone(),
                training.config.clone(),
                reference_shape.clone(),
                training.validation.clone(),
            ),
        };
        let sparsity = match options.method {
            PruneMethod::Structured => None,
            PruneMethod::Magnitude => {
                let w = load_weights(&verify_artifact(&weights)?)?;
                Some(sparsity(reference_config, &w)?)
            }
        };
        let event = PruningCompleted {
            method: options.method.into(),
            steps_run: self.log.state().pruning_steps.len(),
            kept_step: kept.as_ref().map(|s| s.step),
            weights,
            config,
            shape,
            reference_shape,
            sparsity,
            validation,
        };
        match &kept {
            Some(s) => self.progress.message(&format!(
                "pruning: step {} kept: {} -> {} encoder parameters ({:.1}% fewer), validation accuracy {:.4}",
                s.step,
                event.reference_shape.encoder_parameters,
                event.shape.encoder_parameters,
                100.0 * (1.0 - event.shape.encoder_parameters as f64 / event.reference_shape.encoder_parameters as f64),
                s.validation.accuracy
            )),
            None => self.progress.message(&format!(
                "pruning: no step stayed within {:.1} points; the fine-tuned model goes on",
                options.tolerance * 100.0
            )),
        }
        self.record(Event::PruningCompleted(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::recommend::PruningLevel;

    fn plan(level: PruningLevel, min_percent: u32, max_percent: u32) -> PruningPlan {
        PruningPlan {
            level,
            min_percent,
            max_percent,
            target_percent: None,
        }
    }

    #[test]
    fn the_schedule_starts_at_the_analysis_minimum_and_runs_to_forty_percent_or_more() {
        let options = PruneOptions::default();
        let (steps, note) =
            pruning_schedule(&options, Some(&plan(PruningLevel::Conservative, 10, 20)));
        assert_eq!(steps, vec![0.1, 0.2, 0.3, 0.4]);
        assert!(note.contains("conservative pruning (10-20%)"), "{note}");
        let (steps, _) = pruning_schedule(&options, Some(&plan(PruningLevel::Moderate, 20, 30)));
        assert_eq!(steps, vec![0.2, 0.3, 0.4]);
        let (steps, _) = pruning_schedule(&options, Some(&plan(PruningLevel::Aggressive, 30, 50)));
        assert_eq!(steps, vec![0.3, 0.4, 0.5]);
        let (steps, note) = pruning_schedule(&options, None);
        assert_eq!(steps, vec![0.1, 0.2, 0.3, 0.4]);
        assert!(note.contains("no plan"), "{note}");
        let given = PruneOptions {
            steps: vec![0.25, 0.35],
            ..PruneOptions::default()
        };
        let (steps, note) = pruning_schedule(&given, Some(&plan(PruningLevel::Moderate, 20, 30)));
        assert_eq!(steps, vec![0.25, 0.35]);
        assert_eq!(note, "steps given by the user");
    }

    #[test]
    fn the_loop_retries_a_failed_iterative_step_once_in_one_shot() {
        use super::{next_attempt, Attempt};
        assert_eq!(next_attempt(&[], 1), Attempt::Iterative);
        // Step 1 failed from the fine-tuned model: nothing to retry, the schedule ends.
        assert_eq!(next_attempt(&[(1, false)], 1), Attempt::Stop);
        assert_eq!(next_attempt(&[(1, false)], 2), Attempt::Stop);
        assert_eq!(next_attempt(&[(1, true)], 1), Attempt::Done);
        assert_eq!(next_attempt(&[(1, true)], 2), Attempt::Iterative);
        // Step 2 failed on top of step 1: once more from the fine-tuned model.
        assert_eq!(next_attempt(&[(1, true), (2, false)], 2), Attempt::OneShot);
        assert_eq!(
            next_attempt(&[(1, true), (2, false), (2, true)], 2),
            Attempt::Done
        );
        assert_eq!(
            next_attempt(&[(1, true), (2, false), (2, true)], 3),
            Attempt::Iterative
        );
        assert_eq!(
            next_attempt(&[(1, true), (2, false), (2, false)], 2),
            Attempt::Stop
        );
        assert_eq!(
            next_attempt(&[(1, true), (2, false), (2, false)], 3),
            Attempt::Stop
        );
    }

    #[test]
    fn options_parse_from_their_names() {
        assert_eq!("structured".parse(), Ok(PruneMethod::Structured));
        assert_eq!("magnitude".parse(), Ok(PruneMethod::Magnitude));
        assert_eq!("gradient".parse(), Ok(ImportanceKind::Gradient));
        assert!("taylor".parse::<ImportanceKind>().is_err());
        let d = PruneOptions::default();
        assert_eq!(
            (d.temperature, d.alpha, d.tolerance, d.recovery_epochs),
            (3.0, 0.7, 0.01, 2)
        );
    }
}
