//! The training plan derived from an analysis (the original fine-tuning notebook's rules),
//! with every input recorded so a `PlanDerived` event can be re-checked.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::analysis_json::ComprehensiveAnalysis;
use super::recommend::{parse_learning_rate, PruningLevel};

/// Priority samples above this fraction of the training set get their extra weight scaled down.
pub const MAX_PRIORITY_FRACTION: f64 = 0.3;
/// No sample weight exceeds this.
pub const MAX_SAMPLE_WEIGHT: f64 = 5.0;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("plan: the training set is empty")]
    EmptyTrainingSet,
    #[error("plan: cannot read a learning-rate band from recommendations.fine_tuning.learning_rate {0:?}")]
    LearningRate(String),
    #[error("plan: cannot read a pruning level from recommendations.pruning.strategy {0:?}")]
    Pruning(String),
}

/// The numbers the rules read, as they were read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanInputs {
    pub accuracy: f64,
    pub error_rate: f64,
    pub avg_confidence: f64,
    pub dataset_size: usize,
    pub misclassified_count: usize,
    pub low_confidence_count: usize,
    /// Distinct samples that are misclassified or low-confidence (or both).
    pub priority_count: usize,
    pub train_size: usize,
    pub learning_rate_recommendation: String,
    pub pruning_strategy: String,
    pub target_classes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Excellent,
    Good,
    Fair,
    Poor,
}

impl Health {
    /// excellent: accuracy >= 0.90, error rate <= 0.10, mean confidence >= 0.85;
    /// good: >= 0.85, <= 0.15, >= 0.75; fair: >= 0.70, <= 0.30, >= 0.60; else poor.
    pub fn assess(accuracy: f64, error_rate: f64, avg_confidence: f64) -> Self {
        let meets = |acc: f64, err: f64, conf: f64| {
            accuracy >= acc && error_rate <= err && avg_confidence >= conf
        };
        if meets(0.90, 0.10, 0.85) {
            Health::Excellent
        } else if meets(0.85, 0.15, 0.75) {
            Health::Good
        } else if meets(0.70, 0.30, 0.60) {
            Health::Fair
        } else {
            Health::Poor
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Health::Excellent => "excellent",
            Health::Good => "good",
            Health::Fair => "fair",
            Health::Poor => "poor",
        }
    }

    /// poor/fair: FOCUS, WEIGHTED, FULL; good: WEIGHTED, FULL; excellent: FULL.
    pub fn phases(self) -> &'static [PhaseKind] {
        match self {
            Health::Poor | Health::Fair => {
                &[PhaseKind::Focus, PhaseKind::Weighted, PhaseKind::Full]
            }
            Health::Good => &[PhaseKind::Weighted, PhaseKind::Full],
            Health::Excellent => &[PhaseKind::Full],
        }
    }
}

/// How an experiment trains: the analysis-driven phases, or the plain recipe (the control arm).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    /// The plan's rules applied to the baseline's analysis (DESIGN section 5).
    #[default]
    Analysis,
    /// One phase as people fine-tune without exp: [`PLAIN_EPOCHS`] epochs at [`PLAIN_LR`],
    /// batch [`PLAIN_BATCH`], unweighted, no layer decay, no plateau reduction, no early stop.
    Plain,
}

impl Recipe {
    pub fn is_analysis(&self) -> bool {
        *self == Recipe::Analysis
    }

    pub fn name(self) -> &'static str {
        match self {
            Recipe::Analysis => "analysis",
            Recipe::Plain => "plain",
        }
    }
}

