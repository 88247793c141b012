//! Importance of each attention head and FFN neuron.
//!
//! - Magnitude: the L2 norm of every parameter the unit holds (its Q/K/V rows and biases and its
//!   attention-output columns; its intermediate row and bias and its output column).
//! - Taylor (gradients): per batch, `|sum over the unit's parameters of grad * weight|`, the
//!   first-order estimate of how much the loss changes when the unit is removed (Molchanov et
//!   al. 2019), accumulated over training batches. It equals `|dL/dg|` for a gate `g` that
//!   scales all of the unit's parameters, at `g = 1`.

use std::collections::HashMap;

use candle_core::{DType, Tensor};

use super::CompressError;
use crate::model::{BertConfig, EncodedBatch, Mode, TrainableBert, Weights};
use crate::train::loss::{cross_entropy_per_sample, labels_tensor};

/// One score per head and per FFN neuron of each layer (higher: more important).
#[derive(Clone, Debug, PartialEq)]
pub struct Importance {
    pub heads: Vec<Vec<f64>>,
    pub neurons: Vec<Vec<f64>>,
}

/// The parameter names of layer `i` that belong to heads (rows), to heads (columns), to neurons
/// (rows) and to neurons (columns).
struct LayerNames {
    head_rows: Vec<String>,
    head_cols: String,
    neuron_rows: Vec<String>,
    neuron_cols: String,
}

fn layer_names(i: usize) -> LayerNames {
    let p = format!("bert.encoder.layer.{i}");
    LayerNames {
        head_rows: ["query", "key", "value"]
            .iter()
            .flat_map(|q| {
                [
                    format!("{p}.attention.self.{q}.weight"),
                    format!("{p}.attention.self.{q}.bias"),
                ]
            })
            .collect(),
        head_cols: format!("{p}.attention.output.dense.weight"),
        neuron_rows: vec![
            format!("{p}.intermediate.dense.weight"),
            format!("{p}.intermediate.dense.bias"),
        ],
        neuron_cols: format!("{p}.output.dense.weight"),
    }
}

/// Names of every tensor a head or neuron holds part of.
pub fn unit_tensor_names(config: &BertConfig) -> Vec<String> {
    (0..config.num_hidden_layers)
        .flat_map(|i| {
            let n = layer_names(i);
            let mut v = n.head_rows;
            v.push(n.head_cols);
            v.extend(n.neuron_rows);
            v.push(n.neuron_cols);
            v
        })
        .collect()
}

/// Row sums of a `[rows, cols]` or `[rows]` tensor, as f64.
fn row_sums(t: &Tensor) -> Result<Vec<f64>, CompressError> {
    let t = t.to_dtype(DType::F64)?;
    let t = if t.rank() == 2 { t.sum(1)? } else { t };
    Ok(t.to_vec1::<f64>()?)
}

/// Column sums of a `[rows, cols]` tensor, as f64.
fn col_sums(t: &Tensor) -> Result<Vec<f64>, CompressError> {
    Ok(t.to_dtype(DType::F64)?.sum(0)?.to_vec1::<f64>()?)
}

/// Sums `values` (one tensor per name, shaped like the parameter) over each head's and each
/// neuron's parameters.
pub fn unit_sums(
    config: &BertConfig,
    values: &HashMap<String, Tensor>,
) -> Result<Importance, CompressError> {
    let get = |name: &String| {
        values
            .get(name)
            .ok_or_else(|| CompressError::MissingTensor(name.clone()))
    };
    let d = config.head_dim();
    let mut heads = Vec::new();
    let mut neurons = Vec::new();
    for i in 0..config.num_hidden_layers {
        let names = layer_names(i);
        let width = config.heads_in_layer(i) * d;
        let mut per_row = col_sums(get(&names.head_cols)?)?;
        for name in &names.head_rows {
            for (acc, v) in per_row.iter_mut().zip(row_sums(get(name)?)?) {
                *acc += v;
            }
        }
        if per_row.len() != width {
            return Err(CompressError::Layer {
                layer: i,
                reason: format!("attention width {} is not {width}", per_row.len()),
            });
        }
        heads.push(per_row.chunks(d).map(|c| c.iter().sum()).collect());
        let mut per_neuron = col_sums(get(&names.neuron_cols)?)?;
        for name in &names.neuron_rows {
            for (acc, v) in per_neuron.iter_mut().zip(row_sums(get(name)?)?) {
                *acc += v;
            }
        }
        neurons.push(per_neuron);
    }
    Ok(Importance { heads, neurons })
}

