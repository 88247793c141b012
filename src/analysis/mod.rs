//! Baseline analysis (DESIGN 4) and plan derivation (DESIGN 5): pure computations on plain
//! inputs (labels, probabilities, texts), the notebook-compatible `comprehensive_analysis.json`
//! and the training plan derived from it.
//!
//! - `metrics`: accuracy, per-class scores, confusion matrix, confidence and entropy statistics.
//! - `tfidf`: a scikit-learn compatible TF-IDF vectorizer and the error-keyword mining.
//! - `report`: the JSON schema as serde structs, its builder and the text summary.
//! - `read`: reading an analysis file with path-naming validation.
//! - `recommend`: the notebook's recommendation rules and strings.
//! - `plan`: epochs, batch size, weights, learning-rate band, health and phases.

pub mod analysis_json;
pub mod budget;
pub mod metrics;
pub mod overrides;
pub mod plan;
pub mod read;
pub mod recommend;
pub mod stats;
pub mod stop_words;
pub mod tfidf;

use std::path::PathBuf;

pub use analysis_json::{AnalysisMetadata, ComprehensiveAnalysis};
pub use metrics::{compute_metrics, Metrics};
pub use plan::{derive_plan, sample_weight, Plan, PlanError};
pub use read::{analysis_from_value, parse_analysis, read_analysis};
pub use tfidf::{mine_keywords, KeywordAnalysis, TfidfError, TfidfParams};

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Inputs to the computations that do not fit together.
    #[error("analysis input: {0}")]
    Input(String),
    /// A JSON value at `path` is missing, mistyped or inconsistent.
    #[error("{path}: {message}")]
    Schema { path: String, message: String },
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    /// An error inside the named analysis file.
    #[error("{}: {source}", file.display())]
    File {
        file: PathBuf,
        source: Box<AnalysisError>,
    },
}

impl AnalysisError {
    /// The JSON path at fault, if the error is about a JSON value.
    pub fn json_path(&self) -> Option<&str> {
        match self {
            AnalysisError::Schema { path, .. } => Some(path),
            AnalysisError::File { source, .. } => source.json_path(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
