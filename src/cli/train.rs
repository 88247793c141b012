//! `exp train`: every stage the log has not recorded yet, resuming where a killed run stopped.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use exp::pipeline::benchmark::BenchmarkOptions;
use exp::pipeline::prune::PruneOptions;
use exp::pipeline::stages;
use exp::pipeline::train::BaselineFit;
use exp::pipeline::PlanRequest;

use super::progress::open_writing;

use super::output::outln;
use super::output::print_json;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Experiment name.
    pub name: String,
    #[command(flatten)]
    pub data: super::DataArg,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
    /// How to train when the plan is not recorded yet: `analysis` (the phases the baseline's
    /// analysis calls for) or `plain` (the control arm: one plain fine-tune of the model as
    /// loaded, 3 epochs at 5e-5, batch 32, as people fine-tune without exp). Default: the recipe
    /// `exp new` recorded. Naming another recipe than a recorded plan's is refused.
    #[arg(long)]
    pub recipe: Option<exp::events::Recipe>,
    /// Time the whole run may take (e.g. 15m, 1h 30m), when the plan is not recorded yet: a
    /// short probe measures this machine's training and inference throughput on the
    /// experiment's model, and the plan allocates the phases' epochs, the pruning step and its
    /// recovery epochs within what is left after the baseline and analysis, reserving the
    /// sealed test, export and benchmarks. Every allocation, its estimate and what did not fit
    /// are recorded in PlanDerived and printed. Default: no budget (the plan's full epochs).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Plan values in place of what the analysis derives, for a plan not recorded yet; over
    /// those `exp new --set` recorded, key by key. See `exp new --help` for the keys.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::parse_setting)]
    pub set: Vec<exp::analysis::overrides::Setting>,
    /// Epochs of the plain baseline fitted when the model has no trained head.
    #[arg(long, default_value_t = 1)]
    pub baseline_epochs: usize,
    /// Stages to run, in this order whatever the order given: `train` (baseline, analysis, plan,
    /// phases, fine-tuned model, sealed test) is always run first when not yet recorded; leave
    /// out `prune` to export the fine-tuned model as it is. `exp prune`, `exp export` and
    /// `exp benchmark` run one stage with more options.
    #[arg(long, value_delimiter = ',', default_value = ALL_STAGES)]
    pub stages: Vec<Stage>,
    /// Train the phase in progress again from its start instead of resuming it from its
    /// checkpoints (recorded as `PhaseRestarted`). Refused when no phase is in progress.
    #[arg(long)]
    pub restart_phase: bool,
}

/// Every stage, in the order `exp train` runs them (its default, and `exp sweep`'s).
pub const ALL_STAGES: &str = "train,prune,export,benchmark";

/// The stages of `exp train` after the fine-tuned model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    Train,
    Prune,
    Export,
    Benchmark,
}

impl Stage {
    /// The name `--stages` takes.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string())
    }
}

/// Batch sizes `exp train` benchmarks every model file at.
const BENCHMARK_BATCH_SIZES: [usize; 3] = [1, 8, 32];

/// The plan asked for; `--recipe`/`--budget` and a `--set` of the same disagreeing is refused.
fn plan_request(args: &TrainArgs) -> anyhow::Result<PlanRequest> {
    exp::analysis::overrides::check_distinct(&args.set)?;
    let set = |key: &str| args.set.iter().find(|s| s.key == key).map(|s| &s.value);
    if let (Some(r), Some(v)) = (args.recipe, set("recipe")) {
        if r.as_str() != v {
            anyhow::bail!("--recipe {r} and --set recipe={v} disagree; nothing was recorded");
        }
    }
    if let (Some(b), Some(v)) = (args.budget, set("budget")) {
        let given = exp::analysis::overrides::Setting::parse(&format!(
            "budget={}",
            humantime::format_duration(b)
        ))?;
        if &given.value != v {
            anyhow::bail!(
                "--budget {} and --set budget={v} disagree; nothing was recorded",
                given.value
            );
        }
    }
    Ok(PlanRequest {
        recipe: args.recipe,
        budget: args.budget,
        overrides: args.set.clone(),
    })
}

pub fn run(db: &Path, args: TrainArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(db, &args.name, "exp train", &args.data, args.quiet, json)?;
    let fit = BaselineFit {
        epochs: args.baseline_epochs,
        ..BaselineFit::default()
    };
    let plan = plan_request(&args)?;
    // Refused before anything runs: nothing is recorded.
    writing.check_plan_request(&plan)?;
    if args.restart_phase {
        // Refused before anything runs: nothing is recorded, not even a RunFailed.
        writing.restart_phase()?;
    }
    let chain = stages::training_chain(&fit, &plan);
    let pruning = stages::Pruning(PruneOptions::default());
    let export = stages::Export {
        quantize: None,
        again: false,
    };
    let benchmark = stages::Benchmark {
        options: BenchmarkOptions {
            batch_sizes: BENCHMARK_BATCH_SIZES.to_vec(),
            ..BenchmarkOptions::default()
        },
        again: false,
    };
    let mut run: Vec<&dyn stages::Stage> = chain.iter().map(|s| s.as_ref()).collect();
    for (stage, wanted) in [
        (&pruning as &dyn stages::Stage, Stage::Prune),
        (&export, Stage::Export),
        (&benchmark, Stage::Benchmark),
    ] {
        if args.stages.contains(&wanted) {
            run.push(stage);
        }
    }
    stages::run(&mut writing, "exp train", &run)?;
    let test = writing.state().recorded_test()?.clone();
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
        .state()
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
    let state = writing.state();
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
