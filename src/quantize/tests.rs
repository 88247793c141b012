use std::collections::HashMap;

use crate::model::{tiny_random_bert, EncodedBatch};
use crate::onnx::proto::{data_type, ModelProto};
use crate::onnx::write_bert_onnx;
use crate::runtime::{OnnxSession, SessionOptions};

use super::*;

fn decode(bytes: &[u8]) -> ModelProto {
    prost::Message::decode(bytes).unwrap()
}

fn op_counts(m: &ModelProto) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for n in &m.graph.as_ref().unwrap().node {
        *out.entry(n.op_type().to_string()).or_default() += 1;
    }
    out
}

fn batch() -> EncodedBatch {
    let ids = vec![2, 7, 19, 23, 3, 0, 2, 44, 45, 46, 47, 3];
    let mask = vec![1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
    EncodedBatch {
        batch: 2,
        seq_len: 6,
        input_ids: ids,
        attention_mask: mask,
        token_type_ids: vec![0; 12],
    }
}

fn logits(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Vec<f32> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut s = OnnxSession::open(&path, &SessionOptions::default()).unwrap();
    s.logits(&batch()).unwrap().2
}

#[test]
fn per_channel_scales_are_column_maxima_and_values_round_trip() {
    // [in = 2, out = 3]: column maxima 1.27, 0.254, 0 (a pruned-away column).
    let w = [1.27f32, -0.254, 0.0, -0.6, 0.1, 0.0];
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-7);
    let (values, scales) = graph_tests::quantize(&w, 2, 3, Granularity::PerChannel);
    assert!(close(&scales, &[0.01, 0.002, 1.0]), "{scales:?}");
    assert_eq!(values, vec![127, -127, 0, -60, 50, 0]);
    let (values, scales) = graph_tests::quantize(&w, 2, 3, Granularity::PerTensor);
    assert!(close(&scales, &[0.01]), "{scales:?}");
    assert_eq!(values, vec![127, -25, 0, -60, 10, 0]);
}

mod graph_tests {
    pub fn quantize(
        w: &[f32],
        rows: usize,
        cols: usize,
        g: super::Granularity,
    ) -> (Vec<i8>, Vec<f32>) {
        super::super::graph::quantize_matrix_for_tests(w, rows, cols, g)
    }
}

#[test]
fn int8_graph_runs_in_onnx_runtime_close_to_fp32_and_is_smaller() {
    let (mut config, weights) = tiny_random_bert(11, 3);
    config.vocab_size = weights["bert.embeddings.word_embeddings.weight"].dims()[0];
    let fp32 = write_bert_onnx(&config, &weights).unwrap();
    let (int8, report) = quantize_onnx_bytes(&fp32, &QuantizeOptions::default()).unwrap();
    let layers = config.num_hidden_layers;
    assert_eq!(report.matmuls, 6 * layers);
    assert!(report.embeddings);

    let m = decode(&int8);
    let ops = op_counts(&m);
    assert_eq!(ops["MatMulInteger"], 6 * layers);
    assert_eq!(ops["DynamicQuantizeLinear"], 6 * layers);
    assert_eq!(ops["DequantizeLinear"], 1);
    // Only the attention score/context MatMuls (activation x activation) stay float.
    assert_eq!(ops["MatMul"], 2 * layers);
    let g = m.graph.as_ref().unwrap();
    let init = |name: &str| g.initializer.iter().find(|t| t.name() == name);
    assert!(init("bert.encoder.layer.0.attention.self.query.weight").is_none());
    let q = init("bert.encoder.layer.0.attention.self.query.weight_quantized").unwrap();
    assert_eq!(q.data_type(), data_type::INT8);
    let scale = init("bert.encoder.layer.0.attention.self.query.weight_scale").unwrap();
    assert_eq!(scale.dims, vec![config.hidden_size as i64]);
    let emb = init("bert.embeddings.word_embeddings.weight_quantized").unwrap();
    assert_eq!(emb.data_type(), data_type::INT8);
    assert!(init("bert.embeddings.word_embeddings.weight").is_none());
    // Each replaced fp32 matrix (4 bytes a value) is now 1 byte a value plus its scales.
    let f = decode(&fp32);
    let replaced: usize = f
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .filter(|t| report.quantized.iter().any(|q| q == t.name()))
        .map(|t| t.raw_data.as_ref().map_or(0, |r| r.len()))
        .sum();
    assert!(replaced > 0);
    let stored = |m: &ModelProto| -> usize {
        m.graph
            .as_ref()
            .unwrap()
            .initializer
            .iter()
            .map(|t| t.raw_data.as_ref().map_or(0, |r| r.len()))
            .sum()
    };
    // Tensor bytes: the replaced matrices shrink to a quarter (plus a few scales); the graph
    // itself grows by the new nodes' names, which matters only for a model this small.
    assert!(
        stored(&m) < stored(&f) - replaced * 7 / 10,
        "{} vs {} ({replaced} replaced)",
        stored(&m),
        stored(&f)
    );
    assert!(int8.len() < fp32.len());

    let dir = tempfile::tempdir().unwrap();
    let a = logits(dir.path(), "fp32.onnx", &fp32);
    let b = logits(dir.path(), "int8.onnx", &int8);
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff > 0.0, "quantisation changed nothing");
    assert!(diff < 0.1 * scale, "INT8 logits {b:?} vs fp32 {a:?}");

    // Per-tensor and fp32-embedding variants run too.
    for options in [
        QuantizeOptions {
            weights: Granularity::PerTensor,
            embeddings: true,
        },
        QuantizeOptions {
            weights: Granularity::PerChannel,
            embeddings: false,
        },
    ] {
        let (bytes, report) = quantize_onnx_bytes(&fp32, &options).unwrap();
        assert_eq!(report.embeddings, options.embeddings);
        let c = logits(dir.path(), &format!("{}.onnx", options.name()), &bytes);
        assert_eq!(c.len(), a.len());
    }
}

#[test]
fn refuses_a_model_with_nothing_to_quantise_or_an_old_opset() {
    let (config, weights) = tiny_random_bert(3, 3);
    let fp32 = write_bert_onnx(&config, &weights).unwrap();
    let (int8, _) = quantize_onnx_bytes(&fp32, &QuantizeOptions::default()).unwrap();
    let err = quantize_onnx_bytes(&int8, &QuantizeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nothing to quantise"), "{err}");
    let mut m = decode(&fp32);
    m.opset_import[0].version = Some(11);
    let err = quantize_model(m, &QuantizeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("opset is 11"), "{err}");
}
