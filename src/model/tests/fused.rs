//! The fused kernels against finite differences (f64) and against the basic-op compositions (f32).

use candle_core::{DType, Device, Result, Tensor, Var};

use crate::model::dropout::mix64;
use crate::model::dropout::{Dropout, Mode};
use crate::model::fused;
use crate::model::fused_attention;
use crate::model::fused_linear;
use crate::model::fused_norm;
use crate::model::layers::{softmax_last, LayerNorm, Linear};

/// Deterministic values in `[-scale, scale)`.
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let u = (mix64(seed ^ mix64(i as u64 + 1)) >> 11) as f64 / (1u64 << 53) as f64;
            (2.0 * u - 1.0) * scale
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64, scale: f64, dtype: DType) -> Result<Tensor> {
    let n = shape.iter().product();
    Tensor::from_vec(values(n, seed, scale), shape, &Device::Cpu)?.to_dtype(dtype)
}

/// Additive mask `[b, 1, 1, s]` where batch row `i` keeps its first `s - i` positions.
fn additive_mask(b: usize, s: usize, dtype: DType) -> Result<Tensor> {
    let v: Vec<f64> = (0..b)
        .flat_map(|i| (0..s).map(move |j| if j < s - i { 0.0 } else { f32::MIN as f64 }))
        .collect();
    Tensor::from_vec(v, (b, 1, 1, s), &Device::Cpu)?.to_dtype(dtype)
}

/// Checks d(loss)/d(var) from backprop against central differences for every element of every var.
fn grad_check(vars: &[Var], loss: impl Fn() -> Result<Tensor>) -> Result<()> {
    let grads = loss()?.backward()?;
    let h = 1e-6;
    for (k, var) in vars.iter().enumerate() {
        let analytic: Vec<f64> = grads
            .get(var.as_tensor())
            .expect("every var gets a gradient")
            .flatten_all()?
            .to_vec1()?;
        let base: Vec<f64> = var.as_tensor().flatten_all()?.to_vec1()?;
        for i in 0..base.len() {
            let mut plus = base.clone();
            plus[i] += h;
            var.set(&Tensor::from_vec(plus, var.shape(), &Device::Cpu)?)?;
            let lp = loss()?.to_scalar::<f64>()?;
            let mut minus = base.clone();
            minus[i] -= h;
            var.set(&Tensor::from_vec(minus, var.shape(), &Device::Cpu)?)?;
            let lm = loss()?.to_scalar::<f64>()?;
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu)?)?;
            let numeric = (lp - lm) / (2.0 * h);
            let err =
                (numeric - analytic[i]).abs() / numeric.abs().max(analytic[i].abs()).max(1e-3);
            assert!(
                err < 1e-6,
                "var {k} element {i}: backprop {} vs finite difference {numeric}",
                analytic[i]
            );
        }
    }
    Ok(())
}

/// Max |a - b| over all elements.
fn max_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    (a - b)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()
}

#[test]
fn layer_norm_gradients_match_finite_differences() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[2, 3, 5], 1, 2.0, DType::F64)?)?;
    let w = Var::from_tensor(&(tensor(&[5], 2, 0.5, DType::F64)? + 1.0)?)?;
    let b = Var::from_tensor(&tensor(&[5], 3, 0.5, DType::F64)?)?;
    let r = tensor(&[2, 3, 5], 4, 1.0, DType::F64)?;
    grad_check(&[x.clone(), w.clone(), b.clone()], || {
        (fused::layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-12)? * &r)?.sum_all()
    })
}

#[test]
fn masked_softmax_gradients_match_finite_differences() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[3, 2, 4, 4], 5, 3.0, DType::F64)?)?;
    let mask = additive_mask(3, 4, DType::F64)?;
    let r = tensor(&[3, 2, 4, 4], 6, 1.0, DType::F64)?;
    grad_check(std::slice::from_ref(&x), || {
        (fused::masked_softmax(x.as_tensor(), &mask, 0.125)? * &r)?.sum_all()
    })
}

