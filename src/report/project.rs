//! The experiment's state as the report sees it: the fold over every event except
//! `ReportGenerated` (so reports never project themselves), the models that were evaluated on
//! the sealed test split, and what each `--compare` names.

use std::path::{Path, PathBuf};

use crate::events::{BenchmarkMeasured, TestResult};
use crate::state::Experiment;
use crate::store::Store;

use super::ReportError;

/// A model evaluated on the sealed test split, and the experiment it belongs to.
#[derive(Clone, Debug)]
pub struct ModelResult {
    /// `baseline`, `fine-tuned`, ... or `OTHER:model` for another experiment's model.
    pub label: String,
    pub experiment: String,
    pub test: TestResult,
}

/// One `--compare` value and what it resolved to.
#[derive(Clone, Debug)]
pub struct Target {
    pub spec: String,
    /// `None` when the log has no such model yet (`note` says so).
    pub result: Option<ModelResult>,
    pub note: Option<String>,
    /// Another experiment's state, when the spec named one.
    pub other: Option<Box<Experiment>>,
}

/// One benchmark row with the name it is reported under.
#[derive(Clone, Debug)]
pub struct BenchRow {
    pub model_name: String,
    pub bench: BenchmarkMeasured,
}

pub struct Projection {
    pub experiment: String,
    pub state: Experiment,
    /// The last seq the report projects.
    pub through_seq: i64,
    /// Relative artifact paths in events are relative to the database's directory.
    pub base: PathBuf,
    /// Every model of this experiment evaluated on the sealed test, in order of first evaluation.
    pub models: Vec<TestResult>,
    /// The model the report is about: the latest evaluated candidate that is not the first target.
    pub subject: Option<ModelResult>,
    pub targets: Vec<Target>,
    /// Benchmarks of this experiment (and of compared experiments), one per model x format x batch.
    pub benchmarks: Vec<BenchRow>,
}

/// The words `--compare` understands besides model and experiment names.
const KNOWN: [&str; 4] = ["baseline", "fine-tuned", "pruned", "int8"];

/// The fold over every event but the reports' own, streamed from the store.
pub(crate) fn replay_without_reports(store: &Store, name: &str) -> Result<Experiment, ReportError> {
    Ok(Experiment::load(store, name, Some("ReportGenerated"))?)
}

/// Sealed-test models in order of first evaluation; a re-evaluated name keeps its latest result.
pub fn evaluated_models(state: &Experiment) -> Vec<TestResult> {
    let mut models: Vec<TestResult> = Vec::new();
    for test in &state.tests {
        for result in [&test.baseline, &test.candidate] {
            match models.iter_mut().find(|m| m.model == result.model) {
                Some(slot) => *slot = result.clone(),
                None => models.push(result.clone()),
            }
        }
    }
    models
}

/// The model a spec names among `models`: exact name, or `int8` / `pruned` as families.
pub(crate) fn find_model<'a>(models: &'a [TestResult], spec: &str) -> Option<&'a TestResult> {
    let spec = spec.to_ascii_lowercase();
    if let Some(m) = models.iter().find(|m| m.model.to_ascii_lowercase() == spec) {
        return Some(m);
    }
    let is_int8 = |m: &&TestResult| m.model.to_ascii_lowercase().contains("int8");
    match spec.as_str() {
        "int8" => models.iter().rev().find(is_int8),
        "pruned" => models
            .iter()
            .rev()
            .find(|m| m.model.to_ascii_lowercase().contains("pruned") && !is_int8(m)),
        _ => None,
    }
}

/// One row per model x format x batch size (the latest measurement wins), in the order of the
/// state's `benchmarks` (a target measured again takes the place of its latest measurement).
fn dedupe_benchmarks(rows: &mut Vec<BenchRow>, prefix: &str, benches: &[BenchmarkMeasured]) {
    for bench in benches {
        let model_name = format!("{prefix}{}", bench.model);
        let same = |r: &BenchRow| {
            r.model_name == model_name
                && r.bench.model_type == bench.model_type
                && r.bench.latency.batch_size == bench.latency.batch_size
        };
        let row = BenchRow {
            model_name: model_name.clone(),
            bench: bench.clone(),
        };
        match rows.iter_mut().find(|r| same(r)) {
            Some(slot) => *slot = row,
            None => rows.push(row),
        }
    }
}

impl Projection {
    pub fn load(
        store: &Store,
        db: &Path,
        experiment: &str,
        compare: &[String],
    ) -> Result<Projection, ReportError> {
        if !store.exists(experiment)? {
            return Err(ReportError::Unknown(experiment.to_string()));
        }
        let state = replay_without_reports(store, experiment)?;
        let through_seq = state.last_seq.unwrap_or(0);
        let models = evaluated_models(&state);
        let mut benchmarks: Vec<BenchRow> = Vec::new();
        dedupe_benchmarks(&mut benchmarks, "", &state.benchmarks);
        let mut targets: Vec<Target> = Vec::new();
        for spec in compare {
            let target = resolve(store, experiment, &models, spec)?;
            if let Some(other) = &target.other {
                dedupe_benchmarks(
                    &mut benchmarks,
                    &format!("{}:", other.name),
                    &other.benchmarks,
                );
            }
            targets.push(target);
        }
        let first_target = targets
            .first()
            .and_then(|t| t.result.as_ref())
            .filter(|r| r.experiment == experiment)
            .map(|r| r.test.model.clone());
        let subject = state
            .tests
            .iter()
            .rev()
            .map(|t| &t.candidate)
            .find(|c| Some(&c.model) != first_target.as_ref())
            .map(|c| ModelResult {
                label: c.model.clone(),
                experiment: experiment.to_string(),
                test: c.clone(),
            });
        let base = crate::store::paths::base_dir(db);
        Ok(Projection {
            experiment: experiment.to_string(),
            state,
            through_seq,
            base,
            models,
            subject,
            targets,
            benchmarks,
        })
    }

