//! Multi-head self-attention core as one autograd node on the CPU:
//! `context = dropout(softmax(scale * q k^T + mask)) v`, reading `q`, `k`, `v` in the `[b, s, H*d]`
//! layout the projections produce and writing `context` in the same layout, so no head
//! split/merge copies exist. Work is parallel over (batch, head) pairs, each running small
//! single-threaded gemms; the backward recomputes the dropout mask from its counter-based
//! generator and reuses the saved softmax probabilities.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::dropout::DropoutMask;
use super::fused::{with_data, Real};

struct AttentionOp {
    heads: usize,
    head_dim: usize,
    scale: f64,
    /// Additive mask `[b, 1, 1, s]`, contiguous, same dtype as the inputs.
    mask: Tensor,
    dropout: Option<DropoutMask>,
    /// Softmax probabilities `[b, H, s, s]` (before dropout), kept for the backward.
    probs: Mutex<Option<CpuStorage>>,
    keep_probs: bool,
}

/// A raw pointer that may cross threads: every (batch, head) unit writes a disjoint set of
/// elements (its own head's columns of its own batch's rows).
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// A method (not a field access) so that closures capture the whole `Sync` wrapper.
    fn ptr(&self) -> *mut T {
        self.0
    }
}

/// A strided matrix view: element (i, j) at `ptr + off + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct View {
    off: usize,
    rs: usize,
    cs: usize,
}

/// `dst = lhs * rhs` (m x k times k x n) on raw pointers with strides, single-threaded.
///
/// # Safety
/// All indices implied by the shapes and views must lie inside the respective allocations, and
/// no other thread may access the destination elements concurrently.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: 'static + num_traits_like::One>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    d: View,
    lhs: *const T,
    l: View,
    rhs: *const T,
    r: View,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.add(d.off),
        d.cs as isize,
        d.rs as isize,
        false,
        lhs.add(l.off),
        l.cs as isize,
        l.rs as isize,
        rhs.add(r.off),
        r.cs as isize,
        r.rs as isize,
        T::one(),
        T::one(),
        false,
        false,
        false,
        Parallelism::None,
    )
}

/// `one()` for the two float types (gemm's alpha/beta).
mod num_traits_like {
    pub trait One {
        fn one() -> Self;
    }
    impl One for f32 {
        fn one() -> Self {
            1.0
        }
    }
    impl One for f64 {
        fn one() -> Self {
            1.0
        }
    }
}
use num_traits_like::One;

struct Dims {
    b: usize,
    s: usize,
    heads: usize,
    d: usize,
}

impl Dims {
    fn width(&self) -> usize {
        self.heads * self.d
    }
    /// Head `h` of batch `bi` in a `[b, s, H*d]` tensor: an s x d matrix.
    fn head(&self, bi: usize, h: usize) -> View {
        View {
            off: bi * self.s * self.width() + h * self.d,
            rs: self.width(),
            cs: 1,
        }
    }
    /// The same matrix transposed (d x s).
    fn head_t(&self, bi: usize, h: usize) -> View {
        View {
            off: bi * self.s * self.width() + h * self.d,
            rs: 1,
            cs: self.width(),
        }
    }
}

fn square(s: usize) -> View {
    View {
        off: 0,
        rs: s,
        cs: 1,
    }
}

fn square_t(s: usize) -> View {
    View {
        off: 0,
        rs: 1,
        cs: s,
    }
}

/// Forward: returns `(context [b, s, H*d], probs [b, H, s, s])`.
fn attention_fwd<T: Real + One>(
    q: &[T],
    k: &[T],
    v: &[T],
    mask: &[T],
    dims: &Dims,
    scale: f64,
    dropout: Option<DropoutMask>,
) -> (Vec<T>, Vec<T>) {
    let Dims { s, heads, d, .. } = *dims;
    let mut ctx = vec![T::zero(); q.len()];
    let mut probs = vec![T::zero(); dims.b * heads * s * s];
    let ctx_ptr = SharedMut(ctx.as_mut_ptr());
    let scale_t = T::from_f64(scale);
    probs.par_chunks_mut(s * s).enumerate().for_each_init(
        || vec![T::zero(); s * s],
        |dropped, (unit, p)| {
            let (bi, h) = (unit / heads, unit % heads);
            // SAFETY: q, k are [b, s, H*d] and p is s x s; the views stay in bounds.
            unsafe {
                gemm_raw(
                    (s, s, d),
                    p.as_mut_ptr(),
                    square(s),
                    q.as_ptr(),
                    dims.head(bi, h),
                    k.as_ptr(),
                    dims.head_t(bi, h),
                );
            }
            let m = &mask[bi * s..(bi + 1) * s];
            for row in p.chunks_exact_mut(s) {
                let mut max = T::from_f64(f64::NEG_INFINITY);
                for (x, &mv) in row.iter_mut().zip(m) {
                    *x = *x * scale_t + mv;
                    max = max.fmax(*x);
                }
                let mut sum = T::zero();
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                for x in row.iter_mut() {
                    *x /= sum;
                }
            }
            let used: &[T] = match dropout {
                None => &p[..],
                Some(mask) => {
                    let base = unit * s * s;
                    for (i, (o, &x)) in dropped.iter_mut().zip(p.iter()).enumerate() {
                        *o = x * T::from_f64(mask.factor(base + i));
                    }
                    &dropped[..]
                }
            };
            // SAFETY: unit (bi, h) writes only its own head's columns of batch bi's rows.
            unsafe {
                gemm_raw(
                    (s, d, s),
                    ctx_ptr.ptr(),
                    dims.head(bi, h),
                    used.as_ptr(),
                    square(s),
                    v.as_ptr(),
                    dims.head(bi, h),
                );
            }
        },
    );
    (ctx, probs)
}

