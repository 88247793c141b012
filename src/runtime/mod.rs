//! ONNX Runtime inference for exported classifiers: sessions (`ort`, loaded dynamically from the
//! library [`crate::assets::ort_dylib`] finds), batched prediction, and latency measurement.

pub mod batch;
pub mod classifier;
pub mod env;
pub mod error;
pub mod latency;
pub mod predict;
pub mod session;

#[cfg(test)]
mod tests;

pub use batch::{repad, PAD_TOKEN_ID};
pub use classifier::{ClassifierError, OnnxClassifier};
pub use error::RuntimeError;
pub use latency::{latency_stats, measure_latency, LatencyConfig, LatencyStats};
pub use predict::{argmax, predict_batch, predict_batches, softmax, Prediction};
pub use session::{GraphOptimization, OnnxSession, OutputTensor, Outputs, SessionOptions};
