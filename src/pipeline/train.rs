//! `exp train`: baseline (fitted when the model is an encoder), analysis, plan, the plan's
//! phases with a checkpoint after every epoch, the fine-tuned model, and the sealed test.
//! Every step is an event; a killed run resumes from the last recorded checkpoint.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::analysis::compute_metrics;
use crate::analysis::plan::{LrBand, PhaseKind, Plan};
use crate::assets;
use crate::engine;
use crate::events::{
    self, ArtifactFile, AugmentationApplied, BaselineCaptured, BaselineFitSettings,
    CheckpointRejected, CheckpointSaved, EarlyStopped, EpochCompleted, Event, LrReduced,
    PhaseCompleted, PhaseRestarted, PhaseStarted, TrainPriorities, TrainingCompleted,
};
use crate::model::{
    hf_dir::save_hf_dir, safetensors_out::write_safetensors, BertClassifier, BertConfig,
    BertTokenizer, TrainableBert, Weights,
};
use crate::onnx;
use crate::runtime::{OnnxClassifier, OnnxSession, SessionOptions};
use crate::train::checkpoint::TrainerCheckpoint;
use crate::train::focus::focus_indices;
use crate::train::observer::{EarlyStop, EpochReport, PhaseObserver, PhaseStart, StepProgress};
use crate::train::spec::{EvalSet, PhaseSpec, TrainSet};
use crate::train::trainer::{resume_mismatch, run_phase};

use super::analyze::train_priorities;
use super::baseline::{self, load_experiment_model, MAX_LENGTH, PREDICT_BATCH};
use super::experiment_data::{io_error, write_atomic, write_atomic_with, ExperimentData};
use super::progress::{Progress, Update};
use super::{sealed_test, PipelineError, Writing};
use crate::recorder::Recorder;

/// How the plain baseline of an encoder is fitted (DESIGN: 1 epoch, lr 5e-5, no weighting).
#[derive(Clone, Debug)]
pub struct BaselineFit {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
}

impl Default for BaselineFit {
    fn default() -> Self {
        BaselineFit {
            epochs: 1,
            lr: 5e-5,
            batch_size: 32,
        }
    }
}

/// The training samples each phase treats apart, as training-set indices.
struct Priorities {
    misclassified: Vec<usize>,
    low_confidence: Vec<usize>,
    /// Likely label noise and its weight factor in the WEIGHTED phase.
    noise: Option<(Vec<usize>, f64)>,
}

/// Factor on the base weight of samples of the plan's target classes in the WEIGHTED phase.
pub const CLASS_FOCUS: f64 = 1.25;

pub(crate) fn artifact(path: &Path) -> Result<ArtifactFile, PipelineError> {
    let bytes = std::fs::metadata(path)
        .map_err(io_error(format!("reading {}", path.display())))?
        .len();
    Ok(ArtifactFile {
        path: path.display().to_string(),
        sha256: assets::sha256_file(path)?,
        bytes,
    })
}

/// Checks that a recorded artifact is still the file the log describes.
pub(crate) fn verify_artifact(file: &ArtifactFile) -> Result<PathBuf, PipelineError> {
    let path = PathBuf::from(&file.path);
    let found = assets::sha256_file(&path)?;
    if found != file.sha256 {
        return Err(PipelineError::ArtifactChanged {
            path,
            recorded: file.sha256.clone(),
            found,
        });
    }
    Ok(path)
}

