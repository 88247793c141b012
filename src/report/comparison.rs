//! `comparison.csv` (exactly the benchmark notebook's 23 columns, one row per model x format x
//! batch size, from `BenchmarkMeasured` events) and `comparison.json` (the same rows, the formulas
//! of the derived columns, and the sealed-test comparison of the report's model with each target).

use serde_json::{json, Value};

use super::pairing::Pairing;
use super::project::{BenchRow, ModelResult, Projection};

/// The benchmark notebook's columns, in its order.
pub const COLUMNS: [&str; 23] = [
    "model_name",
    "model_type",
    "provider",
    "batch_size",
    "avg_latency_ms",
    "std_latency_ms",
    "min_latency_ms",
    "max_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "throughput_samples_per_sec",
    "peak_memory_mb",
    "avg_memory_mb",
    "memory_overhead_mb",
    "model_size_mb",
    "accuracy",
    "f1_score",
    "validation_samples",
    "efficiency_score",
    "latency_stability",
    "memory_efficiency",
    "efficiency",
];

/// How the four derived columns are computed (the notebook's own formulas were not available;
/// these are stated plainly here, in comparison.json and in the README).
pub const FORMULAS: [(&str, &str); 4] = [
    (
        "efficiency_score",
        "accuracy / avg_latency_ms (validation accuracy per millisecond of batch latency; higher is better)",
    ),
    (
        "latency_stability",
        "std_latency_ms / avg_latency_ms (coefficient of variation of the latency; lower is steadier)",
    ),
    (
        "memory_efficiency",
        "accuracy / peak_memory_mb (validation accuracy per MB of peak resident memory; higher is better)",
    ),
    (
        "efficiency",
        "throughput_samples_per_sec / model_size_mb (samples per second per MB of model file; higher is better)",
    ),
];

fn ratio(num: f64, den: f64) -> Option<f64> {
    if den > 0.0 && num.is_finite() && den.is_finite() {
        Some(num / den)
    } else {
        None
    }
}

/// The derived columns of one row, `None` where a denominator is zero.
pub struct Derived {
    pub efficiency_score: Option<f64>,
    pub latency_stability: Option<f64>,
    pub memory_efficiency: Option<f64>,
    pub efficiency: Option<f64>,
}

pub fn derived(row: &BenchRow) -> Derived {
    let b = &row.bench;
    Derived {
        efficiency_score: ratio(b.accuracy, b.latency.mean_ms),
        latency_stability: ratio(b.latency.std_ms, b.latency.mean_ms),
        memory_efficiency: ratio(b.accuracy, b.peak_memory_mb),
        efficiency: ratio(b.latency.throughput_samples_per_sec, b.model_size_mb),
    }
}

/// A CSV field, quoted when it needs to be (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// The data rows as cells (unquoted), in `COLUMNS` order.
pub fn cells(rows: &[BenchRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| {
            let b = &row.bench;
            let l = &b.latency;
            let d = derived(row);
            vec![
                row.model_name.clone(),
                b.model_type.to_string(),
                b.provider.to_string(),
                l.batch_size.to_string(),
                num(l.mean_ms),
                num(l.std_ms),
                num(l.min_ms),
                num(l.max_ms),
                num(l.p50_ms),
                num(l.p95_ms),
                num(l.p99_ms),
                num(l.throughput_samples_per_sec),
                num(b.peak_memory_mb),
                num(b.avg_memory_mb),
                num(b.memory_overhead_mb),
                num(b.model_size_mb),
                num(b.accuracy),
                num(b.f1_score),
                b.validation_samples.to_string(),
                opt(d.efficiency_score),
                opt(d.latency_stability),
                opt(d.memory_efficiency),
                opt(d.efficiency),
            ]
        })
        .collect()
}

