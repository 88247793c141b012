//! The values that event payloads carry: metrics, the plan, a phase's spec and epochs,
//! latency, augmentation. They are the stored schema, written here field by field, so that a
//! rename in the analysis, the trainer or the runtime cannot change what is stored and hashed:
//! the pipeline converts its domain values into these (`pipeline::records`), and a field that
//! moves there fails to compile until its conversion says where it goes.
//!
//! Field names, order and serde attributes are those of the log's first version; a change is a
//! new schema version of the event kinds that carry the value (see `version`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::closed::Recipe;

/// Per-class scores; `errors` is support minus true positives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1_score: f64,
    pub support: usize,
    pub errors: usize,
}

/// Coverage and accuracy of the samples whose max probability is `>= threshold`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdStats {
    pub threshold: f64,
    pub accuracy: f64,
    pub coverage: f64,
    pub sample_count: usize,
}

/// Prediction entropy (natural log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntropyStats {
    pub mean: f64,
    pub std: f64,
    pub percentile_90: f64,
    pub high_entropy_samples: usize,
}

/// Counts of max probability over fixed bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<usize>,
}

/// One split's classification metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Class labels in class-id order.
    pub labels: Vec<String>,
    pub sample_count: usize,
    pub accuracy: f64,
    pub error_rate: f64,
    /// Mean of the per-sample max probability.
    pub avg_confidence: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// In class-id order.
    pub per_class: Vec<ClassMetrics>,
    /// Rows are true classes, columns predicted classes.
    pub confusion_matrix: Vec<Vec<usize>>,
    pub problematic_classes: Vec<String>,
    pub thresholds: Vec<ThresholdStats>,
    pub low_confidence_threshold: f64,
    /// Indices (ascending) of the split's samples predicted wrong.
    pub misclassified: Vec<usize>,
    /// Indices (ascending) of samples below `low_confidence_threshold`.
    pub low_confidence: Vec<usize>,
    pub entropy: EntropyStats,
    pub confidence_histogram: Histogram,
}

impl Metrics {
    /// The stats for one of the thresholds, if it was computed.
    pub fn threshold(&self, threshold: f64) -> Option<&ThresholdStats> {
        self.thresholds.iter().find(|t| t.threshold == threshold)
    }
}

/// How two models' per-sample correctness differs on the same samples.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flips {
    /// Wrong before, right after.
    pub fixed: usize,
    /// Right before, wrong after.
    pub broken: usize,
    pub still_wrong: usize,
    pub still_right: usize,
}

/// Latency of one batch size, milliseconds per inference call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub batch_size: usize,
    pub mean_ms: f64,
    /// Population standard deviation.
    pub std_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub throughput_samples_per_sec: f64,
    pub iterations: usize,
    pub intra_op_threads: Option<usize>,
}

/// A training phase's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PhaseKind {
    Focus,
    Weighted,
    Full,
    /// The plain recipe's one phase.
    Plain,
}

impl PhaseKind {
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Focus => "FOCUS",
            PhaseKind::Weighted => "WEIGHTED",
            PhaseKind::Full => "FULL",
            PhaseKind::Plain => "PLAIN",
        }
    }
}

/// The baseline's health as the plan's rules assess it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Excellent,
    Good,
    Fair,
    Poor,
}

impl Health {
    pub fn name(self) -> &'static str {
        match self {
            Health::Excellent => "excellent",
            Health::Good => "good",
            Health::Fair => "fair",
            Health::Poor => "poor",
        }
    }
}

/// The analysis' pruning recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruningLevel {
    Conservative,
    Moderate,
    Aggressive,
}

/// The numbers the plan's rules read, as they were read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanInputs {
    pub accuracy: f64,
    pub error_rate: f64,
    pub avg_confidence: f64,
    pub dataset_size: usize,
    pub misclassified_count: usize,
    pub low_confidence_count: usize,
    pub priority_count: usize,
    pub train_size: usize,
    pub learning_rate_recommendation: String,
    pub pruning_strategy: String,
    pub target_classes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedPhase {
    pub kind: PhaseKind,
    pub learning_rate: f64,
    /// Maximum epochs.
    pub epochs: usize,
    pub weighted: bool,
    pub priority_samples: usize,
    pub other_samples: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrBand {
    pub low: f64,
    pub high: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruningPlan {
    pub level: PruningLevel,
    pub min_percent: u32,
    pub max_percent: u32,
    /// `--set pruning_target`: the one step pruning takes, in place of the recommended range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_percent: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentationMethod {
    pub name: String,
    pub available: bool,
    pub note: String,
}

/// The training plan as derived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub inputs: PlanInputs,
    pub epochs: usize,
    pub weight_multiplier: f64,
    pub batch_size: usize,
    pub lr_band: LrBand,
    /// Factor on the band for the batch size (logs written before it existed read as 1).
    #[serde(default = "unit_scale")]
    pub lr_scale: f64,
    pub target_classes: Vec<String>,
    pub health: Health,
    pub pruning: PruningPlan,
    pub priority_fraction: f64,
    pub weight_scale: f64,
    pub phases: Vec<PlannedPhase>,
    pub augmentation: Vec<AugmentationMethod>,
    /// Which recipe the phases follow; absent (as in every log before recipes) for analysis.
    #[serde(default, skip_serializing_if = "Recipe::is_analysis")]
    pub recipe: Recipe,
}

/// Where a run ran: what built exp, what computes its numbers, and the machine. Recorded in
/// `ExperimentCreated` and in `RunStarted` (the first event of each run that records anything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    pub exp_version: String,
    /// The commit exp was built from (`unknown` when built outside a git checkout).
    pub git_commit: String,
    pub rustc: String,
    pub candle: String,
    pub ort_crate: String,
    pub tokenizers: String,
    /// The ONNX Runtime library: its version (from its build info), path and sha256; absent
    /// where it was not available (`exp new` before any fetch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnxruntime: Option<OrtLibrary>,
    pub cpu: String,
    /// SIMD extensions the CPU has, of those the kernels choose between.
    pub cpu_features: Vec<String>,
    /// The f32 matrix-product kernels training runs on (the `gemm` crate's choice on this CPU).
    pub gemm_kernels: String,
    /// Threads candle computes with.
    pub threads: usize,
    pub os: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrtLibrary {
    pub version: String,
    pub path: String,
    pub sha256: String,
}

/// A `--set key=value` given to `exp new` (the value in canonical form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// A `--set` as the plan applied it: the value given and the value the analysis derived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedOverride {
    pub key: String,
    pub value: String,
    pub derived: String,
}

