//! The graph rewrite behind [`quantize_model`].

use std::collections::HashMap;

use crate::onnx::names::canonical_name;
use crate::onnx::proto::{
    data_type, AttributeProto, ModelProto, NodeProto, StringStringEntryProto, TensorProto,
};
use crate::onnx::tensor::{dims, f32_tensor, read_f32};

use super::{quantize_i8, symmetric_scale, Granularity, QuantizeOptions, QuantizeReport};

/// Model metadata key recording which INT8 variant a file is.
pub const QUANTIZATION_METADATA_KEY: &str = "exp.quantization";
/// Per-axis DequantizeLinear and the other operators used need opset 13 or later.
const MIN_OPSET: i64 = 13;

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error("cannot decode the fp32 ONNX model: {0}")]
    Decode(String),
    #[error("the ONNX model has no graph")]
    NoGraph,
    #[error("the ONNX model's default-domain opset is {0}; INT8 quantisation needs {MIN_OPSET} or later")]
    Opset(i64),
    #[error("initialiser {name}: {reason}")]
    Tensor { name: String, reason: String },
    #[error("the graph has no MatMul with a constant weight matrix: nothing to quantise (is this already an INT8 model?)")]
    NothingToQuantize,
}

fn int8_tensor(name: &str, shape: &[usize], values: &[i8]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type::INT8),
        raw_data: Some(values.iter().map(|&v| v as u8).collect()),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.to_string()),
        op_type: Some(op.to_string()),
        ..Default::default()
    }
}

/// Quantised `[in, out]` weight: int8 values, scales (one per column or one) and zero points.
struct QuantizedMatrix {
    values: Vec<i8>,
    scales: Vec<f32>,
}

fn quantize_matrix(values: &[f32], rows: usize, cols: usize, g: Granularity) -> QuantizedMatrix {
    let scales: Vec<f32> = match g {
        Granularity::PerTensor => {
            vec![symmetric_scale(
                values.iter().fold(0f32, |m, v| m.max(v.abs())),
            )]
        }
        Granularity::PerChannel => {
            let mut max_abs = vec![0f32; cols];
            for r in 0..rows {
                for (c, m) in max_abs.iter_mut().enumerate() {
                    *m = m.max(values[r * cols + c].abs());
                }
            }
            max_abs.into_iter().map(symmetric_scale).collect()
        }
    };
    let per_column = scales.len() == cols && g == Granularity::PerChannel;
    let q = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            quantize_i8(
                v,
                if per_column {
                    scales[i % cols]
                } else {
                    scales[0]
                },
            )
        })
        .collect();
    QuantizedMatrix { values: q, scales }
}

#[cfg(test)]
pub(super) fn quantize_matrix_for_tests(
    values: &[f32],
    rows: usize,
    cols: usize,
    g: Granularity,
) -> (Vec<i8>, Vec<f32>) {
    let q = quantize_matrix(values, rows, cols, g);
    (q.values, q.scales)
}

