//! exp: analysis-driven fine-tuning of small BERT-family classifiers with an event-sourced log.

pub mod analysis;
pub mod assets;
pub mod augment;
pub mod compress;
pub mod data;
pub mod engine;
pub mod environment;
pub mod events;
pub mod export;
pub mod faults;
pub mod hub_cache;
pub mod mlflow;
pub mod model;
pub mod onnx;
pub mod percent;
pub mod pipeline;
pub mod quantize;
pub mod recorder;
pub mod report;
pub mod runtime;
pub mod state;
pub mod store;
pub mod train;
pub mod ui;