/// A recorded checkpoint as a resume may use it, or why it cannot be used.
fn usable_checkpoint(
    c: &CheckpointSaved,
    spec: &PhaseSpec,
    samples: usize,
) -> Result<TrainerCheckpoint, String> {
    let dir = Path::new(&c.dir);
    if !dir.is_dir() {
        return Err(format!("missing: directory {} does not exist", c.dir));
    }
    for file in &c.files {
        let path = Path::new(&file.path);
        if !path.exists() {
            return Err(format!("missing: file {}", file.path));
        }
        let found = assets::sha256_file(path).map_err(|e| format!("unreadable: {e}"))?;
        if found != file.sha256 {
            return Err(format!(
                "sha256 mismatch: {} has {found}, the log records {}",
                file.path, file.sha256
            ));
        }
    }
    let checkpoint = TrainerCheckpoint::load(dir).map_err(|e| format!("does not load: {e}"))?;
    match resume_mismatch(&checkpoint, spec, samples) {
        Some(mismatch) => Err(format!("does not fit the phase: {mismatch}")),
        None => Ok(checkpoint),
    }
}

pub(super) fn train_set(data: &ExperimentData, indices: &[usize], weights: Vec<f64>) -> TrainSet {
    TrainSet {
        texts: data.texts(indices).iter().map(|t| t.to_string()).collect(),
        labels: data.label_ids(indices),
        ids: data.ids(indices),
        weights,
        noisy: Vec::new(),
    }
}

pub(super) fn eval_set(data: &ExperimentData, indices: &[usize]) -> EvalSet {
    EvalSet {
        texts: data.texts(indices).iter().map(|t| t.to_string()).collect(),
        labels: data.label_ids(indices),
    }
}

/// Records each epoch (report + checkpoint) as events, atomically, through the recorder, and
/// reports progress.
struct EventObserver<'a> {
    log: &'a mut Recorder,
    progress: &'a mut dyn Progress,
    index: usize,
    samples: usize,
    checkpoints: PathBuf,
    /// The latest recorded checkpoint of the phase, and the one before it: both stay on disk
    /// (a resume falls back to the older when the latest is unusable) until a newer one is
    /// recorded, when the older goes.
    previous: Option<String>,
    older: Option<String>,
}

/// The progress task of an epoch ("FOCUS epoch 2").
fn epoch_task(phase: PhaseKind, epoch: usize) -> String {
    format!("{} epoch {}", phase.name(), epoch + 1)
}

/// Reports a training step to the progress sink.
pub(super) fn report_step(progress: &mut dyn Progress, task: &str, step: &StepProgress) {
    progress.update(Update::Step {
        task,
        step: step.step,
        steps: step.steps,
        running_loss: step.running_loss,
    });
}

/// Progress of the plain baseline fit, which records no events of its own.
struct FitObserver<'a> {
    progress: &'a mut dyn Progress,
}

impl PhaseObserver for FitObserver<'_> {
    fn step_completed(&mut self, progress: &StepProgress) -> anyhow::Result<()> {
        crate::faults::point("baseline-step");
        report_step(
            self.progress,
            &format!("baseline epoch {}", progress.epoch + 1),
            progress,
        );
        Ok(())
    }

    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        _: &TrainerCheckpoint,
    ) -> anyhow::Result<()> {
        let task = format!("baseline epoch {}", report.epoch + 1);
        self.progress.update(Update::TaskFinished { task: &task });
        self.progress.message(&format!(
            "  baseline epoch {}: loss {:.4}, validation accuracy {:.4}, {:.1} samples/s, {:.0} s",
            report.epoch + 1,
            report.train_loss,
            report.validation.accuracy,
            report.samples_per_sec,
            report.duration_s
        ));
        Ok(())
    }
}

