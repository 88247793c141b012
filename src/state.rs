//! An experiment's state is a fold over its events: every command, `exp show` and every report
//! read it from here, never from anything else.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

use crate::events::{
    AnalysisRecorded, ArtifactFile, AugmentationApplied, BaselineCaptured, BenchmarkMeasured,
    BudgetRevised, CheckpointRejected, CheckpointSaved, DatasetLoaded, EarlyStopped,
    EpochCompleted, Event, ExperimentCreated, ExportValidated, ModelExported, PhaseCompleted,
    PhaseRestarted, PlanDerived, PruningCompleted, PruningStep, ReportGenerated, RunFailed,
    SplitMade, TestEvaluated, TrainingCompleted,
};
use crate::store::{SlotOf, Store, StoreError, StoredEvent};

/// A part of [`Experiment`] that an event overwrites whole. Loading a long log does not decode an
/// event whose part a later event overwrites (the last two checkpoints of a phase and the latest
/// measurement of a benchmark target are all a fold keeps), which is most of a long-lived
/// experiment's log.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Slot {
    /// One of `checkpoint_slots`, by epoch parity: written by `CheckpointSaved` of an epoch of
    /// that parity, cleared (both of them) by `PhaseCompleted` and `PhaseRestarted`.
    Checkpoint(usize),
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

/// The epoch of a `CheckpointSaved`, read from the payload alone.
#[derive(Deserialize)]
struct CheckpointEpoch {
    epoch: usize,
}

