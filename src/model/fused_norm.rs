//! `LayerNorm(dropout(a) + residual)`, the end of every BERT sub-block, as one autograd node on
//! the CPU: the sum is formed row by row inside the normalisation pass and kept for the backward,
//! which returns `d(residual)` and `d(a)` (the same gradient through the recomputed dropout mask)
//! without the separate product, sum and their gradient buffers.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};

use super::dropout::DropoutMask;
use super::fused::{layer_norm_bwd, layer_norm_fwd, with_data, Real};

struct AddNormOp {
    eps: f64,
    dropout: Option<DropoutMask>,
    /// `dropout(a) + residual`, kept for the backward.
    sum: Mutex<Option<CpuStorage>>,
    keep_sum: bool,
}

fn add<T: Real>(a: &[T], r: &[T], dropout: Option<DropoutMask>) -> Vec<T> {
    match dropout {
        None => a.iter().zip(r).map(|(&x, &y)| x + y).collect(),
        Some(m) => a
            .iter()
            .zip(r)
            .enumerate()
            .map(|(i, (&x, &y))| x * T::from_f64(m.factor(i)) + y)
            .collect(),
    }
}

impl CustomOp3 for AddNormOp {
    fn name(&self) -> &'static str {
        "fused-add-norm"
    }

    /// Operands: `a`, `residual` (same shape), `[weight; bias]` (`2 * n` for last dimension `n`).
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
        let n = match l1.shape().dims().last() {
            Some(&n) if n > 0 => n,
            _ => bail!("{op}: input needs a non-empty last dimension"),
        };
        if l2.shape() != l1.shape() || l3.shape().elem_count() != 2 * n {
            bail!(
                "{op}: shapes {:?}, {:?}, {:?} do not fit",
                l1.shape(),
                l2.shape(),
                l3.shape()
            )
        }
        let range = |l: &Layout| super::fused::contiguous_range(op, l);
        let ((a0, a1), (r0, r1), (p0, p1)) = (range(l1)?, range(l2)?, range(l3)?);
        let (y, sum) = match (s1, s2, s3) {
            (CpuStorage::F32(a), CpuStorage::F32(r), CpuStorage::F32(p)) => {
                let s = add(&a[a0..a1], &r[r0..r1], self.dropout);
                let p = &p[p0..p1];
                let y = layer_norm_fwd(&s, &p[..n], &p[n..], self.eps);
                (CpuStorage::F32(y), CpuStorage::F32(s))
            }
            (CpuStorage::F64(a), CpuStorage::F64(r), CpuStorage::F64(p)) => {
                let s = add(&a[a0..a1], &r[r0..r1], self.dropout);
                let p = &p[p0..p1];
                let y = layer_norm_fwd(&s, &p[..n], &p[n..], self.eps);
                (CpuStorage::F64(y), CpuStorage::F64(s))
            }
            _ => bail!(
                "{op}: operands must all be f32 or all f64, got {:?}",
                s1.dtype()
            ),
        };
        if self.keep_sum {
            *self.sum.lock().expect("sum lock") = Some(sum);
        }
        Ok((y, l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        _residual: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = self.name();
        let saved = self.sum.lock().expect("sum lock");
        let Some(sum) = saved.as_ref() else {
            bail!("{op}: backward without the saved sum")
        };
        fn run<T: Real>(
            op: &str,
            sum: &[T],
            (a, params, g): (&Tensor, &Tensor, &Tensor),
            eps: f64,
            dropout: Option<DropoutMask>,
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let n = params.elem_count() / 2;
            let (ds, dw, db) = with_data::<T, _>(op, params, |p| {
                with_data::<T, _>(op, g, |gs| layer_norm_bwd(sum, &p[..n], gs, eps))
            })??;
            let da: Vec<T> = match dropout {
                None => ds.clone(),
                Some(m) => ds
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v * T::from_f64(m.factor(i)))
                    .collect(),
            };
            let mut dp = dw;
            dp.extend_from_slice(&db);
            let dev = a.device();
            Ok((
                Tensor::from_vec(da, a.shape(), dev)?,
                Tensor::from_vec(ds, a.shape(), dev)?,
                Tensor::from_vec(dp, params.shape(), dev)?,
            ))
        }
        let args = (a, params, grad);
        let (da, dr, dp) = match a.dtype() {
            DType::F32 => run::<f32>(op, sum.as_slice()?, args, self.eps, self.dropout)?,
            DType::F64 => run::<f64>(op, sum.as_slice()?, args, self.eps, self.dropout)?,
            dt => bail!("{op}: unsupported dtype {dt:?}"),
        };
        Ok((Some(da), Some(dr), Some(dp)))
    }
}

/// `LayerNorm(dropout(a) + residual)` over the last dimension with affine `weight`, `bias`;
/// `dropout` indexes `a` as a row-major tensor (as [`super::dropout::Dropout::forward`] does).
pub fn dropout_add_layer_norm(
    a: &Tensor,
    residual: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    dropout: Option<DropoutMask>,
) -> Result<Tensor> {
    let params = Tensor::cat(&[weight, bias], 0)?;
    let keep = a.track_op() || residual.track_op() || params.track_op();
    let op = AddNormOp {
        eps,
        dropout,
        sum: Mutex::new(None),
        keep_sum: keep,
    };
    let (a, r) = (a.contiguous()?, residual.contiguous()?);
    if keep {
        a.apply_op3(&r, &params, op)
    } else {
        a.apply_op3_no_bwd(&r, &params, &op)
    }
}