impl PhaseObserver for EventObserver<'_> {
    fn step_completed(&mut self, progress: &StepProgress) -> anyhow::Result<()> {
        crate::faults::point("train-step");
        report_step(
            self.progress,
            &epoch_task(progress.phase, progress.epoch),
            progress,
        );
        Ok(())
    }

    fn phase_started(&mut self, start: &PhaseStart) -> anyhow::Result<()> {
        self.progress.message(&format!(
            "phase {} ({}): {} samples, {} steps/epoch, up to {} epochs, peak lr {:.2e}{}",
            self.index + 1,
            start.spec.kind.name(),
            start.train_samples,
            start.steps_per_epoch,
            start.spec.epochs,
            start.spec.start_lr,
            start
                .resumed_at_epoch
                .map_or(String::new(), |e| format!(", resumed at epoch {}", e + 1))
        ));
        self.log.record(Event::PhaseStarted(PhaseStarted {
            index: self.index,
            start: start.into(),
            samples: self.samples,
        }))?;
        Ok(())
    }

    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        checkpoint: &TrainerCheckpoint,
    ) -> anyhow::Result<()> {
        self.progress.update(Update::TaskFinished {
            task: &epoch_task(report.phase, report.epoch),
        });
        let phase = events::PhaseKind::from(report.phase);
        let dir = self.checkpoints.join(format!(
            "{}-{}-e{}",
            self.index,
            phase.name().to_lowercase(),
            report.epoch
        ));
        let files = checkpoint.save(&dir)?;
        crate::faults::point("checkpoint-saved");
        let files = files
            .iter()
            .map(|f| artifact(f))
            .collect::<Result<Vec<_>, _>>()?;
        // The checkpoint two back goes once this one is recorded (one that is not on disk, as
        // in a log written when only the latest was kept, is not named as removed).
        let removed = self.older.take().filter(|d| Path::new(d).exists());
        let mut events = vec![
            Event::EpochCompleted(EpochCompleted {
                index: self.index,
                report: report.into(),
                pruning_step: None,
            }),
            Event::CheckpointSaved(CheckpointSaved {
                index: self.index,
                phase,
                epoch: report.epoch,
                dir: dir.display().to_string(),
                files,
                removed: removed.clone(),
            }),
        ];
        if let Some((from, to)) = report.lr_reduced {
            events.push(Event::LrReduced(LrReduced {
                index: self.index,
                phase,
                epoch: report.epoch,
                from,
                to,
            }));
        }
        self.log.record_all(events)?;
        // Only after the new checkpoint is recorded may the one two back go.
        if let Some(old) = removed {
            let _ = std::fs::remove_dir_all(old);
        }
        self.older = self.previous.replace(dir.display().to_string());
        let v = &report.validation;
        self.progress.message(&format!(
            "  {} epoch {}: loss {:.4}, validation accuracy {:.4}, macro-F1 {:.4}, {:.1} samples/s, {:.0} s{}",
            phase,
            report.epoch + 1,
            report.train_loss,
            v.accuracy,
            v.macro_f1,
            report.samples_per_sec,
            report.duration_s,
            report
                .lr_reduced
                .map_or(String::new(), |(a, b)| format!(", lr {a:.2e} -> {b:.2e}"))
        ));
        Ok(())
    }

    fn early_stopped(&mut self, stop: &EarlyStop) -> anyhow::Result<()> {
        // A resumed phase reports a stop that the killed run may have recorded already.
        let index = self.index;
        let stop = events::EarlyStop::from(stop);
        let recorded = self
            .log
            .state()
            .early_stops
            .iter()
            .any(|e| e.index == index && e.stop == stop);
        if recorded {
            return Ok(());
        }
        self.progress.message(&format!(
            "  early stop after epoch {}: best macro-F1 {:.4} at epoch {}",
            stop.epoch + 1,
            stop.best_macro_f1,
            stop.best_epoch + 1
        ));
        self.log
            .record(Event::EarlyStopped(EarlyStopped { index, stop }))?;
        Ok(())
    }
}

/// Loads weights written by `write_safetensors`.
pub(crate) fn load_weights(path: &Path) -> Result<Weights, PipelineError> {
    let map = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(crate::model::ModelError::Candle)
        .map_err(|e| PipelineError::Engine(Box::new(e.into())))?;
    Ok(map.into_iter().collect())
}

impl Writing {
    fn seed(&self) -> u64 {
        self.log.state().created.as_ref().map_or(42, |c| c.seed)
    }

