//! The one catalogue of event kinds. An event is a fact in the past tense; its payload carries
//! everything a report or a resumed run needs, so the log alone can rebuild an experiment.
//!
//! Stored as `kind` (the variant name) plus `payload` (the variant's fields as JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Event {
    ExperimentCreated(ExperimentCreated),
    DatasetLoaded(DatasetLoaded),
    SplitMade(SplitMade),
    RunFailed(RunFailed),
}

impl Event {
    /// The `kind` column: the variant's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ExperimentCreated(_) => "ExperimentCreated",
            Event::DatasetLoaded(_) => "DatasetLoaded",
            Event::SplitMade(_) => "SplitMade",
            Event::RunFailed(_) => "RunFailed",
        }
    }

    /// Every kind this version of `exp` writes, for `exp events --kind` validation.
    pub const KINDS: [&'static str; 4] = [
        "ExperimentCreated",
        "DatasetLoaded",
        "SplitMade",
        "RunFailed",
    ];

    /// The payload alone, as JSON.
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("payload").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Rebuilds an event from its stored kind and payload.
    pub fn from_parts(kind: &str, payload: serde_json::Value) -> Result<Event, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }
}

/// The model an experiment starts from, as the user named it and as it was resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    /// What the user passed to `--model`: an alias or a path.
    pub spec: String,
    /// `hf-dir` (config.json + model.safetensors) or `onnx`.
    pub format: String,
    /// The resolved file or directory.
    pub path: String,
    /// sha256 of the weights file (model.safetensors or the .onnx file).
    pub sha256: String,
    /// The tokenizer.json used with it.
    pub tokenizer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentCreated {
    pub name: String,
    pub model: ModelSource,
    pub data_path: String,
    pub seed: u64,
    /// Percentages train/validation/test.
    pub split: [u32; 3],
    pub exp_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    pub text: String,
    pub labels: Vec<String>,
    pub lines: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetLoaded {
    pub path: String,
    pub sha256: String,
    pub format: String,
    pub encoding: String,
    pub rows_read: usize,
    /// Samples kept: distinct texts without conflicting labels.
    pub samples: usize,
    /// Labels in class-id order (sorted alphabetically).
    pub labels: Vec<String>,
    pub label_counts: BTreeMap<String, usize>,
    /// Rows dropped as exact duplicates of an earlier row.
    pub duplicates: usize,
    pub conflicts: Vec<Conflict>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitIds {
    pub train: Vec<String>,
    pub validation: Vec<String>,
    pub test: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitMade {
    pub seed: u64,
    pub percentages: [u32; 3],
    pub counts: SplitCounts,
    /// Per split, per label sample counts.
    pub label_counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// sha256 over the three id lists; equal digests mean equal splits.
    pub digest: String,
    /// The sample ids of each split. The test ids are sealed: only final evaluation reads them.
    pub ids: SplitIds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFailed {
    pub command: String,
    pub stage: String,
    pub error: String,
}
