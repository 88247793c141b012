//! `y = x W^T + b` as one autograd node on the CPU: the forward is a single gemm that accumulates
//! onto the broadcast bias, and the backward computes `dx = g W`, `dW = g^T x` (gemm reading the
//! transposes through strides, no copies) and `db = sum_rows g`. The composition candle records
//! (reshape, transpose, matmul, broadcast add, reshape) costs five backward nodes, each of which
//! allocates a zeroed gradient and adds into it.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, WithDType};
use gemm::Parallelism;
use rayon::prelude::*;

use super::fused::{with_data, Real};

struct LinearOp;

fn parallelism() -> Parallelism {
    match candle_core::utils::get_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

/// `dst[m, n] (+)= lhs[m, k] * rhs[k, n]` with explicit row/column strides (in elements).
#[allow(clippy::too_many_arguments)]
fn gemm_into<T: WithDType>(
    dst: &mut [T],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    lhs: &[T],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[T],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    assert!(dst.len() >= m * n, "gemm: destination too small");
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above keep every index gemm touches inside the three slices, and `dst`
    // is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism(),
        )
    }
}

fn linear_fwd<T: WithDType>(x: &[T], w: &[T], b: &[T], out: usize, inp: usize) -> Vec<T> {
    let rows = x.len() / inp;
    let mut y = Vec::with_capacity(rows * out);
    for _ in 0..rows {
        y.extend_from_slice(b);
    }
    // y += x[rows, in] * W^T, where W^T[in, out] is W read with row stride 1, column stride `in`.
    gemm_into(&mut y, (rows, out, inp), true, x, (inp, 1), w, (1, inp));
    y
}

/// `(dx, dW, db)`.
fn linear_bwd<T: WithDType>(
    x: &[T],
    w: &[T],
    g: &[T],
    out: usize,
    inp: usize,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let rows = x.len() / inp;
    let mut dx = vec![T::zero(); rows * inp];
    // dx[rows, in] = g[rows, out] * W[out, in]
    gemm_into(&mut dx, (rows, inp, out), false, g, (out, 1), w, (inp, 1));
    let mut dw = vec![T::zero(); out * inp];
    // dW[out, in] = g^T[out, rows] * x[rows, in]
    gemm_into(&mut dw, (out, inp, rows), false, g, (1, out), x, (inp, 1));
    let mut db = vec![T::zero(); out];
    for row in g.chunks_exact(out) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    (dx, dw, db)
}

fn dims(op: &str, x: &Shape, w: &Shape, b: &Shape) -> Result<(usize, usize)> {
    let inp = match x.dims().last() {
        Some(&d) if d > 0 => d,
        _ => bail!("{op}: input needs a non-empty last dimension, got {x:?}"),
    };
    let (out, w_in) = w.dims2()?;
    if w_in != inp || b.dims() != [out] {
        bail!("{op}: input {x:?} does not fit weight {w:?} and bias {b:?}")
    }
    Ok((out, inp))
}

fn out_shape(x: &Shape, out: usize) -> Shape {
    let mut d = x.dims().to_vec();
    *d.last_mut().expect("checked non-empty") = out;
    Shape::from(d)
}

