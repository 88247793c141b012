//! Orchestrates the stages and turns their results into events. No maths here: each stage lives
//! in its own module; this file decides what runs and records what happened.

pub mod analyze;
pub mod annotate;
pub mod augment;
mod average;
pub mod baseline;
pub mod benchmark;
mod budget;
pub mod experiment_data;
pub mod export;
pub mod plan;
pub mod progress;
pub mod prune;
mod records;
mod sealed_test;
pub mod stages;
pub mod sweep;
pub mod train;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analysis::overrides;
use crate::assets::{self, ModelSpecError};
use crate::data::{self, DataError, ReadOptions, SplitSpec};
use crate::events;
use crate::events::{
    Conflict, DatasetLoaded, Event, ExperimentCreated, ModelSource, ReadSpec, SplitCounts,
    SplitIds, SplitMade,
};
use crate::state::Experiment;
use crate::store::{Appended, Store, StoreError};

use crate::recorder::Recorder;
use experiment_data::{artifacts_dir, ExperimentData};
use progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid experiment name '{0}': use letters, digits, '.', '_' and '-' (at most 64), starting with a letter or digit")]
    BadName(String),
    #[error("experiment '{name}' already exists in {db}; pick another name, or look at it with `exp show {name}`")]
    Exists { name: String, db: PathBuf },
    #[error("{path}: {count} text(s) appear with conflicting labels (first: lines {lines} labelled {labels}); fix the file or pass --on-conflict exclude")]
    Conflicts {
        path: PathBuf,
        count: usize,
        lines: String,
        labels: String,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelSpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Asset(#[from] assets::AssetError),
    #[error("no experiment '{name}' in {db} (see `exp ls`; create one with `exp new`)")]
    NoExperiment { name: String, db: PathBuf },
    #[error("experiment '{0}' has no dataset and split recorded; create it again with `exp new`")]
    Incomplete(String),
    #[error("data file {path} changed since the experiment was created (recorded sha256 {recorded}, found {found}); restore it or create a new experiment")]
    DataChanged {
        path: PathBuf,
        recorded: String,
        found: String,
    },
    #[error("the experiment's dataset {path} is not there (moved, or the experiment was copied from elsewhere); name it with --data FILE (it must have the recorded sha256 {sha256})")]
    DataMissing { path: PathBuf, sha256: String },
    #[error("model weights {path} changed since the experiment was created (recorded sha256 {recorded}, found {found})")]
    ModelChanged {
        path: PathBuf,
        recorded: String,
        found: String,
    },
    #[error("artifact {path} changed since it was recorded (sha256 {recorded}, found {found})")]
    ArtifactChanged {
        path: PathBuf,
        recorded: String,
        found: String,
    },
    #[error("model '{model}' has no trained classification head ({missing} would be initialised at random), so it cannot be the baseline as it is: `exp train` fits a plain baseline first, which this version cannot do yet; import an analysis with --import, or start from a classifier (an HF directory with a head or an ONNX classifier)")]
    NeedsFittedBaseline { model: String, missing: String },
    #[error("tokenizer {tokenizer} has a vocabulary of {vocab} tokens but the word embeddings of {model} have {rows} rows: they do not belong together (pass the model's own tokenizer with --tokenizer)")]
    TokenizerMismatch {
        tokenizer: PathBuf,
        vocab: usize,
        model: PathBuf,
        rows: usize,
    },
    #[error("model '{0}' has no tokenizer recorded")]
    NoTokenizer(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(Box<crate::engine::EngineError>),
    #[error(transparent)]
    Onnx(Box<crate::onnx::OnnxError>),
    #[error(transparent)]
    Runtime(Box<crate::runtime::RuntimeError>),
    #[error(transparent)]
    Classifier(Box<crate::runtime::ClassifierError>),
    #[error(transparent)]
    Tokenizer(#[from] crate::model::TokenizerError),
    #[error(transparent)]
    Weights(Box<crate::model::ModelError>),
    #[error(transparent)]
    Analysis(Box<crate::analysis::AnalysisError>),
    #[error("training: {0}")]
    Training(Box<crate::train::error::TrainError>),
    #[error("the exported ONNX file {path} disagrees with the candle model by {max_abs_diff} (more than 1e-4); not recording it")]
    ExportMismatch { path: PathBuf, max_abs_diff: f32 },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Augment(#[from] crate::augment::AugmentError),
    #[error(transparent)]
    Keywords(#[from] crate::analysis::TfidfError),
    #[error(transparent)]
    Plan(#[from] crate::analysis::PlanError),
    #[error(transparent)]
    Export(Box<crate::export::ExportError>),
    #[error("experiment '{0}' has no fine-tuned model yet: run `exp train {0}` first")]
    NotTrained(String),
    #[error("pruning: {0}")]
    Compress(Box<crate::compress::CompressError>),
    #[error("--recipe {asked}: experiment '{name}' has its plan recorded with recipe {recorded}; its phases follow that plan, so start another experiment (`exp new --recipe {asked}`) for a different recipe; nothing was recorded")]
    RecipeMismatch {
        name: String,
        recorded: events::Recipe,
        asked: events::Recipe,
    },
    #[error("experiment '{0}' follows the plain recipe, whose work is fixed (one phase of 3 epochs, the control arm): --budget applies to the analysis recipe; nothing was recorded")]
    BudgetWithPlainRecipe(String),
    #[error(transparent)]
    Sweep(Box<sweep::SweepError>),
    #[error("'{0}' is a sweep, not an experiment: its members are its experiments (`exp compare --sweep {0}` compares them)")]
    IsASweep(String),
    #[error("{0}; nothing was recorded")]
    Override(#[from] crate::analysis::overrides::OverrideError),
    #[error("--set {asked}: experiment '{name}' has its plan recorded ({recorded}); --set applies to a plan not derived yet, so start another experiment for other values; nothing was recorded")]
    OverridesAfterPlan {
        name: String,
        asked: String,
        recorded: String,
    },
    #[error("experiment '{0}' has no training phase in progress (none started without completing), so there is nothing to restart; nothing was recorded")]
    NoPhaseInProgress(String),
    #[error(transparent)]
    NotRecorded(#[from] crate::state::NotRecorded),
    /// Bad input found before a stage did any work (the stage driver records nothing for it).
    #[error(transparent)]
    Refused(Box<PipelineError>),
}

/// Large error types are boxed so that `Result<_, PipelineError>` stays small.
macro_rules! boxed_from {
    ($($variant:ident: $source:ty),* $(,)?) => {$(
        impl From<$source> for PipelineError {
            fn from(e: $source) -> Self {
                PipelineError::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    Engine: crate::engine::EngineError,
    Onnx: crate::onnx::OnnxError,
    Runtime: crate::runtime::RuntimeError,
    Classifier: crate::runtime::ClassifierError,
    Analysis: crate::analysis::AnalysisError,
    Weights: crate::model::ModelError,
    Export: crate::export::ExportError,
);

/// What `exp new` asks for.
#[derive(Clone, Debug)]
pub struct NewExperiment {
    pub name: String,
    pub model: String,
    pub tokenizer: Option<PathBuf>,
    pub data: PathBuf,
    pub read: ReadOptions,
    pub seed: u64,
    pub split: SplitSpec,
    /// Refuse a dataset with conflicting labels instead of excluding those texts.
    pub refuse_conflicts: bool,
    /// A notebook-produced analysis to import (validated before anything is recorded).
    pub analysis: Option<PathBuf>,
    /// How `exp train` trains it (it can still name another before the plan is recorded).
    pub recipe: events::Recipe,
    /// `--set`: plan values in place of what the analysis derives, applied when the plan is.
    pub overrides: Vec<crate::analysis::overrides::Setting>,
    /// The split's seed when it is not `seed` (training seeds and split seeds vary apart).
    pub split_seed: Option<u64>,
}

/// What the plan stage is asked for: a recipe (`None`: the one `exp new` recorded), a time
/// budget, and `--set` overrides (merged over those `exp new` recorded).
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    pub recipe: Option<events::Recipe>,
    pub budget: Option<std::time::Duration>,
    pub overrides: Vec<crate::analysis::overrides::Setting>,
}

pub fn validate_name(name: &str) -> Result<(), PipelineError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(PipelineError::BadName(name.to_string()))
    }
}

/// Checks everything first (name, dataset, split, model), then records `ExperimentCreated`,
/// `DatasetLoaded` and `SplitMade` in one transaction: a bad input leaves the log untouched.
pub fn create_experiment(
    mut store: Store,
    request: &NewExperiment,
) -> Result<Vec<Appended>, PipelineError> {
    validate_name(&request.name)?;
    let exists = |store: &Store| -> Result<(), PipelineError> {
        if store.exists(&request.name)? {
            return Err(PipelineError::Exists {
                name: request.name.clone(),
                db: store.path().to_path_buf(),
            });
        }
        Ok(())
    };
    exists(&store)?;
    let dataset = data::load(&request.data, &request.read)?;
    if let (true, Some(first)) = (request.refuse_conflicts, dataset.conflicts.first()) {
        let lines: Vec<String> = first
            .rows
            .iter()
            .map(|r| format!("line {}", r.line))
            .collect();
        return Err(PipelineError::Conflicts {
            path: request.data.clone(),
            count: dataset.conflicts.len(),
            lines: lines.join(", "),
            labels: first.labels.join(" and "),
        });
    }
    overrides::check_distinct(&request.overrides)?;
    overrides::check_for_recipe(&request.overrides, request.recipe.into())?;
    let split_seed = request.split_seed.unwrap_or(request.seed);
    let split = data::stratified_split(&dataset.samples, &request.split, split_seed)?;
    if let Some(file) = &request.analysis {
        crate::analysis::read_analysis(file)?
            .check_labels(&dataset.labels)
            .map_err(|e| crate::analysis::AnalysisError::File {
                file: file.clone(),
                source: Box::new(e),
            })?;
    }
    let model = assets::resolve_model(&request.model, request.tokenizer.as_deref())?;
    check_model(&model, &dataset.labels, request.seed)?;
    let model_sha256 = assets::sha256_file(&model.weights_file)?;

    let percentages = [
        request.split.train,
        request.split.validation,
        request.split.test,
    ];
    let created = ExperimentCreated {
        name: request.name.clone(),
        model: ModelSource {
            spec: model.spec.clone(),
            format: model.format.into(),
            path: absolute(&model.path),
            sha256: model_sha256,
            tokenizer: model.tokenizer.as_deref().map(absolute),
        },
        data_path: request.data.display().to_string(),
        seed: request.seed,
        split: percentages,
        exp_version: env!("CARGO_PKG_VERSION").to_string(),
        recipe: request.recipe,
        overrides: request.overrides.iter().map(Into::into).collect(),
        split_seed: request.split_seed.filter(|s| *s != request.seed),
        environment: Some(crate::environment::capture()),
    };
    let loaded = DatasetLoaded {
        path: absolute(&dataset.path),
        sha256: dataset.sha256.clone(),
        format: dataset.format.into(),
        encoding: dataset.encoding.as_str().to_string(),
        rows_read: dataset.rows_read,
        samples: dataset.samples.len(),
        labels: dataset.labels.clone(),
        label_counts: dataset.label_counts.clone(),
        duplicates: dataset.duplicates,
        conflicts: dataset
            .conflicts
            .iter()
            .map(|c| Conflict {
                id: c.id.clone(),
                text: c.text.clone(),
                labels: c.labels.clone(),
                lines: c.rows.iter().map(|r| r.line).collect(),
            })
            .collect(),
        read: ReadSpec {
            format: dataset.format.into(),
            header: dataset.csv.as_ref().map(|c| c.header),
            text_column: dataset.csv.as_ref().map(|c| c.text_column),
            label_column: dataset.csv.as_ref().map(|c| c.label_column),
            text_field: dataset.named.as_ref().map(|j| j.text_field.clone()),
            label_field: dataset.named.as_ref().map(|j| j.label_field.clone()),
            known_labels: request.read.labels.clone(),
            label_map: dataset.label_map.as_ref().map(|m| m.0.clone()),
        },
    };
    let made = SplitMade {
        seed: split_seed,
        percentages,
        counts: SplitCounts {
            train: split.train.len(),
            validation: split.validation.len(),
            test: split.test.len(),
        },
        label_counts: per_split_label_counts(&split, &dataset.samples),
        digest: split.digest(),
        ids: SplitIds {
            train: split.train.clone(),
            validation: split.validation.clone(),
            test: split.test.clone(),
        },
    };

    let lock = store.lock(&request.name, "exp new")?;
    exists(&store)?;
    let mut log = Recorder::with_lock(store, lock, Experiment::named(&request.name));
    let stored = log.record_all(vec![
        Event::ExperimentCreated(created),
        Event::DatasetLoaded(loaded),
        Event::SplitMade(made),
    ])?;
    Ok(stored)
}

/// A model that cannot be read, is not a BERT, or whose tokenizer does not fit it is refused
/// before anything is recorded, not at the first `exp train`.
fn check_model(
    model: &assets::ResolvedModel,
    labels: &[String],
    seed: u64,
) -> Result<(), PipelineError> {
    let loaded = crate::engine::load_model(model, labels, seed)?;
    if let Some(path) = &model.tokenizer {
        let vocab = crate::model::BertTokenizer::from_file(path)?.vocab_size();
        if vocab > loaded.config.vocab_size {
            return Err(PipelineError::TokenizerMismatch {
                tokenizer: path.clone(),
                vocab,
                model: model.path.clone(),
                rows: loaded.config.vocab_size,
            });
        }
    }
    Ok(())
}

/// Later stages re-read files from the paths the log records, from any working directory.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// `{split: {label: samples}}`, the shape `SplitMade` records and `v_split_labels` reads.
fn per_split_label_counts(
    split: &data::Split,
    samples: &[data::Sample],
) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (label, counts) in split.counts_by_label(samples) {
        for (part, n) in [
            ("train", counts.train),
            ("validation", counts.validation),
            ("test", counts.test),
        ] {
            out.entry(part.to_string())
                .or_default()
                .insert(label.clone(), n);
        }
    }
    out
}

/// The database holding experiment `name`, with the experiment's writer lock taken for
/// `command`; `NoExperiment` when the database or the experiment is not there.
pub fn lock_experiment(
    db: &Path,
    name: &str,
    command: &str,
) -> Result<(Store, crate::store::WriterLock), PipelineError> {
    let missing = || PipelineError::NoExperiment {
        name: name.to_string(),
        db: db.to_path_buf(),
    };
    if !db.exists() {
        return Err(missing());
    }
    let mut store = Store::open(db)?;
    if !store.exists(name)? {
        return Err(missing());
    }
    if store.is_sweep(name)? {
        return Err(PipelineError::IsASweep(name.to_string()));
    }
    let lock = store.lock(name, command)?;
    Ok((store, lock))
}

/// An experiment opened for writing: its recorder (store, lock, folded state), its data and
/// artifacts, and the sink its progress goes to.
pub struct Writing {
    pub log: Recorder,
    pub data: ExperimentData,
    pub artifacts: PathBuf,
    pub progress: Box<dyn Progress>,
    /// When this command began; a time budget counts from here.
    pub started: std::time::Instant,
    /// Whether this command fitted the plan into a time budget (so `started` is the budget's
    /// clock, and the work after training may be fitted again to the time left).
    pub budget_clock: bool,
}

impl Writing {
    /// Takes the experiment's writer lock, folds its events and reads its dataset (from `data`
    /// when given: the recorded file moved).
    pub fn open(
        db: &Path,
        name: &str,
        command: &str,
        data: Option<&Path>,
        progress: Box<dyn Progress>,
    ) -> Result<Writing, PipelineError> {
        let (store, lock) = lock_experiment(db, name, command)?;
        let state = Experiment::load(&store, name, None)?;
        let mut log = Recorder::with_lock(store, lock, state);
        // `exp new` records its environment in ExperimentCreated.
        if command != "exp new" {
            log.start_run(command);
        }
        let data = ExperimentData::load(log.state(), data)?;
        Ok(Writing {
            artifacts: artifacts_dir(db, name),
            log,
            data,
            progress,
            started: std::time::Instant::now(),
            budget_clock: false,
        })
    }

    /// The experiment's state, folded from its events (and those this run recorded).
    pub fn state(&self) -> &Experiment {
        self.log.state()
    }

    /// Appends one event and folds it into the state.
    pub fn record(&mut self, event: Event) -> Result<(), PipelineError> {
        self.log.record(event)?;
        Ok(())
    }

    /// Appends events in one transaction (all or none) and folds them into the state.
    pub fn record_all(&mut self, events: Vec<Event>) -> Result<(), PipelineError> {
        self.log.record_all(events)?;
        Ok(())
    }

    pub fn tokenizer_path(&self) -> Result<PathBuf, PipelineError> {
        let created = self
            .log
            .state()
            .created
            .as_ref()
            .ok_or_else(|| PipelineError::Incomplete(self.log.state().name.clone()))?;
        created
            .model
            .tokenizer
            .as_ref()
            .map(PathBuf::from)
            .ok_or_else(|| PipelineError::NoTokenizer(created.model.spec.clone()))
    }

    /// Captures the baseline unless the log already has one.
    pub fn ensure_baseline(&mut self) -> Result<(), PipelineError> {
        if self.log.state().baseline.is_some() {
            return Ok(());
        }
        let captured = baseline::capture_baseline(self.log.state(), &self.data, &self.artifacts)?;
        self.record(Event::BaselineCaptured(captured))
    }

    /// Computes the analysis from the baseline unless one is recorded (or `again` is set).
    pub fn ensure_analysis(&mut self, again: bool) -> Result<(), PipelineError> {
        if self.log.state().analysis.is_some() && !again {
            return Ok(());
        }
        self.ensure_baseline()?;
        let tokenizer = self.tokenizer_path()?;
        let baseline = self.log.state().recorded_baseline()?.clone();
        let recorded = analyze::compute_analysis(
            &self.log.state().name,
            &baseline,
            &tokenizer,
            &self.data,
            &self.artifacts,
        )?;
        if let Some(noise) = recorded
            .train_priorities
            .as_ref()
            .and_then(|p| p.likely_label_noise.as_ref())
        {
            self.progress.message(&format!(
                "analysis: {} training samples are likely label noise ({}): not prioritised, weight x{} in WEIGHTED",
                noise.ids.len(),
                noise.rule,
                noise.weight
            ));
        }
        self.record(Event::AnalysisRecorded(recorded))
    }

    /// Records a notebook-produced analysis file.
    pub fn import_analysis(&mut self, file: &Path) -> Result<(), PipelineError> {
        let tokenizer = self.tokenizer_path()?;
        let baseline = self.log.state().baseline.clone();
        let recorded = analyze::import_analysis(
            file,
            baseline.as_ref().map(|b| (b, tokenizer.as_path())),
            &self.data,
            &self.artifacts,
        )?;
        self.record(Event::AnalysisRecorded(recorded))
    }

    /// Before any stage runs: refuses what the plan stage would refuse (a budget for the plain
    /// recipe, `--set` values the recipe cannot take, `--set` once a plan is recorded with other
    /// values), and says so when a budget is given for a plan already recorded (a resumed run
    /// goes on with the plan as recorded; quickstart passes its budget every time).
    pub fn check_plan_request(&mut self, asked: &PlanRequest) -> Result<(), PipelineError> {
        let state = self.log.state();
        if let Some(recorded) = &state.plan {
            self.refuse_overrides_after_plan(asked)?;
            let fitted = recorded.budget.as_ref().map(|b| b.budget_s);
            if let Some(asked) = asked.budget.filter(|b| Some(b.as_secs_f64()) != fitted) {
                let line = format!(
                    "plan: recorded {}; --budget {} applies only to a plan not derived yet, so it is not used",
                    fitted.map_or("without a budget".to_string(), |s| format!("with a budget of {s:.0} s")),
                    humantime::format_duration(asked)
                );
                self.progress.message(&line);
            }
            return Ok(());
        }
        let resolved = self.resolve(asked);
        overrides::check_for_recipe(&resolved.overrides, resolved.recipe.into())?;
        self.refuse_budget_for_plain(resolved.recipe, resolved.budget)
    }

    /// `--set` values that a recorded plan did not apply are refused: its phases follow it.
    fn refuse_overrides_after_plan(&self, asked: &PlanRequest) -> Result<(), PipelineError> {
        let state = self.log.state();
        let Some(recorded) = &state.plan else {
            return Ok(());
        };
        if let Some(s) = asked
            .overrides
            .iter()
            .find(|s| !recorded.applied(&s.key, &s.value))
        {
            let list: Vec<String> = recorded.overrides.iter().map(|o| o.to_string()).collect();
            return Err(PipelineError::OverridesAfterPlan {
                name: state.name.clone(),
                asked: s.to_string(),
                recorded: if list.is_empty() {
                    "without overrides".to_string()
                } else {
                    format!("with {}", list.join(", "))
                },
            });
        }
        Ok(())
    }

    /// What a plan not derived yet follows: the recipe asked for, else a `--set recipe`, else
    /// the one `exp new` recorded; `--budget`, else a `--set budget`; `exp train`'s `--set`
    /// values over `exp new`'s.
    fn resolve(&self, asked: &PlanRequest) -> ResolvedPlanRequest {
        let created = self.log.state().created.as_ref();
        let recorded: Vec<overrides::Setting> = created
            .map(|c| c.overrides.iter().map(Into::into).collect())
            .unwrap_or_default();
        let merged = overrides::merge(&recorded, &asked.overrides);
        let recipe = asked
            .recipe
            .or(match overrides::find(&merged, "recipe") {
                Some(overrides::Value::Recipe(r)) => Some(r.into()),
                _ => None,
            })
            .unwrap_or_else(|| created.map_or_else(events::Recipe::default, |c| c.recipe));
        let budget = asked.budget.or(match overrides::find(&merged, "budget") {
            Some(overrides::Value::Budget(b)) => b,
            _ => None,
        });
        ResolvedPlanRequest {
            recipe,
            budget,
            overrides: merged,
        }
    }

    /// The plain recipe's work is fixed: no budget fits it.
    fn refuse_budget_for_plain(
        &self,
        recipe: events::Recipe,
        budget: Option<std::time::Duration>,
    ) -> Result<(), PipelineError> {
        match (recipe, budget) {
            (events::Recipe::Plain, Some(_)) => Err(PipelineError::BudgetWithPlainRecipe(
                self.log.state().name.clone(),
            )),
            _ => Ok(()),
        }
    }

    /// The plan for `asked` (see [`PlanRequest`]): derived, its `--set` values applied, its work
    /// fitted into the budget when there is one. A recipe or `--set` value other than a
    /// recorded plan's is refused: the phases already follow that plan.
    pub fn ensure_plan(&mut self, asked: &PlanRequest) -> Result<(), PipelineError> {
        if let Some(recorded) = &self.log.state().plan {
            if let Some(asked) = asked.recipe.filter(|r| *r != recorded.plan.recipe) {
                return Err(PipelineError::RecipeMismatch {
                    name: self.log.state().name.clone(),
                    recorded: recorded.plan.recipe,
                    asked,
                });
            }
            return self.refuse_overrides_after_plan(asked);
        }
        let resolved = self.resolve(asked);
        self.refuse_budget_for_plain(resolved.recipe, resolved.budget)?;
        self.ensure_analysis(false)?;
        let (seq, recorded) = self.log.state().recorded_analysis()?;
        let mut derived = plan::derive(seq, recorded, &self.data, resolved.recipe.into())?;
        let (plan, applied) = overrides::apply(
            crate::analysis::plan::Plan::from(&derived.plan),
            &resolved.overrides,
        )?;
        derived.plan = (&plan).into();
        for a in &applied {
            self.progress.message(&format!(
                "plan: --set {}={} in place of the derived {}",
                a.key, a.value, a.derived
            ));
        }
        derived.overrides = applied.into_iter().map(Into::into).collect();
        if let Some(budget) = resolved.budget {
            let (plan, allocation) = self.fit_to_budget(plan, budget)?;
            derived.plan = (&plan).into();
            derived.budget = Some((&allocation).into());
            self.budget_clock = true;
        }
        self.record(Event::PlanDerived(derived))
    }
}

/// A [`PlanRequest`] with what `exp new` recorded filled in.
struct ResolvedPlanRequest {
    recipe: events::Recipe,
    budget: Option<std::time::Duration>,
    overrides: Vec<overrides::Setting>,
}
