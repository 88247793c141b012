//! Small differentiable building blocks (candle's fused softmax and LayerNorm kernels have no
//! backward pass, so these are written with basic ops that backprop supports).

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

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

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mean = xs.mean_keepdim(D::Minus1)?;
        let centered = xs.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centered.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// Softmax over the last dimension; the max shift is detached (softmax does not depend on it).
pub fn softmax_last(xs: &Tensor) -> Result<Tensor> {
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let num = xs.broadcast_sub(&max)?.exp()?;
    let den = num.sum_keepdim(D::Minus1)?;
    num.broadcast_div(&den)
}