/// The `epoch` of a `CheckpointSaved` payload. Its only `"epoch":` key is the top-level one (no
/// field below it has one, and a `"` inside a string is escaped, so the text cannot occur in a
/// string): the digits after it are read without parsing the rest (the files and their hashes),
/// which made loading a long log a fifth slower. Other spellings are parsed in full.
fn checkpoint_epoch(payload: &str) -> Result<usize, serde_json::Error> {
    const KEY: &str = "\"epoch\":";
    let fast = payload.find(KEY).and_then(|at| {
        let rest = &payload[at + KEY.len()..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let after = rest[digits..].chars().next();
        match after {
            Some(',' | '}') => rest[..digits].parse().ok(),
            _ => None,
        }
    });
    match fast {
        Some(epoch) => Ok(epoch),
        None => Ok(serde_json::from_str::<CheckpointEpoch>(payload)?.epoch),
    }
}

/// The part of the state an event writes, and whether that is all it does.
fn slot(kind: &str, payload: &str) -> SlotOf<Slot> {
    Ok(match kind {
        "CheckpointSaved" => Some((Slot::Checkpoint(checkpoint_epoch(payload)? % 2), true)),
        // These clear both checkpoint slots; one slot can be named, and naming it is enough to
        // skip the checkpoint of that parity before them.
        "PhaseCompleted" | "PhaseRestarted" => Some((Slot::Checkpoint(0), false)),
        // `CheckpointRejected` clears a slot only when it holds the rejected checkpoint: it
        // names none, so it never hides an earlier checkpoint.
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
    /// Changes to the plan's time budget made during the run (they follow the plan's).
    pub budget_revisions: Vec<BudgetRevised>,
    /// Every completed epoch, in order (across phases and resumes). An epoch trained again after
    /// its checkpoint was rejected, or after its phase restarted, replaces the earlier one.
    pub epochs: Vec<EpochCompleted>,
    /// The recovery epochs after pruning steps, in order (a step run again replaces its own).
    pub recovery_epochs: Vec<EpochCompleted>,
    /// Every early stop, in order (a phase restarted drops its own).
    pub early_stops: Vec<EarlyStopped>,
    /// The phase that a `PhaseStarted` began and no `PhaseCompleted` ended yet.
    pub phase_in_progress: Option<usize>,
    /// The checkpoints of the phase in progress that a resume may use, newest first: the latest
    /// and, when it is the epoch before, the previous one (kept on disk until the next is
    /// recorded). Derived from `checkpoint_slots`.
    pub checkpoints: Vec<CheckpointSaved>,
    /// The latest `CheckpointSaved` of each epoch parity since the phase started, less those
    /// rejected (see [`slot`]: each `CheckpointSaved` writes one slot only).
    #[serde(skip)]
    checkpoint_slots: [Option<CheckpointSaved>; 2],
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
    /// `exp tag`: each key's latest value.
    pub tags: std::collections::BTreeMap<String, String>,
    /// `exp note`: (when, text), in order.
    pub notes: Vec<(String, String)>,
    /// Each run that recorded something: (when, command and environment), in order.
    pub runs: Vec<(String, crate::events::RunStarted)>,
    pub failures: Vec<RunFailed>,
    pub events: usize,
    pub last_seq: Option<i64>,
    /// When the work after the plan was recorded, for a time budget's estimate-vs-actual table.
    #[serde(skip)]
    pub timing: Timing,
}

/// Tags as `exp ls`, `exp show` and `exp ui` show them: `key=value` in key order, space-separated.
pub fn tags_text(tags: &std::collections::BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Timestamps (RFC 3339, as stored) of the events that end each piece of budgeted work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    pub plan: Option<String>,
    /// Each completed phase's kind and when it completed, in order.
    pub phases: Vec<(String, String)>,
    /// The first sealed test (fine-tuned model against the baseline).
    pub first_test: Option<String>,
    pub pruning: Option<String>,
    /// The last event of the log (empty before any; one buffer reused by every fold).
    pub last: String,
}

impl Experiment {
    /// Every file the state's live events name, with what it is: the baseline and analysis, the
    /// fine-tuned and pruned models, the exported files. The model card re-hashes them and
    /// `exp verify --files` checks them.
    pub fn artifact_files(&self) -> Vec<(String, ArtifactFile)> {
        let s = self;
        let mut files: Vec<(String, ArtifactFile)> = Vec::new();
        if let Some(b) = &s.baseline {
            files.push(("baseline ONNX".into(), b.onnx.clone()));
        }
        if let Some((_, a)) = &s.analysis {
            files.push((
                "analysis JSON".into(),
                ArtifactFile {
                    path: a.path.clone(),
                    sha256: a.sha256.clone(),
                    bytes: 0,
                },
            ));
        }
        if let Some(t) = &s.training {
            files.push(("fine-tuned weights".into(), t.weights.clone()));
            files.push(("fine-tuned config".into(), t.config.clone()));
            files.push(("fine-tuned ONNX".into(), t.onnx.clone()));
        }
        if let Some(pc) = &s.pruning {
            files.push(("pruned weights".into(), pc.weights.clone()));
            files.push(("pruned config".into(), pc.config.clone()));
        }
        if let Some(e) = &s.export {
            for f in &e.files {
                let path = std::path::Path::new(&e.dir).join(&f.path);
                files.push((
                    "export".into(),
                    ArtifactFile {
                        path: path.display().to_string(),
                        sha256: f.sha256.clone(),
                        bytes: f.bytes,
                    },
                ));
            }
        }
        files
    }

    /// How many epochs of phase `index` the state counts (superseded ones left out).
    pub fn epochs_of(&self, index: usize) -> usize {
        self.epochs.iter().filter(|e| e.index == index).count()
    }

    /// The directories of the live checkpoints of phase `index`, newest first.
    pub fn live_checkpoint_dirs(&self, index: usize) -> Vec<String> {
        self.checkpoints
            .iter()
            .filter(|c| c.index == index)
            .map(|c| c.dir.clone())
            .collect()
    }

    /// The state of an experiment with no events yet.
    pub fn named(name: &str) -> Experiment {
        Experiment {
            name: name.to_string(),
            ..Experiment::default()
        }
    }

    /// Folds stored events (in seq order) into the experiment's state.
    /// `base` is the database's directory, which relative paths in events are resolved against
    /// (`Store::base_dir`).
    pub fn replay(
        name: &str,
        events: &[StoredEvent],
        base: &std::path::Path,
    ) -> Result<Experiment, StoreError> {
        let mut state = Experiment {
            name: name.to_string(),
            ..Experiment::default()
        };
        for stored in events {
            let mut event = stored.event()?;
            event.for_each_path(|p| crate::store::paths::resolve(base, p));
            state.fold(event, stored.seq, &stored.ts);
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
        let base = store.base_dir();
        store.for_each_event(name, skip, slot, |seq, ts, event| {
            match event {
                Some(mut event) => {
                    // Paths under the database's directory are stored relative to it.
                    event.for_each_path(|p| crate::store::paths::resolve(base, p));
                    state.fold(event, seq, ts)
                }
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
        self.timing.last.clear();
        self.timing.last.push_str(ts);
        match &event {
            Event::PlanDerived(_) => self.timing.plan = Some(ts.to_string()),
            Event::PhaseCompleted(e) => self
                .timing
                .phases
                .push((e.phase.to_string(), ts.to_string())),
            Event::TestEvaluated(_) if self.timing.first_test.is_none() => {
                self.timing.first_test = Some(ts.to_string())
            }
            Event::PruningCompleted(_) => self.timing.pruning = Some(ts.to_string()),
            _ => {}
        }
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
                self.budget_revisions.clear();
            }
            Event::PlanDerived(e) => {
                self.plan = Some(e);
                self.budget_revisions.clear();
            }
            Event::BudgetRevised(e) => self.budget_revisions.push(e),
            Event::PhaseStarted(e) => self.phase_in_progress = Some(e.index),
            Event::LrReduced(_) => {}
            Event::EarlyStopped(e) => self.early_stops.push(e),
            Event::AugmentationApplied(e) => self.augmentation = Some(e),
            Event::EpochCompleted(e) => match e.pruning_step {
                None => self.epochs.push(e),
                Some(step) => {
                    // A step run again (resumed, or retried in one shot) replaces its epochs.
                    let epoch = e.report.epoch;
                    self.recovery_epochs
                        .retain(|r| r.pruning_step != Some(step) || r.report.epoch < epoch);
                    self.recovery_epochs.push(e);
                }
            },
            Event::CheckpointSaved(e) => {
                let parity = e.epoch % 2;
                self.checkpoint_slots[parity] = Some(e);
                self.derive_checkpoints();
            }
            Event::CheckpointRejected(e) => self.checkpoint_rejected(&e),
            Event::PhaseRestarted(e) => self.phase_restarted(&e),
            Event::PhaseCompleted(e) => {
                self.checkpoint_slots = [None, None];
                self.derive_checkpoints();
                self.phase_in_progress = None;
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
            Event::TagSet(e) => match e.value {
                Some(v) => {
                    self.tags.insert(e.key, v);
                }
                None => {
                    self.tags.remove(&e.key);
                }
            },
            Event::NoteAdded(e) => self.notes.push((ts.to_string(), e.text)),
            // A sweep's stream is not an experiment's; `pipeline::sweep` reads it.
            Event::SweepDefined(_) => {}
            Event::RunStarted(e) => self.runs.push((ts.to_string(), e)),
        }
    }

    /// A rejected checkpoint is no longer one to resume from, and the epochs from its own on
    /// will be trained again.
    fn checkpoint_rejected(&mut self, e: &CheckpointRejected) {
        for slot in &mut self.checkpoint_slots {
            if slot
                .as_ref()
                .is_some_and(|c| c.index == e.index && c.epoch == e.epoch && c.dir == e.dir)
            {
                *slot = None;
            }
        }
        self.derive_checkpoints();
        self.epochs
            .retain(|x| x.index != e.index || x.report.epoch < e.epoch);
    }

    /// A restarted phase has no checkpoint and no epoch yet.
    fn phase_restarted(&mut self, e: &PhaseRestarted) {
        self.checkpoint_slots = [None, None];
        self.derive_checkpoints();
        self.epochs.retain(|x| x.index != e.index);
        self.early_stops.retain(|x| x.index != e.index);
    }

    /// `checkpoints` from the slots alone (so that a skipped `CheckpointSaved`, whose slot a later
    /// one overwrites, makes no difference): the newest, and the other if it is the epoch before
    /// it in the same phase.
    fn derive_checkpoints(&mut self) {
        let mut found: Vec<&CheckpointSaved> = self.checkpoint_slots.iter().flatten().collect();
        found.sort_by_key(|c| Reverse((c.index, c.epoch)));
        if let [latest, before] = found[..] {
            if before.index != latest.index || before.epoch + 1 != latest.epoch {
                found.pop();
            }
        }
        self.checkpoints = found.into_iter().cloned().collect();
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
        } else if !self.epochs.is_empty() || self.phase_in_progress.is_some() {
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

/// A stage result that the log does not hold yet, and the command that records it.
#[derive(Debug, thiserror::Error)]
#[error("experiment '{experiment}' has no {what} recorded yet: run `{command}` first")]
pub struct NotRecorded {
    pub experiment: String,
    pub what: &'static str,
    pub command: String,
}

/// The prerequisites a stage reads, as errors instead of `None`: each names the command that
/// records the missing part.
impl Experiment {
    fn not_recorded(&self, what: &'static str, command: &str) -> NotRecorded {
        NotRecorded {
            experiment: self.name.clone(),
            what,
            command: format!("{command} {}", self.name),
        }
    }

    pub fn recorded_split(&self) -> Result<&SplitMade, NotRecorded> {
        self.split
            .as_ref()
            .ok_or_else(|| self.not_recorded("dataset split", "exp new"))
    }

    pub fn recorded_baseline(&self) -> Result<&BaselineCaptured, NotRecorded> {
        self.baseline
            .as_ref()
            .ok_or_else(|| self.not_recorded("baseline", "exp analyze"))
    }

    /// The latest analysis and the seq of its event.
    pub fn recorded_analysis(&self) -> Result<(i64, &AnalysisRecorded), NotRecorded> {
        self.analysis
            .as_ref()
            .map(|(seq, a)| (*seq, a))
            .ok_or_else(|| self.not_recorded("analysis", "exp analyze"))
    }

    pub fn recorded_plan(&self) -> Result<&PlanDerived, NotRecorded> {
        self.plan
            .as_ref()
            .ok_or_else(|| self.not_recorded("training plan", "exp plan"))
    }

    pub fn recorded_training(&self) -> Result<&TrainingCompleted, NotRecorded> {
        self.training
            .as_ref()
            .ok_or_else(|| self.not_recorded("fine-tuned model", "exp train"))
    }

    /// The sealed-test comparison of the fine-tuned model with the baseline.
    pub fn recorded_test(&self) -> Result<&TestEvaluated, NotRecorded> {
        self.test
            .as_ref()
            .ok_or_else(|| self.not_recorded("sealed-test evaluation", "exp train"))
    }

    pub fn recorded_export(&self) -> Result<&ModelExported, NotRecorded> {
        self.export
            .as_ref()
            .ok_or_else(|| self.not_recorded("exported model", "exp export"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ArtifactFile, PhaseKind};

    fn file(path: &str) -> ArtifactFile {
        ArtifactFile {
            path: path.to_string(),
            sha256: "0".repeat(64),
            bytes: 1,
        }
    }

    fn saved(index: usize, epoch: usize) -> Event {
        let dir = format!("ck/{index}-e{epoch}");
        Event::CheckpointSaved(CheckpointSaved {
            index,
            phase: PhaseKind::Full,
            epoch,
            files: vec![file(&format!("{dir}/model.safetensors"))],
            removed: epoch.checked_sub(2).map(|e| format!("ck/{index}-e{e}")),
            dir,
        })
    }

    fn rejected(index: usize, epoch: usize) -> Event {
        Event::CheckpointRejected(CheckpointRejected {
            index,
            phase: PhaseKind::Full,
            epoch,
            dir: format!("ck/{index}-e{epoch}"),
            reason: "missing".into(),
        })
    }

    fn restarted(index: usize) -> Event {
        Event::PhaseRestarted(PhaseRestarted {
            index,
            phase: PhaseKind::Full,
            reason: "requested".into(),
            discarded_epochs: 0,
        })
    }

    fn completed(index: usize) -> Event {
        Event::PhaseCompleted(PhaseCompleted {
            index,
            phase: PhaseKind::Full,
            epochs_run: 1,
            best_epoch: None,
            best_macro_f1: None,
            early_stopped: false,
            weights: file("w"),
            start_macro_f1: None,
            kept: None,
        })
    }

    #[test]
    fn the_epoch_of_a_checkpoint_is_read_from_its_payload_however_spelled() {
        let canonical = crate::store::canonical_json(&saved(0, 13).payload());
        assert_eq!(checkpoint_epoch(&canonical).unwrap(), 13);
        let spaced = r#"{"dir": "a\"epoch\":4,", "epoch" : 7, "files": []}"#;
        assert_eq!(checkpoint_epoch(spaced).unwrap(), 7);
        let quoted = r#"{"dir":"a\"epoch\":4,","epoch":8,"files":[]}"#;
        assert_eq!(checkpoint_epoch(quoted).unwrap(), 8);
        assert!(checkpoint_epoch(r#"{"epoch":"x"}"#).is_err());
    }

    fn live(state: &Experiment) -> Vec<(usize, usize)> {
        state
            .checkpoints
            .iter()
            .map(|c| (c.index, c.epoch))
            .collect()
    }

    /// Loading skips a `CheckpointSaved` that a later one of the same epoch parity overwrites;
    /// after every prefix of a log with resumes, rejections, restarts and phase ends (and
    /// orders the writer never produces) the loaded state is the full fold's.
    #[test]
    fn the_live_checkpoints_load_as_the_full_fold_has_them() {
        let events = vec![
            saved(0, 0),
            saved(0, 1),
            saved(0, 2),
            saved(0, 3),
            rejected(0, 3),
            saved(0, 3),
            saved(0, 4),
            rejected(0, 4),
            rejected(0, 3),
            saved(0, 3),
            saved(0, 4),
            saved(0, 5),
            restarted(0),
            saved(0, 0),
            saved(0, 1),
            completed(0),
            saved(1, 0),
            saved(1, 1),
            saved(1, 0),
            saved(1, 2),
            saved(1, 5),
            rejected(1, 5),
            saved(1, 3),
            saved(2, 1),
            saved(1, 4),
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("exp.db")).unwrap();
        for n in 0..=events.len() {
            let name = format!("p{n}");
            let lock = store.lock(&name, "test").unwrap();
            if n > 0 {
                store.append(&lock, &events[..n]).unwrap();
            }
            let full =
                Experiment::replay(&name, &store.events(&name, None).unwrap(), store.base_dir())
                    .unwrap();
            let loaded = Experiment::load(&store, &name, None).unwrap();
            assert_eq!(loaded, full, "after {n} events");
            let expected: &[(usize, usize)] = match n {
                2 => &[(0, 1), (0, 0)],
                5 => &[(0, 2)],
                6 => &[(0, 3), (0, 2)],
                7 => &[(0, 4), (0, 3)],
                8 => &[(0, 3)],
                9 | 13 | 16 => &[],
                12 => &[(0, 5), (0, 4)],
                15 => &[(0, 1), (0, 0)],
                19 => &[(1, 1), (1, 0)],
                21 => &[(1, 5)],
                22 => &[(1, 2)],
                23 => &[(1, 3), (1, 2)],
                // Orders the writer never produces: the newest is the highest phase and epoch.
                24 | 25 => &[(2, 1)],
                _ => continue,
            };
            assert_eq!(live(&full), expected, "after {n} events");
        }
    }
}