/// Rewrites an fp32 BERT graph into its INT8 form (see the module docs); the inputs, outputs and
/// every other node stay as they are.
pub fn quantize_model(
    mut model: ModelProto,
    options: &QuantizeOptions,
) -> Result<(ModelProto, QuantizeReport), QuantizeError> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.as_deref().unwrap_or("").is_empty())
        .and_then(|o| o.version)
        .unwrap_or(0);
    if opset < MIN_OPSET {
        return Err(QuantizeError::Opset(opset));
    }
    let graph = model.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
    let index: HashMap<String, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name().to_string(), i))
        .collect();
    // An initialiser is replaced only when every use of it is one this pass rewrites.
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    let tensor_err = |name: &str, reason: String| QuantizeError::Tensor {
        name: name.to_string(),
        reason,
    };
    let is_float_matrix = |name: &str| -> bool {
        index.get(name).is_some_and(|&i| {
            let t = &graph.initializer[i];
            t.data_type() == data_type::FLOAT && t.dims.len() == 2 && uses.get(name) == Some(&1)
        })
    };

    let mut report = QuantizeReport {
        embeddings: false,
        ..QuantizeReport::default()
    };
    let mut nodes = Vec::with_capacity(graph.node.len() * 2);
    let mut new_inits = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    for n in &graph.node {
        let op = n.op_type();
        let prefix = n.name().to_string();
        if op == "MatMul" && n.input.len() == 2 && is_float_matrix(&n.input[1]) {
            let w_name = n.input[1].clone();
            let t = &graph.initializer[index[&w_name]];
            let shape = dims(t).map_err(|e| tensor_err(&w_name, e.to_string()))?;
            let values = read_f32(t, None).map_err(|e| tensor_err(&w_name, e.to_string()))?;
            let q = quantize_matrix(&values, shape[0], shape[1], options.weights);
            let q_name = format!("{w_name}_quantized");
            let s_name = format!("{w_name}_scale");
            let z_name = format!("{w_name}_zero_point");
            let scale_shape: Vec<usize> = if q.scales.len() == 1 {
                vec![]
            } else {
                vec![q.scales.len()]
            };
            new_inits.push(int8_tensor(&q_name, &shape, &q.values));
            new_inits.push(f32_tensor(&s_name, &scale_shape, &q.scales));
            new_inits.push(int8_tensor(&z_name, &scale_shape, &vec![0; q.scales.len()]));
            let (xq, xs, xz) = (
                format!("{prefix}/x_quantized"),
                format!("{prefix}/x_scale"),
                format!("{prefix}/x_zero_point"),
            );
            let (mm, cast, scale) = (
                format!("{prefix}/MatMulInteger_output_0"),
                format!("{prefix}/Cast_output_0"),
                format!("{prefix}/Scale_output_0"),
            );
            nodes.push(node(
                "DynamicQuantizeLinear",
                &format!("{prefix}/DynamicQuantizeLinear"),
                &[&n.input[0]],
                &[&xq, &xs, &xz],
            ));
            nodes.push(node(
                "MatMulInteger",
                &format!("{prefix}/MatMulInteger"),
                &[&xq, &q_name, &xz, &z_name],
                &[&mm],
            ));
            let mut c = node("Cast", &format!("{prefix}/Cast"), &[&mm], &[&cast]);
            c.attribute
                .push(AttributeProto::int("to", data_type::FLOAT.into()));
            nodes.push(c);
            nodes.push(node(
                "Mul",
                &format!("{prefix}/ScaleProduct"),
                &[&xs, &s_name],
                &[&scale],
            ));
            nodes.push(node(
                "Mul",
                &format!("{prefix}/Rescale"),
                &[&cast, &scale],
                &[&n.output[0]],
            ));
            report.matmuls += 1;
            report.quantized.push(w_name.clone());
            dropped.push(w_name);
        } else if options.embeddings
            && op == "Gather"
            && n.input.len() == 2
            && canonical_name(&n.input[0]).as_deref()
                == Some("bert.embeddings.word_embeddings.weight")
            && is_float_matrix(&n.input[0])
            && n.attribute.iter().all(|a| a.name() != "axis" || a.i() == 0)
        {
            let e_name = n.input[0].clone();
            let t = &graph.initializer[index[&e_name]];
            let shape = dims(t).map_err(|e| tensor_err(&e_name, e.to_string()))?;
            let values = read_f32(t, None).map_err(|e| tensor_err(&e_name, e.to_string()))?;
            let q = quantize_matrix(&values, shape[0], shape[1], Granularity::PerTensor);
            let q_name = format!("{e_name}_quantized");
            let s_name = format!("{e_name}_scale");
            let z_name = format!("{e_name}_zero_point");
            new_inits.push(int8_tensor(&q_name, &shape, &q.values));
            new_inits.push(f32_tensor(&s_name, &[], &q.scales));
            new_inits.push(int8_tensor(&z_name, &[], &[0]));
            let rows = format!("{prefix}/Gather_int8_output_0");
            nodes.push(node("Gather", &prefix, &[&q_name, &n.input[1]], &[&rows]));
            nodes.push(node(
                "DequantizeLinear",
                &format!("{prefix}/DequantizeLinear"),
                &[&rows, &s_name, &z_name],
                &[&n.output[0]],
            ));
            report.embeddings = true;
            report.quantized.push(e_name.clone());
            dropped.push(e_name);
        } else {
            nodes.push(n.clone());
        }
    }
    if report.matmuls == 0 {
        return Err(QuantizeError::NothingToQuantize);
    }
    graph.node = nodes;
    graph
        .initializer
        .retain(|t| !dropped.iter().any(|d| d == t.name()));
    graph.initializer.extend(new_inits);
    model
        .metadata_props
        .retain(|p| p.key() != QUANTIZATION_METADATA_KEY);
    model.metadata_props.push(StringStringEntryProto {
        key: Some(QUANTIZATION_METADATA_KEY.to_string()),
        value: Some(format!("dynamic-int8 u8s8 {}", options.name())),
    });
    Ok((model, report))
}
