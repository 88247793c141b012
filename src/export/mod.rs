//! The production model directory (DESIGN section 6): the layout the benchmark notebook
//! discovers and that Hugging Face tools load, written whole into a temporary directory and
//! renamed into place, with `metadata.json` naming every file's sha256 and the event it came from.

pub mod card;
pub mod dir;
pub mod tokenizer_files;

pub use dir::{write_model_dir, ExportedFile, ModelDirSpec};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("writing the model directory {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("experiment '{0}' has no fine-tuned model yet (no TrainingCompleted event); run `exp train {0}` first")]
    NotTrained(String),
    #[error(transparent)]
    Quantize(#[from] crate::quantize::QuantizeError),
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let context = context.into();
    move |source| ExportError::Io { context, source }
}
