//! Compression of a fine-tuned BERT (DESIGN 6): structured pruning of attention heads and FFN
//! neurons that really shrinks the weight matrices, importance scores (Taylor from gradients, or
//! weight magnitudes), and unstructured magnitude pruning (zeros only, no dense speed-up).
//!
//! Everything here works on [`crate::model::Weights`] and [`crate::model::BertConfig`]: no
//! events, no files. The pipeline (`pipeline::prune`) decides the schedule and records it.

pub mod importance;
pub mod magnitude;
pub mod shape;
pub mod structured;

#[cfg(test)]
mod tests;

pub use importance::{magnitude_importance, taylor_importance, Importance};
pub use magnitude::{magnitude_prune, reapply_zeros, sparsity};
pub use shape::{encoder_parameters, head_parameters, model_shape, neuron_parameters};
pub use structured::{removal_targets, select_keep, shrink, Keep, RemovalTargets};

/// Why a compression step cannot be done; names the layer, tensor or count at fault.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("weights lack tensor `{0}`")]
    MissingTensor(String),
    #[error("layer {layer}: {reason}")]
    Layer { layer: usize, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}