/// The plain recipe: Hugging Face's usual fine-tune of a BERT classifier (AdamW, weight decay
/// 0.01, 10% linear warm-up then linear decay, clipping 1.0, 64 tokens).
pub const PLAIN_EPOCHS: usize = 3;
pub const PLAIN_LR: f64 = 5e-5;
pub const PLAIN_BATCH: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PhaseKind {
    /// Priority samples plus an equal-sized replay of the others, at the band's top.
    Focus,
    /// All training samples with sample weights, mid-band.
    Weighted,
    /// All training samples, unweighted, at the band's bottom.
    Full,
    /// The plain recipe's one phase: all training samples, unweighted, from the model as loaded.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub kind: PhaseKind,
    pub learning_rate: f64,
    /// Maximum epochs (early stopping may end the phase sooner).
    pub epochs: usize,
    pub weighted: bool,
    /// Priority samples in the phase (FOCUS) or all of them (others).
    pub priority_samples: usize,
    /// Non-priority samples replayed (FOCUS) or the rest of the training set (others).
    pub other_samples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrBand {
    pub low: f64,
    pub high: f64,
}

impl LrBand {
    pub fn mid(self) -> f64 {
        (self.low + self.high) / 2.0
    }

    pub fn scaled(self, factor: f64) -> LrBand {
        LrBand {
            low: self.low * factor,
            high: self.high * factor,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruningPlan {
    pub level: PruningLevel,
    pub min_percent: u32,
    pub max_percent: u32,
    /// `--set pruning_target`: the one step pruning takes, in place of the recommended range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_percent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentationMethod {
    pub name: String,
    pub available: bool,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub inputs: PlanInputs,
    pub epochs: usize,
    pub weight_multiplier: f64,
    pub batch_size: usize,
    /// The recommendation's band, as parsed (at the reference batch size).
    pub lr_band: LrBand,
    /// `batch_lr_scale(batch_size)`: the phases' learning rates and the plateau floor are the
    /// band's times this (logs written before it existed read as 1).
    #[serde(default = "unit_scale")]
    pub lr_scale: f64,
    pub target_classes: Vec<String>,
    pub health: Health,
    pub pruning: PruningPlan,
    /// priority_count / train_size.
    pub priority_fraction: f64,
    /// Factor on the extra (above 1) part of priority weights; see `weight_scale`.
    pub weight_scale: f64,
    pub phases: Vec<Phase>,
    pub augmentation: Vec<AugmentationMethod>,
    /// Which recipe the phases follow (logs written before recipes existed read as analysis).
    #[serde(default, skip_serializing_if = "Recipe::is_analysis")]
    pub recipe: Recipe,
}

/// (epochs, weight multiplier): 5/3.0 for error rate > 0.25, 4/2.5 for > 0.15, else 3/2.0.
pub fn epochs_and_multiplier(error_rate: f64) -> (usize, f64) {
    if error_rate > 0.25 {
        (5, 3.0)
    } else if error_rate > 0.15 {
        (4, 2.5)
    } else {
        (3, 2.0)
    }
}

/// 8 for more than 500 priority samples, 16 for more than 200, else 32.
pub fn batch_size(priority_count: usize) -> usize {
    if priority_count > 500 {
        8
    } else if priority_count > 200 {
        16
    } else {
        32
    }
}

/// The batch size the recommendation's learning-rate bands are taken to assume (the notebook's
/// and Hugging Face's default).
pub const LR_REFERENCE_BATCH: usize = 32;

/// Factor on the band's learning rates for a smaller batch: the square-root rule for Adam
/// (noise of the gradient grows as 1/sqrt(batch)); never above 1. Batch 8 gets 0.5, 16 gets 0.71.
pub fn batch_lr_scale(batch_size: usize) -> f64 {
    (batch_size as f64 / LR_REFERENCE_BATCH as f64)
        .sqrt()
        .min(1.0)
}

fn unit_scale() -> f64 {
    1.0
}

/// When priority samples are more than 30% of the training set, their extra weight (the part
/// above 1) is multiplied by 0.3 / fraction, so the total extra weight they carry is what
/// 30% of the set would carry; otherwise 1.
pub fn weight_scale(priority_count: usize, train_size: usize) -> f64 {
    let fraction = priority_count as f64 / train_size.max(1) as f64;
    if fraction > MAX_PRIORITY_FRACTION {
        MAX_PRIORITY_FRACTION / fraction
    } else {
        1.0
    }
}

/// A training sample's weight: 1.5m when misclassified and low-confidence, m when only
/// misclassified, 0.8m when only low-confidence, 1 otherwise; the part above 1 scaled by
/// `scale`; times the balanced class weight; capped at 5.
pub fn sample_weight(
    misclassified: bool,
    low_confidence: bool,
    multiplier: f64,
    scale: f64,
    class_weight: f64,
) -> f64 {
    let base = match (misclassified, low_confidence) {
        (true, true) => 1.5 * multiplier,
        (true, false) => multiplier,
        (false, true) => 0.8 * multiplier,
        (false, false) => 1.0,
    };
    let scaled = if base > 1.0 {
        1.0 + (base - 1.0) * scale
    } else {
        base
    };
    (scaled * class_weight).min(MAX_SAMPLE_WEIGHT)
}

/// scikit-learn's "balanced" class weights: n_samples / (n_classes * count); a class with no
/// samples gets 0 (it has nothing to weight).
pub fn balanced_class_weights(labels: &[usize], n_classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_classes];
    for &l in labels {
        if l < n_classes {
            counts[l] += 1;
        }
    }
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                labels.len() as f64 / (n_classes * c) as f64
            }
        })
        .collect()
}

