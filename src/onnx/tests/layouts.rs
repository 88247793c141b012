//! Weight layouts other exporters use, made by editing the writer's graph.

use prost::Message;

use super::{assert_bit_exact, random_weights, tiny_config, values};
use crate::onnx::proto::{AttributeProto, ModelProto, NodeProto};
use crate::onnx::tensor::{f32_tensor, transpose};
use crate::onnx::{import_bert_bytes, write_bert_onnx};

fn exported() -> (crate::model::Weights, ModelProto) {
    let config = tiny_config();
    let weights = random_weights(&config, 31);
    let bytes = write_bert_onnx(&config, &weights).unwrap();
    (weights, ModelProto::decode(bytes.as_slice()).unwrap())
}

#[test]
fn anonymous_gemm_weight_without_trans_b_is_traced_through_its_bias() {
    let (weights, mut model) = exported();
    let graph = model.graph.as_mut().unwrap();
    // classifier.weight [3, 16] becomes an anonymous [16, 3] input of a Gemm with transB=0.
    let w = values(&weights["classifier.weight"]);
    graph
        .initializer
        .retain(|t| t.name() != "classifier.weight");
    graph
        .initializer
        .push(f32_tensor("onnx::Gemm_3", &[16, 3], &transpose(&w, 3, 16)));
    let gemm = graph
        .node
        .iter_mut()
        .find(|n| n.name() == "/classifier/Gemm")
        .unwrap();
    gemm.input[1] = "onnx::Gemm_3".into();
    gemm.attribute = vec![AttributeProto::int("transB", 0)];
    let imported = import_bert_bytes(&model.encode_to_vec(), None).unwrap();
    assert_eq!(
        imported.info.weight_sources["classifier.weight"],
        "onnx::Gemm_3"
    );
    assert_bit_exact(&weights, &imported.weights);
}

#[test]
fn named_weight_behind_a_transpose_keeps_pytorch_layout() {
    let (weights, mut model) = exported();
    let graph = model.graph.as_mut().unwrap();
    // Unfolded export: the [out, in] parameter goes through Transpose into MatMul.
    let name = "bert.encoder.layer.1.intermediate.dense.weight";
    let w = values(&weights[name]);
    graph.initializer.retain(|t| t.name() != name);
    graph.initializer.push(f32_tensor(name, &[24, 16], &w));
    let at = graph
        .node
        .iter()
        .position(|n| n.name() == "/encoder/layer.1/intermediate/dense/MatMul")
        .unwrap();
    graph.node[at].input[1] = "w_t".into();
    graph.node.insert(
        at,
        NodeProto {
            input: vec![name.into()],
            output: vec!["w_t".into()],
            name: Some("transpose_w".into()),
            op_type: Some("Transpose".into()),
            attribute: vec![AttributeProto::ints("perm", &[1, 0])],
            ..Default::default()
        },
    );
    let imported = import_bert_bytes(&model.encode_to_vec(), None).unwrap();
    assert_bit_exact(&weights, &imported.weights);
}

#[test]
fn metadata_with_a_short_per_layer_list_is_an_error_not_a_panic() {
    let (_, mut model) = exported();
    let entry = &mut model.metadata_props[0];
    let mut config: serde_json::Value = serde_json::from_str(entry.value()).unwrap();
    config["layer_num_heads"] = serde_json::json!([4]);
    entry.value = Some(config.to_string());
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("layer_num_heads has 1 entries for 2 layers"),
        "{err}"
    );
}

#[test]
fn writer_refuses_other_activations_and_empty_layers() {
    let mut config = tiny_config();
    let weights = random_weights(&config, 32);
    config.hidden_act = "relu".into();
    let err = write_bert_onnx(&config, &weights).unwrap_err();
    assert!(err.to_string().contains("hidden_act 'relu'"), "{err}");
    let mut config = tiny_config();
    config.layer_num_heads = Some(vec![4, 0]);
    let err = write_bert_onnx(&config, &weights).unwrap_err();
    assert!(err.to_string().contains("layer 1 has 0 heads"), "{err}");
}
