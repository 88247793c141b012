//! The real paraphrase-MiniLM-L3-v2 ONNX export (sentence-transformers names, anonymous MatMul
//! weights, opset 17, encoder only). Expected values were read with Python `onnx` from the same file.

use super::values;
use crate::assets::{ensure, Asset};
use crate::onnx::import_bert;

fn close(actual: &[f32], expected: &[f64]) {
    let e: Vec<f32> = expected.iter().map(|&x| x as f32).collect();
    assert_eq!(actual, e.as_slice());
}

#[test]
fn minilm_l3_imports_with_its_config_and_every_weight() {
    let path = ensure(Asset::MiniLmL3Onnx).expect("asset minilm-l3-onnx");
    let imported = import_bert(&path).unwrap();
    let c = &imported.config;
    assert_eq!(
        (
            c.vocab_size,
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (30522, 384, 3, 12, 1536)
    );
    assert_eq!((c.max_position_embeddings, c.type_vocab_size), (512, 2));
    assert_eq!(c.layer_norm_eps, 1e-12);
    assert_eq!(c.num_labels(), 0);
    assert_eq!(
        (
            c.layer_num_heads.clone(),
            c.layer_intermediate_sizes.clone()
        ),
        (None, None)
    );

    let info = &imported.info;
    assert_eq!(info.opset, 17);
    assert_eq!(info.input_names, ["input_ids", "attention_mask"]);
    assert_eq!(
        info.output_names,
        ["output", "463", "onnx::Shape_422", "461"]
    );
    assert_eq!(info.encoder_output_name, "onnx::Shape_422");
    assert_eq!(info.hidden_output.as_deref(), Some("onnx::Shape_422"));
    assert_eq!(info.logits_output, None);
    assert_eq!(info.primary_output(), Some("onnx::Shape_422"));
    assert!(!info.has_classifier && !info.needs_token_type_ids);
    assert_eq!(info.fixed_sequence_length, None);
    assert_eq!(
        info.weight_sources["bert.encoder.layer.0.attention.self.query.weight"],
        "onnx::MatMul_470"
    );
    assert_eq!(
        info.weight_sources["bert.encoder.layer.2.output.dense.weight"],
        "onnx::MatMul_508"
    );

    // Embeddings 5 + 3 layers x 16, no pooler or classifier.
    assert_eq!(imported.weights.len(), 53);
    for i in 0..3 {
        let p = format!("bert.encoder.layer.{i}.");
        for (name, shape) in [
            ("attention.self.query.weight", vec![384, 384]),
            ("attention.self.key.weight", vec![384, 384]),
            ("attention.self.value.weight", vec![384, 384]),
            ("attention.output.dense.weight", vec![384, 384]),
            ("intermediate.dense.weight", vec![1536, 384]),
            ("intermediate.dense.bias", vec![1536]),
            ("output.dense.weight", vec![384, 1536]),
            ("output.LayerNorm.bias", vec![384]),
        ] {
            assert_eq!(
                imported.weights[&format!("{p}{name}")].dims(),
                shape.as_slice(),
                "{p}{name}"
            );
        }
    }
    let w = |name: &str| values(&imported.weights[name]);
    let word = w("bert.embeddings.word_embeddings.weight");
    close(
        &word[..3],
        &[
            -0.019703302532434464,
            -0.003353868843987584,
            -0.014468533918261528,
        ],
    );
    close(
        &word[word.len() - 2..],
        &[0.006369356997311115, -0.00253151822835207],
    );
    assert_eq!(word[101 * 384 + 5], -0.0027988115f32);
    // PyTorch layout [out, in]: the file's [in, out] MatMul weight transposed.
    let q0 = w("bert.encoder.layer.0.attention.self.query.weight");
    close(
        &q0[..3],
        &[
            -0.10613315552473068,
            0.01591600850224495,
            0.03460659086704254,
        ],
    );
    close(
        &q0[q0.len() - 2..],
        &[0.03589315339922905, -0.09703890979290009],
    );
    assert_eq!(q0[5 * 384 + 7], 0.06399383f32);
    assert_eq!(q0[383 * 384], 0.036822435f32);
    let i0 = w("bert.encoder.layer.0.intermediate.dense.weight");
    close(
        &i0[..3],
        &[
            0.003116835141554475,
            0.013525771908462048,
            -0.06518279761075974,
        ],
    );
    let v1 = w("bert.encoder.layer.1.attention.self.value.weight");
    close(
        &v1[v1.len() - 2..],
        &[-0.0024134106934070587, 0.024798449128866196],
    );
    let o2 = w("bert.encoder.layer.2.output.dense.weight");
    close(
        &o2[..3],
        &[
            -0.007033364847302437,
            -0.009314394555985928,
            0.00657914113253355,
        ],
    );
    close(
        &o2[o2.len() - 2..],
        &[-0.000591890187934041, -0.002128274878486991],
    );
    let ln = w("bert.encoder.layer.2.output.LayerNorm.bias");
    close(
        &ln[..3],
        &[
            0.003604123368859291,
            -0.0007807335932739079,
            -0.004050502087920904,
        ],
    );
}

#[test]
fn minilm_l3_rewritten_by_the_writer_reimports_bit_exactly() {
    let path = ensure(Asset::MiniLmL3Onnx).expect("asset minilm-l3-onnx");
    let original = import_bert(&path).unwrap();
    let bytes = crate::onnx::write_bert_encoder_onnx(&original.config, &original.weights).unwrap();
    let again = crate::onnx::import_bert_bytes(&bytes, None).unwrap();
    assert_eq!(again.config, original.config);
    assert_eq!(again.info.output_names, ["last_hidden_state"]);
    super::assert_bit_exact(&original.weights, &again.weights);
}

#[test]
fn minilm_l6_safetensors_weights_round_trip_through_the_writer() {
    let dir = ensure(Asset::MiniLmL6).expect("asset minilm-l6");
    let mut config: crate::model::BertConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config.set_labels(&["negative".into(), "neutral".into(), "positive".into()]);
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut weights = crate::model::Weights::new();
    for (name, t) in tensors {
        if !name.ends_with("position_ids") {
            weights.insert(format!("bert.{name}"), t);
        }
    }
    let mut rng = super::Rng::new(3);
    let cw: Vec<f32> = (0..3 * 384).map(|_| rng.uniform(0.1)).collect();
    let classifier =
        candle_core::Tensor::from_vec(cw, (3, 384), &candle_core::Device::Cpu).unwrap();
    weights.insert("classifier.weight".into(), classifier);
    let bias = candle_core::Tensor::from_vec(vec![0.1f32, -0.2, 0.3], 3, &candle_core::Device::Cpu)
        .unwrap();
    weights.insert("classifier.bias".into(), bias);

    let bytes = crate::onnx::write_bert_onnx(&config, &weights).unwrap();
    let imported = crate::onnx::import_bert_bytes(&bytes, None).unwrap();
    assert_eq!(imported.config, config);
    assert_eq!(imported.config.num_hidden_layers, 6);
    super::assert_bit_exact(&weights, &imported.weights);
}