/// Derives the plan. `train_size` is the number of training samples the phases draw from.
pub fn derive_plan(analysis: &ComprehensiveAnalysis, train_size: usize) -> Result<Plan, PlanError> {
    let idx = &analysis.sample_indices;
    let priority: BTreeSet<usize> = idx
        .misclassified
        .iter()
        .chain(&idx.low_confidence)
        .copied()
        .collect();
    let counts = PriorityCounts {
        misclassified: idx.misclassified.len(),
        low_confidence: idx.low_confidence.len(),
        distinct: priority.len(),
    };
    derive_plan_with_priorities(analysis, train_size, counts)
}

/// Sizes of the priority sample sets the plan weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityCounts {
    pub misclassified: usize,
    pub low_confidence: usize,
    /// Samples in either set.
    pub distinct: usize,
}

/// The analysis recipe's phases of `kinds`: FOCUS at the band's top, WEIGHTED mid-band, FULL
/// at its bottom, each rate times `lr_scale`; `prio` priority samples, `rest` the others.
pub fn build_phases(
    kinds: &[PhaseKind],
    epochs: usize,
    lr_band: LrBand,
    lr_scale: f64,
    prio: usize,
    rest: usize,
) -> Vec<Phase> {
    kinds
        .iter()
        .map(|&kind| match kind {
            PhaseKind::Focus => Phase {
                kind,
                learning_rate: lr_band.high * lr_scale,
                epochs,
                weighted: false,
                priority_samples: prio,
                other_samples: prio.min(rest),
            },
            PhaseKind::Weighted => Phase {
                kind,
                learning_rate: lr_band.mid() * lr_scale,
                epochs,
                weighted: true,
                priority_samples: prio,
                other_samples: rest,
            },
            PhaseKind::Full | PhaseKind::Plain => Phase {
                kind,
                learning_rate: lr_band.low * lr_scale,
                epochs,
                weighted: false,
                priority_samples: prio,
                other_samples: rest,
            },
        })
        .collect()
}