    pub(super) fn tokenizer_for_training(&self) -> Result<BertTokenizer, PipelineError> {
        Ok(BertTokenizer::from_file(&self.tokenizer_path()?)?)
    }

    /// The baseline: the model as it is when it has a trained head, else a plain fine-tune of it.
    pub fn ensure_trainable_baseline(&mut self, fit: &BaselineFit) -> Result<(), PipelineError> {
        if self.log.state().baseline.is_some() {
            return Ok(());
        }
        let model = load_experiment_model(self.log.state(), &self.data)?;
        if model.initialised.is_empty() {
            return self.ensure_baseline();
        }
        self.progress.message(&format!(
            "baseline: {} has no trained head ({}); fitting a plain baseline ({} epoch(s), lr {:.1e}, batch {}, unweighted)",
            model.source.spec,
            model.initialised.join(", "),
            fit.epochs,
            fit.lr,
            fit.batch_size
        ));
        let tokenizer = self.tokenizer_for_training()?;
        let mut trainable =
            TrainableBert::from_weights(&model.config, &model.weights, &Device::Cpu)?;
        let band = LrBand {
            low: fit.lr,
            high: fit.lr,
        };
        let fit_seed = self.seed() ^ 0xBA5E;
        let spec = PhaseSpec::new(
            PhaseKind::Full,
            fit.epochs,
            band,
            fit.lr,
            fit.batch_size,
            fit_seed,
        );
        // A plain fine-tune: every layer at the same rate, as Hugging Face's Trainer does.
        let spec = PhaseSpec {
            layer_decay: 1.0,
            ..spec
        };
        let n = self.data.train.len();
        let train = train_set(&self.data, &self.data.train, vec![1.0; n]);
        let validation = eval_set(&self.data, &self.data.validation);
        run_phase(
            &mut trainable,
            &tokenizer,
            &train,
            &validation,
            &spec,
            None,
            &mut FitObserver {
                progress: &mut *self.progress,
            },
        )
        .map_err(|e| PipelineError::Training(Box::new(e)))?;
        let weights = trainable.weights()?;
        let onnx_path = self.artifacts.join("baseline").join("model.onnx");
        write_atomic(
            &onnx_path,
            &onnx::write_bert_onnx(trainable.config(), &weights)?,
        )?;
        let captured = BaselineCaptured {
            fit: Some(BaselineFitSettings {
                epochs: fit.epochs,
                lr: fit.lr,
                batch_size: fit.batch_size,
                seed: fit_seed,
            }),
            ..baseline::measure_baseline(
                events::BaselineOrigin::Fitted,
                &onnx_path,
                &self.tokenizer_path()?,
                &self.data.labels,
                &self.data,
            )?
        };
        self.progress.message(&format!(
            "baseline: validation accuracy {:.4}, macro-F1 {:.4}",
            captured.validation.accuracy, captured.validation.macro_f1
        ));
        self.record(Event::BaselineCaptured(captured))
    }

    /// Misclassified and low-confidence training samples of the baseline that are not likely
    /// label noise, and the likely label noise with its weight, as training-set indices.
    fn priorities(&self) -> Result<Priorities, PipelineError> {
        let recorded = self
            .log
            .state()
            .analysis
            .as_ref()
            .and_then(|(_, a)| a.train_priorities.clone());
        let priorities: TrainPriorities = match recorded {
            Some(p) => p,
            None => {
                let baseline = self.log.state().recorded_baseline()?.clone();
                let mut classifier = OnnxClassifier::open(
                    Path::new(&baseline.onnx.path),
                    &self.tokenizer_path()?,
                    MAX_LENGTH,
                    &SessionOptions::default(),
                )?;
                train_priorities(&mut classifier, &self.data)?
            }
        };
        let position: HashMap<String, usize> = self
            .data
            .ids(&self.data.train)
            .into_iter()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        let map = |ids: &[&String]| -> Vec<usize> {
            ids.iter()
                .filter_map(|id| position.get(id.as_str()).copied())
                .collect()
        };
        let (misclassified, low_confidence) = priorities.prioritised();
        let noise = priorities.likely_label_noise.as_ref().map(|n| {
            let ids: Vec<&String> = n.ids.iter().collect();
            (map(&ids), n.weight)
        });
        Ok(Priorities {
            misclassified: map(&misclassified),
            low_confidence: map(&low_confidence),
            noise,
        })
    }

