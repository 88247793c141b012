//! `exp compare`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use exp::report::compare::{self, CompareOptions};

use super::output::{outln, print_json};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Two or more experiments.
    #[arg(num_args = 2..)]
    pub members: Vec<String>,
    /// The members of a sweep (`exp sweep`), with mean +- std per group of members that share
    /// their grid values.
    #[arg(long, conflicts_with = "members")]
    pub sweep: Option<String>,
    /// The model compared in each experiment: baseline, fine-tuned, pruned, int8 or a model
    /// name (default: each one's fine-tuned model, else the first model it tested).
    #[arg(long)]
    pub model: Option<String>,
    /// Where to write the comparison (default: reports/compare-NAME/ beside the database).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The comparison's name (default: the experiments' names joined by '-').
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(db: &Path, args: CompareArgs, json: bool) -> anyhow::Result<ExitCode> {
    if !db.exists() {
        anyhow::bail!("{}: no such event database", db.display());
    }
    if args.members.is_empty() && args.sweep.is_none() {
        anyhow::bail!("exp compare: name two or more experiments, or a sweep with --sweep NAME");
    }
    let (members, groups, name) = match &args.sweep {
        Some(sweep) => {
            let defined = exp::pipeline::sweep::members(db, sweep)?;
            let groups = exp::pipeline::sweep::grid_groups(&defined);
            let names = defined.members.iter().map(|m| m.name.clone()).collect();
            (names, groups, args.name.or(Some(sweep.clone())))
        }
        None => (args.members, Vec::new(), args.name),
    };
    let options = CompareOptions {
        members,
        model: args.model,
        out: args.out,
        name,
        groups,
    };
    let comparison = compare::compare(db, &options)?;
    let written = compare::write_dir(db, &comparison, options.out.as_deref())?;
    if json {
        print_json(&serde_json::json!({
            "dir": written.dir,
            "files": written.files,
            "comparison": written.comparison,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{}", compare::render(&comparison));
    outln!("written to {}", written.dir.display());
    Ok(ExitCode::SUCCESS)
}
