//! The trainer's optimiser: the fused AdamW of [`super::adamw`] with named groups and a state
//! that checkpoints store as named tensors (`step` is kept beside them).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use super::adamw::{self, clip_scale, grad_norm, OptimError};
use crate::model::Weights;

/// Parameters sharing a learning rate and weight decay, under a name that reports show.
#[derive(Clone, Debug)]
pub struct ParamGroup {
    pub name: String,
    pub vars: Vec<(String, Var)>,
    pub lr: f64,
    pub weight_decay: f64,
}

/// Moments by parameter name (`exp_avg.{name}`, `exp_avg_sq.{name}`) and the step count.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    pub step: u64,
    pub tensors: Weights,
}

pub struct AdamW {
    inner: adamw::AdamW,
}

impl AdamW {
    pub fn new(
        groups: Vec<ParamGroup>,
        beta1: f64,
        beta2: f64,
        eps: f64,
    ) -> Result<Self, OptimError> {
        let groups = groups
            .into_iter()
            .map(|g| adamw::ParamGroup {
                vars: g.vars,
                lr: g.lr,
                weight_decay: g.weight_decay,
            })
            .collect();
        Ok(AdamW {
            inner: adamw::AdamW::new(groups, (beta1, beta2), eps)?,
        })
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<(), OptimError> {
        self.inner.step(grads)
    }

    /// Clips the gradients of `vars` to a global norm of `max_norm` inside the update (no copies);
    /// returns the norm before clipping.
    pub fn step_clipped(
        &mut self,
        grads: &GradStore,
        vars: &[Var],
        max_norm: f64,
    ) -> Result<f64, OptimError> {
        let norm = grad_norm(grads, vars)?;
        self.inner.step_scaled(grads, clip_scale(norm, max_norm))?;
        Ok(norm)
    }

    pub fn set_lr(&mut self, group: usize, lr: f64) {
        // Group indices come from the trainer's own list, so they are always in range.
        let _ = self.inner.set_lr(group, lr);
    }

    pub fn lr(&self, group: usize) -> f64 {
        self.inner.lr(group).unwrap_or(0.0)
    }

    pub fn state(&self) -> Result<OptimizerState, OptimError> {
        let mut tensors = self.inner.export_state()?;
        tensors.remove("step");
        Ok(OptimizerState {
            step: self.inner.step_count(),
            tensors,
        })
    }

    pub fn load_state(&mut self, state: &OptimizerState) -> Result<(), OptimError> {
        let mut tensors = state.tensors.clone();
        tensors.insert(
            "step".to_string(),
            Tensor::new(state.step as i64, &candle_core::Device::Cpu)?,
        );
        self.inner.import_state(&tensors)
    }
}

/// Scales the gradients of `vars` so their global norm is at most `max_norm`; returns the norm
/// before clipping (as `torch.nn.utils.clip_grad_norm_`).
pub fn clip_grad_norm(
    grads: &mut GradStore,
    vars: &[(String, Var)],
    max_norm: f64,
) -> Result<f64, OptimError> {
    let plain: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    adamw::clip_grad_norm(grads, &plain, max_norm)
}