    /// The best model so far by validation macro-F1: `None` for the baseline, else the index
    /// into `phases_completed`. A later phase must do strictly better to replace an earlier model.
    pub(super) fn best_so_far(&self) -> Result<(Option<usize>, f64), PipelineError> {
        let baseline = self.log.state().recorded_baseline()?;
        let mut best = (None, baseline.validation.macro_f1);
        for (i, done) in self.log.state().phases_completed.iter().enumerate() {
            if let Some(f1) = done.best_macro_f1 {
                if f1 > best.1 {
                    best = (Some(i), f1);
                }
            }
        }
        Ok(best)
    }

    /// The weights the next phase starts from: the best so far (`best_so_far`).
    pub(super) fn start_weights(&self) -> Result<(BertConfig, Weights), PipelineError> {
        let baseline = self.log.state().recorded_baseline()?.clone();
        let imported = onnx::import_bert(Path::new(&baseline.onnx.path))?;
        let mut config = imported.config;
        if config.labels() != self.data.labels {
            config.set_labels(&self.data.labels);
        }
        match self.best_so_far()?.0 {
            None => Ok((config, imported.weights)),
            Some(i) => {
                let path = verify_artifact(&self.log.state().phases_completed[i].weights)?;
                Ok((config, load_weights(&path)?))
            }
        }
    }

    /// The FOCUS phase's augmented samples: recorded ones on resume, else generated and recorded.
    fn focus_augmentation(
        &mut self,
        index: usize,
        priority: &[usize],
        config: &BertConfig,
        weights: &Weights,
        tokenizer: &BertTokenizer,
    ) -> Result<AugmentationApplied, PipelineError> {
        if let Some(applied) = &self.log.state().augmentation {
            if applied.index == index {
                return Ok(applied.clone());
            }
        }
        let keywords = self
            .log
            .state()
            .analysis
            .as_ref()
            .map(|(_, a)| a.summary.problematic_keywords.clone())
            .unwrap_or_default();
        let applied = super::augment::augment_focus_samples(
            index,
            &self.data,
            priority,
            &keywords,
            config,
            weights,
            tokenizer,
            self.seed(),
        )?;
        let counts: Vec<String> = applied
            .result
            .counts
            .iter()
            .map(|(m, n)| format!("{m:?} {n}"))
            .collect();
        self.progress.message(&format!(
            "augmentation of {} priority samples: {} (back-translation: not available offline)",
            applied.priority_samples,
            counts.join(", ")
        ));
        self.record(Event::AugmentationApplied(applied.clone()))?;
        Ok(applied)
    }