pub fn csv(rows: &[BenchRow]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for row in cells(rows) {
        let quoted: Vec<String> = row.iter().map(|c| field(c)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

fn row_json(row: &BenchRow) -> Value {
    let b = &row.bench;
    let l = &b.latency;
    let d = derived(row);
    json!({
        "model_name": row.model_name,
        "model_type": b.model_type,
        "provider": b.provider,
        "batch_size": l.batch_size,
        "avg_latency_ms": l.mean_ms,
        "std_latency_ms": l.std_ms,
        "min_latency_ms": l.min_ms,
        "max_latency_ms": l.max_ms,
        "p50_latency_ms": l.p50_ms,
        "p95_latency_ms": l.p95_ms,
        "p99_latency_ms": l.p99_ms,
        "throughput_samples_per_sec": l.throughput_samples_per_sec,
        "peak_memory_mb": b.peak_memory_mb,
        "avg_memory_mb": b.avg_memory_mb,
        "memory_overhead_mb": b.memory_overhead_mb,
        "model_size_mb": b.model_size_mb,
        "accuracy": b.accuracy,
        "f1_score": b.f1_score,
        "validation_samples": b.validation_samples,
        "efficiency_score": d.efficiency_score,
        "latency_stability": d.latency_stability,
        "memory_efficiency": d.memory_efficiency,
        "efficiency": d.efficiency,
        "file": b.file,
        "sha256": b.sha256,
        "iterations": l.iterations,
        "intra_op_threads": l.intra_op_threads,
    })
}

fn test_json(m: &ModelResult) -> Value {
    let t = &m.test;
    json!({
        "model": m.label,
        "experiment": m.experiment,
        "split": "test",
        "samples": t.samples,
        "correct": t.correct,
        "accuracy": t.accuracy,
        "accuracy_ci95": [t.accuracy_ci95.0, t.accuracy_ci95.1],
        "macro_f1": t.metrics.macro_f1,
        "weighted_f1": t.metrics.weighted_f1,
        "avg_confidence": t.metrics.avg_confidence,
        "per_class_f1": t.metrics.per_class.iter()
            .map(|c| (c.label.clone(), json!(c.f1_score)))
            .collect::<serde_json::Map<String, Value>>(),
        "onnx_path": t.onnx_path,
        "onnx_sha256": t.onnx_sha256,
    })
}

/// The sealed-test comparison of the report's model with each `--compare` target.
fn comparisons(p: &Projection) -> Value {
    let list: Vec<Value> = p
        .targets
        .iter()
        .map(|t| {
            let mut v = json!({ "compare": t.spec, "note": t.note });
            if let (Some(before), Some(after)) = (&t.result, &p.subject) {
                v["before"] = test_json(before);
                v["after"] = test_json(after);
                v["delta"] = json!({
                    "accuracy": after.test.accuracy - before.test.accuracy,
                    "macro_f1": after.test.metrics.macro_f1 - before.test.metrics.macro_f1,
                    "weighted_f1": after.test.metrics.weighted_f1 - before.test.metrics.weighted_f1,
                });
                // The log holds per-sample flips only for pairs evaluated together.
                let pair = p.state.tests.iter().find(|e| {
                    before.experiment == p.experiment
                        && e.baseline.model == before.test.model
                        && e.candidate.model == after.test.model
                });
                if let Some(e) = pair {
                    v["flips"] = json!(e.flips);
                    v["mcnemar_p"] = json!(e.mcnemar_p);
                }
                // Another experiment's model: paired only on the same split.
                match p.pairing(t) {
                    Some(Pairing::Paired { flips, mcnemar_p }) => {
                        v["pairing"] = json!("paired");
                        v["flips"] = json!(flips);
                        v["mcnemar_p"] = json!(mcnemar_p);
                    }
                    Some(Pairing::Unpaired { reason }) => {
                        v["pairing"] = json!("unpaired");
                        v["pairing_note"] = json!(reason);
                    }
                    None => {}
                }
            } else if t.result.is_some() {
                v["note"] = json!("no model of this experiment other than the target has a sealed-test result yet");
            }
            v
        })
        .collect();
    Value::Array(list)
}

pub fn json(p: &Projection) -> Value {
    let formulas: serde_json::Map<String, Value> = FORMULAS
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "experiment": p.experiment,
        "through_seq": p.through_seq,
        "columns": COLUMNS,
        "derived_column_formulas": formulas,
        "benchmark_note": if p.benchmarks.is_empty() {
            json!("no BenchmarkMeasured events in the log yet")
        } else {
            Value::Null
        },
        "rows": p.benchmarks.iter().map(row_json).collect::<Vec<Value>>(),
        "subject": p.subject.as_ref().map(test_json),
        "comparisons": comparisons(p),
        "sealed_test_models": p.models.iter().map(|t| test_json(&ModelResult {
            label: t.model.clone(),
            experiment: p.experiment.clone(),
            test: t.clone(),
        })).collect::<Vec<Value>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BenchmarkMeasured;
    use crate::events::LatencyStats;

    fn row(name: &str, mean_ms: f64, size_mb: f64) -> BenchRow {
        BenchRow {
            model_name: name.to_string(),
            bench: BenchmarkMeasured {
                model: name.to_string(),
                model_type: crate::events::ModelType::OnnxFp32,
                provider: crate::events::Provider::Cpu,
                file: "onnx/model.onnx".into(),
                sha256: String::new(),
                model_size_mb: size_mb,
                latency: LatencyStats {
                    batch_size: 4,
                    mean_ms,
                    std_ms: 0.5,
                    min_ms: 1.0,
                    max_ms: 9.0,
                    p50_ms: 2.0,
                    p95_ms: 6.0,
                    p99_ms: 8.0,
                    throughput_samples_per_sec: 800.0,
                    iterations: 10,
                    intra_op_threads: Some(2),
                },
                peak_memory_mb: 100.0,
                avg_memory_mb: 90.0,
                memory_overhead_mb: 10.0,
                accuracy: 0.8,
                f1_score: 0.75,
                validation_samples: 50,
            },
        }
    }

    #[test]
    fn csv_has_the_notebook_columns_and_the_derived_values() {
        let csv = csv(&[row("a,b", 5.0, 20.0), row("zero", 0.0, 0.0)]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0].split(',').count(), 23);
        assert_eq!(lines[0], COLUMNS.join(","));
        // A name with a comma is quoted; the derived columns follow the documented formulas.
        assert!(lines[1].starts_with("\"a,b\",onnx-fp32,CPUExecutionProvider,4,5,0.5,"));
        assert!(lines[1].ends_with(",50,0.16,0.1,0.008,40"), "{}", lines[1]);
        // Zero denominators leave the cells empty instead of writing inf or NaN.
        assert!(lines[2].ends_with(",50,,,0.008,"), "{}", lines[2]);
    }
}
