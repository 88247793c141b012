//! Fused CPU kernels with hand-written backward passes for the three element-wise blocks of BERT
//! that candle would otherwise build from many basic ops: LayerNorm (with its affine part),
//! softmax with the scale and the additive attention mask, and exact erf GELU. Each forward is
//! one pass over contiguous rows (parallel across rows for large inputs); each backward is one
//! more pass, so autograd records one node instead of ten. f32 and f64 are supported (f64 for
//! gradient checks); other dtypes and devices are rejected with the op's name.

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Storage, Tensor,
    WithDType,
};
use rayon::prelude::*;

/// Below this many elements a kernel runs on the calling thread (rayon's overhead would dominate).
const PAR_MIN_ELEMS: usize = 1 << 15;

/// The float operations the kernels need, for f32 and f64.
pub(crate) trait Real: WithDType + Copy + Send + Sync {
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
    fn fmax(self, other: Self) -> Self;
    /// `0.5 * x * (1 + erf(x / sqrt 2))`, written exactly as candle's `gelu_erf`.
    fn gelu_erf(self) -> Self;
    /// The derivative of [`Real::gelu_erf`].
    fn gelu_erf_grad(self) -> Self;
    /// `(gelu_erf(x), gelu_erf_grad(x))` with one erf.
    fn gelu_erf_and_grad(self) -> (Self, Self);
}

impl Real for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn fmax(self, other: Self) -> Self {
        f32::max(self, other)
    }
    fn gelu_erf(self) -> Self {
        (candle_core::cpu::erf::erf_f32(self * std::f32::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * self
    }
    fn gelu_erf_grad(self) -> Self {
        // 1 / sqrt(2 pi)
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        let cdf =
            0.5 * (1.0 + candle_core::cpu::erf::erf_f32(self * std::f32::consts::FRAC_1_SQRT_2));
        cdf + self * INV_SQRT_2PI * (-0.5 * self * self).exp()
    }
    fn gelu_erf_and_grad(self) -> (Self, Self) {
        // erf(z), z = x / sqrt 2, by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, below f32
        // resolution near 1; the formula of PyTorch's vectorised CPU erf), whose exp(-z^2) is
        // also exp(-x^2 / 2) of the Gaussian density: one exp and no erf call per element.
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        let x = self;
        let z = x * std::f32::consts::FRAC_1_SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * z.abs());
        let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_7) * t - 0.284_496_74) * t
            + 0.254_829_6)
            * t;
        let e = (-0.5 * x * x).exp();
        let erf = (1.0 - poly * e).copysign(z);
        (
            (erf + 1.) * 0.5 * x,
            0.5 * (1.0 + erf) + x * INV_SQRT_2PI * e,
        )
    }
}

impl Real for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn fmax(self, other: Self) -> Self {
        f64::max(self, other)
    }
    fn gelu_erf(self) -> Self {
        (candle_core::cpu::erf::erf_f64(self * std::f64::consts::FRAC_1_SQRT_2) + 1.) * 0.5 * self
    }
    fn gelu_erf_grad(self) -> Self {
        const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
        let cdf =
            0.5 * (1.0 + candle_core::cpu::erf::erf_f64(self * std::f64::consts::FRAC_1_SQRT_2));
        cdf + self * INV_SQRT_2PI * (-0.5 * self * self).exp()
    }
    fn gelu_erf_and_grad(self) -> (Self, Self) {
        const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
        let erf = candle_core::cpu::erf::erf_f64(self * std::f64::consts::FRAC_1_SQRT_2);
        let y = (erf + 1.) * 0.5 * self;
        (
            y,
            0.5 * (1.0 + erf) + self * INV_SQRT_2PI * (-0.5 * self * self).exp(),
        )
    }
}

/// The storage offsets of a contiguous operand, or an error naming `op`.
pub(crate) fn contiguous_range(op: &str, l: &Layout) -> Result<(usize, usize)> {
    match l.contiguous_offsets() {
        Some(r) => Ok(r),
        None => bail!("{op}: operand is not contiguous"),
    }
}