impl std::fmt::Display for AppliedOverride {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

fn unit_scale() -> f64 {
    1.0
}

/// What a weighted cross-entropy is divided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossReduction {
    Count,
    WeightSum,
}

/// Everything that defines a phase's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpec {
    pub kind: PhaseKind,
    pub epochs: usize,
    pub lr_band: LrBand,
    pub start_lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    pub weighted: bool,
    pub class_focus: Option<Vec<f64>>,
    pub reweight_misclassified: Option<f64>,
    pub early_stopping_patience: usize,
    pub grad_clip: f64,
    pub max_length: usize,
    pub layer_decay: f64,
    pub weight_decay: f64,
    pub warmup_fraction: f64,
    pub plateau_factor: f64,
    pub plateau_patience: usize,
    pub eval_batch_size: usize,
    pub reduction: LossReduction,
}

/// One optimiser group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub lr_scale: f64,
    pub weight_decay: f64,
    pub parameters: usize,
}

/// A phase's run as it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseStart {
    pub spec: PhaseSpec,
    pub train_samples: usize,
    pub validation_samples: usize,
    pub steps_per_epoch: usize,
    pub total_steps: usize,
    pub warmup_steps: usize,
    pub groups: Vec<GroupInfo>,
    /// `Some(epoch)` when resuming from a checkpoint.
    pub resumed_at_epoch: Option<usize>,
}

/// Validation numbers of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationSummary {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_class_f1: Vec<f64>,
    pub mean_confidence: f64,
    pub confidence_histogram: Vec<usize>,
}

/// One epoch of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub phase: PhaseKind,
    /// 0-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub validation: ValidationSummary,
    /// Each group's LR at the epoch's last step.
    pub lr: Vec<(String, f64)>,
    pub peak_lr: f64,
    pub steps: usize,
    pub global_step: u64,
    /// Wall clock, not reproducible.
    pub samples_per_sec: f64,
    /// Wall clock, not reproducible.
    pub duration_s: f64,
    pub lr_reduced: Option<(f64, f64)>,
    pub improved: bool,
    pub misclassified: usize,
    pub reweighted: usize,
}

/// Why a phase stopped early.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub phase: PhaseKind,
    pub epoch: usize,
    pub best_epoch: usize,
    pub best_macro_f1: f64,
    pub patience: usize,
}

/// How an augmented sample was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentMethod {
    SynonymReplacement,
    ContextualSubstitution,
    HardNegative,
}

/// A generated (or mined) training sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentedSample {
    pub text: String,
    /// Class id.
    pub label: usize,
    pub source_id: String,
    pub method: AugmentMethod,
    pub detail: String,
}

/// One before/after pair for reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentExample {
    pub method: AugmentMethod,
    pub source_id: String,
    pub original: String,
    pub augmented: String,
    pub detail: String,
}

/// The augmenters' output for a FOCUS phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentationResult {
    pub samples: Vec<AugmentedSample>,
    pub counts: BTreeMap<AugmentMethod, usize>,
    pub examples: Vec<AugmentExample>,
    pub dropped_duplicates: usize,
    #[serde(default)]
    pub dropped_over_cap: usize,
    pub back_translation: String,
}

impl std::fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The probe's measured throughput, with the plan's batch size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub train_samples_per_s: f64,
    pub eval_samples_per_s: f64,
}

/// One allocated piece of work and its estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allocated {
    pub item: String,
    pub units: usize,
    pub detail: String,
    pub estimate_s: f64,
}

/// `exp train --budget`: the plan's work fitted into a time budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetAllocation {
    pub budget_s: f64,
    pub spent_s: f64,
    pub throughput: Throughput,
    /// Epochs of each phase the analysis planned, in its order (0: left out).
    pub phase_epochs: Vec<usize>,
    pub pruning_steps: Vec<f64>,
    pub recovery_epochs: usize,
    pub items: Vec<Allocated>,
    pub left_out: Vec<String>,
    pub estimate_total_s: f64,
}
