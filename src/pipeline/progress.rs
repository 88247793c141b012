//! What a running pipeline tells whoever watches it. The pipeline reports to a [`Progress`] sink
//! and never prints (as ripgrep's searcher reports to a sink): `cli/progress.rs` turns the reports
//! into bars and lines on a terminal, plain lines in a log, JSON lines for a script, or nothing.

use serde::Serialize;

/// One report from the pipeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Update<'a> {
    /// A stage begins work (it was not recorded yet).
    StageStarted { stage: &'a str },
    /// A stage's work is recorded.
    StageFinished { stage: &'a str },
    /// A training step: `task` names the epoch ("FOCUS epoch 2", "baseline epoch 1").
    Step {
        task: &'a str,
        /// 1-based.
        step: usize,
        steps: usize,
        /// Mean training loss of the epoch so far.
        running_loss: f64,
    },
    /// The task of the last steps is over (its bar goes away).
    TaskFinished { task: &'a str },
    /// A line for a person: an epoch's result, a decision and its reason, what was skipped.
    Message { text: &'a str },
}

/// Receives the pipeline's reports.
pub trait Progress {
    fn update(&mut self, update: Update<'_>);

    fn message(&mut self, text: &str) {
        self.update(Update::Message { text });
    }
}

/// Reports nothing (library use and tests).
pub struct Silent;

impl Progress for Silent {
    fn update(&mut self, _: Update<'_>) {}
}

/// Keeps every report as a line of text (tests read what a run said).
#[derive(Default)]
pub struct Collect(pub Vec<String>);

impl Progress for Collect {
    fn update(&mut self, update: Update<'_>) {
        if !matches!(update, Update::Step { .. }) {
            self.0
                .push(serde_json::to_string(&update).unwrap_or_default());
        }
    }
}
