//! exp: analysis-driven fine-tuning of small BERT-family classifiers with an event-sourced log.

pub mod assets;
pub mod model;
pub mod onnx;