/// The contiguous data of a CPU storage, or an error naming `op`.
fn slice<'a, T: WithDType>(op: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let (start, end) = contiguous_range(op, l)?;
    Ok(&s.as_slice::<T>()?[start..end])
}

/// Runs `f` on a contiguous copy of `t`'s data (a view when it already is contiguous).
pub(crate) fn with_data<T: WithDType, R>(
    op: &str,
    t: &Tensor,
    f: impl FnOnce(&[T]) -> R,
) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("{op}: only the CPU device is supported")
    };
    Ok(f(slice::<T>(op, cpu, layout)?))
}

/// Applies `f(row_index, row_out)` to every `row_len` chunk of `out`, in parallel when large.
fn for_rows<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() >= PAR_MIN_ELEMS {
        out.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    } else {
        out.chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
}

/// A fresh output buffer; every element is written by the kernel.
fn output<T: WithDType>(n: usize) -> Vec<T> {
    vec![T::zero(); n]
}

fn last_dim(op: &str, shape: &Shape) -> Result<usize> {
    match shape.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => bail!("{op}: input needs a non-empty last dimension, got {shape:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

struct LayerNormOp {
    eps: f64,
}

pub(crate) fn layer_norm_fwd<T: Real>(x: &[T], w: &[T], b: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let inv_n = T::from_f64(1.0 / n as f64);
    let eps = T::from_f64(eps);
    let mut y = output::<T>(x.len());
    for_rows(&mut y, n, |r, out| {
        let xs = &x[r * n..(r + 1) * n];
        let mut sum = T::zero();
        for &v in xs {
            sum += v;
        }
        let mean = sum * inv_n;
        let mut sq = T::zero();
        for &v in xs {
            let c = v - mean;
            sq += c * c;
        }
        let denom = (sq * inv_n + eps).sqrt();
        for i in 0..n {
            out[i] = (xs[i] - mean) / denom * w[i] + b[i];
        }
    });
    y
}

/// `(dx, dgamma, dbeta)` for rows of `x` given the upstream gradient `g`.
pub(crate) fn layer_norm_bwd<T: Real>(
    x: &[T],
    w: &[T],
    g: &[T],
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n = w.len();
    let rows = x.len() / n;
    let inv_n = T::from_f64(1.0 / n as f64);
    let eps = T::from_f64(eps);
    let mut dx = output::<T>(x.len());
    // Each chunk of rows accumulates its own dgamma/dbeta; the partial sums are added at the end.
    let chunk_rows = if x.len() >= PAR_MIN_ELEMS {
        rows.div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(1)
    } else {
        rows.max(1)
    };
    let partials: Vec<(Vec<T>, Vec<T>)> = dx
        .par_chunks_mut(chunk_rows * n)
        .enumerate()
        .map(|(c, dx_chunk)| {
            let mut dw = output::<T>(n);
            let mut db = output::<T>(n);
            let mut xhat = output::<T>(n);
            for (k, dxr) in dx_chunk.chunks_mut(n).enumerate() {
                let r = c * chunk_rows + k;
                let xs = &x[r * n..(r + 1) * n];
                let gs = &g[r * n..(r + 1) * n];
                let mut sum = T::zero();
                for &v in xs {
                    sum += v;
                }
                let mean = sum * inv_n;
                let mut sq = T::zero();
                for &v in xs {
                    let c = v - mean;
                    sq += c * c;
                }
                let rstd = T::one() / (sq * inv_n + eps).sqrt();
                let mut mean_dxhat = T::zero();
                let mut mean_dxhat_xhat = T::zero();
                for i in 0..n {
                    let xh = (xs[i] - mean) * rstd;
                    xhat[i] = xh;
                    let dxh = gs[i] * w[i];
                    mean_dxhat += dxh;
                    mean_dxhat_xhat += dxh * xh;
                    dw[i] += gs[i] * xh;
                    db[i] += gs[i];
                }
                mean_dxhat *= inv_n;
                mean_dxhat_xhat *= inv_n;
                for i in 0..n {
                    dxr[i] = rstd * (gs[i] * w[i] - mean_dxhat - xhat[i] * mean_dxhat_xhat);
                }
            }
            (dw, db)
        })
        .collect();
    let mut dw = output::<T>(n);
    let mut db = output::<T>(n);
    for (pw, pb) in partials {
        for i in 0..n {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
    (dx, dw, db)
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let n = last_dim(op, l1.shape())?;
        if l2.shape().elem_count() != n || l3.shape().elem_count() != n {
            bail!("{op}: weight and bias need {n} elements (the last dimension of the input)")
        }
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(layer_norm_fwd::<f32>(
                slice(op, s1, l1)?,
                slice(op, s2, l2)?,
                slice(op, s3, l3)?,
                self.eps,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(layer_norm_fwd::<f64>(
                slice(op, s1, l1)?,
                slice(op, s2, l2)?,
                slice(op, s3, l3)?,
                self.eps,
            )),
            other => bail!("{op}: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let eps = self.eps;
        let (dx, dw, db) = match x.dtype() {
            candle_core::DType::F32 => {
                let (dx, dw, db) = with_data::<f32, _>(op, x, |xs| {
                    with_data::<f32, _>(op, w, |ws| {
                        with_data::<f32, _>(op, grad, |gs| layer_norm_bwd(xs, ws, gs, eps))
                    })
                })???;
                let dev = x.device();
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dw, w.shape(), dev)?,
                    Tensor::from_vec(db, w.shape(), dev)?,
                )
            }
            candle_core::DType::F64 => {
                let (dx, dw, db) = with_data::<f64, _>(op, x, |xs| {
                    with_data::<f64, _>(op, w, |ws| {
                        with_data::<f64, _>(op, grad, |gs| layer_norm_bwd(xs, ws, gs, eps))
                    })
                })???;
                let dev = x.device();
                (
                    Tensor::from_vec(dx, x.shape(), dev)?,
                    Tensor::from_vec(dw, w.shape(), dev)?,
                    Tensor::from_vec(db, w.shape(), dev)?,
                )
            }
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// LayerNorm over the last dimension (biased variance, as PyTorch) with affine `weight`, `bias`.
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    xs.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNormOp { eps },
    )
}

// ---------------------------------------------------------------------------------------------
// Softmax(scale * scores + mask)

struct MaskedSoftmaxOp {
    scale: f64,
    /// Rows of `scores` that share one mask row (heads x query positions).
    rows_per_mask: usize,
}

fn masked_softmax_fwd<T: Real>(
    x: &[T],
    mask: &[T],
    s: usize,
    rows_per_mask: usize,
    scale: f64,
) -> Vec<T> {
    let scale = T::from_f64(scale);
    let mut y = output::<T>(x.len());
    for_rows(&mut y, s, |r, out| {
        let xs = &x[r * s..(r + 1) * s];
        let b = r / rows_per_mask;
        let ms = &mask[b * s..(b + 1) * s];
        let mut max = T::from_f64(f64::NEG_INFINITY);
        for i in 0..s {
            let v = xs[i] * scale + ms[i];
            out[i] = v;
            max = max.fmax(v);
        }
        let mut sum = T::zero();
        for o in out.iter_mut() {
            let e = (*o - max).exp();
            *o = e;
            sum += e;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    });
    y
}

fn masked_softmax_bwd<T: Real>(p: &[T], g: &[T], s: usize, scale: f64) -> Vec<T> {
    let scale = T::from_f64(scale);
    let mut dx = output::<T>(p.len());
    for_rows(&mut dx, s, |r, out| {
        let ps = &p[r * s..(r + 1) * s];
        let gs = &g[r * s..(r + 1) * s];
        let mut dot = T::zero();
        for i in 0..s {
            dot += ps[i] * gs[i];
        }
        for i in 0..s {
            out[i] = scale * ps[i] * (gs[i] - dot);
        }
    });
    dx
}

impl CustomOp2 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "fused-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let s = last_dim(op, l1.shape())?;
        let rows = l1.shape().elem_count() / s;
        let mask_rows = rows / self.rows_per_mask.max(1);
        if l2.shape().elem_count() != mask_rows * s || rows % self.rows_per_mask.max(1) != 0 {
            bail!(
                "{op}: mask {:?} does not fit scores {:?}",
                l2.shape(),
                l1.shape()
            )
        }
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(masked_softmax_fwd::<f32>(
                slice(op, s1, l1)?,
                slice(op, s2, l2)?,
                s,
                self.rows_per_mask,
                self.scale,
            )),
            CpuStorage::F64(_) => CpuStorage::F64(masked_softmax_fwd::<f64>(
                slice(op, s1, l1)?,
                slice(op, s2, l2)?,
                s,
                self.rows_per_mask,
                self.scale,
            )),
            other => bail!("{op}: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let s = scores.dim(candle_core::D::Minus1)?;
        let scale = self.scale;
        let dx = match scores.dtype() {
            candle_core::DType::F32 => {
                let v = with_data::<f32, _>(op, res, |p| {
                    with_data::<f32, _>(op, grad, |g| masked_softmax_bwd(p, g, s, scale))
                })??;
                Tensor::from_vec(v, scores.shape(), scores.device())?
            }
            candle_core::DType::F64 => {
                let v = with_data::<f64, _>(op, res, |p| {
                    with_data::<f64, _>(op, grad, |g| masked_softmax_bwd(p, g, s, scale))
                })??;
                Tensor::from_vec(v, scores.shape(), scores.device())?
            }
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        // The mask is an input constant: no gradient.
        Ok((Some(dx), None))
    }
}

/// `softmax(scale * scores + mask)` over the last dimension, for `scores` `[b, h, q, s]` and an
/// additive `mask` `[b, 1, 1, s]` (broadcast over heads and query positions).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, h, q, s) = scores.dims4()?;
    if mask.dims() != [b, 1, 1, s] {
        bail!(
            "fused-masked-softmax: mask shape {:?}, expected [{b}, 1, 1, {s}]",
            mask.dims()
        )
    }
    scores.contiguous()?.apply_op2(
        &mask.contiguous()?,
        MaskedSoftmaxOp {
            scale,
            rows_per_mask: h * q,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// GELU (exact erf form)

struct GeluErfOp;

fn map<T: Real>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    let mut y = output::<T>(x.len());
    const CHUNK: usize = 4096;
    for_rows(&mut y, CHUNK, |c, out| {
        let xs = &x[c * CHUNK..c * CHUNK + out.len()];
        for (o, &v) in out.iter_mut().zip(xs) {
            *o = f(v);
        }
    });
    y
}

fn zip_map<T: Real>(x: &[T], g: &[T], f: impl Fn(T, T) -> T + Sync + Send) -> Vec<T> {
    let mut y = output::<T>(x.len());
    const CHUNK: usize = 4096;
    for_rows(&mut y, CHUNK, |c, out| {
        let lo = c * CHUNK;
        let xs = &x[lo..lo + out.len()];
        let gs = &g[lo..lo + out.len()];
        for ((o, &v), &gv) in out.iter_mut().zip(xs).zip(gs) {
            *o = f(v, gv);
        }
    });
    y
}

impl CustomOp1 for GeluErfOp {
    fn name(&self) -> &'static str {
        "fused-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(map::<f32>(slice(op, s, l)?, Real::gelu_erf)),
            CpuStorage::F64(_) => CpuStorage::F64(map::<f64>(slice(op, s, l)?, Real::gelu_erf)),
            other => bail!("{op}: unsupported dtype {:?}", other.dtype()),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = self.name();
        let dx = match x.dtype() {
            candle_core::DType::F32 => {
                let v = with_data::<f32, _>(op, x, |xs| {
                    with_data::<f32, _>(op, grad, |gs| {
                        zip_map(xs, gs, |v, g| g * v.gelu_erf_grad())
                    })
                })??;
                Tensor::from_vec(v, x.shape(), x.device())?
            }
            candle_core::DType::F64 => {
                let v = with_data::<f64, _>(op, x, |xs| {
                    with_data::<f64, _>(op, grad, |gs| {
                        zip_map(xs, gs, |v, g| g * v.gelu_erf_grad())
                    })
                })??;
                Tensor::from_vec(v, x.shape(), x.device())?
            }
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok(Some(dx))
    }
}

/// Exact erf GELU, `0.5 x (1 + erf(x / sqrt 2))`, with a one-pass backward.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op1(GeluErfOp)
}
