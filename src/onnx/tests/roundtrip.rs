use prost::Message;

use super::{assert_bit_exact, pruned_config, random_weights, tiny_config};
use crate::onnx::proto::ModelProto;
use crate::onnx::{
    import_bert, import_bert_bytes, save_bert_onnx, write_bert_encoder_onnx, write_bert_onnx,
};

#[test]
fn export_then_import_restores_every_tensor_and_the_config() {
    let config = tiny_config();
    let weights = random_weights(&config, 7);
    let bytes = write_bert_onnx(&config, &weights).unwrap();
    let imported = import_bert_bytes(&bytes, None).unwrap();
    assert_eq!(imported.config, config);
    assert_bit_exact(&weights, &imported.weights);

    let info = &imported.info;
    assert_eq!(info.opset, 17);
    assert_eq!(info.ir_version, 8);
    assert_eq!(info.input_names, ["input_ids", "attention_mask"]);
    assert_eq!(info.output_names, ["logits"]);
    assert_eq!(info.logits_output.as_deref(), Some("logits"));
    assert_eq!(info.primary_output(), Some("logits"));
    assert_eq!(info.hidden_output, None);
    assert_eq!(
        info.encoder_output_name,
        "/encoder/layer.1/output/LayerNorm_output_0"
    );
    assert_eq!(info.fixed_sequence_length, None);
    assert!(info.has_classifier);
    assert!(!info.needs_token_type_ids);
    // The encoder linears are MatMul weights stored [in, out]; the head keeps PyTorch layout.
    assert_eq!(
        info.weight_sources["bert.encoder.layer.0.attention.self.query.weight"],
        "bert.encoder.layer.0.attention.self.query.weight"
    );
}

#[test]
fn writer_stores_encoder_weights_transposed_for_matmul() {
    let config = tiny_config();
    let weights = random_weights(&config, 8);
    let bytes = write_bert_onnx(&config, &weights).unwrap();
    let model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.unwrap();
    let init = |name: &str| graph.initializer.iter().find(|t| t.name() == name).unwrap();
    assert_eq!(
        init("bert.encoder.layer.0.intermediate.dense.weight").dims,
        [16, 24]
    );
    assert_eq!(init("classifier.weight").dims, [3, 16]);
    let ops: std::collections::BTreeSet<&str> = graph.node.iter().map(|n| n.op_type()).collect();
    let expected = [
        "Add",
        "Cast",
        "Div",
        "Erf",
        "Gather",
        "Gemm",
        "LayerNormalization",
        "MatMul",
        "Mul",
        "Reshape",
        "Shape",
        "Slice",
        "Softmax",
        "Sub",
        "Tanh",
        "Transpose",
        "Unsqueeze",
    ];
    assert_eq!(ops.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn config_is_inferred_from_the_graph_without_metadata() {
    let config = tiny_config();
    let weights = random_weights(&config, 9);
    let bytes = write_bert_onnx(&config, &weights).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    model.metadata_props.clear();
    let imported = import_bert_bytes(&model.encode_to_vec(), None).unwrap();
    let c = &imported.config;
    assert_eq!(
        (
            c.vocab_size,
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (50, 16, 2, 4, 24)
    );
    assert_eq!((c.max_position_embeddings, c.type_vocab_size), (20, 2));
    assert_eq!(c.layer_norm_eps, 1e-12);
    assert_eq!(c.labels(), ["LABEL_0", "LABEL_1", "LABEL_2"]);
    assert_eq!(c.layer_num_heads, None);
    assert_eq!(c.layer_intermediate_sizes, None);
    assert_bit_exact(&weights, &imported.weights);
}

#[test]
fn pruned_config_exports_and_reimports_with_its_per_layer_shapes() {
    let config = pruned_config();
    let weights = random_weights(&config, 10);
    assert_eq!(
        weights["bert.encoder.layer.1.attention.self.key.weight"].dims(),
        [4, 16]
    );
    let bytes = write_bert_onnx(&config, &weights).unwrap();
    let imported = import_bert_bytes(&bytes, None).unwrap();
    assert_eq!(imported.config, config);
    assert_bit_exact(&weights, &imported.weights);

    // From the graph alone: heads from the Reshape constants, widths from the weights.
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    model.metadata_props.clear();
    let inferred = import_bert_bytes(&model.encode_to_vec(), None)
        .unwrap()
        .config;
    assert_eq!(inferred.num_attention_heads, 4);
    assert_eq!(inferred.head_dim(), 4);
    assert_eq!(inferred.layer_num_heads, Some(vec![3, 1]));
    assert_eq!(inferred.layer_intermediate_sizes, Some(vec![20, 7]));
    assert_eq!(inferred.intermediate_size, 20);
}

#[test]
fn encoder_export_adds_the_last_hidden_state_output() {
    let config = tiny_config();
    let weights = random_weights(&config, 11);
    let bytes = write_bert_encoder_onnx(&config, &weights).unwrap();
    let imported = import_bert_bytes(&bytes, None).unwrap();
    assert_eq!(imported.info.output_names, ["logits", "last_hidden_state"]);
    assert_eq!(
        imported.info.hidden_output.as_deref(),
        Some("last_hidden_state")
    );
    assert_eq!(imported.info.logits_output.as_deref(), Some("logits"));
    assert_bit_exact(&weights, &imported.weights);
}

#[test]
fn save_writes_atomically_and_the_file_imports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    let config = tiny_config();
    let weights = random_weights(&config, 12);
    save_bert_onnx(&path, &config, &weights).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, ["model.onnx"], "no temporary file is left behind");
    let imported = import_bert(&path).unwrap();
    assert_bit_exact(&weights, &imported.weights);
}

#[test]
fn writer_rejects_weights_that_do_not_fit_the_config() {
    let config = tiny_config();
    let mut weights = random_weights(&config, 13);
    weights.remove("bert.encoder.layer.1.output.dense.bias");
    let err = write_bert_onnx(&config, &weights).unwrap_err();
    assert!(
        err.to_string()
            .contains("bert.encoder.layer.1.output.dense.bias"),
        "{err}"
    );

    let pruned = pruned_config();
    let err = write_bert_onnx(&pruned, &random_weights(&config, 13)).unwrap_err();
    assert!(
        err.to_string().contains("bert.encoder.layer.0.attention.self.query.weight has shape [16, 16], expected [12, 16]"),
        "{err}"
    );
}