#[test]
fn gelu_gradients_match_finite_differences() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[4, 9], 7, 4.0, DType::F64)?)?;
    let r = tensor(&[4, 9], 8, 1.0, DType::F64)?;
    grad_check(std::slice::from_ref(&x), || {
        (fused::gelu_erf(x.as_tensor())? * &r)?.sum_all()
    })
}

/// Large enough to take the parallel path (more than 2^15 elements).
const ROWS: usize = 2 * 64;
const HIDDEN: usize = 384;

#[test]
fn fused_layer_norm_agrees_with_composite_in_f32() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[2, ROWS / 2, HIDDEN], 11, 3.0, DType::F32)?)?;
    let ln = LayerNorm {
        weight: Var::from_tensor(&(tensor(&[HIDDEN], 12, 0.5, DType::F32)? + 1.0)?)?
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&tensor(&[HIDDEN], 13, 0.5, DType::F32)?)?
            .as_tensor()
            .clone(),
        eps: 1e-12,
    };
    let r = tensor(&[2, ROWS / 2, HIDDEN], 14, 1.0, DType::F32)?;
    let fused_y = fused::layer_norm(x.as_tensor(), &ln.weight, &ln.bias, ln.eps)?;
    let comp_y = ln.forward_composite(x.as_tensor())?;
    assert!(max_diff(&fused_y, &comp_y)? < 1e-5);
    let gf = (fused_y * &r)?.sum_all()?.backward()?;
    let gc = (comp_y * &r)?.sum_all()?.backward()?;
    for t in [x.as_tensor(), &ln.weight, &ln.bias] {
        let d = max_diff(gf.get(t).expect("grad"), gc.get(t).expect("grad"))?;
        assert!(d < 2e-4, "gradient differs by {d}");
    }
    Ok(())
}

#[test]
fn fused_masked_softmax_agrees_with_composite_in_f32() -> Result<()> {
    let (b, h, s) = (4, 12, 40);
    let x = Var::from_tensor(&tensor(&[b, h, s, s], 21, 20.0, DType::F32)?)?;
    let mask = additive_mask(b, s, DType::F32)?;
    let r = tensor(&[b, h, s, s], 22, 1.0, DType::F32)?;
    let scale = 0.125;
    let fused_y = fused::masked_softmax(x.as_tensor(), &mask, scale)?;
    let comp_y = softmax_last(&(x.as_tensor() * scale)?.broadcast_add(&mask)?)?;
    assert!(max_diff(&fused_y, &comp_y)? < 1e-6);
    // Masked keys get exactly zero probability.
    let last_row: Vec<f32> = fused_y.get(3)?.get(0)?.get(0)?.to_vec1()?;
    assert!(last_row[s - 3..].iter().all(|&p| p == 0.0));
    let gf = (fused_y * &r)?.sum_all()?.backward()?;
    let gc = (comp_y * &r)?.sum_all()?.backward()?;
    let d = max_diff(
        gf.get(x.as_tensor()).expect("grad"),
        gc.get(x.as_tensor()).expect("grad"),
    )?;
    assert!(d < 1e-6, "gradient differs by {d}");
    Ok(())
}

#[test]
fn fused_gelu_agrees_with_candle_in_f32() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[ROWS, 1536], 31, 5.0, DType::F32)?)?;
    let r = tensor(&[ROWS, 1536], 32, 1.0, DType::F32)?;
    let fused_y = fused::gelu_erf(x.as_tensor())?;
    let comp_y = x.as_tensor().gelu_erf()?;
    // Same formula, same erf: bit-identical forward.
    assert_eq!(max_diff(&fused_y, &comp_y)?, 0.0);

    let gf = (fused_y * &r)?.sum_all()?.backward()?;
    let gc = (comp_y * &r)?.sum_all()?.backward()?;
    let d = max_diff(
        gf.get(x.as_tensor()).expect("grad"),
        gc.get(x.as_tensor()).expect("grad"),
    )?;
    assert!(d < 1e-5, "gradient differs by {d}");
    Ok(())
}

#[test]
fn fused_ops_reject_unsupported_dtypes() {
    let x = Tensor::zeros((2, 4), DType::U32, &Device::Cpu).expect("zeros");
    let err = fused::gelu_erf(&x).expect_err("u32 is not a float");
    assert!(err.to_string().contains("fused-gelu-erf"), "{err}");
}