use super::fused::contiguous_range as range;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "fused-linear"
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
        let (out, inp) = dims(op, l1.shape(), l2.shape(), l3.shape())?;
        let slice = |s: &'_ CpuStorage, l: &Layout| -> Result<(usize, usize)> {
            match l.contiguous_offsets() {
                Some(r) => Ok(r),
                None => bail!("{op}: operand is not contiguous ({:?})", s.dtype()),
            }
        };
        let ((a, b), (c, d), (e, f)) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let y = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(bias)) => {
                CpuStorage::F32(linear_fwd(&x[a..b], &w[c..d], &bias[e..f], out, inp))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(bias)) => {
                CpuStorage::F64(linear_fwd(&x[a..b], &w[c..d], &bias[e..f], out, inp))
            }
            _ => bail!(
                "{op}: operands must all be f32 or all f64, got {:?}",
                s1.dtype()
            ),
        };
        Ok((y, out_shape(l1.shape(), out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let (out, inp) = dims(op, x.shape(), w.shape(), b.shape())?;
        fn run<T: WithDType>(
            op: &str,
            x: &Tensor,
            w: &Tensor,
            g: &Tensor,
            out: usize,
            inp: usize,
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let (dx, dw, db) = with_data::<T, _>(op, x, |xs| {
                with_data::<T, _>(op, w, |ws| {
                    with_data::<T, _>(op, g, |gs| linear_bwd(xs, ws, gs, out, inp))
                })
            })???;
            let dev = x.device();
            Ok((
                Tensor::from_vec(dx, x.shape(), dev)?,
                Tensor::from_vec(dw, w.shape(), dev)?,
                Tensor::from_vec(db, out, dev)?,
            ))
        }
        let (dx, dw, db) = match x.dtype() {
            DType::F32 => run::<f32>(op, x, w, grad, out, inp)?,
            DType::F64 => run::<f64>(op, x, w, grad, out, inp)?,
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `x W^T + b` over the last dimension of `x`, for `W` `[out, in]` (PyTorch layout) and `b` `[out]`.
pub fn linear(xs: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    xs.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, LinearOp)
}

/// `gelu_erf(x W^T + b)` as one node: the forward keeps `gelu'` of the pre-activation (computed
/// with the same erf as the value), so the backward needs neither erf nor the pre-activation.
struct LinearGeluOp {
    /// `gelu'(x W^T + b)`, stored by the forward when a backward may follow.
    derivative: Mutex<Option<CpuStorage>>,
    keep_derivative: bool,
}

/// Replaces `h` by `gelu(h)`, writing `gelu'(h)` into `d` when given.
fn gelu_in_place<T: Real>(h: &mut [T], d: Option<&mut [T]>) {
    const CHUNK: usize = 1 << 14;
    match d {
        Some(d) => h
            .par_chunks_mut(CHUNK)
            .zip(d.par_chunks_mut(CHUNK))
            .for_each(|(h, d)| {
                for (hv, dv) in h.iter_mut().zip(d.iter_mut()) {
                    let (y, g) = hv.gelu_erf_and_grad();
                    *hv = y;
                    *dv = g;
                }
            }),
        // Same value formula with or without the derivative, so training and inference agree.
        None => h.par_chunks_mut(CHUNK).for_each(|h| {
            for hv in h.iter_mut() {
                *hv = hv.gelu_erf_and_grad().0;
            }
        }),
    }
}

fn linear_gelu_fwd<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    out: usize,
    inp: usize,
    keep: bool,
) -> (Vec<T>, Option<Vec<T>>) {
    let mut y = linear_fwd(x, w, b, out, inp);
    let mut d = keep.then(|| vec![T::zero(); y.len()]);
    gelu_in_place(&mut y, d.as_deref_mut());
    (y, d)
}

impl CustomOp3 for LinearGeluOp {
    fn name(&self) -> &'static str {
        "fused-linear-gelu"
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
        let (out, inp) = dims(op, l1.shape(), l2.shape(), l3.shape())?;
        let ((a, b), (c, d), (e, f)) = (range(op, l1)?, range(op, l2)?, range(op, l3)?);
        let keep = self.keep_derivative;
        let (y, deriv) = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(bias)) => {
                let (y, d) = linear_gelu_fwd(&x[a..b], &w[c..d], &bias[e..f], out, inp, keep);
                (CpuStorage::F32(y), d.map(CpuStorage::F32))
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(bias)) => {
                let (y, d) = linear_gelu_fwd(&x[a..b], &w[c..d], &bias[e..f], out, inp, keep);
                (CpuStorage::F64(y), d.map(CpuStorage::F64))
            }
            _ => bail!(
                "{op}: operands must all be f32 or all f64, got {:?}",
                s1.dtype()
            ),
        };
        *self.derivative.lock().expect("derivative lock") = deriv;
        Ok((y, out_shape(l1.shape(), out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let (out, inp) = dims(op, x.shape(), w.shape(), b.shape())?;
        let saved = self.derivative.lock().expect("derivative lock");
        let Some(deriv) = saved.as_ref() else {
            bail!("{op}: backward without a stored derivative (forward ran without gradients)")
        };
        fn run<T: Real>(
            op: &str,
            x: &Tensor,
            w: &Tensor,
            g: &Tensor,
            deriv: &[T],
            out: usize,
            inp: usize,
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let dh: Vec<T> = with_data::<T, _>(op, g, |gs| {
                gs.iter().zip(deriv).map(|(&g, &d)| g * d).collect()
            })?;
            let (dx, dw, db) = with_data::<T, _>(op, x, |xs| {
                with_data::<T, _>(op, w, |ws| linear_bwd(xs, ws, &dh, out, inp))
            })??;
            let dev = x.device();
            Ok((
                Tensor::from_vec(dx, x.shape(), dev)?,
                Tensor::from_vec(dw, w.shape(), dev)?,
                Tensor::from_vec(db, out, dev)?,
            ))
        }
        let (dx, dw, db) = match x.dtype() {
            DType::F32 => run::<f32>(op, x, w, grad, deriv.as_slice()?, out, inp)?,
            DType::F64 => run::<f64>(op, x, w, grad, deriv.as_slice()?, out, inp)?,
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `gelu_erf(x W^T + b)` (exact erf GELU) over the last dimension of `x`.
pub fn linear_gelu(xs: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let keep = xs.track_op() || weight.track_op() || bias.track_op();
    let op = LinearGeluOp {
        derivative: Mutex::new(None),
        keep_derivative: keep,
    };
    let (x, w, b) = (xs.contiguous()?, weight.contiguous()?, bias.contiguous()?);
    if keep {
        x.apply_op3(&w, &b, op)
    } else {
        x.apply_op3_no_bwd(&w, &b, &op)
    }
}
