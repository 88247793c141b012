//! Hugging Face parameter names: mapping exporter names onto them, and the full list a config implies.

use crate::model::{shapes, BertConfig};
use crate::onnx::error::OnnxError;

/// The linear layers of one encoder layer, as `bert.encoder.layer.{i}.` suffixes (without `.weight`).
pub const LAYER_LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// The Hugging Face name an initialiser stands for, with whatever the exporter put in front
/// (`bert.`, `model.0.auto_model.`, `0.auto_model.`, `roberta.`...) replaced by `bert.`;
/// `None` when the name is not a BERT parameter name (e.g. anonymous `onnx::MatMul_470`).
pub fn canonical_name(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let canonical = if let Some(i) = parts
        .iter()
        .position(|p| matches!(*p, "embeddings" | "encoder" | "pooler"))
    {
        format!("bert.{}", parts[i..].join("."))
    } else if parts.len() >= 2 && parts[parts.len() - 2] == "classifier" {
        format!("classifier.{}", parts[parts.len() - 1])
    } else {
        return None;
    };
    is_bert_param(&canonical).then_some(canonical)
}

/// Whether `name` is one of the names in `src/model/mod.rs`'s list (any layer index).
pub fn is_bert_param(name: &str) -> bool {
    const FIXED: [&str; 9] = [
        "bert.embeddings.word_embeddings.weight",
        "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight",
        "bert.embeddings.LayerNorm.weight",
        "bert.embeddings.LayerNorm.bias",
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    ];
    if FIXED.contains(&name) {
        return true;
    }
    let Some((_, rest)) = split_layer(name) else {
        return false;
    };
    let Some((module, kind)) = rest.rsplit_once('.') else {
        return false;
    };
    matches!(kind, "weight" | "bias")
        && (LAYER_LINEARS.contains(&module)
            || module == "attention.output.LayerNorm"
            || module == "output.LayerNorm")
}

/// `bert.encoder.layer.{i}.{rest}` -> `(i, rest)`.
pub fn split_layer(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("bert.encoder.layer.")?;
    let (index, rest) = rest.split_once('.')?;
    Some((index.parse().ok()?, rest))
}

/// Whether a canonical name is the weight or bias of a linear layer (the ones MatMul/Gemm apply).
pub fn is_linear(name: &str) -> bool {
    let Some(module) = name
        .strip_suffix(".weight")
        .or_else(|| name.strip_suffix(".bias"))
    else {
        return false;
    };
    module == "bert.pooler.dense"
        || module == "classifier"
        || split_layer(module).is_some_and(|(_, rest)| LAYER_LINEARS.contains(&rest))
}

/// Every parameter a model with this config has, with its shape (linear weights `[out, in]`):
/// the model's own list, with the pooler and classifier left out when the file has none.
pub fn param_shapes(
    config: &BertConfig,
    pooler: bool,
    classifier: bool,
) -> Vec<(String, Vec<usize>)> {
    let mut out = shapes::encoder_shapes(config);
    if pooler {
        out.extend(shapes::pooler_shapes(config));
    }
    if classifier {
        out.extend(shapes::classifier_shapes(config));
    }
    out
}

/// The config can be asked for per-layer shapes without panicking: a whole number of heads, and
/// per-layer lists as long as the model is deep.
pub fn check_layer_lists(config: &BertConfig) -> Result<(), OnnxError> {
    if config.num_attention_heads == 0 || config.hidden_size % config.num_attention_heads != 0 {
        return Err(OnnxError::Config(format!(
            "hidden size {} is not a multiple of {} heads",
            config.hidden_size, config.num_attention_heads
        )));
    }
    let n = config.num_hidden_layers;
    for (field, list) in [
        ("layer_num_heads", &config.layer_num_heads),
        ("layer_intermediate_sizes", &config.layer_intermediate_sizes),
    ] {
        if let Some(v) = list.as_ref().filter(|v| v.len() != n) {
            return Err(OnnxError::Config(format!(
                "{field} has {} entries for {n} layers",
                v.len()
            )));
        }
    }
    Ok(())
}
