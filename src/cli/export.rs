//! `exp export`: the production model directory, re-run from the log.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use exp::pipeline::stages;
use exp::quantize::{Granularity, QuantizeOptions};

use super::output::{out, outln};
use super::output::{print_json, table};
use super::progress::open_writing;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Experiment name.
    pub name: String,
    #[command(flatten)]
    pub data: super::DataArg,
    /// Write and validate the directory again even if the log has an export of the current model.
    #[arg(long)]
    pub again: bool,
    /// INT8 weight scales: one per output column (default) or one per matrix.
    #[arg(long, default_value = "per-channel", value_parser = ["per-channel", "per-tensor"])]
    pub int8_weights: String,
    /// Keep the word embeddings fp32 in the INT8 file.
    #[arg(long)]
    pub fp32_embeddings: bool,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
}

pub fn export(db: &Path, args: ExportArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(db, &args.name, "exp export", &args.data, args.quiet, json)?;
    let options = QuantizeOptions {
        weights: if args.int8_weights == "per-tensor" {
            Granularity::PerTensor
        } else {
            Granularity::PerChannel
        },
        embeddings: !args.fp32_embeddings,
    };
    let stage = stages::Export {
        quantize: Some(options),
        again: args.again,
    };
    stages::run(&mut writing, "exp export", &[&stage])?;
    let state = writing.state();
    let export = state.recorded_export()?.clone();
    if json {
        print_json(&serde_json::json!({
            "export": export,
            "validations": state.export_validations,
            "tests": state.tests.iter().skip(1).collect::<Vec<_>>(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "exported {} ({} model, INT8 {})",
        export.dir,
        export.source,
        export.quantization.as_deref().unwrap_or("-")
    );
    let rows: Vec<Vec<String>> = state
        .export_validations
        .iter()
        .map(|v| {
            let test = state
                .tests
                .iter()
                .find(|t| t.candidate.onnx_sha256 == v.sha256)
                .map_or("-".to_string(), |t| format!("{:.4}", t.candidate.accuracy));
            vec![
                v.file.clone(),
                v.format.to_string(),
                format!("{:.2}", v.size_bytes as f64 / (1024.0 * 1024.0)),
                v.max_abs_diff
                    .map_or("-".to_string(), |d| format!("{d:.2e}")),
                format!("{:.4}", v.validation.accuracy),
                format!("{:.4}", v.validation.macro_f1),
                test,
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "file",
                "format",
                "size_mb",
                "max_abs_diff",
                "val_accuracy",
                "val_macro_f1",
                "test_accuracy",
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}
