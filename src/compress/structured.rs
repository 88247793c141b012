//! Structured pruning: which heads and FFN neurons stay, chosen from importance scores, and the
//! shrinking of the weight matrices to exactly those rows and columns.
//!
//! Selection is global across layers with per-layer normalisation (each layer's scores divided
//! by their L2 norm, as Michel et al. 2019 do for heads): layers differ in how much they can
//! lose, and ranking across layers lets the scores decide where to cut, while the normalisation
//! keeps deep and shallow layers (whose gradient scales differ) comparable. Heads and neurons
//! are ranked separately and cut by the same fraction of the reference model's count, so that
//! attention and FFN shrink alike. Every layer keeps at least one head and one neuron.

use candle_core::{Device, Tensor};

use super::importance::Importance;
use super::shape::{encoder_parameters, head_parameters, neuron_parameters};
use super::CompressError;
use crate::model::trainable::check_weights;
use crate::model::{BertConfig, Weights};

/// Heads and FFN neurons that stay in each layer: indices into the current model's layer,
/// ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    pub heads: Vec<Vec<usize>>,
    pub neurons: Vec<Vec<usize>>,
}

impl Keep {
    /// Everything stays.
    pub fn all(config: &BertConfig) -> Keep {
        let layers = 0..config.num_hidden_layers;
        Keep {
            heads: layers
                .clone()
                .map(|i| (0..config.heads_in_layer(i)).collect())
                .collect(),
            neurons: layers
                .map(|i| (0..config.intermediate_in_layer(i)).collect())
                .collect(),
        }
    }

    /// Heads and neurons removed per layer, relative to `config` (the model before shrinking).
    pub fn removed(&self, config: &BertConfig) -> (Vec<usize>, Vec<usize>) {
        let layers = 0..config.num_hidden_layers;
        (
            layers
                .clone()
                .map(|i| config.heads_in_layer(i) - self.heads[i].len())
                .collect(),
            layers
                .map(|i| config.intermediate_in_layer(i) - self.neurons[i].len())
                .collect(),
        )
    }
}

/// How many heads and neurons the reference model loses in total at a pruning fraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemovalTargets {
    pub heads: usize,
    pub neurons: usize,
}

/// The cumulative removal that takes at least `fraction` of the reference model's encoder
/// parameters (attention + FFN): the same fraction of heads and of neurons, rounded up, plus
/// neurons until the parameter count is reached; at most all but one head and neuron per layer.
pub fn removal_targets(reference: &BertConfig, fraction: f64) -> RemovalTargets {
    let layers = reference.num_hidden_layers;
    let total_heads: usize = (0..layers).map(|i| reference.heads_in_layer(i)).sum();
    let total_neurons: usize = (0..layers)
        .map(|i| reference.intermediate_in_layer(i))
        .sum();
    let fraction = fraction.clamp(0.0, 1.0);
    let cap_heads = total_heads.saturating_sub(layers);
    let cap_neurons = total_neurons.saturating_sub(layers);
    let heads = ((fraction * total_heads as f64).ceil() as usize).min(cap_heads);
    let mut neurons = ((fraction * total_neurons as f64).ceil() as usize).min(cap_neurons);
    let wanted = fraction * encoder_parameters(reference) as f64;
    let removed =
        |n: usize| (heads * head_parameters(reference) + n * neuron_parameters(reference)) as f64;
    while removed(neurons) < wanted && neurons < cap_neurons {
        neurons += 1;
    }
    RemovalTargets { heads, neurons }
}

