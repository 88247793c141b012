//! Domain values into the log's records (`events::records`) and back, field by field: the
//! stored schema is written in `events`, and a renamed or added field here fails to compile
//! until it is mapped.

use crate::analysis::metrics as m;
use crate::analysis::plan as p;
use crate::analysis::recommend::PruningLevel;
use crate::analysis::stats;
use crate::assets::ModelFormat;
use crate::augment as a;
use crate::data::DataFormat;
use crate::events;
use crate::events::records as r;
use crate::runtime;
use crate::train::loss::Reduction;
use crate::train::observer as o;
use crate::train::spec::PhaseSpec;

impl From<ModelFormat> for events::ModelFormat {
    fn from(x: ModelFormat) -> Self {
        match x {
            ModelFormat::HfDir => events::ModelFormat::HfDir,
            ModelFormat::Onnx => events::ModelFormat::Onnx,
        }
    }
}

impl From<events::ModelFormat> for ModelFormat {
    fn from(x: events::ModelFormat) -> Self {
        match x {
            events::ModelFormat::HfDir => ModelFormat::HfDir,
            events::ModelFormat::Onnx => ModelFormat::Onnx,
        }
    }
}

/// How a dataset was read: `Auto` was resolved before, so it records as what it chose (FPB).
impl From<DataFormat> for events::DataFormat {
    fn from(x: DataFormat) -> Self {
        match x {
            DataFormat::Csv => events::DataFormat::Csv,
            DataFormat::Tsv => events::DataFormat::Tsv,
            DataFormat::Jsonl => events::DataFormat::Jsonl,
            DataFormat::Parquet => events::DataFormat::Parquet,
            DataFormat::Fpb | DataFormat::Auto => events::DataFormat::Fpb,
        }
    }
}

impl From<events::DataFormat> for DataFormat {
    fn from(x: events::DataFormat) -> Self {
        match x {
            events::DataFormat::Csv => DataFormat::Csv,
            events::DataFormat::Tsv => DataFormat::Tsv,
            events::DataFormat::Jsonl => DataFormat::Jsonl,
            events::DataFormat::Parquet => DataFormat::Parquet,
            events::DataFormat::Fpb => DataFormat::Fpb,
        }
    }
}

impl From<&m::Metrics> for r::Metrics {
    fn from(x: &m::Metrics) -> Self {
        r::Metrics {
            labels: x.labels.clone(),
            sample_count: x.sample_count,
            accuracy: x.accuracy,
            error_rate: x.error_rate,
            avg_confidence: x.avg_confidence,
            macro_f1: x.macro_f1,
            weighted_f1: x.weighted_f1,
            per_class: x
                .per_class
                .iter()
                .map(|c| r::ClassMetrics {
                    label: c.label.clone(),
                    precision: c.precision,
                    recall: c.recall,
                    f1_score: c.f1_score,
                    support: c.support,
                    errors: c.errors,
                })
                .collect(),
            confusion_matrix: x.confusion_matrix.clone(),
            problematic_classes: x.problematic_classes.clone(),
            thresholds: x
                .thresholds
                .iter()
                .map(|t| r::ThresholdStats {
                    threshold: t.threshold,
                    accuracy: t.accuracy,
                    coverage: t.coverage,
                    sample_count: t.sample_count,
                })
                .collect(),
            low_confidence_threshold: x.low_confidence_threshold,
            misclassified: x.misclassified.clone(),
            low_confidence: x.low_confidence.clone(),
            entropy: r::EntropyStats {
                mean: x.entropy.mean,
                std: x.entropy.std,
                percentile_90: x.entropy.percentile_90,
                high_entropy_samples: x.entropy.high_entropy_samples,
            },
            confidence_histogram: r::Histogram {
                edges: x.confidence_histogram.edges.clone(),
                counts: x.confidence_histogram.counts.clone(),
            },
        }
    }
}

impl From<&stats::Flips> for r::Flips {
    fn from(x: &stats::Flips) -> Self {
        r::Flips {
            fixed: x.fixed,
            broken: x.broken,
            still_wrong: x.still_wrong,
            still_right: x.still_right,
        }
    }
}

impl From<&runtime::LatencyStats> for r::LatencyStats {
    fn from(x: &runtime::LatencyStats) -> Self {
        r::LatencyStats {
            batch_size: x.batch_size,
            mean_ms: x.mean_ms,
            std_ms: x.std_ms,
            min_ms: x.min_ms,
            max_ms: x.max_ms,
            p50_ms: x.p50_ms,
            p95_ms: x.p95_ms,
            p99_ms: x.p99_ms,
            throughput_samples_per_sec: x.throughput_samples_per_sec,
            iterations: x.iterations,
            intra_op_threads: x.intra_op_threads,
        }
    }
}

