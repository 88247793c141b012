//! BERT classifiers exported by `torch.onnx.export` (TorchScript exporter) at opsets 11, 14 and 17;
//! made by `tests/fixtures/onnx/make_fixtures.py`, which also recorded parameter values by name.

use std::path::PathBuf;

use super::values;
use crate::onnx::import_bert;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

fn check(stem: &str) {
    let dir = fixture_dir();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    let imported =
        import_bert(&dir.join(format!("{stem}.onnx"))).unwrap_or_else(|e| panic!("{stem}: {e}"));
    let c = &imported.config;
    assert_eq!(
        (
            c.vocab_size,
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (100, 32, 2, 4, 37),
        "{stem}"
    );
    assert_eq!(c.max_position_embeddings, 24, "{stem}");
    assert_eq!(c.type_vocab_size, 2, "{stem}");
    assert_eq!(c.layer_norm_eps, 1e-12, "{stem}");
    assert_eq!(c.num_labels(), 3, "{stem}");
    assert_eq!(
        (
            c.layer_num_heads.clone(),
            c.layer_intermediate_sizes.clone()
        ),
        (None, None)
    );

    let info = &imported.info;
    assert_eq!(info.opset, meta["opset"].as_i64().unwrap(), "{stem}");
    assert_eq!(
        info.fixed_sequence_length,
        meta["fixed_sequence_length"].as_u64().map(|v| v as usize),
        "{stem}"
    );
    assert_eq!(
        info.logits_output.as_deref(),
        meta["output_name"].as_str(),
        "{stem}"
    );
    assert_eq!(info.input_names, ["input_ids", "attention_mask"], "{stem}");
    assert!(info.has_classifier && !info.needs_token_type_ids, "{stem}");
    assert_eq!(info.hidden_output, None, "{stem}");
    let last_ln = if info.opset >= 17 {
        "/bert/encoder/layer.1/output/LayerNorm/LayerNormalization_output_0"
    } else {
        // Decomposed LayerNorm: the output is the Add of the bias.
        "/bert/encoder/layer.1/output/LayerNorm/Add_1_output_0"
    };
    assert_eq!(info.encoder_output_name, last_ln, "{stem}");
    // 2 layers x 16 + embeddings 5 + pooler 2 + classifier 2.
    assert_eq!(imported.weights.len(), 41, "{stem}");

    for (name, probe) in meta["probes"].as_object().unwrap() {
        let t = &imported.weights[name];
        let shape: Vec<usize> = probe["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.dims(), shape.as_slice(), "{stem}: {name}");
        let v = values(t);
        let expect = |key: &str| -> Vec<f32> {
            probe[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        let (first, last) = (expect("first"), expect("last"));
        assert!(!first.is_empty() && !last.is_empty());
        assert_eq!(
            v[..first.len()].to_vec(),
            first,
            "{stem}: {name} first values"
        );
        assert_eq!(
            v[v.len() - last.len()..].to_vec(),
            last,
            "{stem}: {name} last values"
        );
    }
}

#[test]
fn opset11_dynamic_axis_logits() {
    check("bert_op11_dynamic_logits");
}

#[test]
fn opset11_fixed_axis_output() {
    check("bert_op11_fixed16_output");
}

#[test]
fn opset14_dynamic_axis_output_sdpa() {
    check("bert_op14_dynamic_output");
}

#[test]
fn opset14_fixed_axis_classifier_as_matmul_add() {
    check("bert_op14_fixed16_logits_matmul");
    let imported =
        import_bert(&fixture_dir().join("bert_op14_fixed16_logits_matmul.onnx")).unwrap();
    assert_eq!(
        imported.info.weight_sources["classifier.weight"],
        "onnx::MatMul_999"
    );
}

#[test]
fn opset17_dynamic_axis_logits_sdpa() {
    check("bert_op17_dynamic_logits");
}

#[test]
fn opset17_fixed_axis_output() {
    check("bert_op17_fixed16_output");
}
