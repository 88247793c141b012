//! `training_summary.json`: the experiment's course, projected from its events: data, split,
//! baseline, analysis, plan, every phase and epoch, the fine-tuned model, pruning, export and the
//! sealed-test results. Wall-clock values appear only as the events recorded them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::events::EpochReport;
use crate::events::Metrics;

use super::project::Projection;

fn metrics_short(m: &Metrics, split: &str) -> Value {
    json!({
        "split": split,
        "samples": m.sample_count,
        "accuracy": m.accuracy,
        "macro_f1": m.macro_f1,
        "weighted_f1": m.weighted_f1,
        "avg_confidence": m.avg_confidence,
        "per_class_f1": m.per_class.iter()
            .map(|c| (c.label.clone(), json!(c.f1_score)))
            .collect::<serde_json::Map<String, Value>>(),
    })
}

/// One epoch's row. Typed rather than a `json!` value: a long log has hundreds of thousands of
/// epochs, and building a map per row was most of the cost of writing the report.
#[derive(Serialize)]
struct EpochRow {
    epoch: usize,
    train_loss: f64,
    validation_accuracy: f64,
    validation_macro_f1: f64,
    validation_mean_confidence: f64,
    peak_lr: f64,
    steps: usize,
    improved: bool,
    lr_reduced: Option<(f64, f64)>,
    misclassified_train: usize,
    reweighted: usize,
    samples_per_sec: f64,
    duration_s: f64,
}

impl EpochRow {
    fn new(r: &EpochReport) -> EpochRow {
        EpochRow {
            epoch: r.epoch + 1,
            train_loss: r.train_loss,
            validation_accuracy: r.validation.accuracy,
            validation_macro_f1: r.validation.macro_f1,
            validation_mean_confidence: r.validation.mean_confidence,
            peak_lr: r.peak_lr,
            steps: r.steps,
            improved: r.improved,
            lr_reduced: r.lr_reduced,
            misclassified_train: r.misclassified,
            reweighted: r.reweighted,
            samples_per_sec: r.samples_per_sec,
            duration_s: r.duration_s,
        }
    }
}

/// One phase with its outcome (once completed) and its epochs.
#[derive(Serialize)]
struct PhaseRow {
    index: usize,
    phase: String,
    completed: bool,
    epochs_run: Option<usize>,
    best_epoch: Option<usize>,
    best_macro_f1: Option<f64>,
    early_stopped: Option<bool>,
    epochs: Vec<EpochRow>,
}

fn phases(p: &Projection) -> Vec<PhaseRow> {
    let s = &p.state;
    // Phases in plan order; epochs grouped by the phase their report names.
    let mut by_phase: BTreeMap<usize, Vec<EpochRow>> = BTreeMap::new();
    let names: Vec<String> = s
        .plan
        .as_ref()
        .map(|pl| {
            pl.plan
                .phases
                .iter()
                .map(|ph| ph.kind.name().to_string())
                .collect()
        })
        .unwrap_or_default();
    for e in &s.epochs {
        by_phase
            .entry(e.index)
            .or_default()
            .push(EpochRow::new(&e.report));
    }
    let indices: Vec<usize> = (0..names.len()).chain(by_phase.keys().copied()).collect();
    let mut seen: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for i in indices {
        if seen.contains(&i) {
            continue;
        }
        seen.push(i);
        let done = s.phases_completed.iter().find(|c| c.index == i);
        let name = names
            .get(i)
            .cloned()
            .or_else(|| done.map(|d| d.phase.to_string()))
            .unwrap_or_default();
        out.push(PhaseRow {
            index: i,
            phase: name,
            completed: done.is_some(),
            epochs_run: done.map(|d| d.epochs_run),
            best_epoch: done.and_then(|d| d.best_epoch.map(|b| b + 1)),
            best_macro_f1: done.and_then(|d| d.best_macro_f1),
            early_stopped: done.map(|d| d.early_stopped),
            epochs: by_phase.remove(&i).unwrap_or_default(),
        });
    }
    out
}

/// `training_summary.json`: every section is a small `json!` value but the phases, whose epochs
/// are typed rows. Serialised in this field order.
#[derive(Serialize)]
pub struct Summary {
    #[serde(flatten)]
    head: Value,
    phases: Vec<PhaseRow>,
    #[serde(flatten)]
    tail: Value,
}

