//! Training utilities: the fused AdamW optimizer and gradient clipping.

pub mod optim;
