//! The one error type of the runtime room: every variant names the file, input or output at fault.

use std::path::PathBuf;

use crate::assets::AssetError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("locating the ONNX Runtime library: {0}")]
    Asset(#[from] AssetError),
    #[error("cannot load the ONNX Runtime library {path}: {detail} (point ORT_DYLIB_PATH at a libonnxruntime.so of version 1.17 or newer, or unset it to use the cached onnxruntime 1.31.1)")]
    LoadLibrary { path: PathBuf, detail: String },
    #[error("creating the ONNX Runtime environment from {path}: {source}")]
    Environment {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("{path}: setting session option {option}: {source}")]
    SessionOption {
        path: PathBuf,
        option: &'static str,
        #[source]
        source: ort::Error,
    },
    #[error("{path}: cannot open as an ONNX model: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("{path}: the model has no input '{input}' (its inputs: {inputs})")]
    MissingInput {
        path: PathBuf,
        input: &'static str,
        inputs: String,
    },
    #[error("{path}: input '{input}': {detail}")]
    BadInput {
        path: PathBuf,
        input: String,
        detail: String,
    },
    #[error("{path}: output '{output}': {detail}")]
    BadOutput {
        path: PathBuf,
        output: String,
        detail: String,
    },
    #[error("{path}: no float output to read logits from (its outputs: {outputs})")]
    NoLogits { path: PathBuf, outputs: String },
    #[error("{path}: inference failed: {source}")]
    Run {
        path: PathBuf,
        #[source]
        source: ort::Error,
    },
    #[error("encoded batch: {field} holds {actual} values, expected {expected} (batch {batch} x sequence {seq_len})")]
    BatchShape {
        field: &'static str,
        expected: usize,
        actual: usize,
        batch: usize,
        seq_len: usize,
    },
    #[error("encoded batch: row {row} has {length} tokens, longer than the sequence length {max} it must be padded to")]
    RowTooLong {
        row: usize,
        length: usize,
        max: usize,
    },
    #[error("encoded batch: {0}")]
    EmptyBatch(&'static str),
    #[error("latency: {0}")]
    Latency(String),
}
