//! Command-line interface: argument definitions, dispatch and printing. No pipeline logic here.

mod annotate;
mod benchmark;
mod compare;
mod export;
mod fetch;
mod inspect;
mod mlflow;
mod new;
mod output;
mod predict;
mod probe;
mod progress;
mod prune;
mod quickstart;
mod report;
mod stages;
mod sweep;
mod train;
mod ui;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// exp: analysis-driven fine-tuning of small BERT text classifiers, with every step recorded
/// as an event in an append-only SQLite log (exp.db) that you can query with plain SQL.
#[derive(Debug, Parser)]
#[command(name = "exp", version, about, long_about = None)]
pub struct Cli {
    /// The event database.
    #[arg(long, global = true, env = "EXP_DB", default_value = "exp.db")]
    pub db: PathBuf,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open an experiment: load and check the dataset, split it, record the model.
    New(Box<new::NewArgs>),
    /// List experiments, with their tags.
    Ls(inspect::LsArgs),
    /// Show an experiment's state, folded from its events.
    Show {
        /// Experiment name.
        name: String,
    },
    /// Tag an experiment (KEY=VALUE; recorded as TagSet events, shown by ls and show, and in v_tags).
    Tag(annotate::TagArgs),
    /// Add a note to an experiment (a NoteAdded event, shown by show, and in v_notes).
    Note(annotate::NoteArgs),
    /// Print an experiment's events.
    Events {
        /// Experiment name.
        name: String,
        /// Only events of this kind (e.g. SplitMade).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Recompute the hash chain of one experiment (or all) and report the first bad event.
    Verify {
        /// Experiment name (default: every experiment).
        name: Option<String>,
        /// Also re-hash every file that a live event names (models, analysis, exports) and list
        /// the missing or changed ones.
        #[arg(long)]
        files: bool,
    },
    /// Capture the baseline (if needed) and analyse its errors and confidence on the validation split.
    Analyze(stages::AnalyzeArgs),
    /// Derive the training plan from the analysis and print it with the numbers behind each choice.
    Plan {
        /// Experiment name.
        name: String,
        #[command(flatten)]
        data: DataArg,
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting, help = SET_HELP)]
        set: Vec<exp::analysis::overrides::Setting>,
    },
    /// Train: baseline -> analysis -> plan -> phases -> fine-tuned model -> sealed test. Resumes a killed run.
    Train(train::TrainArgs),
    /// Prune the fine-tuned model (heads and FFN neurons, or magnitude), each step recovered by distillation.
    Prune(Box<prune::PruneArgs>),
    /// Classify texts with any model, in ONNX Runtime (default) or candle.
    Predict(Box<predict::PredictArgs>),
    /// Measure inference latency per batch size (warm-up, timed runs, percentiles, throughput).
    Bench(Box<predict::BenchArgs>),
    /// Fetch pinned assets (models, the ONNX Runtime library) into the cache ($EXP_HOME).
    Fetch(fetch::FetchArgs),
    /// Write reports/NAME/: model card, comparison CSV/JSON, training summary, plots, index.html.
    Report(report::ReportArgs),
    /// Fetch assets, then new + train + report with minilm-l6; re-running resumes or reports.
    Quickstart(quickstart::QuickstartArgs),
    /// Write the production model directory (safetensors, fp32 and INT8 ONNX, tokenizer files,
    /// card, metadata), validate each file and test each new ONNX file on the sealed split.
    Export(export::ExportArgs),
    /// Benchmark every model file of an experiment side by side in ONNX Runtime (latency, memory, accuracy).
    Benchmark(benchmark::BenchmarkArgs),
    /// Compare experiments side by side: the settings that differ, sealed-test accuracy and
    /// macro-F1 with 95% intervals, McNemar between members on the same split, benchmarks and
    /// learning curves; written to reports/compare-NAME/.
    Compare(compare::CompareArgs),
    /// Make and train sibling experiments NAME-1, NAME-2, ... over training seeds, split seeds
    /// and a grid of plan values; running it again continues a killed sweep.
    Sweep(sweep::SweepArgs),
    /// Push an experiment's log to an MLflow tracking server (`exp mlflow push NAME --tracking-uri URI`).
    Mlflow(mlflow::MlflowArgs),
    /// A read-only web UI over the event log: experiments, learning curves that update while
    /// `exp train` writes, events, comparisons, reports. Binds 127.0.0.1 unless --bind says otherwise.
    Ui(ui::UiArgs),
    /// One model's resident memory in a process of its own (used by `exp benchmark`).
    #[command(hide = true)]
    MemoryProbe(probe::MemoryProbeArgs),
}

