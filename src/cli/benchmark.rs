//! `exp benchmark`: every model file of an experiment side by side in ONNX Runtime, re-run from
//! the log.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use exp::pipeline::benchmark::BenchmarkOptions;
use exp::pipeline::stages;

use super::output::out;
use super::output::{print_json, table};
use super::progress::open_writing;

#[derive(Debug, Args)]
pub struct BenchmarkArgs {
    /// Experiment name.
    pub name: String,
    #[command(flatten)]
    pub data: super::DataArg,
    /// Batch sizes.
    #[arg(long, default_value = "1,8,32", value_delimiter = ',')]
    pub batch_sizes: Vec<usize>,
    /// Timed runs per model and batch size (interleaved across models).
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Untimed runs per model and batch size first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Measure again even where the log has measurements of these files and batch sizes.
    #[arg(long)]
    pub again: bool,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(db: &Path, args: BenchmarkArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(
        db,
        &args.name,
        "exp benchmark",
        &args.data,
        args.quiet,
        json,
    )?;
    let options = BenchmarkOptions {
        batch_sizes: args.batch_sizes.clone(),
        warmup: args.warmup,
        iterations: args.iterations,
    };
    let stage = stages::Benchmark {
        options,
        again: args.again,
    };
    stages::run(&mut writing, "exp benchmark", &[&stage])?;
    // The latest measurement of each file at each asked batch size.
    let mut latest: Vec<&exp::events::BenchmarkMeasured> = Vec::new();
    for b in writing.state().benchmarks.iter().rev() {
        if args.batch_sizes.contains(&b.latency.batch_size)
            && !latest
                .iter()
                .any(|l| l.sha256 == b.sha256 && l.latency.batch_size == b.latency.batch_size)
        {
            latest.push(b);
        }
    }
    latest.reverse();
    latest.sort_by_key(|b| b.latency.batch_size);
    if json {
        print_json(&latest)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = latest
        .iter()
        .map(|b| {
            vec![
                b.model.clone(),
                b.model_type.to_string(),
                b.latency.batch_size.to_string(),
                format!("{:.2}", b.latency.mean_ms),
                format!("{:.2}", b.latency.p95_ms),
                format!("{:.1}", b.latency.throughput_samples_per_sec),
                format!("{:.2}", b.model_size_mb),
                format!("{:.1}", b.peak_memory_mb),
                format!("{:.4}", b.accuracy),
                format!("{:.4}", b.f1_score),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "model",
                "type",
                "batch",
                "mean_ms",
                "p95_ms",
                "samples_per_s",
                "size_mb",
                "peak_mem_mb",
                "val_accuracy",
                "val_macro_f1",
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
