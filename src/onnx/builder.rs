//! Helpers of the writer: a graph under construction, and the model's weights handed out as
//! initialisers after checking them against the shapes the config implies.

use crate::model::Weights;
use crate::onnx::error::OnnxError;
use crate::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use crate::onnx::tensor::{f32_tensor, i64_tensor, transpose};

/// Nodes and initialisers of the graph being built.
#[derive(Default)]
pub struct Builder {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
}

impl Builder {
    /// Adds a node whose one output is named after it; returns that output.
    pub fn op(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        let out = format!("{name}_output_0");
        self.op_named(op, name, inputs, &out, attrs);
        out
    }

    pub fn op_named(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute: attrs,
            ..Default::default()
        });
    }

    pub fn const_i64(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String {
        self.initializers.push(i64_tensor(name, dims, values));
        name.to_string()
    }

    pub fn const_f32(&mut self, name: &str, value: f32) -> String {
        self.initializers.push(f32_tensor(name, &[], &[value]));
        name.to_string()
    }

    pub fn layer_norm(
        &mut self,
        name: &str,
        x: &str,
        weight: &str,
        bias: &str,
        eps: f32,
    ) -> String {
        self.op(
            "LayerNormalization",
            name,
            &[x, weight, bias],
            vec![
                AttributeProto::int("axis", -1),
                AttributeProto::float("epsilon", eps),
            ],
        )
    }
}

/// Hands out the model's weights as initialisers, checking each against the config's shapes.
pub struct WeightSource<'w> {
    pub weights: &'w Weights,
    pub params: &'w [(String, Vec<usize>)],
}

impl WeightSource<'_> {
    /// Values in PyTorch layout, after checking name, shape and dtype.
    pub fn values(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), OnnxError> {
        let expected = self
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                OnnxError::Config(format!(
                    "the writer asked for {name}, which the config does not have"
                ))
            })?;
        let t = self.weights.get(name).ok_or_else(|| OnnxError::Missing {
            name: name.to_string(),
            reason: "the config implies it".to_string(),
        })?;
        if t.dims() != expected.as_slice() {
            return Err(OnnxError::Shape {
                name: name.to_string(),
                expected,
                actual: t.dims().to_vec(),
            });
        }
        let candle = |source| OnnxError::Candle {
            name: name.to_string(),
            source,
        };
        let values = t
            .to_dtype(candle_core::DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(candle)?;
        Ok((expected, values))
    }

    /// An initialiser in PyTorch layout.
    pub fn plain(&mut self, g: &mut Builder, name: &str) -> Result<String, OnnxError> {
        let (dims, values) = self.values(name)?;
        g.initializers.push(f32_tensor(name, &dims, &values));
        Ok(name.to_string())
    }

    /// `x @ W^T + b` for 3-D activations: MatMul with the weight stored `[in, out]`, then Add.
    pub fn linear(
        &mut self,
        g: &mut Builder,
        module: &str,
        x: &str,
        node: &str,
    ) -> Result<String, OnnxError> {
        let name = format!("{module}.weight");
        let (dims, values) = self.values(&name)?;
        let (out_f, in_f) = (dims[0], dims[1]);
        g.initializers.push(f32_tensor(
            &name,
            &[in_f, out_f],
            &transpose(&values, out_f, in_f),
        ));
        let bias = self.plain(g, &format!("{module}.bias"))?;
        let y = g.op("MatMul", &format!("{node}/MatMul"), &[x, &name], vec![]);
        Ok(g.op("Add", &format!("{node}/Add"), &[&y, &bias], vec![]))
    }

    /// `x @ W^T + b` for 2-D activations: Gemm with transB=1 and the weight in PyTorch layout.
    pub fn gemm(
        &mut self,
        g: &mut Builder,
        module: &str,
        x: &str,
        node: &str,
        output: Option<&str>,
    ) -> Result<String, OnnxError> {
        let w = self.plain(g, &format!("{module}.weight"))?;
        let b = self.plain(g, &format!("{module}.bias"))?;
        let attrs = vec![AttributeProto::int("transB", 1)];
        Ok(match output {
            Some(out) => {
                g.op_named("Gemm", node, &[x, &w, &b], out, attrs);
                out.to_string()
            }
            None => g.op("Gemm", node, &[x, &w, &b], attrs),
        })
    }

    /// Every weight the config implies went into the graph (the caller may hold extra ones, such as
    /// a classifier for an encoder-only export).
    pub fn check_all_used(&self, g: &Builder) -> Result<(), OnnxError> {
        for (name, _) in self.params {
            if !g.initializers.iter().any(|t| t.name() == name) {
                return Err(OnnxError::Config(format!("{name} was not written")));
            }
        }
        Ok(())
    }
}
