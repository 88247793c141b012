//! Reports: pure projections of an experiment's event log (and the artifact files it names)
//! into a terminal table, `model_card.md`, `comparison.csv`/`.json`, `training_summary.json`,
//! PNG and SVG plots and an `index.html` that shows them. Reports only read the store; the one
//! `ReportGenerated` event they append is excluded from every projection, so a second run writes
//! byte-identical CSV, JSON and Markdown.

pub mod budget;
pub mod card;
pub mod compare;
pub mod comparison;
pub mod files;
pub mod html;
pub mod out_dir;
pub mod pairing;
pub mod plots;
pub mod project;
pub mod summary;
pub mod table;

use std::path::{Path, PathBuf};

use crate::events::{ArtifactFile, Event, ReportGenerated};
use crate::recorder::{LastSeq, Recorder};
use crate::store::{Store, StoreError};

pub use project::{Projection, Target};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no experiment named '{0}' in the database (see `exp ls`)")]
    Unknown(String),
    #[error("--compare {spec}: not a model of experiment '{experiment}' ({known}) nor another experiment in the database")]
    UnknownCompare {
        spec: String,
        experiment: String,
        known: String,
    },
    #[error("--model {spec}: not a model of experiment '{experiment}' evaluated on the sealed test ({known})")]
    UnknownModel {
        spec: String,
        experiment: String,
        known: String,
    },
    #[error("report: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("report: writing {file}: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("plot {file}: {message}")]
    Plot { file: String, message: String },
    #[error("plots need a TrueType font for their text and none was found (looked in {looked}); install one (e.g. `apt-get install fonts-dejavu-core`) or set EXP_FONT to a .ttf file")]
    NoFont { looked: String },
    #[error("EXP_FONT={path}: {problem}")]
    BadFont { path: String, problem: String },
    #[error("cannot write the report into {}: {reason}; nothing was written there (choose another directory with --out)", .dir.display())]
    OutDir { dir: PathBuf, reason: String },
    #[error("exp compare: {0}")]
    Members(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A font problem found earlier in this process, as it was first reported.
    #[error("{0}")]
    Font(String),
}

pub(crate) fn io_err(context: String) -> impl FnOnce(std::io::Error) -> ReportError {
    move |source| ReportError::Io { context, source }
}

/// What `exp report` was asked for.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// `baseline`, `fine-tuned`, `pruned`, `int8`, a model name of the experiment, or another
    /// experiment's name. The first one is the "before" of every before/after plot.
    pub compare: Vec<String>,
    /// Where to write; default `reports/NAME/` beside the database.
    pub out: Option<PathBuf>,
    /// The model the report is about, named as `compare` names this experiment's models;
    /// default: the latest evaluated one that is not the first target.
    pub model: Option<String>,
}

/// Whether the report was recorded as a `ReportGenerated` event.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Event {
        seq: i64,
    },
    /// The experiment's writer lock was held (a run in progress): the report is written but not
    /// recorded.
    Skipped {
        reason: String,
    },
}

pub struct ReportOutput {
    pub dir: PathBuf,
    pub files: Vec<ArtifactFile>,
    pub through_seq: i64,
    /// The terminal table.
    pub table: String,
    /// Sections that had no data, as a user reads them.
    pub missing: Vec<String>,
    pub recorded: Recorded,
}

/// Where reports go: `reports/NAME/` beside the event database (like `artifacts/NAME/`).
pub fn reports_dir(db: &Path, experiment: &str) -> PathBuf {
    let base = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    base.join("reports").join(experiment)
}

/// Projects the experiment's log into a report directory, then records `ReportGenerated` when
/// the experiment's writer lock is free.
pub fn generate(
    db: &Path,
    experiment: &str,
    options: &ReportOptions,
) -> Result<ReportOutput, ReportError> {
    let store = Store::open_read_only(db)?;
    let mut projection = Projection::load(&store, db, experiment, &options.compare)?;
    drop(store);
    if let Some(spec) = &options.model {
        projection.choose_subject(spec)?;
    }
    let dir = options
        .out
        .clone()
        .unwrap_or_else(|| reports_dir(db, experiment));
    let written = files::write_all(&projection, &dir)?;
    let table = table::render(&projection);
    let recorded = record(db, experiment, &dir, options, &projection, &written)?;
    Ok(ReportOutput {
        dir,
        files: written,
        through_seq: projection.through_seq,
        table,
        missing: projection.missing(),
        recorded,
    })
}

fn record(
    db: &Path,
    experiment: &str,
    dir: &Path,
    options: &ReportOptions,
    projection: &Projection,
    written: &[ArtifactFile],
) -> Result<Recorded, ReportError> {
    // `Store::open` checks that the database and its directory can be written before SQLite
    // touches them, so that is the one place a read-only log is found.
    let mut store = match Store::open(db) {
        Ok(store) => store,
        Err(StoreError::ReadOnly { .. }) => {
            return Ok(Recorded::Skipped {
                reason: format!("{} cannot be written", db.display()),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let lock = match store.lock(experiment, "exp report") {
        Ok(lock) => lock,
        Err(StoreError::Locked {
            pid,
            command,
            since,
            ..
        }) => {
            return Ok(Recorded::Skipped {
                reason: format!(
                    "the experiment is being written by pid {pid} ({command}) since {since}"
                ),
            })
        }
        Err(other) => return Err(other.into()),
    };
    let event = Event::ReportGenerated(ReportGenerated {
        dir: dir.display().to_string(),
        compare: options.compare.clone(),
        through_seq: projection.through_seq,
        files: written.to_vec(),
    });
    let mut log = Recorder::with_lock(store, lock, LastSeq::default());
    log.record(event)?;
    Ok(Recorded::Event {
        seq: log.state().0.unwrap_or(0),
    })
}
