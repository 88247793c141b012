//! `exp analyze` and `exp plan`: run a stage (and the stages before it that the log lacks).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use exp::pipeline::stages;

use super::output::print_json;
use super::output::{out, outln};
use super::progress::open_writing;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Experiment name.
    pub name: String,
    #[command(flatten)]
    pub data: super::DataArg,
    /// Import a notebook-produced comprehensive_analysis.json instead of computing one.
    #[arg(long)]
    pub import: Option<PathBuf>,
    /// Compute the analysis again even if one is recorded.
    #[arg(long)]
    pub again: bool,
}

pub fn analyze(db: &Path, args: AnalyzeArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(db, &args.name, "exp analyze", &args.data, false, json)?;
    // The analysis captures the baseline as it is when none is recorded (an encoder without a
    // head is refused here: `exp train` fits one).
    match &args.import {
        Some(file) => stages::run(
            &mut writing,
            "exp analyze",
            &[&stages::ImportedAnalysis(file.clone())],
        )?,
        None => stages::run(
            &mut writing,
            "exp analyze",
            &[&stages::Analysis { again: args.again }],
        )?,
    }
    let (seq, recorded) = writing.state().recorded_analysis()?;
    let recorded = recorded.clone();
    if json {
        print_json(&serde_json::json!({ "seq": seq, "analysis": recorded }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(baseline) = &writing.state().baseline {
        let v = &baseline.validation;
        outln!(
            "baseline   {} ({}): validation accuracy {:.4}, macro-F1 {:.4} on {} samples",
            baseline.onnx.path,
            baseline.origin,
            v.accuracy,
            v.macro_f1,
            v.sample_count
        );
    }
    let s = &recorded.summary;
    outln!(
        "analysis   {} ({}, event {seq})",
        recorded.path,
        recorded.source
    );
    outln!("summary    {}", recorded.summary_path);
    outln!(
        "findings   accuracy {:.4}, error rate {:.4}, mean confidence {:.4}; {} misclassified, {} low-confidence of {}",
        s.accuracy, s.error_rate, s.avg_confidence, s.misclassified, s.low_confidence, s.samples
    );
    outln!(
        "           weakest classes {}; problematic keywords {}",
        s.problematic_classes.join(", "),
        s.problematic_keywords.join(", ")
    );
    outln!(
        "recommends learning rate {}; pruning {}",
        s.learning_rate,
        s.pruning
    );
    outln!("samples    {}", recorded.sample_sets_note);
    Ok(ExitCode::SUCCESS)
}

pub fn plan(
    db: &Path,
    name: &str,
    data: &super::DataArg,
    set: Vec<exp::analysis::overrides::Setting>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(db, name, "exp plan", data, false, json)?;
    exp::analysis::overrides::check_distinct(&set)?;
    let request = exp::pipeline::PlanRequest {
        overrides: set,
        ..Default::default()
    };
    // Refused before anything runs: nothing is recorded.
    writing.check_plan_request(&request)?;
    // An imported analysis is enough for a plan; without one the analysis stage captures the
    // baseline as it is.
    let chain: [&dyn stages::Stage; 2] =
        [&stages::Analysis { again: false }, &stages::Plan(request)];
    stages::run(&mut writing, "exp plan", &chain)?;
    let derived = writing.state().recorded_plan()?.clone();
    if json {
        print_json(&derived)?;
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{}",
        exp::analysis::plan::Plan::from(&derived.plan).render_table()
    );
    for o in &derived.overrides {
        outln!(
            "set by hand: {}={} (derived: {})",
            o.key,
            o.value,
            o.derived
        );
    }
    if !derived.priorities_from_training_split {
        outln!(
            "\npriority counts come from the analysis file; training recomputes them from the baseline on the training split"
        );
    }
    Ok(ExitCode::SUCCESS)
}