/// Backward: `(dq, dk, dv)`, each `[b, s, H*d]`.
#[allow(clippy::too_many_arguments)]
fn attention_bwd<T: Real + One>(
    q: &[T],
    k: &[T],
    v: &[T],
    probs: &[T],
    grad: &[T],
    dims: &Dims,
    scale: f64,
    dropout: Option<DropoutMask>,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let Dims { s, heads, d, .. } = *dims;
    let mut dq = vec![T::zero(); q.len()];
    let mut dk = vec![T::zero(); q.len()];
    let mut dv = vec![T::zero(); q.len()];
    let (dq_ptr, dk_ptr, dv_ptr) = (
        SharedMut(dq.as_mut_ptr()),
        SharedMut(dk.as_mut_ptr()),
        SharedMut(dv.as_mut_ptr()),
    );
    let scale_t = T::from_f64(scale);
    probs.par_chunks(s * s).enumerate().for_each_init(
        || (vec![T::zero(); s * s], vec![T::zero(); s * s]),
        |(dropped, dp), (unit, p)| {
            let (bi, h) = (unit / heads, unit % heads);
            let base = unit * s * s;
            let used: &[T] = match dropout {
                None => p,
                Some(mask) => {
                    for (i, (o, &x)) in dropped.iter_mut().zip(p.iter()).enumerate() {
                        *o = x * T::from_f64(mask.factor(base + i));
                    }
                    &dropped[..]
                }
            };
            // SAFETY (all gemms below): views stay inside their [b, s, H*d] or s x s buffers, and
            // unit (bi, h) writes only its own head's columns of batch bi's rows of dq, dk, dv.
            unsafe {
                // dv = used^T grad
                gemm_raw(
                    (s, d, s),
                    dv_ptr.ptr(),
                    dims.head(bi, h),
                    used.as_ptr(),
                    square_t(s),
                    grad.as_ptr(),
                    dims.head(bi, h),
                );
                // d(used) = grad v^T
                gemm_raw(
                    (s, s, d),
                    dp.as_mut_ptr(),
                    square(s),
                    grad.as_ptr(),
                    dims.head(bi, h),
                    v.as_ptr(),
                    dims.head_t(bi, h),
                );
            }
            if let Some(mask) = dropout {
                for (i, x) in dp.iter_mut().enumerate() {
                    *x *= T::from_f64(mask.factor(base + i));
                }
            }
            // Softmax backward, then the score scale: ds = scale * p * (dp - sum(dp * p)).
            for (dpr, pr) in dp.chunks_exact_mut(s).zip(p.chunks_exact(s)) {
                let mut dot = T::zero();
                for (&a, &b) in dpr.iter().zip(pr) {
                    dot += a * b;
                }
                for (a, &b) in dpr.iter_mut().zip(pr) {
                    *a = scale_t * b * (*a - dot);
                }
            }
            unsafe {
                // dq = ds k
                gemm_raw(
                    (s, d, s),
                    dq_ptr.ptr(),
                    dims.head(bi, h),
                    dp.as_ptr(),
                    square(s),
                    k.as_ptr(),
                    dims.head(bi, h),
                );
                // dk = ds^T q
                gemm_raw(
                    (s, d, s),
                    dk_ptr.ptr(),
                    dims.head(bi, h),
                    dp.as_ptr(),
                    square_t(s),
                    q.as_ptr(),
                    dims.head(bi, h),
                );
            }
        },
    );
    (dq, dk, dv)
}

