//! Infers the BERT configuration from the mapped weights and the graph: sizes from the weight shapes,
//! the head split from the Reshape nodes of the attention, LayerNorm epsilon from the
//! LayerNormalization nodes or the decomposed ReduceMean/Sub/Pow/Sqrt/Div pattern.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::BertConfig;
use crate::onnx::error::OnnxError;
use crate::onnx::graph::{attr_f, node_label, GraphIndex};
use crate::onnx::names::{param_shapes, split_layer};
use crate::onnx::trace::Mapped;

/// The sizes only the graph knows.
pub struct Inferred {
    pub config: BertConfig,
    pub has_pooler: bool,
    pub has_classifier: bool,
}

fn dims_of<'m>(mapped: &'m Mapped, name: &str, why: &str) -> Result<&'m [usize], OnnxError> {
    mapped
        .tensors
        .get(name)
        .map(|t| t.dims.as_slice())
        .ok_or_else(|| OnnxError::Missing {
            name: name.to_string(),
            reason: why.to_string(),
        })
}

pub fn infer_config(ix: &GraphIndex, mapped: &Mapped) -> Result<Inferred, OnnxError> {
    if mapped.tensors.is_empty() {
        return Err(OnnxError::NotBert(format!(
            "none of its {} initialisers is a BERT weight ({} nodes, ops: {})",
            ix.graph.initializer.len(),
            ix.graph.node.len(),
            op_summary(ix)
        )));
    }
    let word = dims_of(
        mapped,
        "bert.embeddings.word_embeddings.weight",
        "needed for vocab and hidden size",
    )?;
    let [vocab_size, hidden_size] = *word else {
        return Err(OnnxError::Tensor {
            name: "bert.embeddings.word_embeddings.weight".into(),
            reason: format!("rank {} instead of 2", word.len()),
        });
    };
    let max_position_embeddings = dims_of(
        mapped,
        "bert.embeddings.position_embeddings.weight",
        "needed for max positions",
    )?[0];
    let type_vocab_size = dims_of(
        mapped,
        "bert.embeddings.token_type_embeddings.weight",
        "needed for the token type vocabulary",
    )?[0];

    let layers: BTreeSet<usize> = mapped
        .tensors
        .keys()
        .filter_map(|k| split_layer(k).map(|(i, _)| i))
        .collect();
    let Some(&last) = layers.last() else {
        return Err(OnnxError::NotBert(
            "no bert.encoder.layer.* weights".to_string(),
        ));
    };
    let num_layers = last + 1;

    let mut heads = Vec::with_capacity(num_layers);
    let mut ffn = Vec::with_capacity(num_layers);
    let mut head_dim: Option<(usize, usize)> = None; // (head_dim, layer it was read from)
    for i in 0..num_layers {
        let q_name = format!("bert.encoder.layer.{i}.attention.self.query.weight");
        let width = dims_of(mapped, &q_name, "every layer needs one")?[0];
        let (n, d) = head_split(ix, mapped, i, width)?;
        match head_dim {
            Some((d0, l0)) if d0 != d => {
                return Err(OnnxError::Config(format!(
                    "layer {i} has head size {d}, layer {l0} has {d0}"
                )))
            }
            _ => head_dim = Some((d, i)),
        }
        heads.push(n);
        let f_name = format!("bert.encoder.layer.{i}.intermediate.dense.weight");
        ffn.push(dims_of(mapped, &f_name, "every layer needs one")?[0]);
    }
    let d = head_dim.map_or(0, |x| x.0);
    if d == 0 || hidden_size % d != 0 {
        return Err(OnnxError::Config(format!(
            "head size {d} does not divide hidden size {hidden_size}"
        )));
    }
    let num_attention_heads = hidden_size / d;
    let intermediate_size = ffn.iter().copied().max().unwrap_or(0);

    let has_classifier = mapped.tensors.contains_key("classifier.weight");
    let has_pooler = mapped.tensors.contains_key("bert.pooler.dense.weight");
    let mut config = BertConfig {
        vocab_size,
        hidden_size,
        num_hidden_layers: num_layers,
        num_attention_heads,
        intermediate_size,
        hidden_act: "gelu".to_string(),
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        max_position_embeddings,
        type_vocab_size,
        layer_norm_eps: layer_norm_eps(ix)?,
        pad_token_id: 0,
        id2label: BTreeMap::new(),
        label2id: BTreeMap::new(),
        layer_num_heads: heads
            .iter()
            .any(|&n| n != num_attention_heads)
            .then(|| heads.clone()),
        layer_intermediate_sizes: ffn
            .iter()
            .any(|&f| f != intermediate_size)
            .then(|| ffn.clone()),
    };
    if has_classifier {
        let n = dims_of(mapped, "classifier.weight", "")?[0];
        let labels: Vec<String> = (0..n).map(|i| format!("LABEL_{i}")).collect();
        config.set_labels(&labels);
    }
    check_erf_gelu(ix)?;
    Ok(Inferred {
        config,
        has_pooler,
        has_classifier,
    })
}

