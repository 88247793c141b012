//! ONNX for BERT: the protobuf messages (hand-written `prost` derives, no `protoc`), an importer
//! that maps any torch-exported BERT onto Hugging Face names and a config, and a writer for the
//! classifier the pipeline exports.

mod builder;
pub mod error;
pub mod export;
mod graph;
pub mod import;
mod infer;
pub mod names;
pub mod proto;
pub mod summary;
pub mod tensor;
mod trace;

#[cfg(test)]
mod tests;

pub use error::OnnxError;
pub use export::{save, save_bert_onnx, write_bert_encoder_onnx, write_bert_onnx};
pub use import::{external_data_files, import_bert, import_bert_bytes, ImportedModel, OnnxInfo};
pub use summary::{summarise, LogitsOutput, OnnxSummary};

/// Model metadata key under which the writer stores the full `BertConfig` as JSON.
pub const CONFIG_METADATA_KEY: &str = "exp.bert_config";
