//! `exp mlflow push`.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use exp::mlflow::{self, PushOptions};
use exp::store::Store;

use super::output::{outln, print_json};

#[derive(Debug, Args)]
pub struct MlflowArgs {
    #[command(subcommand)]
    pub command: MlflowCommand,
}

#[derive(Debug, Subcommand)]
pub enum MlflowCommand {
    /// Push an experiment's log to an MLflow tracking server: one parent run with nested runs for
    /// the baseline, each phase, pruning and export; plan values as params, every epoch, pruning
    /// step, sealed-test and benchmark number as a metric, digests as tags, the report and the
    /// exported model as artifacts, the exported model as a model version. Pushing again sends
    /// only events recorded since (the last pushed seq is kept as a tag on the server).
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Experiment name.
    pub name: String,
    /// The tracking server, e.g. http://127.0.0.1:5000 (its artifact proxy is used for files).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: String,
    /// The MLflow experiment's name (default: the experiment's name).
    #[arg(long, value_name = "NAME")]
    pub mlflow_experiment: Option<String>,
    /// The registered model that the exported model becomes a version of (default: the MLflow
    /// experiment's name).
    #[arg(long, value_name = "NAME")]
    pub registered_model: Option<String>,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(db: &Path, args: MlflowArgs, json: bool) -> anyhow::Result<ExitCode> {
    let MlflowCommand::Push(args) = args.command;
    if !args.tracking_uri.starts_with("http://") && !args.tracking_uri.starts_with("https://") {
        anyhow::bail!(
            "--tracking-uri {}: exp pushes to a tracking server over HTTP (http:// or https://), not to a local mlruns directory or database",
            args.tracking_uri
        );
    }
    if !db.exists() {
        anyhow::bail!("{}: no such event database", db.display());
    }
    let store = Store::open_read_only(db)?;
    let options = PushOptions {
        tracking_uri: args.tracking_uri.clone(),
        mlflow_experiment: args.mlflow_experiment.clone(),
        registered_model: args.registered_model.clone(),
    };
    let quiet = args.quiet || json;
    let report = mlflow::push(&store, &args.name, &options, &mut |line| {
        if !quiet {
            eprintln!("  {line}");
        }
    })?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let pushed = match report.previous_seq {
        Some(prev) if prev == report.through_seq => {
            format!("nothing new: the server has events through seq {prev}")
        }
        Some(prev) => format!(
            "{} new event(s) after seq {prev}, through seq {}",
            report.new_events, report.through_seq
        ),
        None => format!(
            "{} event(s), through seq {}",
            report.new_events, report.through_seq
        ),
    };
    outln!(
        "pushed '{}' to {} as MLflow experiment '{}' (id {}): {pushed}; {} item(s) sent",
        report.experiment,
        report.tracking_uri,
        report.mlflow_experiment,
        report.mlflow_experiment_id,
        report.items()
    );
    for version in &report.model_versions {
        outln!("registered model version {version}");
    }
    Ok(ExitCode::SUCCESS)
}
