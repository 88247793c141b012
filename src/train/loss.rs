//! Losses: per-sample weighted cross-entropy and knowledge distillation.

use candle_core::{DType, Result, Tensor, D};
use candle_nn::ops::log_softmax;

/// What a weighted cross-entropy is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reduction {
    /// `sum(w_i * CE_i) / n`: a batch of heavy samples pushes harder than a batch of light
    /// ones, so weights act across batches (the trainer's choice, as the notebook's
    /// `(loss * weights).mean()`).
    Count,
    /// `sum(w_i * CE_i) / sum(w_i)`: weights only act within a batch (PyTorch's class-weighted
    /// `CrossEntropyLoss`).
    WeightSum,
}

/// Per-sample cross-entropy `-log softmax(logits)[label]`, shape `[batch]`. `labels` are u32.
pub fn cross_entropy_per_sample(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let logp = log_softmax(logits, D::Minus1)?;
    logp.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()
}

/// Weighted cross-entropy, a scalar; `weights` has shape `[batch]` in the logits' dtype.
pub fn weighted_cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    weights: &Tensor,
    reduction: Reduction,
) -> Result<Tensor> {
    let ce = cross_entropy_per_sample(logits, labels)?;
    let total = (ce * weights)?.sum_all()?;
    match reduction {
        Reduction::Count => total / logits.dim(0)? as f64,
        Reduction::WeightSum => total.broadcast_div(&weights.sum_all()?),
    }
}

/// `alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels)`,
/// KL summed over classes and averaged over the batch (PyTorch `batchmean`), CE averaged.
pub fn distillation_loss(
    student: &Tensor,
    teacher: &Tensor,
    labels: &Tensor,
    alpha: f64,
    temperature: f64,
) -> Result<Tensor> {
    let n = student.dim(0)? as f64;
    let log_s = log_softmax(&(student / temperature)?, D::Minus1)?;
    let log_t = log_softmax(&(teacher.detach() / temperature)?, D::Minus1)?;
    let kl = ((log_t.exp()? * (&log_t - &log_s)?)?.sum_all()? / n)?;
    let ce = (cross_entropy_per_sample(student, labels)?.sum_all()? / n)?;
    (kl * (alpha * temperature * temperature))? + (ce * (1.0 - alpha))?
}

/// Labels as a u32 tensor for the loss functions.
pub fn labels_tensor(labels: &[usize], device: &candle_core::Device) -> Result<Tensor> {
    let v: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    Tensor::from_vec(v, labels.len(), device)
}

/// Weights as a `[batch]` tensor of `dtype`.
pub fn weights_tensor(
    weights: &[f32],
    dtype: DType,
    device: &candle_core::Device,
) -> Result<Tensor> {
    Tensor::from_vec(weights.to_vec(), weights.len(), device)?.to_dtype(dtype)
}