impl AttentionOp {
    fn dims(&self, shape: &Shape) -> Result<Dims> {
        let (b, s, w) = shape.dims3()?;
        if w != self.heads * self.head_dim {
            bail!(
                "fused-attention: width {w} is not {} heads x {}",
                self.heads,
                self.head_dim
            )
        }
        if self.mask.dims() != [b, 1, 1, s] {
            bail!(
                "fused-attention: mask shape {:?}, expected [{b}, 1, 1, {s}]",
                self.mask.dims()
            )
        }
        Ok(Dims {
            b,
            s,
            heads: self.heads,
            d: self.head_dim,
        })
    }
}

impl CustomOp3 for AttentionOp {
    fn name(&self) -> &'static str {
        "fused-attention"
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
        let dims = self.dims(l1.shape())?;
        if l2.shape() != l1.shape() || l3.shape() != l1.shape() {
            bail!("fused-attention: q, k, v shapes differ")
        }
        let range = |l: &Layout| super::fused::contiguous_range(self.name(), l);
        let ((a, b), (c, d), (e, f)) = (range(l1)?, range(l2)?, range(l3)?);
        let (ctx, probs) = match (s1, s2, s3) {
            (CpuStorage::F32(q), CpuStorage::F32(k), CpuStorage::F32(v)) => {
                let (ctx, probs) = with_data::<f32, _>(self.name(), &self.mask, |m| {
                    attention_fwd(
                        &q[a..b],
                        &k[c..d],
                        &v[e..f],
                        m,
                        &dims,
                        self.scale,
                        self.dropout,
                    )
                })?;
                (CpuStorage::F32(ctx), CpuStorage::F32(probs))
            }
            (CpuStorage::F64(q), CpuStorage::F64(k), CpuStorage::F64(v)) => {
                let (ctx, probs) = with_data::<f64, _>(self.name(), &self.mask, |m| {
                    attention_fwd(
                        &q[a..b],
                        &k[c..d],
                        &v[e..f],
                        m,
                        &dims,
                        self.scale,
                        self.dropout,
                    )
                })?;
                (CpuStorage::F64(ctx), CpuStorage::F64(probs))
            }
            _ => bail!(
                "fused-attention: q, k, v must all be f32 or all f64, got {:?}",
                s1.dtype()
            ),
        };
        if self.keep_probs {
            *self.probs.lock().expect("probs lock") = Some(probs);
        }
        Ok((ctx, l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let dims = self.dims(q.shape())?;
        let saved = self.probs.lock().expect("probs lock");
        let Some(probs) = saved.as_ref() else {
            bail!("{op}: backward without saved probabilities")
        };
        fn run<T: Real + One>(
            op: &str,
            (q, k, v, g): (&Tensor, &Tensor, &Tensor, &Tensor),
            probs: &[T],
            dims: &Dims,
            scale: f64,
            dropout: Option<DropoutMask>,
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let (dq, dk, dv) = with_data::<T, _>(op, q, |qs| {
                with_data::<T, _>(op, k, |ks| {
                    with_data::<T, _>(op, v, |vs| {
                        with_data::<T, _>(op, g, |gs| {
                            attention_bwd(qs, ks, vs, probs, gs, dims, scale, dropout)
                        })
                    })
                })
            })????;
            let (shape, dev) = (q.shape(), q.device());
            Ok((
                Tensor::from_vec(dq, shape, dev)?,
                Tensor::from_vec(dk, shape, dev)?,
                Tensor::from_vec(dv, shape, dev)?,
            ))
        }
        let args = (q, k, v, grad);
        let (dq, dk, dv) = match q.dtype() {
            DType::F32 => run::<f32>(op, args, probs.as_slice()?, &dims, self.scale, self.dropout)?,
            DType::F64 => run::<f64>(op, args, probs.as_slice()?, &dims, self.scale, self.dropout)?,
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `dropout(softmax(scale * q_h k_h^T + mask)) v_h` for every head `h`, with `q`, `k`, `v` and the
/// result in `[b, s, heads * head_dim]` layout and `mask` the additive `[b, 1, 1, s]` mask.
/// `dropout` is applied to the probabilities, indexed as a row-major `[b, heads, s, s]` tensor.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    heads: usize,
    scale: f64,
    dropout: Option<DropoutMask>,
) -> Result<Tensor> {
    let (_, _, width) = q.dims3()?;
    if heads == 0 || width % heads != 0 {
        bail!("fused-attention: width {width} does not split into {heads} heads")
    }
    let keep = q.track_op() || k.track_op() || v.track_op();
    let op = AttentionOp {
        heads,
        head_dim: width / heads,
        scale,
        mask: mask.to_dtype(q.dtype())?.contiguous()?,
        dropout,
        probs: Mutex::new(None),
        keep_probs: keep,
    };
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    if keep {
        q.apply_op3(&k, &v, op)
    } else {
        q.apply_op3_no_bwd(&k, &v, &op)
    }
}
