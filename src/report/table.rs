//! The terminal table `exp report` prints: the report's model against each `--compare` target on
//! the sealed test split, and the benchmark rows.

use std::fmt::Write;

use super::project::{ModelResult, Projection};

fn column(m: &ModelResult) -> Vec<String> {
    let t = &m.test;
    let mut cells = vec![
        m.label.clone(),
        format!("{:.4}", t.accuracy),
        format!("{:.4}..{:.4}", t.accuracy_ci95.0, t.accuracy_ci95.1),
        format!("{:.4}", t.metrics.macro_f1),
        format!("{:.4}", t.metrics.weighted_f1),
    ];
    cells.extend(
        t.metrics
            .per_class
            .iter()
            .map(|c| format!("{:.4}", c.f1_score)),
    );
    cells
}

/// The sealed-test table: one column per model, one row per metric.
pub fn test_table(p: &Projection) -> Option<String> {
    let subject = p.subject.as_ref()?;
    let mut models: Vec<&ModelResult> =
        p.targets.iter().filter_map(|t| t.result.as_ref()).collect();
    models.push(subject);
    let mut rows: Vec<String> = vec![
        "model".into(),
        "accuracy".into(),
        "accuracy 95% CI".into(),
        "macro-F1".into(),
        "weighted-F1".into(),
    ];
    rows.extend(
        subject
            .test
            .metrics
            .per_class
            .iter()
            .map(|c| format!("F1 {}", c.label)),
    );
    let columns: Vec<Vec<String>> = models.iter().map(|m| column(m)).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sealed test split ({} samples, evaluated once per model):",
        subject.test.samples
    );
    for (i, name) in rows.iter().enumerate() {
        let _ = write!(out, "  {name:<18}");
        for col in &columns {
            let _ = write!(
                out,
                " {:>18}",
                col.get(i).map(String::as_str).unwrap_or("-")
            );
        }
        out.push('\n');
    }
    for t in &p.targets {
        if let (Some(pairing), Some(before)) = (p.pairing(t), &t.result) {
            let _ = writeln!(out, "  {}", pairing.describe(&before.label, &subject.label));
        }
    }
    Some(out)
}

pub fn bench_table(p: &Projection) -> String {
    let mut out = String::new();
    if p.benchmarks.is_empty() {
        out.push_str("benchmarks: no BenchmarkMeasured events in the log yet\n");
        return out;
    }
    let _ = writeln!(
        out,
        "benchmarks (validation split accuracy; ONNX Runtime latency):\n  {:<24} {:<10} {:>5} {:>10} {:>10} {:>12} {:>9} {:>8} {:>8}",
        "model", "type", "batch", "avg ms", "p95 ms", "samples/s", "size MB", "acc", "F1"
    );
    for r in &p.benchmarks {
        let b = &r.bench;
        let _ = writeln!(
            out,
            "  {:<24} {:<10} {:>5} {:>10.3} {:>10.3} {:>12.1} {:>9.2} {:>8.4} {:>8.4}",
            r.model_name,
            b.model_type,
            b.latency.batch_size,
            b.latency.mean_ms,
            b.latency.p95_ms,
            b.latency.throughput_samples_per_sec,
            b.model_size_mb,
            b.accuracy,
            b.f1_score
        );
    }
    out
}

pub fn render(p: &Projection) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "report {} (status {}, events through seq {})",
        p.experiment,
        p.state.status(),
        p.through_seq
    );
    match test_table(p) {
        Some(t) => out.push_str(&t),
        None => out.push_str("sealed test: no model evaluated on the sealed test split yet\n"),
    }
    out.push_str(&bench_table(p));
    let missing = p.missing();
    if !missing.is_empty() {
        out.push_str("no data yet:\n");
        for m in missing {
            let _ = writeln!(out, "  - {m}");
        }
    }
    out
}
