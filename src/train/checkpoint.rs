//! A resumable trainer checkpoint: model weights, optimiser state and the trainer's own
//! state. Tensors go to safetensors files, the rest to JSON; each file is written under a
//! temporary name and renamed, so a crash never leaves a half-written file under the real name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::optimizer::OptimizerState;
use super::schedule::Plateau;
use crate::analysis::plan::PhaseKind;
use crate::model::safetensors_out::write_safetensors;
use crate::model::Weights;

pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const BEST_MODEL_FILE: &str = "best_model.safetensors";
pub const STATE_FILE: &str = "trainer_state.json";
/// Bumped when the JSON layout changes.
pub const FORMAT_VERSION: u32 = 1;

/// Everything but tensors that the trainer needs to continue a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub format_version: u32,
    pub phase: PhaseKind,
    /// The epoch (0-based) the resumed run starts with.
    pub next_epoch: usize,
    /// Optimiser steps taken in this phase.
    pub global_step: u64,
    /// The current per-sample weights (after the last re-weighting), in training-set order.
    pub sample_weights: Vec<f64>,
    pub best_macro_f1: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Epochs since the best epoch (early stopping counter).
    pub epochs_without_improvement: usize,
    /// The peak LR the schedule scales and the reduce-on-plateau counter.
    pub plateau: Plateau,
    pub optimizer_step: u64,
    /// Whether `best_model.safetensors` exists (false: the current weights are the best).
    pub has_best_weights: bool,
    /// The phase ended (last epoch or early stop): resuming only restores the best weights.
    pub finished: bool,
}

#[derive(Clone, Debug)]
pub struct TrainerCheckpoint {
    pub model: Weights,
    pub optimizer: OptimizerState,
    /// The best epoch's weights when they differ from `model`.
    pub best_model: Option<Weights>,
    pub state: TrainerState,
}

fn io(file: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        file: file.to_path_buf(),
        source,
    }
}

/// Writes via `write` to `dir/.name.tmp`, then renames to `dir/name`.
fn write_atomic(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<PathBuf, TrainError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    if let Err(e) = write(&tmp) {
        // A partial file (a full disk, say) must not keep taking the space it could not finish.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&tmp)(e));
    }
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

fn read_tensors(file: &Path) -> Result<Weights, TrainError> {
    let map =
        candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| TrainError::Checkpoint {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(map.into_iter().collect::<BTreeMap<_, _>>())
}

impl TrainerCheckpoint {
    /// Writes the checkpoint into `dir` (created if needed); returns the files written, the
    /// state file last. A stale `best_model.safetensors` is removed when there is no best copy.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let model = write_atomic(dir, MODEL_FILE, |p| write_safetensors(p, &self.model))?;
        // Test hook: a crash with the checkpoint half written (see crate::faults).
        crate::faults::point("checkpoint-write");
        let mut files = vec![
            model,
            write_atomic(dir, OPTIMIZER_FILE, |p| {
                write_safetensors(p, &self.optimizer.tensors)
            })?,
        ];
        match &self.best_model {
            Some(best) => files.push(write_atomic(dir, BEST_MODEL_FILE, |p| {
                write_safetensors(p, best)
            })?),
            None => {
                let stale = dir.join(BEST_MODEL_FILE);
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(io(&stale))?;
                }
            }
        }
        let mut state = self.state.clone();
        state.has_best_weights = self.best_model.is_some();
        state.optimizer_step = self.optimizer.step;
        let json = serde_json::to_vec_pretty(&state).map_err(|e| TrainError::Checkpoint {
            file: dir.join(STATE_FILE),
            message: e.to_string(),
        })?;
        files.push(write_atomic(dir, STATE_FILE, |p| std::fs::write(p, &json))?);
        Ok(files)
    }

    /// Reads a checkpoint written by [`Self::save`].
    pub fn load(dir: &Path) -> Result<Self, TrainError> {
        let state_file = dir.join(STATE_FILE);
        let bytes = std::fs::read(&state_file).map_err(io(&state_file))?;
        let state: TrainerState =
            serde_json::from_slice(&bytes).map_err(|e| TrainError::Checkpoint {
                file: state_file.clone(),
                message: e.to_string(),
            })?;
        if state.format_version != FORMAT_VERSION {
            return Err(TrainError::Checkpoint {
                file: state_file,
                message: format!(
                    "format_version {} is not the supported {FORMAT_VERSION}",
                    state.format_version
                ),
            });
        }
        let model = read_tensors(&dir.join(MODEL_FILE))?;
        let optimizer = OptimizerState {
            step: state.optimizer_step,
            tensors: read_tensors(&dir.join(OPTIMIZER_FILE))?,
        };
        let best_model = if state.has_best_weights {
            Some(read_tensors(&dir.join(BEST_MODEL_FILE))?)
        } else {
            None
        };
        Ok(Self {
            model,
            optimizer,
            best_model,
            state,
        })
    }
}
