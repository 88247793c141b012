//! An experiment's state is a fold over its events: every command, `exp show` and every report
//! read it from here, never from anything else.

use serde::{Deserialize, Serialize};

use crate::events::{
    AnalysisRecorded, AugmentationApplied, BaselineCaptured, BenchmarkMeasured, CheckpointSaved,
    DatasetLoaded, EpochCompleted, Event, ExperimentCreated, ExportValidated, ModelExported,
    PhaseCompleted, PlanDerived, PruningCompleted, PruningStep, ReportGenerated, RunFailed,
    SplitMade, TestEvaluated, TrainingCompleted,
};
use crate::store::{SlotOf, Store, StoreError, StoredEvent};

/// A part of [`Experiment`] that an event overwrites whole. Loading a long log does not decode an
/// event whose part a later event overwrites (the last checkpoint of a phase and the latest
/// measurement of a benchmark target are all a fold keeps), which is most of a long-lived
/// experiment's log.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Slot {
    /// `checkpoint`: written by `CheckpointSaved`, cleared by `PhaseCompleted`.
    Checkpoint,
    /// One entry of `benchmarks`.
    Benchmark(BenchmarkSlot),
}

/// What makes two `BenchmarkMeasured` measure the same target, read from the payload alone.
#[derive(Debug, PartialEq, Eq, Hash, Deserialize)]
struct BenchmarkSlot {
    model: String,
    model_type: String,
    provider: String,
    sha256: String,
    latency: BatchSize,
}

#[derive(Debug, PartialEq, Eq, Hash, Deserialize)]
struct BatchSize {
    batch_size: usize,
}

impl BenchmarkSlot {
    /// Whether two measurements are of the same target: the fields above.
    fn same(a: &BenchmarkMeasured, b: &BenchmarkMeasured) -> bool {
        a.model == b.model
            && a.model_type == b.model_type
            && a.provider == b.provider
            && a.sha256 == b.sha256
            && a.latency.batch_size == b.latency.batch_size
    }
}

