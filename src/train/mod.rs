//! The training loop for analysis-driven phased fine-tuning (DESIGN 5): parameter groups with
//! layer-wise LR decay, schedules, losses, length-bucketed batching, evaluation, the fused AdamW
//! and the phase trainer with resumable checkpoints. Events are the pipeline's job: the trainer
//! reports through a [`trainer::PhaseObserver`].

pub mod adamw;
pub mod average;
pub mod batching;
pub mod checkpoint;
pub mod error;
pub mod evaluate;
pub mod focus;
pub mod groups;
pub mod loss;
pub mod observer;
pub mod optimizer;
pub mod schedule;
pub mod spec;
pub mod trainer;

#[cfg(test)]
mod tests;
