//! The rows of an experiment's epoch table, read from its `EpochCompleted` events as they were
//! recorded: the page shows them and the live view appends the ones after the last seq it has.

use serde::Serialize;

use crate::events::Event;
use crate::store::{Store, StoreError};

/// One recorded epoch (a phase's, or a pruning step's recovery epoch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRow {
    pub seq: i64,
    /// FOCUS, WEIGHTED, FULL, PLAIN, or RECOVERY for a pruning step's.
    pub phase: String,
    /// The phase's position in the plan, or the pruning step.
    pub index: usize,
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub peak_lr: f64,
    pub samples_per_sec: f64,
    pub duration_s: f64,
}

/// What the live view polls: the epochs after its last seq and where the log is now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Live {
    pub status: String,
    pub last_seq: Option<i64>,
    pub epochs: Vec<EpochRow>,
}

/// At most this many epochs per poll (a page loaded before a long run catches up in a few).
const PAGE: usize = 500;

/// The experiment's epochs after seq `after`.
pub fn epochs_after(store: &Store, name: &str, after: i64) -> Result<Vec<EpochRow>, StoreError> {
    let mut rows = Vec::new();
    for stored in store.events_after(name, Some("EpochCompleted"), after, PAGE)? {
        if let Event::EpochCompleted(e) = stored.event()? {
            rows.push(EpochRow {
                seq: stored.seq,
                phase: if e.pruning_step.is_some() {
                    "RECOVERY".to_string()
                } else {
                    e.report.phase.name().to_string()
                },
                index: e.pruning_step.unwrap_or(e.index),
                epoch: e.report.epoch + 1,
                train_loss: e.report.train_loss,
                accuracy: e.report.validation.accuracy,
                macro_f1: e.report.validation.macro_f1,
                peak_lr: e.report.peak_lr,
                samples_per_sec: e.report.samples_per_sec,
                duration_s: e.report.duration_s,
            });
        }
    }
    Ok(rows)
}