/// The part of the state an event writes, and whether that is all it does.
fn slot(kind: &str, payload: &str) -> SlotOf<Slot> {
    Ok(match kind {
        "CheckpointSaved" => Some((Slot::Checkpoint, true)),
        "PhaseCompleted" => Some((Slot::Checkpoint, false)),
        "BenchmarkMeasured" => Some((Slot::Benchmark(serde_json::from_str(payload)?), true)),
        _ => None,
    })
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Experiment {
    pub name: String,
    pub created_at: Option<String>,
    pub created: Option<ExperimentCreated>,
    pub dataset: Option<DatasetLoaded>,
    pub split: Option<SplitMade>,
    pub baseline: Option<BaselineCaptured>,
    /// The latest analysis and the seq of its event.
    pub analysis: Option<(i64, AnalysisRecorded)>,
    pub plan: Option<PlanDerived>,
    /// Every completed epoch, in order (across phases and resumes: each is recorded once).
    pub epochs: Vec<EpochCompleted>,
    /// The latest checkpoint of the phase in progress.
    pub checkpoint: Option<CheckpointSaved>,
    pub phases_completed: Vec<PhaseCompleted>,
    pub augmentation: Option<AugmentationApplied>,
    pub training: Option<TrainingCompleted>,
    /// The sealed-test comparison of the fine-tuned model with the baseline.
    pub test: Option<TestEvaluated>,
    /// Every sealed-test comparison, the one above first, then exported files (pruned, INT8).
    pub tests: Vec<TestEvaluated>,
    pub pruning_steps: Vec<PruningStep>,
    pub pruning: Option<PruningCompleted>,
    pub export: Option<ModelExported>,
    pub export_validations: Vec<ExportValidated>,
    /// The latest measurement of each target (model, format, file, provider, batch size), in the
    /// order they were measured; `v_benchmarks` in SQL has every one.
    pub benchmarks: Vec<BenchmarkMeasured>,
    pub reports: Vec<ReportGenerated>,
    pub failures: Vec<RunFailed>,
    pub events: usize,
    pub last_seq: Option<i64>,
}

impl Experiment {
    /// Folds stored events (in seq order) into the experiment's state.
    pub fn replay(name: &str, events: &[StoredEvent]) -> Result<Experiment, StoreError> {
        let mut state = Experiment {
            name: name.to_string(),
            ..Experiment::default()
        };
        for stored in events {
            state.fold(stored.event()?, stored.seq, &stored.ts);
        }
        Ok(state)
    }

    /// Folds the experiment's events straight from the store, a chunk of rows at a time, leaving
    /// out events of kind `skip` (reports leave out their own `ReportGenerated`). The same fold as
    /// [`Experiment::replay`] without holding the log in memory.
    pub fn load(store: &Store, name: &str, skip: Option<&str>) -> Result<Experiment, StoreError> {
        let mut state = Experiment {
            name: name.to_string(),
            ..Experiment::default()
        };
        store.for_each_event(name, skip, slot, |seq, ts, event| {
            match event {
                Some(event) => state.fold(event, seq, ts),
                None => state.count(seq),
            }
            Ok(())
        })?;
        Ok(state)
    }

    /// Counts an event whose effect on the fold a later event overwrites (see [`slot`]).
    fn count(&mut self, seq: i64) {
        self.events += 1;
        self.last_seq = Some(seq);
    }

    /// Folds the next event (seq order) into the state: `seq` and `ts` are its stored columns.
    pub fn fold(&mut self, event: Event, seq: i64, ts: &str) {
        self.events += 1;
        self.last_seq = Some(seq);
        match event {
            Event::ExperimentCreated(e) => {
                self.created_at = Some(ts.to_string());
                self.created = Some(e);
            }
            Event::DatasetLoaded(e) => self.dataset = Some(e),
            Event::SplitMade(e) => self.split = Some(e),
            Event::BaselineCaptured(e) => self.baseline = Some(e),
            Event::AnalysisRecorded(e) => {
                self.analysis = Some((seq, e));
                // A new analysis makes the plan derived from an older one stale.
                self.plan = None;
            }
            Event::PlanDerived(e) => self.plan = Some(e),
            Event::PhaseStarted(_) | Event::LrReduced(_) | Event::EarlyStopped(_) => {}
            Event::AugmentationApplied(e) => self.augmentation = Some(e),
            Event::EpochCompleted(e) => self.epochs.push(e),
            Event::CheckpointSaved(e) => self.checkpoint = Some(e),
            Event::PhaseCompleted(e) => {
                self.checkpoint = None;
                self.phases_completed.push(e);
            }
            Event::TrainingCompleted(e) => self.training = Some(e),
            Event::TestEvaluated(e) => {
                if self.test.is_none() {
                    self.test = Some(e.clone());
                }
                self.tests.push(e);
            }
            Event::RunFailed(e) => self.failures.push(e),
            Event::PruningStep(e) => self.pruning_steps.push(e),
            Event::PruningCompleted(e) => self.pruning = Some(e),
            Event::ModelExported(e) => {
                // A new export supersedes the validations of an earlier one.
                self.export_validations.clear();
                self.export = Some(e);
            }
            Event::ExportValidated(e) => self.export_validations.push(e),
            Event::BenchmarkMeasured(e) => {
                // A measurement replaces the earlier one of the same target.
                self.benchmarks.retain(|b| !BenchmarkSlot::same(b, &e));
                self.benchmarks.push(e);
            }
            Event::ReportGenerated(e) => self.reports.push(e),
        }
    }

    /// The stage the next `exp train` would start with, as a user reads it.
    pub fn status(&self) -> &'static str {
        if self.created.is_none() {
            "empty"
        } else if self.split.is_none() {
            "incomplete"
        } else if self.export.is_some() {
            "exported"
        } else if self.pruning.is_some() {
            "pruned"
        } else if !self.pruning_steps.is_empty() {
            "pruning"
        } else if self.test.is_some() {
            "evaluated"
        } else if self.training.is_some() {
            "trained"
        } else if !self.epochs.is_empty() {
            "training"
        } else if self.plan.is_some() {
            "planned"
        } else if self.analysis.is_some() {
            "analysed"
        } else if self.baseline.is_some() {
            "baseline captured"
        } else {
            "created"
        }
    }
}