/// Every weight the config implies is there with its shape, and nothing else is.
pub fn check_complete(inferred: &Inferred, mapped: &Mapped) -> Result<(), OnnxError> {
    let expected = param_shapes(
        &inferred.config,
        inferred.has_pooler,
        inferred.has_classifier,
    );
    for (name, shape) in &expected {
        let t = mapped.tensors.get(name).ok_or_else(|| OnnxError::Missing {
            name: name.clone(),
            reason: format!(
                "a {}-layer BERT needs it",
                inferred.config.num_hidden_layers
            ),
        })?;
        if &t.dims != shape {
            return Err(OnnxError::Shape {
                name: format!("{name} (initialiser {})", t.source),
                expected: shape.clone(),
                actual: t.dims.clone(),
            });
        }
    }
    let names: BTreeSet<&String> = expected.iter().map(|(n, _)| n).collect();
    if let Some((extra, t)) = mapped.tensors.iter().find(|(n, _)| !names.contains(n)) {
        return Err(OnnxError::Unmapped {
            name: t.source.clone(),
            reason: format!("maps to {extra}, which this model has no place for"),
        });
    }
    Ok(())
}

/// Heads and head size of layer `i` from the Reshape that splits query, key or value into heads
/// (`[batch, seq, heads, head_dim]`, one of the two possibly -1).
fn head_split(
    ix: &GraphIndex,
    mapped: &Mapped,
    i: usize,
    width: usize,
) -> Result<(usize, usize), OnnxError> {
    for proj in ["query", "key", "value"] {
        let weight = format!("bert.encoder.layer.{i}.attention.self.{proj}.weight");
        let Some(output) = mapped.linear_outputs.get(&weight) else {
            continue;
        };
        for node in ix.consumers(output) {
            if node.op_type() != "Reshape" || node.input.first() != Some(output) {
                continue;
            }
            let Some(shape) = node.input.get(1).and_then(|s| ix.shape_vector(s)) else {
                continue;
            };
            let [.., h, dd] = shape.as_slice() else {
                continue;
            };
            let known = |v: &Option<i64>| v.filter(|&x| x > 0).map(|x| x as usize);
            let split = match (known(h), known(dd)) {
                (Some(n), Some(d)) => Some((n, d)),
                (None, Some(d)) if width % d == 0 => Some((width / d, d)),
                (Some(n), None) if width % n == 0 => Some((n, width / n)),
                _ => None,
            };
            if let Some((n, d)) = split {
                if n * d != width {
                    return Err(OnnxError::node(
                        node,
                        format!("splits layer {i}'s {proj} ({width} wide) into {n} heads of {d}"),
                    ));
                }
                return Ok((n, d));
            }
        }
    }
    let q_out = mapped
        .linear_outputs
        .get(&format!(
            "bert.encoder.layer.{i}.attention.self.query.weight"
        ))
        .cloned()
        .unwrap_or_default();
    Err(OnnxError::Config(format!(
        "cannot find the head count of layer {i}: no Reshape of its query/key/value (query output '{q_out}') \
         into [batch, seq, heads, head_dim] with a constant head size"
    )))
}

/// LayerNorm epsilon, the same for every LayerNorm of the model.
fn layer_norm_eps(ix: &GraphIndex) -> Result<f64, OnnxError> {
    let mut found: Vec<(f32, String)> = Vec::new();
    for node in &ix.graph.node {
        match node.op_type() {
            "LayerNormalization" => found.push((attr_f(node, "epsilon", 1e-5), node_label(node))),
            // Decomposed: x / Sqrt(ReduceMean((x - mean)^2) + eps).
            "Sqrt" => {
                let Some(add) = node.input.first().and_then(|i| ix.producer(i)) else {
                    continue;
                };
                if add.op_type() != "Add" || add.input.len() != 2 {
                    continue;
                }
                let from_mean = add
                    .input
                    .iter()
                    .any(|i| ix.producer(i).is_some_and(|p| p.op_type() == "ReduceMean"));
                if !from_mean {
                    continue;
                }
                if let Some(eps) = add.input.iter().find_map(|i| ix.const_f32_scalar(i)) {
                    found.push((eps, node_label(add)));
                }
            }
            _ => {}
        }
    }
    let Some((eps, _)) = found.first().cloned() else {
        return Err(OnnxError::NotBert(
            "no LayerNormalization node and no decomposed LayerNorm (ReduceMean, Sub, Pow, Sqrt, Div)".to_string(),
        ));
    };
    if let Some((other, node)) = found.iter().find(|(e, _)| *e != eps) {
        return Err(OnnxError::Config(format!(
            "LayerNorm epsilons differ: {eps:e} and {other:e} (node '{node}')"
        )));
    }
    // The file holds an f32; the config wants the decimal it was written from (1e-12, not 9.99e-13).
    Ok(format!("{eps:e}").parse::<f64>().unwrap_or(f64::from(eps)))
}

/// The activation must be exact (erf) GELU, which the candle model and the writer implement.
fn check_erf_gelu(ix: &GraphIndex) -> Result<(), OnnxError> {
    if ix.graph.node.iter().any(|n| n.op_type() == "Erf") {
        return Ok(());
    }
    Err(OnnxError::Config(
        "no Erf node: only BERTs with exact (erf) GELU are supported".to_string(),
    ))
}

fn op_summary(ix: &GraphIndex) -> String {
    let ops: BTreeSet<&str> = ix.graph.node.iter().map(|n| n.op_type()).collect();
    ops.into_iter().collect::<Vec<_>>().join(", ")
}