/// Every latency measured, as records.
pub fn latency_records(stats: &[runtime::LatencyStats]) -> Vec<r::LatencyStats> {
    stats.iter().map(r::LatencyStats::from).collect()
}

impl From<p::PhaseKind> for r::PhaseKind {
    fn from(x: p::PhaseKind) -> Self {
        match x {
            p::PhaseKind::Focus => r::PhaseKind::Focus,
            p::PhaseKind::Weighted => r::PhaseKind::Weighted,
            p::PhaseKind::Full => r::PhaseKind::Full,
            p::PhaseKind::Plain => r::PhaseKind::Plain,
        }
    }
}

impl From<r::PhaseKind> for p::PhaseKind {
    fn from(x: r::PhaseKind) -> Self {
        match x {
            r::PhaseKind::Focus => p::PhaseKind::Focus,
            r::PhaseKind::Weighted => p::PhaseKind::Weighted,
            r::PhaseKind::Full => p::PhaseKind::Full,
            r::PhaseKind::Plain => p::PhaseKind::Plain,
        }
    }
}

impl From<p::Health> for r::Health {
    fn from(x: p::Health) -> Self {
        match x {
            p::Health::Excellent => r::Health::Excellent,
            p::Health::Good => r::Health::Good,
            p::Health::Fair => r::Health::Fair,
            p::Health::Poor => r::Health::Poor,
        }
    }
}

impl From<r::Health> for p::Health {
    fn from(x: r::Health) -> Self {
        match x {
            r::Health::Excellent => p::Health::Excellent,
            r::Health::Good => p::Health::Good,
            r::Health::Fair => p::Health::Fair,
            r::Health::Poor => p::Health::Poor,
        }
    }
}

impl From<PruningLevel> for r::PruningLevel {
    fn from(x: PruningLevel) -> Self {
        match x {
            PruningLevel::Conservative => r::PruningLevel::Conservative,
            PruningLevel::Moderate => r::PruningLevel::Moderate,
            PruningLevel::Aggressive => r::PruningLevel::Aggressive,
        }
    }
}

impl From<r::PruningLevel> for PruningLevel {
    fn from(x: r::PruningLevel) -> Self {
        match x {
            r::PruningLevel::Conservative => PruningLevel::Conservative,
            r::PruningLevel::Moderate => PruningLevel::Moderate,
            r::PruningLevel::Aggressive => PruningLevel::Aggressive,
        }
    }
}

impl From<p::LrBand> for r::LrBand {
    fn from(x: p::LrBand) -> Self {
        r::LrBand {
            low: x.low,
            high: x.high,
        }
    }
}

impl From<r::LrBand> for p::LrBand {
    fn from(x: r::LrBand) -> Self {
        p::LrBand {
            low: x.low,
            high: x.high,
        }
    }
}

impl From<p::Recipe> for events::Recipe {
    fn from(x: p::Recipe) -> Self {
        match x {
            p::Recipe::Analysis => events::Recipe::Analysis,
            p::Recipe::Plain => events::Recipe::Plain,
        }
    }
}

impl From<events::Recipe> for p::Recipe {
    fn from(x: events::Recipe) -> Self {
        match x {
            events::Recipe::Analysis => p::Recipe::Analysis,
            events::Recipe::Plain => p::Recipe::Plain,
        }
    }
}

impl From<&crate::analysis::overrides::Setting> for r::Setting {
    fn from(x: &crate::analysis::overrides::Setting) -> Self {
        r::Setting {
            key: x.key.clone(),
            value: x.value.clone(),
        }
    }
}

/// A recorded setting was checked (and written in canonical form) before it was recorded.
impl From<&r::Setting> for crate::analysis::overrides::Setting {
    fn from(x: &r::Setting) -> Self {
        crate::analysis::overrides::Setting {
            key: x.key.clone(),
            value: x.value.clone(),
        }
    }
}

impl From<crate::analysis::overrides::Applied> for r::AppliedOverride {
    fn from(x: crate::analysis::overrides::Applied) -> Self {
        r::AppliedOverride {
            key: x.key,
            value: x.value,
            derived: x.derived,
        }
    }
}

impl From<&crate::analysis::budget::Allocation> for r::BudgetAllocation {
    fn from(x: &crate::analysis::budget::Allocation) -> Self {
        r::BudgetAllocation {
            budget_s: x.budget_s,
            spent_s: x.spent_s,
            throughput: r::Throughput {
                train_samples_per_s: x.throughput.train_samples_per_s,
                eval_samples_per_s: x.throughput.eval_samples_per_s,
            },
            phase_epochs: x.phase_epochs.clone(),
            pruning_steps: x.pruning_steps.clone(),
            recovery_epochs: x.recovery_epochs,
            items: x
                .items
                .iter()
                .map(|i| r::Allocated {
                    item: i.item.clone(),
                    units: i.units,
                    detail: i.detail.clone(),
                    estimate_s: i.estimate_s,
                })
                .collect(),
            left_out: x.left_out.clone(),
            estimate_total_s: x.estimate_total_s,
        }
    }
}

