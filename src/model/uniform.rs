//! A pruned model in the uniform shapes of its unpruned config, for tools that know only
//! Transformers' `BertConfig` (one head count, one FFN width for every layer).
//!
//! Removed heads and FFN neurons come back as zeros appended after the kept ones: a zero head has
//! zero query, key and value (so zero context) and zero columns in the attention output, a zero
//! neuron has zero input weights and bias (GELU(0) = 0) and a zero output column, so the padded
//! model computes the same function. Its gradients through the padding are zero as well, so
//! fine-tuning it elsewhere keeps the padding at zero. Transformers 5 removed `pruned_heads`, so
//! padding is the one layout every version loads.
//!
//! Reading back, the padding is cut off again, after checking that it is all zero: a uniform file
//! whose padding was changed is not the pruned model any more.

use candle_core::Tensor;

use super::shapes::param_shapes;
use super::{BertConfig, Weights};

/// The config with every layer at the unpruned head count and FFN width.
pub fn uniform_config(config: &BertConfig) -> BertConfig {
    BertConfig {
        layer_num_heads: None,
        layer_intermediate_sizes: None,
        ..config.clone()
    }
}

/// Whether any layer has fewer heads or FFN neurons than the uniform config.
pub fn is_pruned(config: &BertConfig) -> bool {
    (0..config.num_hidden_layers).any(|i| {
        config.heads_in_layer(i) != config.num_attention_heads
            || config.intermediate_in_layer(i) != config.intermediate_size
    })
}

/// `weights` (in `config`'s pruned shapes) padded with zeros to the uniform shapes.
pub fn pad_to_uniform(config: &BertConfig, weights: &Weights) -> candle_core::Result<Weights> {
    let uniform: std::collections::BTreeMap<String, Vec<usize>> =
        param_shapes(&uniform_config(config)).into_iter().collect();
    let mut out = Weights::new();
    for (name, tensor) in weights {
        let Some(target) = uniform.get(name) else {
            out.insert(name.clone(), tensor.clone());
            continue;
        };
        let mut padded = tensor.clone();
        for (dim, (&have, &want)) in tensor.dims().iter().zip(target).enumerate() {
            if have < want {
                padded = padded.pad_with_zeros(dim, 0, want - have)?;
            }
        }
        out.insert(name.clone(), padded);
    }
    Ok(out)
}

/// Why a uniform tensor could not be cut back to its pruned shape.
#[derive(Debug, thiserror::Error)]
pub enum UnpadError {
    #[error("its entries beyond the first {kept} along dimension {dim} are not all zero, so it is not the padding of a pruned layer")]
    NonZeroPadding { dim: usize, kept: usize },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `tensor` (in a uniform `shape`) cut to `pruned` along every dimension where they differ, after
/// checking that what is cut off is zero.
pub fn cut_padding(tensor: &Tensor, pruned: &[usize]) -> Result<Tensor, UnpadError> {
    let mut out = tensor.clone();
    for (dim, (&have, &kept)) in tensor.dims().iter().zip(pruned).enumerate() {
        if kept >= have {
            continue;
        }
        let rest = out.narrow(dim, kept, have - kept)?;
        let largest = rest.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        if largest != 0.0 {
            return Err(UnpadError::NonZeroPadding { dim, kept });
        }
        out = out.narrow(dim, 0, kept)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::tiny_random_bert;
    use crate::model::{BertClassifier, EncodedBatch, Mode};
    use candle_core::Device;

    /// The tiny model with heads and FFN neurons removed unevenly (kept ones first).
    fn pruned_tiny() -> (BertConfig, Weights) {
        let (mut config, mut weights) = tiny_random_bert(3, 3);
        let heads = vec![config.num_attention_heads - 1, 1];
        let ffn = vec![config.intermediate_size / 2, config.intermediate_size - 3];
        config.layer_num_heads = Some(heads);
        config.layer_intermediate_sizes = Some(ffn);
        let shapes = param_shapes(&config);
        for (name, shape) in shapes {
            let mut t = weights[&name].clone();
            for (dim, &n) in shape.iter().enumerate() {
                t = t.narrow(dim, 0, n).unwrap();
            }
            weights.insert(name, t.contiguous().unwrap());
        }
        (config, weights)
    }

    fn batch() -> EncodedBatch {
        EncodedBatch {
            batch: 2,
            seq_len: 5,
            input_ids: vec![2, 7, 9, 11, 3, 2, 5, 3, 0, 0],
            attention_mask: vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            token_type_ids: vec![0; 10],
        }
    }

    fn logits(config: &BertConfig, weights: &Weights) -> Vec<f32> {
        BertClassifier::from_weights(config, weights, &Device::Cpu)
            .unwrap()
            .forward(&batch(), Mode::Eval)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn the_padded_model_computes_what_the_pruned_one_does() {
        let (config, weights) = pruned_tiny();
        assert!(is_pruned(&config));
        let padded = pad_to_uniform(&config, &weights).unwrap();
        let uniform = uniform_config(&config);
        assert!(!is_pruned(&uniform));
        let q = &padded["bert.encoder.layer.1.attention.self.query.weight"];
        assert_eq!(q.dims(), [uniform.hidden_size, uniform.hidden_size]);
        let a = logits(&config, &weights);
        let b = logits(&uniform, &padded);
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "{a:?} vs {b:?}");
    }

    #[test]
    fn cutting_the_padding_gives_back_the_pruned_weights() {
        let (config, weights) = pruned_tiny();
        let padded = pad_to_uniform(&config, &weights).unwrap();
        for (name, shape) in param_shapes(&config) {
            let cut = cut_padding(&padded[&name], &shape).unwrap();
            let same = cut
                .eq(&weights[&name])
                .unwrap()
                .flatten_all()
                .unwrap()
                .min(0)
                .unwrap()
                .to_scalar::<u8>()
                .unwrap();
            assert_eq!(same, 1, "{name}");
        }
    }

    #[test]
    fn padding_that_is_not_zero_is_refused() {
        let (config, weights) = pruned_tiny();
        let mut padded = pad_to_uniform(&config, &weights).unwrap();
        let name = "bert.encoder.layer.1.output.dense.weight";
        let changed = (padded[name].clone() + 0.5).unwrap();
        padded.insert(name.to_string(), changed);
        let shape = param_shapes(&config)
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1;
        let err = cut_padding(&padded[name], &shape).unwrap_err();
        assert!(err.to_string().contains("not all zero"), "{err}");
    }
}