/// As [`derive_plan`], with the priority sets measured elsewhere (the baseline's predictions on
/// the training split, which is what training weights) instead of the analysis file's indices.
pub fn derive_plan_with_priorities(
    analysis: &ComprehensiveAnalysis,
    train_size: usize,
    counts: PriorityCounts,
) -> Result<Plan, PlanError> {
    if train_size == 0 {
        return Err(PlanError::EmptyTrainingSet);
    }
    let perf = &analysis.performance_metrics;
    let rec = &analysis.recommendations;
    let inputs = PlanInputs {
        accuracy: perf.overall_accuracy,
        error_rate: perf.error_rate,
        avg_confidence: perf.avg_confidence,
        dataset_size: analysis.metadata.dataset_size,
        misclassified_count: counts.misclassified,
        low_confidence_count: counts.low_confidence,
        priority_count: counts.distinct,
        train_size,
        learning_rate_recommendation: rec.fine_tuning.learning_rate.clone(),
        pruning_strategy: rec.pruning.strategy.clone(),
        target_classes: rec.fine_tuning.target_classes.clone(),
    };
    let (low, high) = parse_learning_rate(&inputs.learning_rate_recommendation)
        .ok_or_else(|| PlanError::LearningRate(inputs.learning_rate_recommendation.clone()))?;
    let lr_band = LrBand { low, high };
    let level = PruningLevel::parse_strategy(&inputs.pruning_strategy)
        .ok_or_else(|| PlanError::Pruning(inputs.pruning_strategy.clone()))?;
    let (min_percent, max_percent) = level.percent_range();
    let (epochs, weight_multiplier) = epochs_and_multiplier(inputs.error_rate);
    let health = Health::assess(inputs.accuracy, inputs.error_rate, inputs.avg_confidence);
    let prio = inputs.priority_count.min(train_size);
    let rest = train_size - prio;
    let batch = batch_size(inputs.priority_count);
    let lr_scale = batch_lr_scale(batch);
    let phases = build_phases(health.phases(), epochs, lr_band, lr_scale, prio, rest);
    let method = |name: &str, available: bool, note: &str| AugmentationMethod {
        name: name.to_string(),
        available,
        note: note.to_string(),
    };
    Ok(Plan {
        epochs,
        weight_multiplier,
        batch_size: batch,
        lr_band,
        lr_scale,
        target_classes: inputs.target_classes.clone(),
        health,
        pruning: PruningPlan {
            level,
            min_percent,
            max_percent,
            target_percent: None,
        },
        priority_fraction: inputs.priority_count as f64 / train_size as f64,
        weight_scale: weight_scale(inputs.priority_count, train_size),
        phases,
        augmentation: vec![
            method(
                "keyword synonym replacement",
                true,
                "finance-aware synonym table on the problematic keywords",
            ),
            method(
                "contextual substitution",
                true,
                "nearest neighbours in the model's own word embeddings",
            ),
            method(
                "hard-negative mining",
                true,
                "nearest training sentences of the confused class",
            ),
            method(
                "back-translation",
                false,
                "needs a translation model, which is not available offline",
            ),
        ],
        inputs,
        recipe: Recipe::Analysis,
    })
}

impl Plan {
    /// The plain recipe in place of the analysis' phases: one PLAIN phase over the whole
    /// training set at [`PLAIN_LR`], batch [`PLAIN_BATCH`], [`PLAIN_EPOCHS`] epochs, no sample
    /// weights and no augmentation. What the analysis found (inputs, health, pruning) stays, so
    /// that the control arm is assessed and pruned by the same rules.
    pub fn into_plain(self) -> Plan {
        let train_size = self.inputs.train_size;
        Plan {
            epochs: PLAIN_EPOCHS,
            weight_multiplier: 1.0,
            batch_size: PLAIN_BATCH,
            lr_band: LrBand {
                low: PLAIN_LR,
                high: PLAIN_LR,
            },
            lr_scale: 1.0,
            weight_scale: 1.0,
            phases: vec![Phase {
                kind: PhaseKind::Plain,
                learning_rate: PLAIN_LR,
                epochs: PLAIN_EPOCHS,
                weighted: false,
                priority_samples: 0,
                other_samples: train_size,
            }],
            augmentation: Vec::new(),
            recipe: Recipe::Plain,
            ..self
        }
    }