    /// The first `--compare` target's result, the "before" of before/after plots.
    pub fn before(&self) -> Option<&ModelResult> {
        self.targets.first().and_then(|t| t.result.as_ref())
    }

    /// For a target in another experiment: whether its model and the report's model pair on the
    /// sealed test (same split) and, if so, their flips and McNemar's test.
    pub fn pairing(&self, target: &Target) -> Option<super::pairing::Pairing> {
        let other = target.other.as_ref()?;
        let before = target.result.as_ref()?;
        let after = self.subject.as_ref()?;
        Some(super::pairing::pair(
            &self.state,
            &after.test,
            other,
            &before.test,
        ))
    }

    /// Makes `spec` (one of this experiment's models, named as `--compare` names them) the
    /// model the report is about.
    pub fn choose_subject(&mut self, spec: &str) -> Result<(), ReportError> {
        let Some(found) = find_model(&self.models, spec) else {
            let known: Vec<String> = self.models.iter().map(|m| m.model.clone()).collect();
            return Err(ReportError::UnknownModel {
                spec: spec.to_string(),
                experiment: self.experiment.clone(),
                known: if known.is_empty() {
                    "none evaluated yet".to_string()
                } else {
                    known.join(", ")
                },
            });
        };
        self.subject = Some(ModelResult {
            label: found.model.clone(),
            experiment: self.experiment.clone(),
            test: found.clone(),
        });
        Ok(())
    }

    /// An artifact path from an event, resolved against the database's directory when relative.
    pub fn resolve_path(&self, recorded: &str) -> PathBuf {
        let path = Path::new(recorded);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// A path as a report shows it: relative to the database's directory when it is under it
    /// (so that a card reads the same wherever the experiment's directory is).
    pub fn display_path(&self, path: &str) -> String {
        Path::new(path)
            .strip_prefix(&self.base)
            .map_or_else(|_| path.to_string(), |rest| rest.display().to_string())
    }

    /// Sections of the report that have no data in the log yet.
    pub fn missing(&self) -> Vec<String> {
        let s = &self.state;
        let mut out = Vec::new();
        if s.epochs.is_empty() {
            out.push("training: no epochs recorded yet".to_string());
        }
        if s.tests.is_empty() {
            out.push("sealed test: no TestEvaluated event yet".to_string());
        }
        for t in &self.targets {
            if let Some(note) = &t.note {
                out.push(format!("--compare {}: {note}", t.spec));
            }
        }
        if s.pruning_steps.is_empty() && s.pruning.is_none() {
            out.push("pruning: no PruningStep events yet".to_string());
        }
        if s.export.is_none() {
            out.push("export: no ModelExported event yet".to_string());
        }
        if self.benchmarks.is_empty() {
            out.push(
                "benchmarks: no BenchmarkMeasured events yet (comparison.csv has its header only)"
                    .to_string(),
            );
        }
        out
    }
}

fn resolve(
    store: &Store,
    experiment: &str,
    models: &[TestResult],
    spec: &str,
) -> Result<Target, ReportError> {
    if let Some(found) = find_model(models, spec) {
        return Ok(Target {
            spec: spec.to_string(),
            result: Some(ModelResult {
                label: found.model.clone(),
                experiment: experiment.to_string(),
                test: found.clone(),
            }),
            note: None,
            other: None,
        });
    }
    if spec != experiment && store.exists(spec)? {
        let other = replay_without_reports(store, spec)?;
        let last = other.tests.last().map(|t| t.candidate.clone());
        let note = match &last {
            Some(_) => None,
            None => Some(format!("experiment '{spec}' has no sealed-test result yet")),
        };
        return Ok(Target {
            spec: spec.to_string(),
            result: last.map(|test| ModelResult {
                label: format!("{spec}:{}", test.model),
                experiment: spec.to_string(),
                test,
            }),
            note,
            other: Some(Box::new(other)),
        });
    }
    if KNOWN.contains(&spec.to_ascii_lowercase().as_str()) {
        return Ok(Target {
            spec: spec.to_string(),
            result: None,
            note: Some(format!(
                "no {spec} model evaluated on the sealed test in the log yet"
            )),
            other: None,
        });
    }
    let known: Vec<String> = models.iter().map(|m| m.model.clone()).collect();
    Err(ReportError::UnknownCompare {
        spec: spec.to_string(),
        experiment: experiment.to_string(),
        known: if known.is_empty() {
            "none evaluated yet".to_string()
        } else {
            known.join(", ")
        },
    })
}