pub fn json(p: &Projection) -> Summary {
    let s = &p.state;
    let head = json!({
        "experiment": p.experiment,
        "status": s.status(),
        "through_seq": p.through_seq,
        "created_at": s.created_at,
        "model": s.created.as_ref().map(|c| json!({
            "spec": c.model.spec, "format": c.model.format, "sha256": c.model.sha256,
        })),
        "seed": s.created.as_ref().map(|c| c.seed),
        "data": s.dataset.as_ref().map(|d| json!({
            "path": d.path, "sha256": d.sha256, "rows_read": d.rows_read, "samples": d.samples,
            "duplicates": d.duplicates, "conflicts_excluded": d.conflicts.len(),
            "labels": d.labels, "label_counts": d.label_counts,
        })),
        "split": s.split.as_ref().map(|sp| json!({
            "percentages": sp.percentages, "counts": sp.counts, "digest": sp.digest,
            "test_sealed": true,
        })),
        "baseline": s.baseline.as_ref().map(|b| json!({
            "origin": b.origin,
            "validation": metrics_short(&b.validation, "validation"),
            "latency": b.latency,
            "size_bytes": b.onnx.bytes,
        })),
        "analysis": s.analysis.as_ref().map(|(seq, a)| json!({
            "seq": seq, "source": a.source, "summary": a.summary,
            "indices_reused": a.indices_reused, "sample_sets_note": a.sample_sets_note,
        })),
        "plan": s.plan.as_ref().map(|pl| json!({
            "health": pl.plan.health.name(),
            "epochs": pl.plan.epochs,
            "batch_size": pl.plan.batch_size,
            "weight_multiplier": pl.plan.weight_multiplier,
            "lr_band": [pl.plan.lr_band.low, pl.plan.lr_band.high],
            "target_classes": pl.plan.target_classes,
            "phases": pl.plan.phases.iter().map(|ph| ph.kind.name()).collect::<Vec<&str>>(),
            "pruning": pl.plan.pruning,
            "recipe": pl.plan.recipe,
        })),
        "budget": super::budget::table(s),
        "augmentation": s.augmentation.as_ref().map(|a| json!({
            "priority_samples": a.priority_samples,
            "generated": a.result.samples.len(),
            "per_method": a.result.counts,
            "dropped_duplicates": a.result.dropped_duplicates,
            "back_translation": a.result.back_translation,
        })),
    });
    let tail = json!({
        "fine_tuned": s.training.as_ref().map(|t| json!({
            "validation": metrics_short(&t.validation, "validation"),
            "onnx_max_abs_diff": t.onnx_max_abs_diff,
            "weights": t.weights, "onnx": t.onnx,
        })),
        "pruning": {
            "steps": s.pruning_steps.iter().map(|st| json!({
                "step": st.step, "target_fraction": st.target_fraction,
                "parameters": st.shape.parameters, "encoder_parameters": st.shape.encoder_parameters,
                "validation_accuracy": st.validation.accuracy, "kept": st.kept,
                "latency": st.latency,
            })).collect::<Vec<Value>>(),
            "completed": s.pruning.as_ref().map(|pc| json!({
                "method": pc.method, "kept_step": pc.kept_step, "sparsity": pc.sparsity,
                "parameters": pc.shape.parameters, "reference_parameters": pc.reference_shape.parameters,
                "validation": metrics_short(&pc.validation, "validation"),
            })),
        },
        "export": s.export.as_ref().map(|e| json!({
            "dir": e.dir, "source": e.source, "metadata_sha256": e.metadata_sha256,
            "validations": s.export_validations.iter().map(|v| json!({
                "file": v.file, "format": v.format, "size_bytes": v.size_bytes,
                "max_abs_diff": v.max_abs_diff,
                "validation": metrics_short(&v.validation, "validation"),
            })).collect::<Vec<Value>>(),
        })),
        "sealed_test": s.tests.iter().map(|t| json!({
            "baseline": t.baseline.model, "candidate": t.candidate.model,
            "baseline_accuracy": t.baseline.accuracy, "candidate_accuracy": t.candidate.accuracy,
            "baseline_macro_f1": t.baseline.metrics.macro_f1,
            "candidate_macro_f1": t.candidate.metrics.macro_f1,
            "flips": t.flips, "mcnemar_p": t.mcnemar_p,
        })).collect::<Vec<Value>>(),
        "failures": s.failures,
        "missing": p.missing(),
    });
    Summary {
        head,
        phases: phases(p),
        tail,
    }
}
