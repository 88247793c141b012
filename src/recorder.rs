//! The one write path of the event log: a recorder holds the store, the experiment's writer lock
//! and what its events fold into. Every event goes through [`Recorder::record_all`]: the fault
//! hook, paths under the database's directory made relative to it, one transaction, then the
//! fold of the rows as stored (paths resolved again), so the state is never stale.

use crate::events::Event;
use crate::state::Experiment;
use crate::store::{paths, Appended, Store, StoreError, WriterLock};

/// What a recorder folds its appended events into.
pub trait Fold {
    fn fold(&mut self, event: Event, seq: i64, ts: &str);
}

impl Fold for Experiment {
    fn fold(&mut self, event: Event, seq: i64, ts: &str) {
        Experiment::fold(self, event, seq, ts);
    }
}

/// A fold that keeps nothing but the last seq: for a writer that records without reading the
/// state back (`exp report` records `ReportGenerated` after a projection of its own).
#[derive(Debug, Default)]
pub struct LastSeq(pub Option<i64>);

impl Fold for LastSeq {
    fn fold(&mut self, _: Event, seq: i64, _: &str) {
        self.0 = Some(seq);
    }
}

pub struct Recorder<F: Fold = Experiment> {
    store: Store,
    lock: WriterLock,
    state: F,
    /// The command of a run whose `RunStarted` goes before its first recorded event.
    run: Option<String>,
}

impl<F: Fold> Recorder<F> {
    /// A recorder over a lock already taken, folding into `state` (which must already hold the
    /// experiment's events, or be a fold that needs none). `exp new`, every command that runs
    /// stages (through `pipeline::Writing`) and `exp report` make one.
    pub fn with_lock(store: Store, lock: WriterLock, state: F) -> Recorder<F> {
        Recorder {
            store,
            lock,
            state,
            run: None,
        }
    }

    /// Starts a run of `command`: the first events it records are preceded, in the same
    /// transaction, by `RunStarted` with this process's environment. A run that records nothing
    /// (refused, or nothing left to do) leaves no trace.
    pub fn start_run(&mut self, command: &str) {
        self.run = Some(command.to_string());
    }

    pub fn state(&self) -> &F {
        &self.state
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Appends one event and folds it.
    pub fn record(&mut self, event: Event) -> Result<(), StoreError> {
        self.record_all(vec![event]).map(|_| ())
    }

    /// Appends events in one transaction (all or none), then folds them as stored. Each event
    /// first passes the fault hook (`EXP_FAULT=record:KIND`).
    pub fn record_all(&mut self, events: Vec<Event>) -> Result<Vec<Appended>, StoreError> {
        let run = self.run.take();
        let result = self.append_and_fold(run.as_deref(), events);
        if result.is_err() {
            self.run = run;
        }
        result
    }

    fn append_and_fold(
        &mut self,
        run: Option<&str>,
        events: Vec<Event>,
    ) -> Result<Vec<Appended>, StoreError> {
        let base = self.store.base_dir().to_path_buf();
        let mut events = events;
        if let Some(command) = run {
            events.insert(
                0,
                Event::RunStarted(crate::events::RunStarted {
                    command: command.to_string(),
                    environment: crate::environment::capture(),
                }),
            );
        }
        for event in &mut events {
            crate::faults::before_record(event.kind());
            event.for_each_path(|p| paths::store_relative(&base, p));
        }
        let stored = self.store.append(&self.lock, &events)?;
        // The lock is ours, so the log grew by exactly these rows: fold them (as a load would
        // read them back, paths resolved) instead of re-reading the log.
        for row in &stored {
            let mut event = row.event()?;
            event.for_each_path(|p| paths::resolve(&base, p));
            self.state.fold(event, row.seq, &row.ts);
        }
        Ok(stored)
    }
}
