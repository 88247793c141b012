//! INT8 dynamic quantisation of an fp32 BERT ONNX graph, as ONNX Runtime runs it.
//!
//! Every `MatMul` whose right operand is a 2-D float initialiser (the encoder's linear layers)
//! becomes `DynamicQuantizeLinear(x) -> MatMulInteger(x_u8, W_s8) -> Cast -> Mul(x_scale * w_scale)`
//! (U8S8: uint8 activations, int8 weights, the fast path on x86); the bias `Add` after it stays.
//! ONNX Runtime fuses that chain into `DynamicQuantizeMatMul` at its default optimisation level.
//! Weights are symmetric (zero point 0) with one scale per output column (per-channel) or one per
//! matrix (per-tensor). The word embeddings become an int8 table: `Gather` the int8 rows, then
//! `DequantizeLinear` with one scale (a per-tensor scale commutes with the gather, so the fp32
//! table is never materialised). The small pooler and classifier `Gemm`s, the position and
//! token-type embeddings and LayerNorm parameters stay fp32.

mod graph;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use graph::{quantize_model, QuantizeError};

/// One scale per output column or one per weight matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    PerTensor,
    PerChannel,
}

/// Which INT8 graph to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantizeOptions {
    pub weights: Granularity,
    /// Store the word embeddings as int8 too (they are half of a MiniLM's parameters).
    pub embeddings: bool,
}

impl Default for QuantizeOptions {
    /// The chosen variant: per-channel weights (per-tensor is no faster here and loses far more
    /// precision), int8 word embeddings (needed for the file to be under 30% of fp32).
    fn default() -> Self {
        QuantizeOptions {
            weights: Granularity::PerChannel,
            embeddings: true,
        }
    }
}

impl QuantizeOptions {
    /// A short name for tables and events, e.g. `per-channel+emb`.
    pub fn name(&self) -> String {
        let w = match self.weights {
            Granularity::PerTensor => "per-tensor",
            Granularity::PerChannel => "per-channel",
        };
        if self.embeddings {
            format!("{w}+emb")
        } else {
            w.to_string()
        }
    }
}

/// What the quantiser changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantizeReport {
    /// Initialisers replaced by int8 tensors (MatMul weights and, if asked, the word embeddings).
    pub quantized: Vec<String>,
    pub matmuls: usize,
    pub embeddings: bool,
}

/// Symmetric int8 quantisation of `values` with `scale` (values beyond +-127 steps are clipped).
pub fn quantize_i8(value: f32, scale: f32) -> i8 {
    (value / scale).round().clamp(-127.0, 127.0) as i8
}

/// The symmetric scale for values whose largest magnitude is `max_abs` (never zero, so a
/// weight column of zeros, as pruning can leave, still divides).
pub fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

/// [`quantize_model`] on encoded ONNX bytes.
pub fn quantize_onnx_bytes(
    fp32: &[u8],
    options: &QuantizeOptions,
) -> Result<(Vec<u8>, QuantizeReport), QuantizeError> {
    let model: crate::onnx::proto::ModelProto =
        prost::Message::decode(fp32).map_err(|e| QuantizeError::Decode(e.to_string()))?;
    let (model, report) = quantize_model(model, options)?;
    Ok((prost::Message::encode_to_vec(&model), report))
}
