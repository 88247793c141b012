//! Errors of the training loop, naming the file, tensor or input at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training input: {0}")]
    Input(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Tokenizer(#[from] crate::model::TokenizerError),
    #[error(transparent)]
    Analysis(#[from] crate::analysis::AnalysisError),
    #[error("optimizer: {0}")]
    Optimizer(String),
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Checkpoint { file: PathBuf, message: String },
    #[error("checkpoint does not fit this phase: {0}")]
    Resume(String),
    #[error("observer: {0}")]
    Observer(anyhow::Error),
}

impl TrainError {
    /// Wraps any optimiser error (the fallback's and the fused one's alike).
    pub fn optimizer(e: impl std::fmt::Display) -> Self {
        TrainError::Optimizer(e.to_string())
    }
}