impl From<&p::Plan> for r::Plan {
    fn from(x: &p::Plan) -> Self {
        let i = &x.inputs;
        r::Plan {
            inputs: r::PlanInputs {
                accuracy: i.accuracy,
                error_rate: i.error_rate,
                avg_confidence: i.avg_confidence,
                dataset_size: i.dataset_size,
                misclassified_count: i.misclassified_count,
                low_confidence_count: i.low_confidence_count,
                priority_count: i.priority_count,
                train_size: i.train_size,
                learning_rate_recommendation: i.learning_rate_recommendation.clone(),
                pruning_strategy: i.pruning_strategy.clone(),
                target_classes: i.target_classes.clone(),
            },
            epochs: x.epochs,
            weight_multiplier: x.weight_multiplier,
            batch_size: x.batch_size,
            lr_band: x.lr_band.into(),
            lr_scale: x.lr_scale,
            target_classes: x.target_classes.clone(),
            health: x.health.into(),
            pruning: r::PruningPlan {
                level: x.pruning.level.into(),
                min_percent: x.pruning.min_percent,
                max_percent: x.pruning.max_percent,
                target_percent: x.pruning.target_percent,
            },
            priority_fraction: x.priority_fraction,
            weight_scale: x.weight_scale,
            phases: x
                .phases
                .iter()
                .map(|ph| r::PlannedPhase {
                    kind: ph.kind.into(),
                    learning_rate: ph.learning_rate,
                    epochs: ph.epochs,
                    weighted: ph.weighted,
                    priority_samples: ph.priority_samples,
                    other_samples: ph.other_samples,
                })
                .collect(),
            augmentation: x
                .augmentation
                .iter()
                .map(|m| r::AugmentationMethod {
                    name: m.name.clone(),
                    available: m.available,
                    note: m.note.clone(),
                })
                .collect(),
            recipe: x.recipe.into(),
        }
    }
}

impl From<&r::Plan> for p::Plan {
    fn from(x: &r::Plan) -> Self {
        let i = &x.inputs;
        p::Plan {
            inputs: p::PlanInputs {
                accuracy: i.accuracy,
                error_rate: i.error_rate,
                avg_confidence: i.avg_confidence,
                dataset_size: i.dataset_size,
                misclassified_count: i.misclassified_count,
                low_confidence_count: i.low_confidence_count,
                priority_count: i.priority_count,
                train_size: i.train_size,
                learning_rate_recommendation: i.learning_rate_recommendation.clone(),
                pruning_strategy: i.pruning_strategy.clone(),
                target_classes: i.target_classes.clone(),
            },
            epochs: x.epochs,
            weight_multiplier: x.weight_multiplier,
            batch_size: x.batch_size,
            lr_band: x.lr_band.into(),
            lr_scale: x.lr_scale,
            target_classes: x.target_classes.clone(),
            health: x.health.into(),
            pruning: p::PruningPlan {
                level: x.pruning.level.into(),
                min_percent: x.pruning.min_percent,
                max_percent: x.pruning.max_percent,
                target_percent: x.pruning.target_percent,
            },
            priority_fraction: x.priority_fraction,
            weight_scale: x.weight_scale,
            phases: x
                .phases
                .iter()
                .map(|ph| p::Phase {
                    kind: ph.kind.into(),
                    learning_rate: ph.learning_rate,
                    epochs: ph.epochs,
                    weighted: ph.weighted,
                    priority_samples: ph.priority_samples,
                    other_samples: ph.other_samples,
                })
                .collect(),
            augmentation: x
                .augmentation
                .iter()
                .map(|m| p::AugmentationMethod {
                    name: m.name.clone(),
                    available: m.available,
                    note: m.note.clone(),
                })
                .collect(),
            recipe: x.recipe.into(),
        }
    }
}

impl From<&PhaseSpec> for r::PhaseSpec {
    fn from(x: &PhaseSpec) -> Self {
        r::PhaseSpec {
            kind: x.kind.into(),
            epochs: x.epochs,
            lr_band: x.lr_band.into(),
            start_lr: x.start_lr,
            batch_size: x.batch_size,
            seed: x.seed,
            weighted: x.weighted,
            class_focus: x.class_focus.clone(),
            reweight_misclassified: x.reweight_misclassified,
            early_stopping_patience: x.early_stopping_patience,
            grad_clip: x.grad_clip,
            max_length: x.max_length,
            layer_decay: x.layer_decay,
            weight_decay: x.weight_decay,
            warmup_fraction: x.warmup_fraction,
            plateau_factor: x.plateau_factor,
            plateau_patience: x.plateau_patience,
            eval_batch_size: x.eval_batch_size,
            reduction: match x.reduction {
                Reduction::Count => r::LossReduction::Count,
                Reduction::WeightSum => r::LossReduction::WeightSum,
            },
        }
    }
}

