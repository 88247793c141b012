//! The parameter list of `BertForSequenceClassification` for a given config: every Hugging Face
//! name with its shape, including the per-layer shapes left by structured pruning.

use super::BertConfig;

/// Why a config cannot describe a BERT that the candle model and the ONNX writer can build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("config field `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        field,
        reason: reason.into(),
    }
}

/// Checks the fields the model depends on (sizes, per-layer lists, activation).
pub fn validate_config(config: &BertConfig) -> Result<(), ConfigError> {
    let positive: [(&'static str, usize); 6] = [
        ("vocab_size", config.vocab_size),
        ("hidden_size", config.hidden_size),
        ("num_attention_heads", config.num_attention_heads),
        ("intermediate_size", config.intermediate_size),
        ("max_position_embeddings", config.max_position_embeddings),
        ("type_vocab_size", config.type_vocab_size),
    ];
    for (field, value) in positive {
        if value == 0 {
            return Err(bad(field, "must be positive"));
        }
    }
    if config.hidden_size % config.num_attention_heads != 0 {
        return Err(bad(
            "num_attention_heads",
            format!(
                "{} does not divide hidden_size {}",
                config.num_attention_heads, config.hidden_size
            ),
        ));
    }
    // Only the exact erf GELU is implemented (the numerics contract with the ONNX writer).
    if config.hidden_act != "gelu" {
        return Err(bad(
            "hidden_act",
            format!("'{}' is not supported (only \"gelu\")", config.hidden_act),
        ));
    }
    for (field, p) in [
        ("hidden_dropout_prob", config.hidden_dropout_prob),
        (
            "attention_probs_dropout_prob",
            config.attention_probs_dropout_prob,
        ),
    ] {
        if !(0.0..1.0).contains(&p) {
            return Err(bad(field, format!("{p} is not in [0, 1)")));
        }
    }
    if config.layer_norm_eps.is_nan() || config.layer_norm_eps <= 0.0 {
        return Err(bad("layer_norm_eps", "must be positive"));
    }
    let layers = config.num_hidden_layers;
    if let Some(heads) = &config.layer_num_heads {
        if heads.len() != layers {
            return Err(bad(
                "layer_num_heads",
                format!("has {} entries for {layers} layers", heads.len()),
            ));
        }
        if let Some(i) = heads.iter().position(|&h| h == 0) {
            return Err(bad(
                "layer_num_heads",
                format!("layer {i} keeps no head (at least one is required)"),
            ));
        }
    }
    if let Some(widths) = &config.layer_intermediate_sizes {
        if widths.len() != layers {
            return Err(bad(
                "layer_intermediate_sizes",
                format!("has {} entries for {layers} layers", widths.len()),
            ));
        }
        if let Some(i) = widths.iter().position(|&w| w == 0) {
            return Err(bad(
                "layer_intermediate_sizes",
                format!("layer {i} keeps no FFN neuron (at least one is required)"),
            ));
        }
    }
    Ok(())
}

/// Which group a parameter belongs to, for the initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Embedding table or linear weight: normal(0, 0.02).
    Matrix,
    /// Linear bias: zeros.
    Bias,
    /// LayerNorm scale: ones.
    NormWeight,
    /// LayerNorm shift: zeros.
    NormBias,
}

/// Classifies a Hugging Face BERT parameter name.
pub fn param_kind(name: &str) -> ParamKind {
    let is_norm = name.contains("LayerNorm");
    match (is_norm, name.ends_with(".bias")) {
        (true, true) => ParamKind::NormBias,
        (true, false) => ParamKind::NormWeight,
        (false, true) => ParamKind::Bias,
        (false, false) => ParamKind::Matrix,
    }
}

/// Parameter names of layer `i` (prefix `bert.encoder.layer.{i}.`) with their shapes.
fn layer_shapes(config: &BertConfig, i: usize, out: &mut Vec<(String, Vec<usize>)>) {
    let h = config.hidden_size;
    let attn = config.heads_in_layer(i) * config.head_dim();
    let ffn = config.intermediate_in_layer(i);
    let p = format!("bert.encoder.layer.{i}");
    for qkv in ["query", "key", "value"] {
        out.push((format!("{p}.attention.self.{qkv}.weight"), vec![attn, h]));
        out.push((format!("{p}.attention.self.{qkv}.bias"), vec![attn]));
    }
    out.push((format!("{p}.attention.output.dense.weight"), vec![h, attn]));
    out.push((format!("{p}.attention.output.dense.bias"), vec![h]));
    out.push((format!("{p}.attention.output.LayerNorm.weight"), vec![h]));
    out.push((format!("{p}.attention.output.LayerNorm.bias"), vec![h]));
    out.push((format!("{p}.intermediate.dense.weight"), vec![ffn, h]));
    out.push((format!("{p}.intermediate.dense.bias"), vec![ffn]));
    out.push((format!("{p}.output.dense.weight"), vec![h, ffn]));
    out.push((format!("{p}.output.dense.bias"), vec![h]));
    out.push((format!("{p}.output.LayerNorm.weight"), vec![h]));
    out.push((format!("{p}.output.LayerNorm.bias"), vec![h]));
}

/// Encoder parameters (embeddings and layers, no pooler or classifier), in model order.
pub fn encoder_shapes(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    let mut out: Vec<(String, Vec<usize>)> = vec![
        (
            "bert.embeddings.word_embeddings.weight".into(),
            vec![config.vocab_size, h],
        ),
        (
            "bert.embeddings.position_embeddings.weight".into(),
            vec![config.max_position_embeddings, h],
        ),
        (
            "bert.embeddings.token_type_embeddings.weight".into(),
            vec![config.type_vocab_size, h],
        ),
        ("bert.embeddings.LayerNorm.weight".into(), vec![h]),
        ("bert.embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for i in 0..config.num_hidden_layers {
        layer_shapes(config, i, &mut out);
    }
    out
}

/// Pooler parameters.
pub fn pooler_shapes(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden_size;
    vec![
        ("bert.pooler.dense.weight".into(), vec![h, h]),
        ("bert.pooler.dense.bias".into(), vec![h]),
    ]
}

/// Classifier parameters (empty when the config has no labels).
pub fn classifier_shapes(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let n = config.num_labels();
    if n == 0 {
        return Vec::new();
    }
    vec![
        ("classifier.weight".into(), vec![n, config.hidden_size]),
        ("classifier.bias".into(), vec![n]),
    ]
}

/// Every parameter of `BertForSequenceClassification` for this config, in model order.
pub fn param_shapes(config: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let mut out = encoder_shapes(config);
    out.extend(pooler_shapes(config));
    out.extend(classifier_shapes(config));
    out
}

/// The encoder layer a parameter belongs to (`None` for embeddings, pooler and classifier).
pub fn layer_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("bert.encoder.layer.")?;
    rest.split('.').next()?.parse().ok()
}
