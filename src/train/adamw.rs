//! A fused AdamW: one pass over each parameter's storage updates the first and second moments and
//! the weight in place (decoupled weight decay and bias correction, as PyTorch's `AdamW` and
//! `candle_nn::AdamW`), with per-group learning rate and weight decay, an optional gradient scale
//! (global-norm clipping without a copy of the gradients) and state export/import for checkpoints.
//!
//! Every parameter is updated densely, including the 30522-row word embedding although a batch
//! touches a few hundred rows: standard AdamW decays the moments of untouched rows and still moves
//! their weights, so a row-sparse update would change the algorithm (lazy Adam). The dense fused
//! pass is one read of g and one read-modify-write of w, m, v per element.

use std::cell::RefCell;
use std::collections::BTreeMap;

use candle_core::backend::BackendStorage;
use candle_core::backprop::GradStore;
use candle_core::{bail, CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;

use crate::model::fused::with_data;

/// Elements per parallel chunk of the update loop (and the size under which it stays serial).
const CHUNK: usize = 1 << 15;

#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error("parameter `{name}` has dtype {dtype:?}; AdamW supports f32 and f64")]
    UnsupportedDType { name: String, dtype: DType },
    #[error("parameter `{0}` appears in more than one place")]
    DuplicateName(String),
    #[error("parameter group {group} does not exist (the optimizer has {groups})")]
    NoSuchGroup { group: usize, groups: usize },
    #[error("optimizer state lacks tensor `{0}`")]
    MissingState(String),
    #[error("optimizer state tensor `{name}` has shape {actual:?}, expected {expected:?}")]
    StateShape {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("updating parameter `{name}`: {source}")]
    Update {
        name: String,
        source: candle_core::Error,
    },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Parameters sharing a learning rate and weight decay (e.g. no decay for biases and LayerNorm,
/// or one group per layer for layer-wise learning-rate decay).
#[derive(Clone, Debug)]
pub struct ParamGroup {
    pub vars: Vec<(String, Var)>,
    pub lr: f64,
    pub weight_decay: f64,
}

/// First and second moments, in the parameter's dtype.
#[derive(Debug)]
enum Moments {
    F32 { m: Vec<f32>, v: Vec<f32> },
    F64 { m: Vec<f64>, v: Vec<f64> },
}

#[derive(Debug)]
struct ParamState {
    name: String,
    var: Var,
    moments: Moments,
}

#[derive(Debug)]
struct Group {
    params: Vec<ParamState>,
    lr: f64,
    weight_decay: f64,
}

/// Fused AdamW over named parameter groups.
#[derive(Debug)]
pub struct AdamW {
    groups: Vec<Group>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
}

/// Scalars of one update, already converted for the kernel.
#[derive(Clone, Copy)]
struct Coeffs {
    lr: f64,
    decay: f64,
    beta1: f64,
    beta2: f64,
    scale_m: f64,
    scale_v: f64,
    eps: f64,
    grad_scale: f64,
}

trait AdamFloat: candle_core::WithDType + Send + Sync {
    fn sqrt(self) -> Self;
}
impl AdamFloat for f32 {
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}
impl AdamFloat for f64 {
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// The update of `candle_nn::AdamW` (and PyTorch's), element by element in the parameter dtype.
fn adam_update<T: AdamFloat>(w: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: Coeffs) {
    let lr = T::from_f64(c.lr);
    let keep = T::from_f64(1.0 - c.lr * c.decay);
    let b1 = T::from_f64(c.beta1);
    let b2 = T::from_f64(c.beta2);
    let one_b1 = T::from_f64(1.0 - c.beta1);
    let one_b2 = T::from_f64(1.0 - c.beta2);
    let scale_m = T::from_f64(c.scale_m);
    let scale_v = T::from_f64(c.scale_v);
    let eps = T::from_f64(c.eps);
    let gs = T::from_f64(c.grad_scale);
    let scaled = c.grad_scale != 1.0;
    let run = |w: &mut [T], g: &[T], m: &mut [T], v: &mut [T]| {
        for i in 0..w.len() {
            let gi = if scaled { g[i] * gs } else { g[i] };
            let mi = m[i] * b1 + gi * one_b1;
            let vi = v[i] * b2 + gi * gi * one_b2;
            m[i] = mi;
            v[i] = vi;
            let m_hat = mi * scale_m;
            let v_hat = vi * scale_v;
            w[i] = w[i] * keep - m_hat / (v_hat.sqrt() + eps) * lr;
        }
    };
    if w.len() > CHUNK {
        w.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((w, g), m), v)| run(w, g, m, v));
    } else {
        run(w, g, m, v);
    }
}

/// In-place op on the parameter storage; the gradient is the source.
struct AdamKernel<'a> {
    moments: RefCell<&'a mut Moments>,
    coeffs: Coeffs,
}