#[test]
fn linear_gradients_match_finite_differences() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[2, 3, 4], 41, 2.0, DType::F64)?)?;
    let w = Var::from_tensor(&tensor(&[5, 4], 42, 1.0, DType::F64)?)?;
    let b = Var::from_tensor(&tensor(&[5], 43, 1.0, DType::F64)?)?;
    let r = tensor(&[2, 3, 5], 44, 1.0, DType::F64)?;
    grad_check(&[x.clone(), w.clone(), b.clone()], || {
        (fused_linear::linear(x.as_tensor(), w.as_tensor(), b.as_tensor())? * &r)?.sum_all()
    })
}

#[test]
fn fused_linear_agrees_with_composite_in_f32() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[4, 33, HIDDEN], 51, 1.0, DType::F32)?)?;
    let lin = Linear {
        weight: Var::from_tensor(&tensor(&[1536, HIDDEN], 52, 0.1, DType::F32)?)?
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&tensor(&[1536], 53, 0.1, DType::F32)?)?
            .as_tensor()
            .clone(),
    };
    let r = tensor(&[4, 33, 1536], 54, 1.0, DType::F32)?;
    let fused_y = fused_linear::linear(x.as_tensor(), &lin.weight, &lin.bias)?;
    let comp_y = lin.forward_composite(x.as_tensor())?;
    assert_eq!(fused_y.dims(), &[4, 33, 1536]);
    assert!(max_diff(&fused_y, &comp_y)? < 1e-5);
    let gf = (fused_y * &r)?.sum_all()?.backward()?;
    let gc = (comp_y * &r)?.sum_all()?.backward()?;
    for t in [x.as_tensor(), &lin.weight, &lin.bias] {
        let d = max_diff(gf.get(t).expect("grad"), gc.get(t).expect("grad"))?;
        assert!(d < 1e-4, "gradient differs by {d}");
    }
    Ok(())
}

#[test]
fn linear_gelu_gradients_match_finite_differences() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[3, 4], 61, 2.0, DType::F64)?)?;
    let w = Var::from_tensor(&tensor(&[6, 4], 62, 1.0, DType::F64)?)?;
    let b = Var::from_tensor(&tensor(&[6], 63, 1.0, DType::F64)?)?;
    let r = tensor(&[3, 6], 64, 1.0, DType::F64)?;
    grad_check(&[x.clone(), w.clone(), b.clone()], || {
        (fused_linear::linear_gelu(x.as_tensor(), w.as_tensor(), b.as_tensor())? * &r)?.sum_all()
    })
}

#[test]
fn fused_linear_gelu_agrees_with_composite_in_f32() -> Result<()> {
    let x = Var::from_tensor(&tensor(&[2, 40, HIDDEN], 71, 1.0, DType::F32)?)?;
    let lin = Linear {
        weight: Var::from_tensor(&tensor(&[1536, HIDDEN], 72, 0.2, DType::F32)?)?
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&tensor(&[1536], 73, 0.5, DType::F32)?)?
            .as_tensor()
            .clone(),
    };
    let r = tensor(&[2, 40, 1536], 74, 1.0, DType::F32)?;
    let fused_y = fused_linear::linear_gelu(x.as_tensor(), &lin.weight, &lin.bias)?;
    let comp_y = lin.forward_composite(x.as_tensor())?.gelu_erf()?;
    assert!(max_diff(&fused_y, &comp_y)? < 1e-5);
    let gf = (fused_y * &r)?.sum_all()?.backward()?;
    let gc = (&comp_y * &r)?.sum_all()?.backward()?;
    for t in [x.as_tensor(), &lin.weight, &lin.bias] {
        let d = max_diff(gf.get(t).expect("grad"), gc.get(t).expect("grad"))?;
        assert!(d < 1e-4, "gradient differs by {d}");
    }
    // Without gradients (inference) the op records nothing and gives the same values.
    let plain = x.as_tensor().detach();
    let w = lin.weight.detach();
    let b = lin.bias.detach();
    let y = fused_linear::linear_gelu(&plain, &w, &b)?;
    assert!(!y.track_op());
    assert!(max_diff(&y, &comp_y)? < 1e-5);
    Ok(())
}