/// Runs one `exp` command line through the same parser and dispatch as the binary (quickstart's
/// and sweep's steps).
pub fn run_line(db: &Path, json: bool, args: &[&str]) -> anyhow::Result<ExitCode> {
    let mut argv: Vec<String> = vec!["exp".into(), "--db".into(), db.display().to_string()];
    if json {
        argv.push("--json".into());
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    let cli = Cli::try_parse_from(&argv)?;
    run(cli)
}

/// `--set KEY=VALUE`, checked as it is parsed.
pub fn parse_setting(
    text: &str,
) -> Result<exp::analysis::overrides::Setting, exp::analysis::overrides::OverrideError> {
    exp::analysis::overrides::Setting::parse(text)
}

/// What `--set` takes, for `--help`.
pub const SET_HELP: &str = "Plan values in place of what the analysis derives, recorded in \
PlanDerived beside the derived ones (repeat for several): epochs=N (every phase's maximum, 1-100), \
lr_band=LOW..HIGH or RATE, batch_size=N (the rates' batch scale follows), \
phases=FOCUS+WEIGHTED+FULL (any of them, in order), pruning_target=30% (one pruning step), \
budget=15m or none, recipe=analysis or plain";

/// Where the experiment's dataset is now, for the commands that read it.
#[derive(Debug, clap::Args)]
pub struct DataArg {
    /// The experiment's dataset file, when it is no longer where `exp new` read it (an
    /// experiment's directory copied to another machine): it must be the same file, its sha256
    /// is checked against the log.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::New(args) => new::run(&cli.db, *args, json),
        Command::Ls(args) => inspect::ls(&cli.db, &args, json),
        Command::Tag(args) => annotate::tag(&cli.db, args, json),
        Command::Note(args) => annotate::note(&cli.db, args, json),
        Command::Show { name } => inspect::show(&cli.db, &name, json),
        Command::Events { name, kind } => inspect::events(&cli.db, &name, kind.as_deref(), json),
        Command::Verify { name, files } => inspect::verify(&cli.db, name.as_deref(), files, json),
        Command::Fetch(args) => fetch::run(args, json),
        Command::Analyze(args) => stages::analyze(&cli.db, args, json),
        Command::Plan { name, data, set } => stages::plan(&cli.db, &name, &data, set, json),
        Command::Train(args) => train::run(&cli.db, args, json),
        Command::Prune(args) => prune::run(&cli.db, *args, json),
        Command::Predict(args) => predict::predict(*args, json),
        Command::Bench(args) => predict::bench(*args, json),
        Command::Report(args) => report::run(&cli.db, args, json),
        Command::Quickstart(args) => quickstart::run(&cli.db, args, json),
        Command::Export(args) => export::export(&cli.db, args, json),
        Command::Benchmark(args) => benchmark::run(&cli.db, args, json),
        Command::Compare(args) => compare::run(&cli.db, args, json),
        Command::Sweep(args) => sweep::run(&cli.db, args, json),
        Command::Mlflow(args) => mlflow::run(&cli.db, args, json),
        Command::Ui(args) => ui::run(&cli.db, args, json),
        Command::MemoryProbe(args) => probe::run(args),
    }
}