fn contiguous_range(l: &Layout, what: &str) -> candle_core::Result<(usize, usize)> {
    match l.contiguous_offsets() {
        Some(r) => Ok(r),
        None => bail!("fused-adamw: {what} is not contiguous"),
    }
}

impl InplaceOp2 for AdamKernel<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        w: &mut CpuStorage,
        wl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let (ws, we) = contiguous_range(wl, "parameter")?;
        let (gs, ge) = contiguous_range(gl, "gradient")?;
        if we - ws != ge - gs {
            bail!(
                "fused-adamw: parameter has {} elements, gradient {}",
                we - ws,
                ge - gs
            )
        }
        let mut moments = self.moments.borrow_mut();
        match (w, g, &mut **moments) {
            (CpuStorage::F32(w), CpuStorage::F32(g), Moments::F32 { m, v }) => {
                adam_update(&mut w[ws..we], &g[gs..ge], m, v, self.coeffs)
            }
            (CpuStorage::F64(w), CpuStorage::F64(g), Moments::F64 { m, v }) => {
                adam_update(&mut w[ws..we], &g[gs..ge], m, v, self.coeffs)
            }
            (w, g, _) => bail!(
                "fused-adamw: parameter {:?}, gradient {:?} and moments do not share a float dtype",
                w.dtype(),
                g.dtype()
            ),
        }
        Ok(())
    }
}

fn zero_moments(name: &str, var: &Var) -> Result<Moments, OptimError> {
    let n = var.elem_count();
    match var.dtype() {
        DType::F32 => Ok(Moments::F32 {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }),
        DType::F64 => Ok(Moments::F64 {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }),
        dtype => Err(OptimError::UnsupportedDType {
            name: name.to_string(),
            dtype,
        }),
    }
}

impl AdamW {
    /// `betas` = (beta1, beta2); PyTorch's defaults are (0.9, 0.999) and eps 1e-8.
    pub fn new(groups: Vec<ParamGroup>, betas: (f64, f64), eps: f64) -> Result<Self, OptimError> {
        let mut seen = std::collections::BTreeSet::new();
        let groups = groups
            .into_iter()
            .map(|g| {
                let params = g
                    .vars
                    .into_iter()
                    .map(|(name, var)| {
                        if !seen.insert(name.clone()) {
                            return Err(OptimError::DuplicateName(name));
                        }
                        let moments = zero_moments(&name, &var)?;
                        Ok(ParamState { name, var, moments })
                    })
                    .collect::<Result<Vec<_>, OptimError>>()?;
                Ok(Group {
                    params,
                    lr: g.lr,
                    weight_decay: g.weight_decay,
                })
            })
            .collect::<Result<Vec<_>, OptimError>>()?;
        Ok(Self {
            groups,
            beta1: betas.0,
            beta2: betas.1,
            eps,
            step: 0,
        })
    }