    /// Weights of every training sample: `labels[i]` is its class id, `misclassified` and
    /// `low_confidence` are training-set indices.
    pub fn sample_weights(
        &self,
        labels: &[usize],
        n_classes: usize,
        misclassified: &[usize],
        low_confidence: &[usize],
    ) -> Vec<f64> {
        let class_weights = balanced_class_weights(labels, n_classes);
        let mis: BTreeSet<usize> = misclassified.iter().copied().collect();
        let low: BTreeSet<usize> = low_confidence.iter().copied().collect();
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let cw = class_weights.get(l).copied().unwrap_or(1.0);
                sample_weight(
                    mis.contains(&i),
                    low.contains(&i),
                    self.weight_multiplier,
                    self.weight_scale,
                    cw,
                )
            })
            .collect()
    }

    /// A readable table of the plan and the inputs each choice came from.
    pub fn render_table(&self) -> String {
        let i = &self.inputs;
        let mut rows: Vec<(&str, String, String)> = vec![
            (
                "health",
                self.health.name().to_string(),
                format!(
                    "accuracy {:.4}, error rate {:.4}, mean confidence {:.4}",
                    i.accuracy, i.error_rate, i.avg_confidence
                ),
            ),
            (
                "epochs per phase",
                self.epochs.to_string(),
                format!("error rate {:.4}", i.error_rate),
            ),
            (
                "weight multiplier",
                format!("{}", self.weight_multiplier),
                format!("error rate {:.4}", i.error_rate),
            ),
            (
                "batch size",
                self.batch_size.to_string(),
                format!(
                    "{} priority samples ({} misclassified + {} low confidence)",
                    i.priority_count, i.misclassified_count, i.low_confidence_count
                ),
            ),
            (
                "learning-rate band",
                format!("{:e} .. {:e}", self.lr_band.low, self.lr_band.high),
                format!("{:?}", i.learning_rate_recommendation),
            ),
            (
                "learning-rate scale",
                format!("{:.4}", self.lr_scale),
                format!(
                    "sqrt(batch {} / {LR_REFERENCE_BATCH}), at most 1 (Adam's square-root rule)",
                    self.batch_size
                ),
            ),
            (
                "target classes",
                self.target_classes.join(", "),
                "recommendations.fine_tuning.target_classes".to_string(),
            ),
            (
                "weight scale",
                format!("{:.4}", self.weight_scale),
                format!(
                    "priority fraction {:.4} of {} training samples",
                    self.priority_fraction, i.train_size
                ),
            ),
            (
                "pruning",
                format!(
                    "{} ({}-{}%)",
                    self.pruning.level.name(),
                    self.pruning.min_percent,
                    self.pruning.max_percent
                ),
                format!("{:?}", i.pruning_strategy),
            ),
        ];
        if self.recipe == Recipe::Plain {
            // The analysis still assesses the baseline and sets the pruning; the rest is the
            // recipe's.
            rows.retain(|r| r.0 == "health" || r.0 == "pruning");
            rows.insert(
                0,
                (
                    "recipe",
                    format!(
                        "plain: one PLAIN phase, {} epochs at {:e}, batch {}",
                        self.epochs, self.lr_band.low, self.batch_size
                    ),
                    "--recipe plain (the control arm)".to_string(),
                ),
            );
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        let mut s = String::new();
        let _ = writeln!(s, "{:<w0$}  {:<w1$}  from", "setting", "value");
        let _ = writeln!(
            s,
            "{}  {}  {}",
            "-".repeat(w0),
            "-".repeat(w1),
            "-".repeat(4)
        );
        for (k, v, f) in &rows {
            let _ = writeln!(s, "{k:<w0$}  {v:<w1$}  {f}");
        }
        let _ = writeln!(
            s,
            "\n{:<8}  {:>9}  {:>6}  {:>8}  {:>8}  {:>7}",
            "phase", "lr", "epochs", "weighted", "priority", "others"
        );
        for p in &self.phases {
            let _ = writeln!(
                s,
                "{:<8}  {:>9.1e}  {:>6}  {:>8}  {:>8}  {:>7}",
                p.kind.name(),
                p.learning_rate,
                p.epochs,
                if p.weighted { "yes" } else { "no" },
                p.priority_samples,
                p.other_samples
            );
        }
        let _ = writeln!(s, "\naugmentation:");
        for m in &self.augmentation {
            let _ = writeln!(
                s,
                "  {:<28} {:<11} {}",
                m.name,
                if m.available {
                    "available"
                } else {
                    "unavailable"
                },
                m.note
            );
        }
        s
    }
}