/// Per-layer L2-normalised scores, ranked ascending across layers: `(score, layer, index)`.
fn ranked(scores: &[Vec<f64>]) -> Vec<(f64, usize, usize)> {
    let mut all = Vec::new();
    for (layer, s) in scores.iter().enumerate() {
        let norm = s.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (i, v) in s.iter().enumerate() {
            let n = if norm > 0.0 { v / norm } else { 0.0 };
            all.push((n, layer, i));
        }
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    all
}

/// Removes the `remove` lowest-ranked units, never the last one of a layer.
fn drop_lowest(
    scores: &[Vec<f64>],
    remove: usize,
    what: &str,
) -> Result<Vec<Vec<usize>>, CompressError> {
    let mut left: Vec<usize> = scores.iter().map(|s| s.len()).collect();
    let mut gone: Vec<Vec<bool>> = scores.iter().map(|s| vec![false; s.len()]).collect();
    let mut removed = 0;
    for (_, layer, i) in ranked(scores) {
        if removed == remove {
            break;
        }
        if left[layer] > 1 {
            left[layer] -= 1;
            gone[layer][i] = true;
            removed += 1;
        }
    }
    if removed < remove {
        return Err(CompressError::Invalid(format!(
            "cannot remove {remove} {what}: only {removed} can go while every layer keeps one"
        )));
    }
    Ok(gone
        .into_iter()
        .map(|g| (0..g.len()).filter(|&i| !g[i]).collect())
        .collect())
}

/// The heads and neurons that stay when `remove_heads` heads and `remove_neurons` neurons of
/// the current model (whose shape `importance` follows) are removed, lowest importance first.
pub fn select_keep(
    config: &BertConfig,
    importance: &Importance,
    remove_heads: usize,
    remove_neurons: usize,
) -> Result<Keep, CompressError> {
    let layers = config.num_hidden_layers;
    if importance.heads.len() != layers || importance.neurons.len() != layers {
        return Err(CompressError::Invalid(format!(
            "importance has {} head and {} neuron layers for a {layers}-layer model",
            importance.heads.len(),
            importance.neurons.len()
        )));
    }
    for i in 0..layers {
        if importance.heads[i].len() != config.heads_in_layer(i)
            || importance.neurons[i].len() != config.intermediate_in_layer(i)
        {
            return Err(CompressError::Layer {
                layer: i,
                reason: format!(
                    "importance scores {} heads and {} neurons; the layer has {} and {}",
                    importance.heads[i].len(),
                    importance.neurons[i].len(),
                    config.heads_in_layer(i),
                    config.intermediate_in_layer(i)
                ),
            });
        }
    }
    Ok(Keep {
        heads: drop_lowest(&importance.heads, remove_heads, "heads")?,
        neurons: drop_lowest(&importance.neurons, remove_neurons, "FFN neurons")?,
    })
}

fn index_tensor(indices: &[usize]) -> Result<Tensor, CompressError> {
    let v: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
    Ok(Tensor::from_vec(v, indices.len(), &Device::Cpu)?)
}

fn check_indices(
    kept: &[usize],
    count: usize,
    layer: usize,
    what: &str,
) -> Result<(), CompressError> {
    let bad = |reason: String| Err(CompressError::Layer { layer, reason });
    if kept.is_empty() {
        return bad(format!("keeps no {what} (at least one is required)"));
    }
    if kept.windows(2).any(|w| w[0] >= w[1]) {
        return bad(format!(
            "{what} indices {kept:?} are not strictly ascending"
        ));
    }
    if let Some(&i) = kept.iter().find(|&&i| i >= count) {
        return bad(format!("{what} index {i} is not below the layer's {count}"));
    }
    Ok(())
}

/// The smaller model that holds only the kept heads and neurons: Q/K/V rows and attention output
/// columns of the kept heads, intermediate rows and output columns of the kept neurons; every
/// other tensor is copied. The config records the new per-layer heads and FFN widths.
pub fn shrink(
    config: &BertConfig,
    weights: &Weights,
    keep: &Keep,
) -> Result<(BertConfig, Weights), CompressError> {
    check_weights(config, weights)?;
    let layers = config.num_hidden_layers;
    if keep.heads.len() != layers || keep.neurons.len() != layers {
        return Err(CompressError::Invalid(format!(
            "keep lists {} head and {} neuron layers for a {layers}-layer model",
            keep.heads.len(),
            keep.neurons.len()
        )));
    }
    let d = config.head_dim();
    let mut out = weights.clone();
    let get = |name: &str| -> Result<&Tensor, CompressError> {
        weights
            .get(name)
            .ok_or_else(|| CompressError::MissingTensor(name.to_string()))
    };
    for i in 0..layers {
        check_indices(&keep.heads[i], config.heads_in_layer(i), i, "head")?;
        check_indices(
            &keep.neurons[i],
            config.intermediate_in_layer(i),
            i,
            "neuron",
        )?;
        let p = format!("bert.encoder.layer.{i}");
        let rows: Vec<usize> = keep.heads[i]
            .iter()
            .flat_map(|&h| h * d..(h + 1) * d)
            .collect();
        let rows = index_tensor(&rows)?;
        for qkv in ["query", "key", "value"] {
            for part in ["weight", "bias"] {
                let name = format!("{p}.attention.self.{qkv}.{part}");
                out.insert(name.clone(), get(&name)?.index_select(&rows, 0)?);
            }
        }
        let name = format!("{p}.attention.output.dense.weight");
        out.insert(name.clone(), get(&name)?.index_select(&rows, 1)?);

        let neurons = index_tensor(&keep.neurons[i])?;
        for part in ["weight", "bias"] {
            let name = format!("{p}.intermediate.dense.{part}");
            out.insert(name.clone(), get(&name)?.index_select(&neurons, 0)?);
        }
        let name = format!("{p}.output.dense.weight");
        out.insert(name.clone(), get(&name)?.index_select(&neurons, 1)?);
    }
    let mut pruned = config.clone();
    pruned.layer_num_heads = Some(keep.heads.iter().map(|h| h.len()).collect());
    pruned.layer_intermediate_sizes = Some(keep.neurons.iter().map(|n| n.len()).collect());
    check_weights(&pruned, &out)?;
    Ok((pruned, out))
}
