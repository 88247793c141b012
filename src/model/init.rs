//! Seeded Hugging Face style initialisation (normal(0, 0.02) matrices, zero biases, LayerNorm 1/0)
//! from our own generator, so that the same seed gives the same tensors on every machine.

use candle_core::{Device, Result, Tensor};

use super::dropout::mix64;
use super::shapes::{param_kind, param_shapes, ParamKind};
use super::{BertConfig, Weights};

/// Standard deviation of initialised matrices (`initializer_range` of Hugging Face BERT).
pub const INIT_STD: f64 = 0.02;

/// SplitMix64 stream with Box-Muller normals.
#[derive(Clone, Debug)]
pub struct SeededRng {
    state: u64,
    spare: Option<f64>,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: mix64(seed),
            spare: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in (0, 1]: never 0, so that `ln` in Box-Muller is finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal by Box-Muller (both values of a pair are used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// FNV-1a of a name: gives each tensor its own stream, independent of the order of initialisation.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Initialises one parameter (f32) by its Hugging Face name; a function of `(seed, name, shape)` only.
pub fn init_tensor(
    config: &BertConfig,
    name: &str,
    shape: &[usize],
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = match param_kind(name) {
        ParamKind::Bias | ParamKind::NormBias => vec![0.0; n],
        ParamKind::NormWeight => vec![1.0; n],
        ParamKind::Matrix => {
            let mut rng = SeededRng::new(seed ^ name_hash(name));
            let mut v: Vec<f32> = (0..n).map(|_| (rng.normal() * INIT_STD) as f32).collect();
            // Hugging Face zeroes the padding token's embedding row.
            let pad = config.pad_token_id as usize;
            if name.ends_with("word_embeddings.weight") && shape.len() == 2 && pad < shape[0] {
                v[pad * shape[1]..(pad + 1) * shape[1]].fill(0.0);
            }
            v
        }
    };
    Tensor::from_vec(values, shape, device)
}

/// Adds every parameter of `config` missing from `weights`, seeded; returns the names added.
pub fn init_missing(config: &BertConfig, weights: &mut Weights, seed: u64) -> Result<Vec<String>> {
    let mut added = Vec::new();
    for (name, shape) in param_shapes(config) {
        if !weights.contains_key(&name) {
            let t = init_tensor(config, &name, &shape, seed, &Device::Cpu)?;
            weights.insert(name.clone(), t);
            added.push(name);
        }
    }
    Ok(added)
}

/// A complete randomly initialised `BertForSequenceClassification` for `config`.
pub fn random_weights(config: &BertConfig, seed: u64) -> Result<Weights> {
    let mut weights = Weights::new();
    init_missing(config, &mut weights, seed)?;
    Ok(weights)
}

/// The configuration of the tiny test BERT: vocab 100, hidden 32, 2 layers, 4 heads, FFN 37.
pub fn tiny_config(num_labels: usize) -> BertConfig {
    let mut config = BertConfig {
        vocab_size: 100,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 37,
        hidden_act: "gelu".into(),
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        max_position_embeddings: 64,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        pad_token_id: 0,
        id2label: Default::default(),
        label2id: Default::default(),
        layer_num_heads: None,
        layer_intermediate_sizes: None,
    };
    let labels: Vec<String> = (0..num_labels).map(|i| format!("LABEL_{i}")).collect();
    config.set_labels(&labels);
    config
}

/// A tiny random BERT classifier for tests: `(config, weights)` from [`tiny_config`].
pub fn tiny_random_bert(seed: u64, num_labels: usize) -> (BertConfig, Weights) {
    let config = tiny_config(num_labels);
    let weights = random_weights(&config, seed).expect("CPU tensors of a tiny BERT can be built");
    (config, weights)
}