    /// Runs the plan's phases that the log has not completed, resuming a phase in progress.
    pub fn run_phases(&mut self) -> Result<(), PipelineError> {
        let plan = Plan::from(&self.log.state().recorded_plan()?.plan);
        let Priorities {
            misclassified,
            low_confidence,
            noise,
        } = self.priorities()?;
        let priority: Vec<usize> = misclassified
            .iter()
            .chain(&low_confidence)
            .copied()
            .collect::<BTreeSet<usize>>()
            .into_iter()
            .collect();
        let tokenizer = self.tokenizer_for_training()?;
        let validation = eval_set(&self.data, &self.data.validation);
        let n_classes = self.data.labels.len();
        let train_labels = self.data.label_ids(&self.data.train);
        for (index, phase) in plan.phases.iter().enumerate() {
            if index < self.log.state().phases_completed.len() {
                continue;
            }
            // The plain recipe fine-tunes the model as loaded, as people do without exp; the
            // analysis' phases continue from the best model so far.
            let (config, weights) = if phase.kind == PhaseKind::Plain {
                let model = load_experiment_model(self.log.state(), &self.data)?;
                (model.config, model.weights)
            } else {
                self.start_weights()?
            };
            let start_macro_f1 = self.best_so_far()?.1;
            let mut spec = PhaseSpec::from_plan(&plan, phase, self.seed());
            let train = match phase.kind {
                PhaseKind::Focus => {
                    let subset: Vec<usize> =
                        focus_indices(self.data.train.len(), &priority, self.seed())
                            .into_iter()
                            .map(|i| self.data.train[i])
                            .collect();
                    let n = subset.len();
                    let mut set = train_set(&self.data, &subset, vec![1.0; n]);
                    let applied =
                        self.focus_augmentation(index, &priority, &config, &weights, &tokenizer)?;
                    for sample in &applied.result.samples {
                        set.texts.push(sample.text.clone());
                        set.labels.push(sample.label);
                        set.ids.push(crate::data::sample_id(&sample.text));
                        set.weights.push(1.0);
                    }
                    set
                }
                PhaseKind::Weighted => {
                    let mut weights = plan.sample_weights(
                        &train_labels,
                        n_classes,
                        &misclassified,
                        &low_confidence,
                    );
                    let mut noisy = vec![false; weights.len()];
                    if let Some((indices, factor)) = &noise {
                        for &i in indices {
                            weights[i] *= factor;
                            noisy[i] = true;
                        }
                    }
                    spec.class_focus = Some(
                        self.data
                            .labels
                            .iter()
                            .map(|l| {
                                if plan.target_classes.contains(l) {
                                    CLASS_FOCUS
                                } else {
                                    1.0
                                }
                            })
                            .collect(),
                    );
                    TrainSet {
                        noisy,
                        ..train_set(&self.data, &self.data.train, weights)
                    }
                }
                PhaseKind::Full | PhaseKind::Plain => {
                    let n = self.data.train.len();
                    train_set(&self.data, &self.data.train, vec![1.0; n])
                }
            };
            let resume = self.resume_point(index, phase.kind, &spec, train.texts.len())?;
            // The checkpoint resumed from is the newest live one (those rejected are not).
            let live: Vec<String> = self.log.state().live_checkpoint_dirs(index);
            let mut model = TrainableBert::from_weights(&config, &weights, &Device::Cpu)?;
            let mut observer = EventObserver {
                log: &mut self.log,
                progress: &mut *self.progress,
                index,
                samples: train.texts.len(),
                checkpoints: self.artifacts.join("checkpoints"),
                previous: live.first().cloned(),
                older: live.get(1).cloned(),
            };
            let outcome = run_phase(
                &mut model,
                &tokenizer,
                &train,
                &validation,
                &spec,
                resume.as_ref(),
                &mut observer,
            )
            .map_err(|e| PipelineError::Training(Box::new(e)))?;
            let leftover = [observer.previous.take(), observer.older.take()];
            let weights_path = self.artifacts.join("phases").join(format!(
                "{index}-{}.safetensors",
                phase.kind.name().to_lowercase()
            ));
            let best = model.weights()?;
            write_weights(&weights_path, &best)?;
            // Every epoch of this phase went through the recorder, so the state counts them
            // all, those of a killed run before this one included.
            let epochs_run = self.log.state().epochs_of(index);
            self.record(Event::PhaseCompleted(PhaseCompleted {
                index,
                phase: phase.kind.into(),
                epochs_run,
                best_epoch: outcome.best_epoch,
                best_macro_f1: outcome.best_macro_f1,
                early_stopped: outcome.early_stopped,
                weights: artifact(&weights_path)?,
                start_macro_f1: Some(start_macro_f1),
                kept: Some(outcome.best_macro_f1.is_some_and(|f1| f1 > start_macro_f1)),
            }))?;
            let kept = outcome.best_macro_f1.is_some_and(|f1| f1 > start_macro_f1);
            self.progress.message(&format!(
                "{}: best validation macro-F1 {} vs {:.4} at the start: {}",
                phase.kind.name(),
                outcome
                    .best_macro_f1
                    .map_or("-".to_string(), |f| format!("{f:.4}")),
                start_macro_f1,
                if kept {
                    "kept"
                } else {
                    "not kept, the next stage starts from the earlier model"
                }
            ));
            for old in leftover.into_iter().flatten() {
                let _ = std::fs::remove_dir_all(old);
            }
        }
        Ok(())
    }

