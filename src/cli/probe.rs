//! `exp memory-probe` (hidden): measures one model's resident memory in a process of its own,
//! for `exp benchmark`, and prints it as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use exp::pipeline::benchmark::probe_memory;

use super::output::print_json;

#[derive(Debug, Args)]
pub struct MemoryProbeArgs {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Its tokenizer.json.
    #[arg(long)]
    pub tokenizer: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub batch_sizes: Vec<usize>,
}

pub fn run(args: MemoryProbeArgs) -> anyhow::Result<ExitCode> {
    let probe = probe_memory(&args.model, &args.tokenizer, &args.batch_sizes)?;
    print_json(&probe)?;
    Ok(ExitCode::SUCCESS)
}
