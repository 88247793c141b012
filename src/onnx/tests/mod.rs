//! Tests of the ONNX importer and writer. Tiny random BERTs are built here (not with the candle
//! model) from a seeded generator.

mod errors;
mod fixtures;
mod layouts;
mod real_model;
mod roundtrip;

use candle_core::{Device, Tensor};

use crate::model::{BertConfig, Weights};
use crate::onnx::names::param_shapes;

/// SplitMix64: a seeded generator, enough for test weights.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-scale, scale).
    pub fn uniform(&mut self, scale: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * scale
    }
}

pub fn tiny_config() -> BertConfig {
    let mut config: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 50,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 24,
        "max_position_embeddings": 20,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.2,
        "pad_token_id": 0
    }))
    .expect("tiny config");
    config.set_labels(&["negative".into(), "neutral".into(), "positive".into()]);
    config
}

/// The tiny config with heads and FFN neurons removed unevenly, as structured pruning leaves it.
pub fn pruned_config() -> BertConfig {
    let mut config = tiny_config();
    config.layer_num_heads = Some(vec![3, 1]);
    config.layer_intermediate_sizes = Some(vec![20, 7]);
    config
}

/// Random weights of every shape the config implies (pooler and classifier included).
pub fn random_weights(config: &BertConfig, seed: u64) -> Weights {
    let mut rng = Rng::new(seed);
    let mut weights = Weights::new();
    for (name, shape) in param_shapes(config, true, true) {
        let n: usize = shape.iter().product();
        let scale = if name.contains("LayerNorm") { 0.5 } else { 0.2 };
        let offset = if name.ends_with("LayerNorm.weight") {
            1.0
        } else {
            0.0
        };
        let values: Vec<f32> = (0..n).map(|_| offset + rng.uniform(scale)).collect();
        let t = Tensor::from_vec(values, shape.as_slice(), &Device::Cpu).expect("tensor");
        weights.insert(name, t);
    }
    weights
}

pub fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("f32 tensor")
}

/// Every tensor present in both, same shape, same bits.
pub fn assert_bit_exact(expected: &Weights, actual: &Weights) {
    let e: Vec<&String> = expected.keys().collect();
    let a: Vec<&String> = actual.keys().collect();
    assert_eq!(e, a, "weight names differ");
    for (name, t) in expected {
        let u = &actual[name];
        assert_eq!(t.dims(), u.dims(), "{name}: shape");
        let (x, y) = (values(t), values(u));
        let same = x.iter().zip(&y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "{name}: values differ");
    }
}
