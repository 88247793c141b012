//! Orchestrates the stages and turns their results into events. No maths here: each stage lives
//! in its own module; this file decides what runs and records what happened.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::assets::{self, ModelSpecError};
use crate::data::{self, DataError, ReadOptions, SplitSpec};
use crate::events::{
    Conflict, DatasetLoaded, Event, ExperimentCreated, ModelSource, SplitCounts, SplitIds,
    SplitMade,
};
use crate::store::{Store, StoreError, StoredEvent};

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
}

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
    store: &mut Store,
    request: &NewExperiment,
) -> Result<Vec<StoredEvent>, PipelineError> {
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
    exists(store)?;
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
    let split = data::stratified_split(&dataset.samples, &request.split, request.seed)?;
    let model = assets::resolve_model(&request.model, request.tokenizer.as_deref())?;
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
            format: model.format.as_str().to_string(),
            path: model.path.display().to_string(),
            sha256: model_sha256,
            tokenizer: model.tokenizer.as_ref().map(|t| t.display().to_string()),
        },
        data_path: request.data.display().to_string(),
        seed: request.seed,
        split: percentages,
        exp_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let loaded = DatasetLoaded {
        path: dataset.path.display().to_string(),
        sha256: dataset.sha256.clone(),
        format: match dataset.format {
            data::DataFormat::Csv => "csv",
            _ => "fpb",
        }
        .to_string(),
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
    };
    let made = SplitMade {
        seed: request.seed,
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
    exists(store)?;
    let stored = store.append(
        &lock,
        &[
            Event::ExperimentCreated(created),
            Event::DatasetLoaded(loaded),
            Event::SplitMade(made),
        ],
    )?;
    Ok(stored)
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
