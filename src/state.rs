//! An experiment's state is a fold over its events: every command, `exp show` and every report
//! read it from here, never from anything else.

use serde::Serialize;

use crate::events::{
    AnalysisRecorded, AugmentationApplied, BaselineCaptured, CheckpointSaved, DatasetLoaded,
    EpochCompleted, Event, ExperimentCreated, PhaseCompleted, PlanDerived, RunFailed, SplitMade,
    TestEvaluated, TrainingCompleted,
};
use crate::store::{StoreError, StoredEvent};

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
    pub test: Option<TestEvaluated>,
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
            state.apply(stored.event()?, stored);
        }
        Ok(state)
    }

    fn apply(&mut self, event: Event, stored: &StoredEvent) {
        self.events += 1;
        self.last_seq = Some(stored.seq);
        match event {
            Event::ExperimentCreated(e) => {
                self.created_at = Some(stored.ts.clone());
                self.created = Some(e);
            }
            Event::DatasetLoaded(e) => self.dataset = Some(e),
            Event::SplitMade(e) => self.split = Some(e),
            Event::BaselineCaptured(e) => self.baseline = Some(e),
            Event::AnalysisRecorded(e) => {
                self.analysis = Some((stored.seq, e));
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
            Event::TestEvaluated(e) => self.test = Some(e),
            Event::RunFailed(e) => self.failures.push(e),
        }
    }

    /// The stage the next `exp train` would start with, as a user reads it.
    pub fn status(&self) -> &'static str {
        if self.created.is_none() {
            "empty"
        } else if self.split.is_none() {
            "incomplete"
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