impl From<&o::PhaseStart> for r::PhaseStart {
    fn from(x: &o::PhaseStart) -> Self {
        r::PhaseStart {
            spec: (&x.spec).into(),
            train_samples: x.train_samples,
            validation_samples: x.validation_samples,
            steps_per_epoch: x.steps_per_epoch,
            total_steps: x.total_steps,
            warmup_steps: x.warmup_steps,
            groups: x
                .groups
                .iter()
                .map(|g| r::GroupInfo {
                    name: g.name.clone(),
                    lr_scale: g.lr_scale,
                    weight_decay: g.weight_decay,
                    parameters: g.parameters,
                })
                .collect(),
            resumed_at_epoch: x.resumed_at_epoch,
        }
    }
}

impl From<&o::EpochReport> for r::EpochReport {
    fn from(x: &o::EpochReport) -> Self {
        let v = &x.validation;
        r::EpochReport {
            phase: x.phase.into(),
            epoch: x.epoch,
            train_loss: x.train_loss,
            validation: r::ValidationSummary {
                accuracy: v.accuracy,
                macro_f1: v.macro_f1,
                per_class_f1: v.per_class_f1.clone(),
                mean_confidence: v.mean_confidence,
                confidence_histogram: v.confidence_histogram.clone(),
            },
            lr: x.lr.clone(),
            peak_lr: x.peak_lr,
            steps: x.steps,
            global_step: x.global_step,
            samples_per_sec: x.samples_per_sec,
            duration_s: x.duration_s,
            lr_reduced: x.lr_reduced,
            improved: x.improved,
            misclassified: x.misclassified,
            reweighted: x.reweighted,
        }
    }
}

impl From<&o::EarlyStop> for r::EarlyStop {
    fn from(x: &o::EarlyStop) -> Self {
        r::EarlyStop {
            phase: x.phase.into(),
            epoch: x.epoch,
            best_epoch: x.best_epoch,
            best_macro_f1: x.best_macro_f1,
            patience: x.patience,
        }
    }
}

impl From<a::Method> for r::AugmentMethod {
    fn from(x: a::Method) -> Self {
        match x {
            a::Method::SynonymReplacement => r::AugmentMethod::SynonymReplacement,
            a::Method::ContextualSubstitution => r::AugmentMethod::ContextualSubstitution,
            a::Method::HardNegative => r::AugmentMethod::HardNegative,
        }
    }
}

impl From<&a::AugmentationResult> for r::AugmentationResult {
    fn from(x: &a::AugmentationResult) -> Self {
        r::AugmentationResult {
            samples: x
                .samples
                .iter()
                .map(|s| r::AugmentedSample {
                    text: s.text.clone(),
                    label: s.label,
                    source_id: s.source_id.clone(),
                    method: s.method.into(),
                    detail: s.detail.clone(),
                })
                .collect(),
            counts: x.counts.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            examples: x
                .examples
                .iter()
                .map(|e| r::AugmentExample {
                    method: e.method.into(),
                    source_id: e.source_id.clone(),
                    original: e.original.clone(),
                    augmented: e.augmented.clone(),
                    detail: e.detail.clone(),
                })
                .collect(),
            dropped_duplicates: x.dropped_duplicates,
            dropped_over_cap: x.dropped_over_cap,
            back_translation: x.back_translation.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record of a domain value serialises exactly as the domain value did when the log
    /// stored it directly (what every log before the records were split off holds).
    fn same_json<D: serde::Serialize, R: serde::Serialize>(domain: &D, record: &R) {
        assert_eq!(
            serde_json::to_string(domain).unwrap(),
            serde_json::to_string(record).unwrap()
        );
    }

    #[test]
    fn records_serialise_as_the_domain_values_did() {
        let probs = vec![
            vec![0.7f32, 0.2, 0.1],
            vec![0.3, 0.6, 0.1],
            vec![0.2, 0.3, 0.5],
        ];
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let metrics = m::compute_metrics(&labels, &[0, 0, 2], &probs).unwrap();
        same_json(&metrics, &r::Metrics::from(&metrics));

        let spec = PhaseSpec::new(
            p::PhaseKind::Weighted,
            3,
            p::LrBand {
                low: 1e-5,
                high: 5e-5,
            },
            3e-5,
            16,
            7,
        );
        same_json(&spec, &r::PhaseSpec::from(&spec));
        let stop = o::EarlyStop {
            phase: p::PhaseKind::Focus,
            epoch: 2,
            best_epoch: 0,
            best_macro_f1: 0.5,
            patience: 2,
        };
        same_json(&stop, &r::EarlyStop::from(&stop));
    }
}
