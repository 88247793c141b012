//! What every stage after `exp new` needs: the experiment's samples re-read exactly as recorded,
//! its split, and where its artifacts live.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::data::{self, ColumnRef, DataFormat, Dataset, ReadOptions};
use crate::state::Experiment;

use super::PipelineError;

/// The dataset of an experiment with its split as sample indices.
pub struct ExperimentData {
    pub dataset: Dataset,
    pub labels: Vec<String>,
    /// How the file was read (again, for its sibling files).
    pub options: ReadOptions,
    /// Each sample's class id (its label's index in `labels`).
    class_of: Vec<usize>,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    test: Vec<usize>,
}

impl ExperimentData {
    /// Re-reads the data file as `DatasetLoaded` recorded it (or `moved_to`, the same file
    /// elsewhere); refuses a file that changed since.
    pub fn load(
        state: &Experiment,
        moved_to: Option<&Path>,
    ) -> Result<ExperimentData, PipelineError> {
        let (Some(loaded), Some(split)) = (&state.dataset, &state.split) else {
            return Err(PipelineError::Incomplete(state.name.clone()));
        };
        let read = &loaded.read;
        let options = ReadOptions {
            format: DataFormat::from(read.format),
            text_column: (read.text_field.clone().map(ColumnRef::Name))
                .or(read.text_column.map(ColumnRef::Index)),
            label_column: (read.label_field.clone().map(ColumnRef::Name))
                .or(read.label_column.map(ColumnRef::Index)),
            header: read.header,
            labels: read.known_labels.clone(),
            label_map: read.label_map.clone().map(data::LabelMap),
        };
        let path = moved_to.map_or_else(|| PathBuf::from(&loaded.path), Path::to_path_buf);
        if moved_to.is_none() && !path.exists() {
            return Err(PipelineError::DataMissing {
                path,
                sha256: loaded.sha256.clone(),
            });
        }
        let dataset = data::load(&path, &options)?;
        if dataset.sha256 != loaded.sha256 {
            return Err(PipelineError::DataChanged {
                path,
                recorded: loaded.sha256.clone(),
                found: dataset.sha256,
            });
        }
        let index: HashMap<&str, usize> = dataset
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let lookup = |ids: &[String]| -> Result<Vec<usize>, PipelineError> {
            ids.iter()
                .map(|id| {
                    index
                        .get(id.as_str())
                        .copied()
                        .ok_or_else(|| PipelineError::DataChanged {
                            path: path.clone(),
                            recorded: loaded.sha256.clone(),
                            found: format!("a file without sample {id}"),
                        })
                })
                .collect()
        };
        let train = lookup(&split.ids.train)?;
        let validation = lookup(&split.ids.validation)?;
        let test = lookup(&split.ids.test)?;
        // Class ids once, here, where a label outside the recorded ones is an error.
        let class_of = dataset
            .samples
            .iter()
            .map(|s| {
                loaded
                    .labels
                    .iter()
                    .position(|l| *l == s.label)
                    .ok_or_else(|| PipelineError::DataChanged {
                        path: path.clone(),
                        recorded: loaded.sha256.clone(),
                        found: format!(
                            "a file with label '{}' that the log does not know",
                            s.label
                        ),
                    })
            })
            .collect::<Result<Vec<usize>, _>>()?;
        Ok(ExperimentData {
            labels: loaded.labels.clone(),
            options,
            dataset,
            class_of,
            train,
            validation,
            test,
        })
    }

    pub fn texts(&self, indices: &[usize]) -> Vec<&str> {
        indices
            .iter()
            .map(|&i| self.dataset.samples[i].text.as_str())
            .collect()
    }

    pub fn ids(&self, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|&i| self.dataset.samples[i].id.clone())
            .collect()
    }

    /// Class ids (labels sorted alphabetically) of the given samples.
    pub fn label_ids(&self, indices: &[usize]) -> Vec<usize> {
        indices.iter().map(|&i| self.class_of[i]).collect()
    }

    /// The sealed test split: only the final evaluation of an exported model may read it.
    pub fn sealed_test(&self) -> &[usize] {
        &self.test
    }
}

/// Where an experiment's files go: `artifacts/NAME/` beside the event database, as an absolute
/// path so that events name the same files whatever directory a later command runs in.
pub fn artifacts_dir(db: &Path, experiment: &str) -> PathBuf {
    let base = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = std::path::absolute(&base).unwrap_or(base);
    base.join("artifacts").join(experiment)
}

/// Maps an I/O error to `PipelineError::Io` with what was being done.
pub(crate) fn io_error(context: String) -> impl FnOnce(std::io::Error) -> PipelineError {
    move |source| PipelineError::Io { context, source }
}

/// Writes a file under a temporary name and renames it, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes))
}

/// As [`write_atomic`], for writers that take a path (`write` must create the file it is given).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), PipelineError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp-{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    if let Err(e) = write(&tmp) {
        // A partial file (a full disk, say) must not keep taking the space it could not finish.
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(format!("writing {}", tmp.display()))(e));
    }
    std::fs::rename(&tmp, path).map_err(io_error(format!("renaming to {}", path.display())))?;
    Ok(())
}