/// Magnitude importance: the L2 norm of each head's and neuron's parameters.
pub fn magnitude_importance(
    config: &BertConfig,
    weights: &Weights,
) -> Result<Importance, CompressError> {
    let mut squares = HashMap::new();
    for name in unit_tensor_names(config) {
        let t = weights
            .get(&name)
            .ok_or_else(|| CompressError::MissingTensor(name.clone()))?;
        squares.insert(name, t.to_dtype(DType::F64)?.sqr()?);
    }
    let sums = unit_sums(config, &squares)?;
    let sqrt = |v: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        v.into_iter()
            .map(|l| l.into_iter().map(f64::sqrt).collect())
            .collect()
    };
    Ok(Importance {
        heads: sqrt(sums.heads),
        neurons: sqrt(sums.neurons),
    })
}

/// Taylor importance of one batch: `|sum(grad * weight)|` per head and neuron.
pub fn taylor_batch_scores(
    config: &BertConfig,
    weights: &HashMap<String, Tensor>,
    grads: &HashMap<String, Tensor>,
) -> Result<Importance, CompressError> {
    let mut products = HashMap::new();
    for name in unit_tensor_names(config) {
        let w = weights
            .get(&name)
            .ok_or_else(|| CompressError::MissingTensor(name.clone()))?;
        let g = grads
            .get(&name)
            .ok_or_else(|| CompressError::MissingTensor(format!("gradient of {name}")))?;
        products.insert(name, (g.to_dtype(DType::F64)? * w.to_dtype(DType::F64)?)?);
    }
    let sums = unit_sums(config, &products)?;
    let abs = |v: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        v.into_iter()
            .map(|l| l.into_iter().map(f64::abs).collect())
            .collect()
    };
    Ok(Importance {
        heads: abs(sums.heads),
        neurons: abs(sums.neurons),
    })
}

/// Taylor importance accumulated over `batches` (each with its class ids): the mean
/// cross-entropy's gradients in eval mode (no dropout), `|sum(grad * weight)|` per unit and batch,
/// summed over batches. The model's weights are not changed.
pub fn taylor_importance(
    model: &TrainableBert,
    batches: &[(EncodedBatch, Vec<usize>)],
    mut progress: impl FnMut(usize, usize),
) -> Result<Importance, CompressError> {
    let config = model.config().clone();
    let vars: HashMap<String, candle_core::Var> = model.named_vars().into_iter().collect();
    let names = unit_tensor_names(&config);
    let mut weights = HashMap::new();
    for name in &names {
        let var = vars
            .get(name)
            .ok_or_else(|| CompressError::MissingTensor(name.clone()))?;
        weights.insert(name.clone(), var.as_tensor().detach());
    }
    let mut total: Option<Importance> = None;
    for (k, (batch, labels)) in batches.iter().enumerate() {
        let logits = model.forward(batch, Mode::Eval)?;
        let labels = labels_tensor(labels, logits.device())?;
        let loss = (cross_entropy_per_sample(&logits, &labels)?.sum_all()? / batch.batch as f64)?;
        let store = loss.backward()?;
        let mut grads = HashMap::new();
        for name in &names {
            let g = store
                .get(vars[name].as_tensor())
                .ok_or_else(|| CompressError::MissingTensor(format!("gradient of {name}")))?;
            grads.insert(name.clone(), g.clone());
        }
        let scores = taylor_batch_scores(&config, &weights, &grads)?;
        total = Some(match total {
            None => scores,
            Some(mut acc) => {
                add_into(&mut acc.heads, &scores.heads);
                add_into(&mut acc.neurons, &scores.neurons);
                acc
            }
        });
        progress(k + 1, batches.len());
    }
    total.ok_or_else(|| CompressError::Invalid("no batches to measure importance on".into()))
}

fn add_into(acc: &mut [Vec<f64>], more: &[Vec<f64>]) {
    for (a, m) in acc.iter_mut().zip(more) {
        for (x, y) in a.iter_mut().zip(m) {
            *x += y;
        }
    }
}
