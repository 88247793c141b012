//! BERT in candle, the tokenizer wrapper, and the loaders (Hugging Face directories, ONNX files).
//!
//! Weights travel between loaders, the candle model and the ONNX writer as a [`Weights`] map keyed
//! by Hugging Face parameter names of `BertForSequenceClassification`, with linear weights in
//! PyTorch layout `[out_features, in_features]`:
//! `bert.embeddings.{word,position,token_type}_embeddings.weight`, `bert.embeddings.LayerNorm.{weight,bias}`,
//! `bert.encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias}`,
//! `bert.encoder.layer.{i}.attention.output.dense.{weight,bias}`, `bert.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}`,
//! `bert.encoder.layer.{i}.intermediate.dense.{weight,bias}`, `bert.encoder.layer.{i}.output.dense.{weight,bias}`,
//! `bert.encoder.layer.{i}.output.LayerNorm.{weight,bias}`, `bert.pooler.dense.{weight,bias}`, `classifier.{weight,bias}`.

pub mod alloc;
pub mod bert;
pub mod config;
pub mod dropout;
pub mod fused;
pub mod fused_attention;
pub mod fused_linear;
pub mod fused_norm;
pub mod hf_dir;
pub mod init;
pub mod layers;
pub mod safetensors_out;
pub mod shapes;
pub mod tokenizer;
pub mod trainable;
pub mod uniform;

#[cfg(test)]
mod tests;

pub use bert::BertClassifier;
pub use config::BertConfig;
pub use dropout::Mode;
pub use hf_dir::{load_hf_dir, save_hf_dir, HfDirError, LoadReport};
pub use init::tiny_random_bert;
pub use tokenizer::{BertTokenizer, Padding, TokenizerError};
pub use trainable::{ModelError, TrainableBert};

use std::collections::BTreeMap;

/// Named fp32 tensors with Hugging Face parameter names (see the module docs).
pub type Weights = BTreeMap<String, candle_core::Tensor>;

/// A tokenised, padded batch: row-major `[batch, seq_len]` arrays as ONNX Runtime and candle take them.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedBatch {
    pub batch: usize,
    pub seq_len: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}