/// The reference: split heads, matmul, scaled masked softmax, dropout, matmul, merge heads.
fn attention_composite(
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    mask: &Tensor,
    heads: usize,
    dropout: &Dropout,
    mode: Mode,
) -> Result<Tensor> {
    let (b, s, w) = q.dims3()?;
    let d = w / heads;
    let split = |x: &Tensor| x.reshape((b, s, heads, d))?.transpose(1, 2)?.contiguous();
    let (qh, kh, vh) = (split(q)?, split(k)?, split(v)?);
    let scale = 1.0 / (d as f64).sqrt();
    let scores = (qh.matmul(&kh.t()?.contiguous()?)? * scale)?.broadcast_add(mask)?;
    let probs = dropout.forward(&softmax_last(&scores)?, mode)?;
    probs.matmul(&vh)?.transpose(1, 2)?.reshape((b, s, w))
}

#[test]
fn attention_gradients_match_finite_differences_with_dropout() -> Result<()> {
    let (b, s, heads, d) = (2, 5, 2, 3);
    let q = Var::from_tensor(&tensor(&[b, s, heads * d], 81, 1.5, DType::F64)?)?;
    let k = Var::from_tensor(&tensor(&[b, s, heads * d], 82, 1.5, DType::F64)?)?;
    let v = Var::from_tensor(&tensor(&[b, s, heads * d], 83, 1.5, DType::F64)?)?;
    let mask = additive_mask(b, s, DType::F64)?;
    let r = tensor(&[b, s, heads * d], 84, 1.0, DType::F64)?;
    let drop_mask = Dropout::new(0.3, 7).mask(Mode::Train { dropout_seed: 5 });
    assert!(drop_mask.is_some());
    let scale = 1.0 / (d as f64).sqrt();
    grad_check(&[q.clone(), k.clone(), v.clone()], || {
        let ctx = fused_attention::attention(
            q.as_tensor(),
            k.as_tensor(),
            v.as_tensor(),
            &mask,
            heads,
            scale,
            drop_mask,
        )?;
        (ctx * &r)?.sum_all()
    })
}

#[test]
fn fused_attention_agrees_with_composite_in_f32() -> Result<()> {
    let (b, s, heads, d) = (3, 24, 12, 32);
    let w = heads * d;
    let q = Var::from_tensor(&tensor(&[b, s, w], 91, 2.0, DType::F32)?)?;
    let k = Var::from_tensor(&tensor(&[b, s, w], 92, 2.0, DType::F32)?)?;
    let v = Var::from_tensor(&tensor(&[b, s, w], 93, 2.0, DType::F32)?)?;
    let qkv = (q.as_tensor(), k.as_tensor(), v.as_tensor());
    let mask = additive_mask(b, s, DType::F32)?;
    let r = tensor(&[b, s, w], 94, 1.0, DType::F32)?;
    let dropout = Dropout::new(0.1, 4);
    let scale = 1.0 / (d as f64).sqrt();
    let fused = |mode: Mode| {
        fused_attention::attention(qkv.0, qkv.1, qkv.2, &mask, heads, scale, dropout.mask(mode))
    };
    for mode in [Mode::Eval, Mode::Train { dropout_seed: 11 }] {
        let fused_y = fused(mode)?;
        let comp_y = attention_composite(qkv, &mask, heads, &dropout, mode)?;
        let fd = max_diff(&fused_y, &comp_y)?;
        assert!(fd < 1e-5, "{mode:?}: forward differs by {fd}");
        let gf = (fused_y * &r)?.sum_all()?.backward()?;
        let gc = (comp_y * &r)?.sum_all()?.backward()?;
        for t in [qkv.0, qkv.1, qkv.2] {
            let gd = max_diff(gf.get(t).expect("grad"), gc.get(t).expect("grad"))?;
            assert!(gd < 1e-4, "{mode:?}: gradient differs by {gd}");
        }
    }
    // Dropout really changes the result (otherwise the Train case above would prove nothing).
    let eval = fused(Mode::Eval)?;
    let train = fused(Mode::Train { dropout_seed: 11 })?;
    assert!(max_diff(&eval, &train)? > 1e-2);
    Ok(())
}