    /// The checkpoint phase `index` resumes from: the newest recorded one that is whole (every
    /// file there with its recorded sha256), loads and fits the phase. Each one that is not is
    /// recorded as `CheckpointRejected` (and its directory removed) and the one before it is
    /// tried. When none is usable but the phase has recorded epochs, or a checkpoint was
    /// rejected, the phase starts again from its start, recorded as `PhaseRestarted`.
    fn resume_point(
        &mut self,
        index: usize,
        kind: PhaseKind,
        spec: &PhaseSpec,
        samples: usize,
    ) -> Result<Option<TrainerCheckpoint>, PipelineError> {
        let candidates: Vec<CheckpointSaved> = self
            .log
            .state()
            .checkpoints
            .iter()
            .filter(|c| c.index == index)
            .cloned()
            .collect();
        let mut rejected = 0;
        for c in candidates {
            let reason = match usable_checkpoint(&c, spec, samples) {
                Ok(checkpoint) => {
                    if rejected > 0 {
                        self.progress.message(&format!(
                            "phase {} ({}): resuming from the checkpoint after epoch {} ({})",
                            index + 1,
                            kind.name(),
                            c.epoch + 1,
                            c.dir
                        ));
                    }
                    return Ok(Some(checkpoint));
                }
                Err(reason) => reason,
            };
            self.progress.message(&format!(
                "phase {} ({}): skipping the checkpoint after epoch {}: {reason}",
                index + 1,
                kind.name(),
                c.epoch + 1
            ));
            self.record(Event::CheckpointRejected(CheckpointRejected {
                index,
                phase: c.phase,
                epoch: c.epoch,
                dir: c.dir.clone(),
                reason,
            }))?;
            rejected += 1;
            // No live event names it any more; a rerun of its epoch writes the directory anew.
            let _ = std::fs::remove_dir_all(&c.dir);
        }
        if rejected > 0 || self.log.state().epochs_of(index) > 0 {
            let reason = if rejected > 0 {
                format!("no usable checkpoint: {rejected} rejected, none left")
            } else {
                "no recorded checkpoint left".to_string()
            };
            self.restart(index, kind, reason)?;
        }
        Ok(None)
    }

