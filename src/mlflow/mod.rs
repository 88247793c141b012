//! Pushing an experiment's log to an MLflow tracking server over its REST API: the mapping of
//! events onto runs, params, metrics, tags, artifacts and model versions ([`mapping`]), the
//! HTTP client ([`client`]) and the incremental push ([`push`]).

pub mod client;
pub mod mapping;
pub mod push;

pub use client::MlflowError;
pub use push::{push, PushOptions, PushReport};
