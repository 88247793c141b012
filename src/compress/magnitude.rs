//! Unstructured magnitude pruning: the smallest weights of the encoder's matrices (attention
//! Q/K/V/output and FFN, biases excluded) set to zero, globally across layers. The matrices keep
//! their shape, so a dense runtime does the same work: sparsity is reported, no speed-up claimed.

use candle_core::{Device, Tensor};

use super::CompressError;
use crate::model::{BertConfig, Weights};

/// The encoder weight matrices magnitude pruning works on.
fn matrix_names(config: &BertConfig) -> Vec<String> {
    (0..config.num_hidden_layers)
        .flat_map(|i| {
            let p = format!("bert.encoder.layer.{i}");
            [
                format!("{p}.attention.self.query.weight"),
                format!("{p}.attention.self.key.weight"),
                format!("{p}.attention.self.value.weight"),
                format!("{p}.attention.output.dense.weight"),
                format!("{p}.intermediate.dense.weight"),
                format!("{p}.output.dense.weight"),
            ]
        })
        .collect()
}

fn values(weights: &Weights, name: &str) -> Result<(Vec<f32>, Vec<usize>), CompressError> {
    let t = weights
        .get(name)
        .ok_or_else(|| CompressError::MissingTensor(name.to_string()))?;
    Ok((
        t.to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?,
        t.dims().to_vec(),
    ))
}

/// Fraction of the encoder matrices' weights that are exactly zero.
pub fn sparsity(config: &BertConfig, weights: &Weights) -> Result<f64, CompressError> {
    let (mut zeros, mut total) = (0usize, 0usize);
    for name in matrix_names(config) {
        let (v, _) = values(weights, &name)?;
        zeros += v.iter().filter(|x| **x == 0.0).count();
        total += v.len();
    }
    Ok(zeros as f64 / total.max(1) as f64)
}

/// Zeros the `round(fraction * n)` smallest-magnitude weights of the `n` encoder matrix weights
/// (ties broken by position); weights already zero count among them.
pub fn magnitude_prune(
    config: &BertConfig,
    weights: &Weights,
    fraction: f64,
) -> Result<Weights, CompressError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(CompressError::Invalid(format!(
            "sparsity {fraction} is not in [0, 1)"
        )));
    }
    let names = matrix_names(config);
    let mut all: Vec<f32> = Vec::new();
    for name in &names {
        all.extend(values(weights, name)?.0.iter().map(|x| x.abs()));
    }
    let k = (fraction * all.len() as f64).round() as usize;
    let mut out = weights.clone();
    if k == 0 {
        return Ok(out);
    }
    let (_, threshold, _) = all.select_nth_unstable_by(k - 1, f32::total_cmp);
    let threshold = *threshold;
    let below = all.iter().filter(|x| **x < threshold).count();
    // Weights equal to the threshold are zeroed in order until k are.
    let mut at_threshold = k - below;
    for name in &names {
        let (mut v, dims) = values(weights, name)?;
        for x in v.iter_mut() {
            let a = x.abs();
            if a < threshold {
                *x = 0.0;
            } else if a == threshold && at_threshold > 0 {
                *x = 0.0;
                at_threshold -= 1;
            }
        }
        out.insert(name.clone(), Tensor::from_vec(v, dims, &Device::Cpu)?);
    }
    Ok(out)
}

/// Sets to zero, in `weights`, every encoder matrix weight that is zero in `mask_source` (after
/// recovery training moved them), so the pruned positions stay pruned.
pub fn reapply_zeros(
    config: &BertConfig,
    mask_source: &Weights,
    weights: &Weights,
) -> Result<Weights, CompressError> {
    let mut out = weights.clone();
    for name in matrix_names(config) {
        let (mask, _) = values(mask_source, &name)?;
        let (mut v, dims) = values(weights, &name)?;
        if mask.len() != v.len() {
            return Err(CompressError::Invalid(format!(
                "{name}: mask has {} values, weights {}",
                mask.len(),
                v.len()
            )));
        }
        for (x, m) in v.iter_mut().zip(&mask) {
            if *m == 0.0 {
                *x = 0.0;
            }
        }
        out.insert(name, Tensor::from_vec(v, dims, &Device::Cpu)?);
    }
    Ok(out)
}
