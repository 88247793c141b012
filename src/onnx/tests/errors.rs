use prost::Message;

use super::{random_weights, tiny_config};
use crate::onnx::proto::{
    data_type, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto,
};
use crate::onnx::tensor::f32_tensor;
use crate::onnx::{import_bert, import_bert_bytes, write_bert_onnx, OnnxError};

fn tiny_model_proto() -> ModelProto {
    let config = tiny_config();
    let bytes = write_bert_onnx(&config, &random_weights(&config, 21)).unwrap();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

#[test]
fn truncated_file_is_a_decode_error_naming_the_file() {
    let bytes = tiny_model_proto().encode_to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = import_bert(&path).unwrap_err();
    assert!(matches!(err.root(), OnnxError::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("cut.onnx"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = import_bert(std::path::Path::new("/nonexistent/model.onnx")).unwrap_err();
    assert!(matches!(err, OnnxError::Io { .. }), "{err:?}");
}

#[test]
fn graph_with_one_add_is_not_bert() {
    let x = |n: &str| ValueInfoProto::tensor(n, data_type::FLOAT, &[Ok(2)]);
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                input: vec!["a".into(), "b".into()],
                output: vec!["c".into()],
                name: Some("add".into()),
                op_type: Some("Add".into()),
                ..Default::default()
            }],
            input: vec![x("a"), x("b")],
            output: vec![x("c")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(matches!(err, OnnxError::NotBert(_)), "{err:?}");
    assert!(err.to_string().contains("ops: Add"), "{err}");

    // The same with a weight that means nothing to BERT: the error names it.
    let mut model = model;
    let graph = model.graph.as_mut().unwrap();
    graph.initializer.push(f32_tensor("b", &[2], &[1.0, 2.0]));
    graph.input.truncate(1);
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(
        matches!(&err, OnnxError::Unmapped { name, .. } if name == "b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("'add' (Add)"), "{err}");
}

/// Renames the layer-0 query weight to an anonymous name, as torch's constant folding does.
fn anonymise_query(model: &mut ModelProto) {
    let graph = model.graph.as_mut().unwrap();
    let old = "bert.encoder.layer.0.attention.self.query.weight";
    for t in &mut graph.initializer {
        if t.name() == old {
            t.name = Some("onnx::MatMul_77".into());
        }
    }
    for n in &mut graph.node {
        for i in &mut n.input {
            if i == old {
                *i = "onnx::MatMul_77".into();
            }
        }
    }
}

#[test]
fn anonymous_matmul_weight_is_traced_to_its_bias() {
    let mut model = tiny_model_proto();
    anonymise_query(&mut model);
    let imported = import_bert_bytes(&model.encode_to_vec(), None).unwrap();
    assert_eq!(
        imported.info.weight_sources["bert.encoder.layer.0.attention.self.query.weight"],
        "onnx::MatMul_77"
    );
    assert_eq!(
        imported.weights["bert.encoder.layer.0.attention.self.query.weight"].dims(),
        [16, 16]
    );
}

#[test]
fn anonymous_matmul_without_a_bias_add_is_an_error_naming_it() {
    let mut model = tiny_model_proto();
    anonymise_query(&mut model);
    // The bias is now subtracted: nothing says which layer the weight belongs to.
    let graph = model.graph.as_mut().unwrap();
    let add = graph
        .node
        .iter_mut()
        .find(|n| n.name() == "/encoder/layer.0/attention/self/query/Add")
        .unwrap();
    add.op_type = Some("Sub".into());
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(
        matches!(&err, OnnxError::Unmapped { name, .. } if name == "onnx::MatMul_77"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("/encoder/layer.0/attention/self/query/MatMul"),
        "{msg}"
    );
}

#[test]
fn anonymous_bias_makes_the_weight_untraceable() {
    let mut model = tiny_model_proto();
    anonymise_query(&mut model);
    let graph = model.graph.as_mut().unwrap();
    let old = "bert.encoder.layer.0.attention.self.query.bias";
    for t in &mut graph.initializer {
        if t.name() == old {
            t.name = Some("onnx::Add_5".into());
        }
    }
    for n in &mut graph.node {
        for i in &mut n.input {
            if i == old {
                *i = "onnx::Add_5".into();
            }
        }
    }
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("onnx::MatMul_77") && msg.contains("onnx::Add_5"),
        "{msg}"
    );
}

#[test]
fn a_missing_layer_weight_is_named() {
    let mut model = tiny_model_proto();
    let graph = model.graph.as_mut().unwrap();
    graph
        .initializer
        .retain(|t| t.name() != "bert.encoder.layer.1.output.LayerNorm.weight");
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(
        matches!(&err, OnnxError::Missing { name, .. } if name == "bert.encoder.layer.1.output.LayerNorm.weight"),
        "{err:?}"
    );
}

#[test]
fn metadata_that_contradicts_the_graph_is_rejected() {
    let mut model = tiny_model_proto();
    let entry = &mut model.metadata_props[0];
    let mut config: serde_json::Value = serde_json::from_str(entry.value()).unwrap();
    config["intermediate_size"] = 30.into();
    entry.value = Some(config.to_string());
    let err = import_bert_bytes(&model.encode_to_vec(), None).unwrap_err();
    assert!(err.to_string().contains("FFN width of layer 0"), "{err}");
}
