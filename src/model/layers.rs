//! Small differentiable building blocks. candle's fused softmax and LayerNorm kernels have no
//! backward pass, so on CPU the model uses our own kernels with hand-written backward passes
//! ([`super::fused`]); the compositions of basic ops remain as the reference (and for other devices).

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use super::fused;

/// Whether the model uses the fused CPU kernels (the default) or the compositions of basic ops.
static FUSED_KERNELS: AtomicBool = AtomicBool::new(true);

/// Switches between the fused CPU kernels and the basic-op compositions for the whole process
/// (the two agree to rounding; benchmarks use this to time both paths side by side).
pub fn set_fused_kernels(enabled: bool) {
    FUSED_KERNELS.store(enabled, Ordering::Relaxed);
}

/// True when `xs` should go through the fused kernels: enabled, and on the CPU.
pub fn use_fused(xs: &Tensor) -> bool {
    FUSED_KERNELS.load(Ordering::Relaxed) && xs.device().is_cpu()
}

/// `y = x W^T + b` with `W` in PyTorch layout `[out, in]`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    pub fn new(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self { weight, bias })
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if use_fused(xs) {
            super::fused_linear::linear(xs, &self.weight, &self.bias)
        } else {
            self.forward_composite(xs)
        }
    }
}

impl Linear {
    /// The basic-op composition (reference for the fused kernel).
    pub fn forward_composite(&self, xs: &Tensor) -> Result<Tensor> {
        let dims = xs.dims().to_vec();
        let in_dim = *dims
            .last()
            .expect("linear input has at least one dimension");
        let rows = xs.elem_count() / in_dim.max(1);
        let flat = xs.reshape((rows, in_dim))?;
        let y = flat.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("non-empty dims") = self.weight.dim(0)?;
        y.reshape(out_dims)
    }
}

/// LayerNorm over the last dimension with biased variance, as PyTorch computes it.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get(size, "weight")?;
        let bias = vb.get(size, "bias")?;
        Ok(Self { weight, bias, eps })
    }
}

impl LayerNorm {
    /// The basic-op composition (reference for the fused kernel).
    pub fn forward_composite(&self, xs: &Tensor) -> Result<Tensor> {
        let mean = xs.mean_keepdim(D::Minus1)?;
        let centered = xs.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if use_fused(xs) {
            fused::layer_norm(xs, &self.weight, &self.bias, self.eps)
        } else {
            self.forward_composite(xs)
        }
    }
}

/// Softmax over the last dimension; the max shift is detached (softmax does not depend on it).
pub fn softmax_last(xs: &Tensor) -> Result<Tensor> {
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let num = xs.broadcast_sub(&max)?.exp()?;
    let den = num.sum_keepdim(D::Minus1)?;
    num.broadcast_div(&den)
}

/// `softmax(scores * scale + mask)` over the last dimension for `scores` `[b, h, q, s]` and an
/// additive mask `[b, 1, 1, s]`.
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    if use_fused(scores) {
        fused::masked_softmax(scores, mask, scale)
    } else {
        softmax_last(&(scores * scale)?.broadcast_add(mask)?)
    }
}

/// Exact erf GELU.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    if use_fused(xs) {
        fused::gelu_erf(xs)
    } else {
        xs.gelu_erf()
    }
}
