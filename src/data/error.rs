//! The one error type of the data module. Every variant names the file (and line, label or spec) at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset file not found: {}", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read dataset file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}; save it as UTF-8", path.display())]
    Encoding {
        path: PathBuf,
        #[source]
        source: super::decode::DecodeError,
    },
    #[error("{}: no data rows", path.display())]
    Empty { path: PathBuf },
    #[error("{}, line {line}: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{}, line {line}: unknown label '{label}' (known labels: {})", path.display(), known.join(", "))]
    UnknownLabel {
        path: PathBuf,
        line: usize,
        label: String,
        known: Vec<String>,
    },
    #[error("{}: {reason}", path.display())]
    Columns { path: PathBuf, reason: String },
    #[error("invalid read options: {0}")]
    Options(String),
    #[error("invalid split spec '{spec}': {reason}")]
    SplitSpec { spec: String, reason: String },
    #[error("cannot split: {0}")]
    Split(String),
}