#[test]
fn fast_f32_gelu_stays_within_f32_rounding_of_exact_erf() {
    use crate::model::fused::Real;
    let mut worst = (0.0f64, 0.0f64);
    for i in -20_000..=20_000 {
        let x = i as f32 * 5e-4; // [-10, 10]
        let (y, g) = x.gelu_erf_and_grad();
        let xd = x as f64;
        let cdf = 0.5 * (1.0 + candle_core::cpu::erf::erf_f64(xd / std::f64::consts::SQRT_2));
        let exact_y = xd * cdf;
        let exact_g = cdf + xd * (-0.5 * xd * xd).exp() / (2.0 * std::f64::consts::PI).sqrt();
        worst.0 = worst.0.max((y as f64 - exact_y).abs());
        worst.1 = worst.1.max((g as f64 - exact_g).abs());
    }
    // 1.5e-7 erf error times |x| / 2 <= 10 / 2, plus f32 rounding of values up to 10.
    assert!(worst.0 < 2e-6, "gelu error {}", worst.0);
    assert!(worst.1 < 1e-6, "gelu' error {}", worst.1);
}

#[test]
fn dropout_add_norm_gradients_match_finite_differences() -> Result<()> {
    let a = Var::from_tensor(&tensor(&[2, 3, 6], 101, 2.0, DType::F64)?)?;
    let res = Var::from_tensor(&tensor(&[2, 3, 6], 102, 2.0, DType::F64)?)?;
    let w = Var::from_tensor(&(tensor(&[6], 103, 0.5, DType::F64)? + 1.0)?)?;
    let b = Var::from_tensor(&tensor(&[6], 104, 0.5, DType::F64)?)?;
    let r = tensor(&[2, 3, 6], 105, 1.0, DType::F64)?;
    let drop = Dropout::new(0.25, 3).mask(Mode::Train { dropout_seed: 9 });
    grad_check(&[a.clone(), res.clone(), w.clone(), b.clone()], || {
        let y = fused_norm::dropout_add_layer_norm(
            a.as_tensor(),
            res.as_tensor(),
            w.as_tensor(),
            b.as_tensor(),
            1e-12,
            drop,
        )?;
        (y * &r)?.sum_all()
    })
}

#[test]
fn fused_dropout_add_norm_agrees_with_composite_in_f32() -> Result<()> {
    let shape = [4, 33, HIDDEN];
    let a = Var::from_tensor(&tensor(&shape, 111, 2.0, DType::F32)?)?;
    let res = Var::from_tensor(&tensor(&shape, 112, 2.0, DType::F32)?)?;
    let ln = LayerNorm {
        weight: Var::from_tensor(&(tensor(&[HIDDEN], 113, 0.5, DType::F32)? + 1.0)?)?
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&tensor(&[HIDDEN], 114, 0.5, DType::F32)?)?
            .as_tensor()
            .clone(),
        eps: 1e-12,
    };
    let r = tensor(&shape, 115, 1.0, DType::F32)?;
    let dropout = Dropout::new(0.1, 5);
    for mode in [Mode::Eval, Mode::Train { dropout_seed: 3 }] {
        let fused_y = fused_norm::dropout_add_layer_norm(
            a.as_tensor(),
            res.as_tensor(),
            &ln.weight,
            &ln.bias,
            ln.eps,
            dropout.mask(mode),
        )?;
        let comp_y =
            ln.forward_composite(&(dropout.forward(a.as_tensor(), mode)? + res.as_tensor())?)?;
        let fd = max_diff(&fused_y, &comp_y)?;
        assert!(fd < 1e-5, "{mode:?}: forward differs by {fd}");
        let gf = (fused_y * &r)?.sum_all()?.backward()?;
        let gc = (comp_y * &r)?.sum_all()?.backward()?;
        for t in [a.as_tensor(), res.as_tensor(), &ln.weight, &ln.bias] {
            let gd = max_diff(gf.get(t).expect("grad"), gc.get(t).expect("grad"))?;
            assert!(gd < 2e-4, "{mode:?}: gradient differs by {gd}");
        }
    }
    Ok(())
}
