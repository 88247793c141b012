//! `exp train`: every stage the log has not recorded yet, resuming where a killed run stopped.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use exp::events::{Event, RunFailed};
use exp::pipeline::prune::PruneOptions;
use exp::pipeline::train::BaselineFit;
use exp::pipeline::Writing;

use super::output::outln;
use super::output::print_json;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Experiment name.
    pub name: String,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
    /// Epochs of the plain baseline fitted when the model has no trained head.
    #[arg(long, default_value_t = 1)]
    pub baseline_epochs: usize,
    /// Stages to run, in this order whatever the order given: `train` (baseline, analysis, plan,
    /// phases, fine-tuned model, sealed test) is always run first when not yet recorded; leave
    /// out `prune` to export the fine-tuned model as it is. `exp prune`, `exp export` and
    /// `exp benchmark` run one stage with more options.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "train,prune,export,benchmark"
    )]
    pub stages: Vec<Stage>,
    /// Train the phase in progress again from its start instead of resuming it from its
    /// checkpoints (recorded as `PhaseRestarted`). Refused when no phase is in progress.
    #[arg(long)]
    pub restart_phase: bool,
}

/// The stages of `exp train` after the fine-tuned model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    Train,
    Prune,
    Export,
    Benchmark,
}

/// Batch sizes `exp train` benchmarks every model file at.
const BENCHMARK_BATCH_SIZES: [usize; 3] = [1, 8, 32];

pub fn run(db: &Path, args: TrainArgs, json: bool) -> anyhow::Result<ExitCode> {
    let quiet = args.quiet || json;
    let mut writing = Writing::open(db, &args.name, "exp train")?;
    let fit = BaselineFit {
        epochs: args.baseline_epochs,
        ..BaselineFit::default()
    };
    if args.restart_phase {
        // Refused before anything runs: nothing is recorded, not even a RunFailed.
        writing.restart_phase(quiet)?;
    }
    if let Err(err) = run_stages(&mut writing, &fit, &args.stages, quiet) {
        // The failure is a fact of the run too; the next `exp train` resumes from the last event.
        let stage = writing.state.status().to_string();
        let _ = writing.record(Event::RunFailed(RunFailed {
            command: "exp train".to_string(),
            stage,
            error: err.to_string(),
        }));
        return Err(err.into());
    }
    let test = writing
        .state
        .test
        .clone()
        .expect("the test was just evaluated");
    if json {
        print_json(&test)?;
        return Ok(ExitCode::SUCCESS);
    }
    let line = |r: &exp::events::TestResult| {
        outln!(
            "{:<11} test accuracy {:.4} (95% CI {:.4}..{:.4}), macro-F1 {:.4}, {} samples",
            r.model,
            r.accuracy,
            r.accuracy_ci95.0,
            r.accuracy_ci95.1,
            r.metrics.macro_f1,
            r.samples
        )
    };
    if let Some(avg) = writing
        .state
        .training
        .as_ref()
        .and_then(|t| t.averaging.as_ref())
    {
        outln!(
            "average of {}: validation macro-F1 {:.4} vs {:.4} for the best phase: {}",
            avg.phases.join(" + "),
            avg.macro_f1,
            avg.best_single_macro_f1,
            if avg.adopted {
                "adopted"
            } else {
                "not adopted"
            }
        );
    }
    outln!("sealed test split, evaluated once:");
    line(&test.baseline);
    line(&test.candidate);
    outln!(
        "flips       fixed {}, broken {}, still wrong {}; McNemar exact p = {:.3e}",
        test.flips.fixed,
        test.flips.broken,
        test.flips.still_wrong,
        test.mcnemar_p
    );
    let state = &writing.state;
    for later in state.tests.iter().skip(1) {
        line(&later.candidate);
    }
    if let Some(p) = &state.pruning {
        let before = p.reference_shape.encoder_parameters as f64;
        outln!(
            "pruning     {} (step {}): encoder parameters {} -> {} ({:+.1}%), validation accuracy {:.4}",
            p.method,
            p.kept_step.map_or("none kept".to_string(), |s| s.to_string()),
            p.reference_shape.encoder_parameters,
            p.shape.encoder_parameters,
            (p.shape.encoder_parameters as f64 / before - 1.0) * 100.0,
            p.validation.accuracy
        );
    }
    if let Some(e) = &state.export {
        outln!(
            "exported    {} ({} model, {} files)",
            e.dir,
            e.source,
            e.files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_stages(
    writing: &mut Writing,
    fit: &BaselineFit,
    stages: &[Stage],
    quiet: bool,
) -> Result<(), exp::pipeline::PipelineError> {
    writing.ensure_trainable_baseline(fit, quiet)?;
    writing.ensure_plan()?;
    if !quiet {
        if let Some(plan) = &writing.state.plan {
            let phases: Vec<&str> = plan.plan.phases.iter().map(|p| p.kind.name()).collect();
            eprintln!(
                "plan: health {}, phases {}, up to {} epochs each, batch {}",
                plan.plan.health.name(),
                phases.join(" -> "),
                plan.plan.epochs,
                plan.plan.batch_size
            );
        }
    }
    writing.run_phases(quiet)?;
    writing.complete_training()?;
    writing.evaluate_test()?;
    if stages.contains(&Stage::Prune) {
        writing.ensure_pruning(&PruneOptions::default(), quiet)?;
    }
    if stages.contains(&Stage::Export) {
        writing.ensure_export(quiet)?;
    }
    if stages.contains(&Stage::Benchmark) {
        writing.ensure_benchmarks(&BENCHMARK_BATCH_SIZES, quiet)?;
    }
    Ok(())
}