    /// Records that phase `index` starts again from its start, and removes the checkpoints of
    /// it that were live.
    fn restart(
        &mut self,
        index: usize,
        phase: PhaseKind,
        reason: String,
    ) -> Result<(), PipelineError> {
        let discarded_epochs = self.log.state().epochs_of(index);
        let live: Vec<String> = self.log.state().live_checkpoint_dirs(index);
        self.progress.message(&format!(
            "phase {} ({}): restarting from its start ({reason}); {discarded_epochs} recorded epoch(s) of it are superseded",
            index + 1,
            phase.name()
        ));
        self.record(Event::PhaseRestarted(PhaseRestarted {
            index,
            phase: phase.into(),
            reason,
            discarded_epochs,
        }))?;
        for dir in live {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    /// `exp train --restart-phase`: the phase in progress starts again from its start (the
    /// next `run_phases` trains it so). Refused, recording nothing, when no phase is in progress.
    pub fn restart_phase(&mut self) -> Result<(), PipelineError> {
        let Some(index) = self.log.state().phase_in_progress else {
            return Err(PipelineError::NoPhaseInProgress(
                self.log.state().name.clone(),
            ));
        };
        let phase = self
            .log
            .state()
            .plan
            .as_ref()
            .and_then(|p| p.plan.phases.get(index))
            .map(|p| PhaseKind::from(p.kind))
            .ok_or_else(|| PipelineError::NoPhaseInProgress(self.log.state().name.clone()))?;
        self.restart(index, phase, "requested".to_string())
    }

    /// Saves the fine-tuned model (weights, config, ONNX) and checks the ONNX file against candle.
    pub fn complete_training(&mut self) -> Result<(), PipelineError> {
        if self.log.state().training.is_some() {
            return Ok(());
        }
        let (config, weights, averaging) = self.final_weights()?;
        let dir = self.artifacts.join("final");
        save_hf_dir(&dir, &config, &weights)
            .map_err(|e| PipelineError::Engine(Box::new(e.into())))?;
        let onnx_path = dir.join("model.onnx");
        write_atomic(&onnx_path, &onnx::write_bert_onnx(&config, &weights)?)?;

        let tokenizer = self.tokenizer_for_training()?.with_max_length(MAX_LENGTH)?;
        let model = BertClassifier::from_weights(&config, &weights, &Device::Cpu)?;
        let session = OnnxSession::open(&onnx_path, &SessionOptions::default())?;
        let texts = self.data.texts(&self.data.validation);
        let logits =
            engine::side_by_side_logits(&model, &mut [session], &tokenizer, &texts, PREDICT_BATCH)?;
        let max_diff = engine::max_abs_diff(&logits[1], &logits[0]);
        let probs: Vec<Vec<f32>> = logits[1]
            .iter()
            .map(|row| crate::runtime::softmax(row))
            .collect();
        if max_diff > 1e-4 {
            return Err(PipelineError::ExportMismatch {
                path: onnx_path,
                max_abs_diff: max_diff,
            });
        }
        let validation = compute_metrics(
            &self.data.labels,
            &self.data.label_ids(&self.data.validation),
            &probs,
        )?;
        self.record(Event::TrainingCompleted(TrainingCompleted {
            weights: artifact(&dir.join("model.safetensors"))?,
            config: artifact(&dir.join("config.json"))?,
            onnx: artifact(&onnx_path)?,
            validation: (&validation).into(),
            onnx_max_abs_diff: max_diff,
            averaging,
        }))
    }

    /// The sealed test split, read once: baseline and fine-tuned model side by side.
    pub fn evaluate_test(&mut self) -> Result<(), PipelineError> {
        if self.log.state().test.is_some() {
            return Ok(());
        }
        let baseline = self.log.state().recorded_baseline()?.clone();
        let training = self.log.state().recorded_training()?.clone();
        // The event names the files it evaluated by hash: they must be the recorded ones.
        verify_artifact(&baseline.onnx)?;
        verify_artifact(&training.onnx)?;
        let tokenizer = self.tokenizer_path()?;
        let base = sealed_test::evaluate(
            &self.data,
            &tokenizer,
            "baseline",
            Path::new(&baseline.onnx.path),
            &baseline.onnx.sha256,
        )?;
        let cand = sealed_test::evaluate(
            &self.data,
            &tokenizer,
            "fine-tuned",
            Path::new(&training.onnx.path),
            &training.onnx.sha256,
        )?;
        let event = sealed_test::compare(&self.data, base, cand);
        self.record(Event::TestEvaluated(event))
    }
}

pub(crate) fn write_weights(path: &Path, weights: &Weights) -> Result<(), PipelineError> {
    write_atomic_with(path, |tmp| write_safetensors(tmp, weights))
}