    /// One AdamW step with the gradients in `grads`; parameters without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<(), OptimError> {
        self.step_scaled(grads, 1.0)
    }

    /// One step with every gradient multiplied by `grad_scale` (see [`clip_scale`]) on the fly.
    pub fn step_scaled(&mut self, grads: &GradStore, grad_scale: f64) -> Result<(), OptimError> {
        self.step += 1;
        let t = self.step as i32;
        let (beta1, beta2, eps) = (self.beta1, self.beta2, self.eps);
        for group in &mut self.groups {
            let coeffs = Coeffs {
                lr: group.lr,
                decay: group.weight_decay,
                beta1,
                beta2,
                scale_m: 1.0 / (1.0 - beta1.powi(t)),
                scale_v: 1.0 / (1.0 - beta2.powi(t)),
                eps,
                grad_scale,
            };
            for p in &mut group.params {
                let Some(grad) = grads.get(p.var.as_tensor()) else {
                    continue;
                };
                let update = |p: &mut ParamState| -> candle_core::Result<()> {
                    let grad = grad.contiguous()?;
                    let kernel = AdamKernel {
                        moments: RefCell::new(&mut p.moments),
                        coeffs,
                    };
                    p.var.as_tensor().inplace_op2(&grad, &kernel)
                };
                update(p).map_err(|source| OptimError::Update {
                    name: p.name.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Number of steps taken (the bias-correction exponent of the next step minus one).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    pub fn num_groups(&self) -> usize {
        self.groups.len()
    }

    pub fn lr(&self, group: usize) -> Option<f64> {
        self.groups.get(group).map(|g| g.lr)
    }

    /// Sets the learning rate of one group (schedules, layer-wise decay).
    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<(), OptimError> {
        let groups = self.groups.len();
        let g = self
            .groups
            .get_mut(group)
            .ok_or(OptimError::NoSuchGroup { group, groups })?;
        g.lr = lr;
        Ok(())
    }

    /// The state as named tensors: `step` (i64 scalar) and, per parameter `name`,
    /// `exp_avg.{name}` and `exp_avg_sq.{name}` (copies, in the parameter's dtype and shape).
    pub fn export_state(&self) -> Result<BTreeMap<String, Tensor>, OptimError> {
        let mut out = BTreeMap::new();
        let device = candle_core::Device::Cpu;
        out.insert("step".to_string(), Tensor::new(self.step as i64, &device)?);
        for p in self.groups.iter().flat_map(|g| &g.params) {
            let shape = p.var.shape();
            let (m, v) = match &p.moments {
                Moments::F32 { m, v } => (
                    Tensor::from_slice(m, shape, &device)?,
                    Tensor::from_slice(v, shape, &device)?,
                ),
                Moments::F64 { m, v } => (
                    Tensor::from_slice(m, shape, &device)?,
                    Tensor::from_slice(v, shape, &device)?,
                ),
            };
            out.insert(format!("exp_avg.{}", p.name), m);
            out.insert(format!("exp_avg_sq.{}", p.name), v);
        }
        Ok(out)
    }

    /// Restores a state written by [`Self::export_state`] (every tensor must be present with the
    /// parameter's shape; extra tensors are ignored). Nothing changes when an error is returned.
    pub fn import_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), OptimError> {
        let get = |name: &str, expected: &[usize]| -> Result<Tensor, OptimError> {
            let t = state
                .get(name)
                .ok_or_else(|| OptimError::MissingState(name.to_string()))?;
            if t.dims() != expected {
                return Err(OptimError::StateShape {
                    name: name.to_string(),
                    expected: expected.to_vec(),
                    actual: t.dims().to_vec(),
                });
            }
            Ok(t.clone())
        };
        let step = get("step", &[])?.to_dtype(DType::I64)?.to_scalar::<i64>()?;
        let mut restored = Vec::new();
        for p in self.groups.iter().flat_map(|g| &g.params) {
            let dims = p.var.dims();
            let m = get(&format!("exp_avg.{}", p.name), dims)?;
            let v = get(&format!("exp_avg_sq.{}", p.name), dims)?;
            let moments = match &p.moments {
                Moments::F32 { .. } => Moments::F32 {
                    m: m.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
                    v: v.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
                },
                Moments::F64 { .. } => Moments::F64 {
                    m: m.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
                    v: v.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
                },
            };
            restored.push(moments);
        }
        for (p, moments) in self
            .groups
            .iter_mut()
            .flat_map(|g| &mut g.params)
            .zip(restored)
        {
            p.moments = moments;
        }
        self.step = step.max(0) as u64;
        Ok(())
    }
}

/// The global L2 norm of the gradients of `vars` (missing gradients count as zero), accumulated
/// in f64 in one pass over each gradient.
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64, OptimError> {
    let mut total = 0.0f64;
    for var in vars {
        let Some(g) = grads.get(var.as_tensor()) else {
            continue;
        };
        total += match g.dtype() {
            DType::F32 => with_data::<f32, _>("grad-norm", g, |s| {
                s.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>()
            })?,
            DType::F64 => {
                with_data::<f64, _>("grad-norm", g, |s| s.iter().map(|&x| x * x).sum::<f64>())?
            }
            dtype => {
                return Err(OptimError::UnsupportedDType {
                    name: "gradient".to_string(),
                    dtype,
                })
            }
        };
    }
    Ok(total.sqrt())
}

/// The factor PyTorch's `clip_grad_norm_` applies: `max_norm / (norm + 1e-6)` when below 1, else 1.
pub fn clip_scale(norm: f64, max_norm: f64) -> f64 {
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        coef
    } else {
        1.0
    }
}

/// Scales the gradients of `vars` in `grads` so that their global norm is at most `max_norm`
/// (as `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping. With [`AdamW`],
/// `step_scaled(grads, clip_scale(grad_norm(..), max_norm))` does the same without new tensors.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    vars: &[Var],
    max_norm: f64,
) -> Result<f64, OptimError> {
    let norm = grad_norm(grads, vars)?;
    let scale = clip_scale(norm, max_norm);
    if scale < 1.0 {
        for var in vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), (g * scale)?);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{Optimizer, ParamsAdamW};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let z =
                    crate::model::dropout::mix64(seed ^ crate::model::dropout::mix64(i as u64 + 1));
                ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
            })
            .collect()
    }

    fn var(shape: &[usize], seed: u64) -> Var {
        let n = shape.iter().product();
        Var::from_tensor(&Tensor::from_vec(values(n, seed), shape, &Device::Cpu).unwrap()).unwrap()
    }

    /// A loss whose gradient differs per element and per step: sum(w^2 * x) + sum(w * y).
    fn loss(vars: &[&Var], step: u64) -> Tensor {
        let mut total = Tensor::new(0f32, &Device::Cpu).unwrap();
        for (k, v) in vars.iter().enumerate() {
            let shape = v.dims().to_vec();
            let n = v.elem_count();
            let x = Tensor::from_vec(
                values(n, 100 + step * 7 + k as u64),
                shape.as_slice(),
                &Device::Cpu,
            )
            .unwrap();
            let y = Tensor::from_vec(
                values(n, 200 + step * 7 + k as u64),
                shape.as_slice(),
                &Device::Cpu,
            )
            .unwrap();
            let t = ((v.as_tensor().sqr().unwrap() * x).unwrap() + (v.as_tensor() * y).unwrap())
                .unwrap()
                .sum_all()
                .unwrap();
            total = (total + t).unwrap();
        }
        total
    }

    fn max_diff(a: &Var, b: &Var) -> f32 {
        (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn copy(v: &Var) -> Var {
        Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap()
    }

    #[test]
    fn matches_candle_adamw_per_group() {
        // Two groups with different lr and weight decay; large tensor exercises the parallel path.
        let a = [var(&[3, 4], 1), var(&[5], 2)];
        let b = [var(&[300, 200], 3)];
        let (ra, rb) = (a.each_ref().map(copy), b.each_ref().map(copy));
        let mut fused = AdamW::new(
            vec![
                ParamGroup {
                    vars: vec![("a0".into(), a[0].clone()), ("a1".into(), a[1].clone())],
                    lr: 1e-2,
                    weight_decay: 0.1,
                },
                ParamGroup {
                    vars: vec![("b0".into(), b[0].clone())],
                    lr: 3e-3,
                    weight_decay: 0.0,
                },
            ],
            (0.9, 0.999),
            1e-8,
        )
        .unwrap();
        let params = |lr, weight_decay| ParamsAdamW {
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut ref_a = candle_nn::AdamW::new(ra.to_vec(), params(1e-2, 0.1)).unwrap();
        let mut ref_b = candle_nn::AdamW::new(rb.to_vec(), params(3e-3, 0.0)).unwrap();
        for step in 0..4 {
            let all: Vec<&Var> = a.iter().chain(&b).collect();
            fused.step(&loss(&all, step).backward().unwrap()).unwrap();
            let all_ref: Vec<&Var> = ra.iter().chain(&rb).collect();
            let g = loss(&all_ref, step).backward().unwrap();
            ref_a.step(&g).unwrap();
            ref_b.step(&g).unwrap();
            for (x, y) in a.iter().chain(&b).zip(ra.iter().chain(&rb)) {
                let d = max_diff(x, y);
                assert!(d <= 1e-6, "step {step}: fused vs candle_nn differ by {d}");
            }
        }
        // The weights really moved (a no-op optimizer would fail the comparison above only if
        // candle_nn also did nothing).
        assert!(max_diff(&a[0], &var(&[3, 4], 1)) > 1e-3);
        assert_eq!(fused.step_count(), 4);
    }

    #[test]
    fn set_lr_changes_only_its_group() {
        let a = var(&[4], 1);
        let b = var(&[4], 2);
        let mut opt = AdamW::new(
            vec![
                ParamGroup {
                    vars: vec![("a".into(), a.clone())],
                    lr: 1e-2,
                    weight_decay: 0.0,
                },
                ParamGroup {
                    vars: vec![("b".into(), b.clone())],
                    lr: 1e-2,
                    weight_decay: 0.0,
                },
            ],
            (0.9, 0.999),
            1e-8,
        )
        .unwrap();
        opt.set_lr(1, 0.0).unwrap();
        assert_eq!(opt.lr(1), Some(0.0));
        assert!(matches!(
            opt.set_lr(2, 1.0),
            Err(OptimError::NoSuchGroup {
                group: 2,
                groups: 2
            })
        ));
        let b0 = copy(&b);
        let a0 = copy(&a);
        opt.step(&loss(&[&a, &b], 0).backward().unwrap()).unwrap();
        assert_eq!(max_diff(&b, &b0), 0.0);
        // First Adam step moves each weight by about lr.
        let d = max_diff(&a, &a0);
        assert!((d - 1e-2).abs() < 1e-4, "moved by {d}");
    }

    #[test]
    fn scaled_step_equals_step_on_clipped_gradients() {
        let w = var(&[64, 9], 5);
        let rw = copy(&w);
        let mk = |v: &Var| {
            AdamW::new(
                vec![ParamGroup {
                    vars: vec![("w".into(), v.clone())],
                    lr: 1e-3,
                    weight_decay: 0.01,
                }],
                (0.9, 0.98),
                1e-6,
            )
            .unwrap()
        };
        let (mut o1, mut o2) = (mk(&w), mk(&rw));
        for step in 0..3 {
            let g = loss(&[&w], step).backward().unwrap();
            let norm = grad_norm(&g, std::slice::from_ref(&w)).unwrap();
            let expected = g
                .get(w.as_tensor())
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                .sqrt() as f64;
            assert!(
                (norm - expected).abs() < 1e-5 * expected,
                "{norm} vs {expected}"
            );
            assert!(norm > 0.5, "the test gradient is large enough to clip");
            o1.step_scaled(&g, clip_scale(norm, 0.5)).unwrap();
            let mut g2 = loss(&[&rw], step).backward().unwrap();
            let before = clip_grad_norm(&mut g2, std::slice::from_ref(&rw), 0.5).unwrap();
            assert_eq!(before, norm);
            let after = grad_norm(&g2, std::slice::from_ref(&rw)).unwrap();
            assert!((after - 0.5).abs() < 1e-5, "clipped norm {after}");
            o2.step(&g2).unwrap();
            assert!(max_diff(&w, &rw) <= 1e-6);
        }
        assert_eq!(clip_scale(0.1, 1.0), 1.0);
    }

    #[test]
    fn exported_state_resumes_identically() {
        let w = var(&[7, 3], 9);
        let mk = |v: &Var| {
            AdamW::new(
                vec![ParamGroup {
                    vars: vec![("enc.w".into(), v.clone())],
                    lr: 1e-2,
                    weight_decay: 0.1,
                }],
                (0.9, 0.999),
                1e-8,
            )
            .unwrap()
        };
        let mut o1 = mk(&w);
        for step in 0..2 {
            o1.step(&loss(&[&w], step).backward().unwrap()).unwrap();
        }
        let state = o1.export_state().unwrap();
        assert_eq!(state.len(), 3);
        assert_eq!(state["step"].to_scalar::<i64>().unwrap(), 2);
        let w2 = copy(&w);
        let mut o2 = mk(&w2);
        o2.import_state(&state).unwrap();
        o1.step(&loss(&[&w], 2).backward().unwrap()).unwrap();
        o2.step(&loss(&[&w2], 2).backward().unwrap()).unwrap();
        assert_eq!(max_diff(&w, &w2), 0.0);

        let mut missing = state.clone();
        missing.remove("exp_avg_sq.enc.w");
        let err = mk(&copy(&w)).import_state(&missing).unwrap_err();
        assert!(err.to_string().contains("exp_avg_sq.enc.w"), "{err}");
    }

    #[test]
    fn rejects_duplicate_names_and_integer_params() {
        let w = var(&[2], 1);
        let dup = AdamW::new(
            vec![ParamGroup {
                vars: vec![("w".into(), w.clone()), ("w".into(), w.clone())],
                lr: 1e-3,
                weight_decay: 0.0,
            }],
            (0.9, 0.999),
            1e-8,
        );
        assert!(matches!(dup, Err(OptimError::DuplicateName(n)) if n == "w"));
        let ints = Var::from_tensor(&Tensor::new(&[1u32, 2], &Device::Cpu).unwrap()).unwrap();
        let bad = AdamW::new(
            vec![ParamGroup {
                vars: vec![("ids".into(), ints)],
                lr: 1e-3,
                weight_decay: 0.0,
            }],
            (0.9, 0.999),
            1e-8,
        );
        assert!(matches!(
            bad,
            Err(OptimError::UnsupportedDType {
                dtype: DType::U32,
                ..
            })
        ));
    }
}
