//! `exp prune`: the pruning stage on its own, re-run from the log (resumes after the last
//! recorded step; a recorded `PruningCompleted` is printed as it is).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use exp::pipeline::prune::{ImportanceKind, PruneMethod, PruneOptions};
use exp::pipeline::stages;

use super::progress::open_writing;

use super::output::outln;
use super::output::print_json;

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Experiment name (its training must be completed).
    pub name: String,
    #[command(flatten)]
    pub data: super::DataArg,
    /// structured (heads and FFN neurons, the matrices shrink) or magnitude (unstructured zeros).
    #[arg(long, default_value = "structured")]
    pub method: PruneMethod,
    /// How heads and neurons are scored: gradient (Taylor, |grad * weight|) or magnitude (L2 norm).
    #[arg(long, default_value = "gradient")]
    pub importance: ImportanceKind,
    /// Cumulative percentages of encoder parameters to remove, one per step (default: from the
    /// analysis' recommendation, in 10-point steps up to 40%).
    #[arg(long, value_delimiter = ',')]
    pub steps: Vec<f64>,
    /// Distillation temperature of recovery training.
    #[arg(long, default_value_t = 3.0)]
    pub temperature: f64,
    /// Weight of the teacher's soft targets in the distillation loss.
    #[arg(long, default_value_t = 0.7)]
    pub alpha: f64,
    /// Epochs of recovery training after each step.
    #[arg(long, default_value_t = 2)]
    pub recovery_epochs: usize,
    /// Peak learning rate of recovery training (default: the plan's band bottom).
    #[arg(long)]
    pub recovery_lr: Option<f64>,
    /// Batch size of recovery training (default: the plan's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Largest validation accuracy drop, in points, for a step to be kept.
    #[arg(long, default_value_t = 1.0)]
    pub tolerance: f64,
    /// Training batches the gradient importance is measured on.
    #[arg(long, default_value_t = 32)]
    pub importance_batches: usize,
    /// Print nothing but the result.
    #[arg(long)]
    pub quiet: bool,
}

impl PruneArgs {
    fn options(&self) -> PruneOptions {
        PruneOptions {
            method: self.method,
            importance: self.importance,
            steps: self.steps.iter().map(|p| p / 100.0).collect(),
            recovery_epochs: self.recovery_epochs,
            temperature: self.temperature,
            alpha: self.alpha,
            tolerance: self.tolerance / 100.0,
            recovery_lr: self.recovery_lr,
            batch_size: self.batch_size,
            importance_batches: self.importance_batches,
            ..PruneOptions::default()
        }
    }
}

pub fn run(db: &Path, args: PruneArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut writing = open_writing(db, &args.name, "exp prune", &args.data, args.quiet, json)?;
    stages::run(
        &mut writing,
        "exp prune",
        &[&stages::Pruning(args.options())],
    )?;
    let Some(done) = writing.state().pruning.clone() else {
        anyhow::bail!("internal error: the pruning stage ended without recording PruningCompleted");
    };
    let steps = writing.state().pruning_steps.clone();
    if json {
        print_json(&serde_json::json!({ "steps": steps, "completed": done }))?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:>4} {:>7} {:>12} {:>8} {:>8} {:>11} {:>11} {:>5}",
        "step",
        "target",
        "encoder",
        "heads",
        "neurons",
        "val acc",
        "ORT b8 ms",
        "kept"
    );
    for s in &steps {
        let b8 = s
            .latency
            .iter()
            .find(|l| l.batch_size == 8)
            .map_or(f64::NAN, |l| l.mean_ms);
        outln!(
            "{:>4} {:>6.0}% {:>12} {:>8} {:>8} {:>11.4} {:>11.2} {:>5}",
            s.step,
            s.target_fraction * 100.0,
            s.shape.encoder_parameters,
            s.shape.heads.iter().sum::<usize>(),
            s.shape.ffn_neurons.iter().sum::<usize>(),
            s.validation.accuracy,
            b8,
            if s.kept { "yes" } else { "no" }
        );
    }
    let reduction =
        1.0 - done.shape.encoder_parameters as f64 / done.reference_shape.encoder_parameters as f64;
    match done.kept_step {
        Some(step) => outln!(
            "{} pruning kept step {step}: {} -> {} encoder parameters ({:.1}% fewer), validation accuracy {:.4}",
            done.method,
            done.reference_shape.encoder_parameters,
            done.shape.encoder_parameters,
            100.0 * reduction,
            done.validation.accuracy
        ),
        None => outln!(
            "{} pruning kept no step: the fine-tuned model goes on (validation accuracy {:.4})",
            done.method, done.validation.accuracy
        ),
    }
    if let Some(s) = done.sparsity {
        outln!(
            "sparsity {:.1}% of encoder matrix weights are zero (same shapes: a dense runtime is not faster)",
            100.0 * s
        );
    }
    outln!("weights {}", done.weights.path);
    Ok(ExitCode::SUCCESS)
}
