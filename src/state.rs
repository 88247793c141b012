//! An experiment's state is a fold over its events: every command, `exp show` and every report
//! read it from here, never from anything else.

use serde::Serialize;

use crate::events::{DatasetLoaded, Event, ExperimentCreated, RunFailed, SplitMade};
use crate::store::{StoreError, StoredEvent};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Experiment {
    pub name: String,
    pub created_at: Option<String>,
    pub created: Option<ExperimentCreated>,
    pub dataset: Option<DatasetLoaded>,
    pub split: Option<SplitMade>,
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
            Event::RunFailed(e) => self.failures.push(e),
        }
    }

    /// The stage the next `exp train` would start with, as a user reads it.
    pub fn status(&self) -> &'static str {
        match (&self.created, &self.split) {
            (None, _) => "empty",
            (Some(_), None) => "incomplete",
            (Some(_), Some(_)) => "created",
        }
    }
}
