//! A plain AdamW (decoupled weight decay, as PyTorch's `AdamW`) with parameter groups and
//! checkpointable state: a stand-in with the API of the fused optimiser in `optim.rs`.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};

use crate::model::Weights;

/// Parameters sharing a learning rate and weight decay.
#[derive(Clone, Debug)]
pub struct ParamGroup {
    pub name: String,
    pub vars: Vec<(String, Var)>,
    pub lr: f64,
    pub weight_decay: f64,
}

/// First and second moments by parameter name (`m.{name}`, `v.{name}`) and the step count.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    pub step: u64,
    pub tensors: Weights,
}

struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
}

pub struct AdamW {
    groups: Vec<(ParamGroup, Vec<Slot>)>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
}

impl AdamW {
    pub fn new(groups: Vec<ParamGroup>, beta1: f64, beta2: f64, eps: f64) -> Result<Self> {
        let groups = groups
            .into_iter()
            .map(|g| {
                let slots = g
                    .vars
                    .iter()
                    .map(|(name, var)| {
                        Ok(Slot {
                            name: name.clone(),
                            var: var.clone(),
                            m: var.zeros_like()?,
                            v: var.zeros_like()?,
                        })
                    })
                    .collect::<Result<Vec<Slot>>>()?;
                Ok((g, slots))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            groups,
            beta1,
            beta2,
            eps,
            step: 0,
        })
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for (group, slots) in &mut self.groups {
            let (lr, wd) = (group.lr, group.weight_decay);
            for slot in slots.iter_mut() {
                let Some(g) = grads.get(slot.var.as_tensor()) else {
                    continue;
                };
                let m = ((&slot.m * b1)? + (g * (1.0 - b1))?)?;
                let v = ((&slot.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let m_hat = (&m / c1)?;
                let v_hat = (&v / c2)?;
                let update = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
                let decayed = (slot.var.as_tensor() * (1.0 - lr * wd))?;
                slot.var.set(&(decayed - (update * lr)?)?)?;
                slot.m = m;
                slot.v = v;
            }
        }
        Ok(())
    }

    pub fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].0.lr = lr;
    }

    pub fn lr(&self, group: usize) -> f64 {
        self.groups[group].0.lr
    }

    /// Detached f32 copies of the moments and the step count, for a checkpoint.
    pub fn state(&self) -> Result<OptimizerState> {
        let mut tensors = Weights::new();
        for (_, slots) in &self.groups {
            for s in slots {
                tensors.insert(format!("m.{}", s.name), s.m.to_dtype(DType::F32)?.copy()?);
                tensors.insert(format!("v.{}", s.name), s.v.to_dtype(DType::F32)?.copy()?);
            }
        }
        Ok(OptimizerState {
            step: self.step,
            tensors,
        })
    }

    /// Restores moments and step count saved by [`Self::state`] for the same parameters.
    pub fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        for (_, slots) in &mut self.groups {
            for s in slots.iter_mut() {
                for (key, target) in [("m", &mut s.m), ("v", &mut s.v)] {
                    let name = format!("{key}.{}", s.name);
                    let Some(t) = state.tensors.get(&name) else {
                        candle_core::bail!("optimizer state lacks tensor `{name}`")
                    };
                    if t.dims() != s.var.dims() {
                        candle_core::bail!(
                            "optimizer state tensor `{name}` has shape {:?}, the parameter {:?}",
                            t.dims(),
                            s.var.dims()
                        )
                    }
                    *target = t.to_device(s.var.device())?.to_dtype(s.var.dtype())?;
                }
            }
        }
        self.step = state.step;
        Ok(())
    }
}

/// Scales the gradients of `vars` so that their global L2 norm is at most `max_norm`
/// (PyTorch's `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when above); returns the
/// norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[(String, Var)], max_norm: f64) -> Result<f64> {
    let mut sum_sq = 0f64;
    for (_, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            sum_sq += g
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
        }
    }
    let norm = sum_sq.sqrt();
    if norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        for (_, var) in vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), (g * factor)?);
            }
        }
    }
    Ok(norm)
}
