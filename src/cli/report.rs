//! `exp report`: project an experiment's log into `reports/NAME/` and print its table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use exp::report::{self, Recorded, ReportOptions};

use super::output::print_json;
use super::output::{out, outln};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Experiment name.
    pub name: String,
    /// What to compare the report's model with: baseline, fine-tuned, pruned, int8, a model name of
    /// the experiment, or another experiment in the same database. Repeat or separate with commas;
    /// the first is the "before" of the before/after plots.
    #[arg(long, default_value = "baseline", value_delimiter = ',')]
    pub compare: Vec<String>,
    /// The model the report is about: fine-tuned, pruned, int8 or a model name of the experiment
    /// (default: the latest one evaluated on the sealed test that is not the first --compare).
    #[arg(long)]
    pub model: Option<String>,
    /// Directory to write (default: reports/NAME/ beside the database). It must be new, empty, or
    /// written by an earlier report (marked by its .exp-report file); any other directory or a
    /// file is refused untouched. A later report replaces only report files.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(db: &Path, args: ReportArgs, json: bool) -> anyhow::Result<ExitCode> {
    let options = ReportOptions {
        compare: args.compare.clone(),
        out: args.out.clone(),
        model: args.model.clone(),
    };
    let output = report::generate(db, &args.name, &options)?;
    if json {
        print_json(&json!({
            "dir": output.dir.display().to_string(),
            "through_seq": output.through_seq,
            "files": output.files,
            "missing": output.missing,
            "recorded": match &output.recorded {
                Recorded::Event { seq } => json!({ "event_seq": seq }),
                Recorded::Skipped { reason } => json!({ "skipped": reason }),
            },
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", output.table);
    outln!(
        "wrote {} files to {} (open index.html in a browser)",
        output.files.len(),
        output.dir.display()
    );
    match &output.recorded {
        Recorded::Event { seq } => outln!("recorded ReportGenerated as event {seq}"),
        Recorded::Skipped { reason } => {
            outln!("skipped recording ReportGenerated: {reason}")
        }
    }
    Ok(ExitCode::SUCCESS)
}
