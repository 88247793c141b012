//! The stages of an experiment as types, and the one driver that knows their order.
//!
//! Each stage says whether the log already holds its result and, if not, does its work and
//! records it. [`run`] takes the stages a command asks for, runs them in the chain's order
//! ([`ORDER`]), reports each to the progress sink, and records a failure once, the same way for
//! every command: a stage that began work and failed is a `RunFailed` naming the stage; a
//! refusal before any work (a missing prerequisite, a request that does not apply) records
//! nothing.

use crate::events::{Event, RunFailed};
use crate::quantize::QuantizeOptions;
use crate::state::Experiment;

use super::benchmark::BenchmarkOptions;
use super::progress::Update;
use super::prune::PruneOptions;
use super::train::BaselineFit;
use super::{PipelineError, PlanRequest, Writing};

/// Every stage, in the order the driver runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageId {
    Baseline,
    Analysis,
    Plan,
    Phases,
    FineTuned,
    SealedTest,
    Pruning,
    Export,
    Benchmark,
}

/// The chain. Stages up to `SealedTest` are what `exp train` always runs; the others read the
/// fine-tuned model and refuse (naming `exp train`) where it is not recorded.
pub const ORDER: [StageId; 9] = [
    StageId::Baseline,
    StageId::Analysis,
    StageId::Plan,
    StageId::Phases,
    StageId::FineTuned,
    StageId::SealedTest,
    StageId::Pruning,
    StageId::Export,
    StageId::Benchmark,
];

impl StageId {
    /// The name `RunFailed.stage` and the progress reports use.
    pub fn name(self) -> &'static str {
        match self {
            StageId::Baseline => "baseline",
            StageId::Analysis => "analysis",
            StageId::Plan => "plan",
            StageId::Phases => "phases",
            StageId::FineTuned => "fine-tuned model",
            StageId::SealedTest => "sealed test",
            StageId::Pruning => "pruning",
            StageId::Export => "export",
            StageId::Benchmark => "benchmark",
        }
    }
}

pub trait Stage {
    fn id(&self) -> StageId;
    /// Whether the log already holds this stage's result (then it is not run).
    fn recorded(&self, state: &Experiment) -> bool;
    /// Does the stage's work and records it. The stages before it in a command's list have run;
    /// a prerequisite outside that list that is missing is a refusal naming its command.
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError>;
}

/// Whether an error refused the command before its stage did any work: nothing is recorded.
fn is_refusal(err: &PipelineError) -> bool {
    matches!(
        err,
        PipelineError::NotRecorded(_)
            | PipelineError::NotTrained(_)
            | PipelineError::NoPhaseInProgress(_)
            | PipelineError::RecipeMismatch { .. }
            | PipelineError::BudgetWithPlainRecipe(_)
            | PipelineError::Incomplete(_)
            | PipelineError::Refused(_)
            | PipelineError::NeedsFittedBaseline { .. }
    )
}

/// Runs `stages` (in [`ORDER`], whatever the order given) for `command`, skipping those the log
/// has recorded. The first failure ends the run: recorded once as `RunFailed` unless it was a
/// refusal, then returned.
pub fn run(w: &mut Writing, command: &str, stages: &[&dyn Stage]) -> Result<(), PipelineError> {
    let mut ordered: Vec<&dyn Stage> = stages.to_vec();
    ordered.sort_by_key(|s| s.id());
    for stage in ordered {
        if stage.recorded(w.state()) {
            continue;
        }
        let name = stage.id().name();
        w.progress.update(Update::StageStarted { stage: name });
        if let Err(err) = stage.run(w) {
            if !is_refusal(&err) {
                // The failure is a fact of the run too; the next run resumes from the last event.
                let _ = w.record(Event::RunFailed(RunFailed {
                    command: command.to_string(),
                    stage: name.to_string(),
                    error: err.to_string(),
                }));
            }
            return Err(err);
        }
        w.progress.update(Update::StageFinished { stage: name });
    }
    Ok(())
}

/// The stages `exp train` always runs, with how the baseline is fitted, the recipe asked for
/// (`None`: the one `exp new` recorded) and the time budget the plan fits its work into.
pub fn training_chain(fit: &BaselineFit, plan: &PlanRequest) -> [Box<dyn Stage>; 6] {
    [
        Box::new(Baseline(fit.clone())),
        Box::new(Analysis { again: false }),
        Box::new(Plan(plan.clone())),
        Box::new(Phases),
        Box::new(FineTuned),
        Box::new(SealedTest),
    ]
}

/// The baseline: the model as it is when it has a trained head, else a plain fine-tune of it.
pub struct Baseline(pub BaselineFit);

impl Stage for Baseline {
    fn id(&self) -> StageId {
        StageId::Baseline
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state.baseline.is_some()
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.ensure_trainable_baseline(&self.0)
    }
}

/// The baseline's analysis on the validation split (`again`: computed anew even if recorded).
/// Without a recorded baseline it captures the model as it is (a classifier); `exp train` runs
/// [`Baseline`] first, which fits one for an encoder.
pub struct Analysis {
    pub again: bool,
}

impl Stage for Analysis {
    fn id(&self) -> StageId {
        StageId::Analysis
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state.analysis.is_some() && !self.again
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.ensure_analysis(self.again)
    }
}

/// A notebook-produced analysis file, recorded as the analysis.
pub struct ImportedAnalysis(pub std::path::PathBuf);

impl Stage for ImportedAnalysis {
    fn id(&self) -> StageId {
        StageId::Analysis
    }
    fn recorded(&self, _: &Experiment) -> bool {
        false
    }
    /// The file is read and checked before anything is recorded: any error is bad input.
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.import_analysis(&self.0)
            .map_err(|e| PipelineError::Refused(Box::new(e)))
    }
}

/// The plan: the analysis' rules, or the plain recipe, with `--set` values in place of derived
/// ones and its work fitted into a time budget (see [`PlanRequest`]); a recipe or `--set`
/// value that contradicts a recorded plan is refused.
pub struct Plan(pub PlanRequest);

impl Stage for Plan {
    fn id(&self) -> StageId {
        StageId::Plan
    }
    /// A recorded plan with another recipe or other `--set` values than those asked for is
    /// not "recorded": `run` refuses it.
    fn recorded(&self, state: &Experiment) -> bool {
        state.plan.as_ref().is_some_and(|p| {
            self.0.recipe.is_none_or(|r| r == p.plan.recipe)
                && self.0.overrides.iter().all(|s| p.applied(&s.key, &s.value))
        })
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.ensure_plan(&self.0)
    }
}

/// The plan's phases that the log has not completed (a phase in progress resumes).
pub struct Phases;

impl Stage for Phases {
    fn id(&self) -> StageId {
        StageId::Phases
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state
            .plan
            .as_ref()
            .is_some_and(|p| state.phases_completed.len() >= p.plan.phases.len())
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        if let Ok(plan) = w.state().recorded_plan() {
            let phases: Vec<String> = plan
                .plan
                .phases
                .iter()
                .map(|p| format!("{} (up to {} epochs)", p.kind.name(), p.epochs))
                .collect();
            let line = format!(
                "plan ({} recipe): health {}, phases {}, batch {}",
                plan.plan.recipe,
                plan.plan.health.name(),
                phases.join(" -> "),
                plan.plan.batch_size
            );
            w.progress.message(&line);
        }
        w.run_phases()
    }
}

/// The fine-tuned model: the best phase (or the average of improving phases), saved and its ONNX
/// file checked against candle.
pub struct FineTuned;

impl Stage for FineTuned {
    fn id(&self) -> StageId {
        StageId::FineTuned
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state.training.is_some()
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.complete_training()
    }
}

/// The sealed test split, read once: the baseline and the fine-tuned model side by side.
pub struct SealedTest;

impl Stage for SealedTest {
    fn id(&self) -> StageId {
        StageId::SealedTest
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state.test.is_some()
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.evaluate_test()
    }
}

pub struct Pruning(pub PruneOptions);

impl Stage for Pruning {
    fn id(&self) -> StageId {
        StageId::Pruning
    }
    fn recorded(&self, state: &Experiment) -> bool {
        state.pruning.is_some()
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.ensure_pruning(&self.0)
    }
}

/// The production model directory (written again when its source model changed, when `quantize`
/// names another INT8 variant than the recorded export's, or with `again`), then the sealed test
/// of each exported ONNX file not yet tested. `quantize: None` keeps whatever variant the log
/// has (the default one for a first export).
pub struct Export {
    pub quantize: Option<QuantizeOptions>,
    pub again: bool,
}

impl Stage for Export {
    fn id(&self) -> StageId {
        StageId::Export
    }
    /// Its completeness needs the files' hashes: [`Writing::ensure_export`] decides and does
    /// nothing when the export is current and tested.
    fn recorded(&self, _: &Experiment) -> bool {
        false
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        let other_variant = self.quantize.as_ref().is_some_and(|q| {
            w.state()
                .export
                .as_ref()
                .is_none_or(|e| e.quantization.as_deref() != Some(q.name().as_str()))
        });
        if self.again || other_variant || !w.export_is_current()? {
            w.export_model(&self.quantize.unwrap_or_default())?;
        }
        w.test_exported_files()
    }
}

/// Every model file of the experiment in ONNX Runtime, side by side (`again`: measured anew).
pub struct Benchmark {
    pub options: BenchmarkOptions,
    pub again: bool,
}

impl Stage for Benchmark {
    fn id(&self) -> StageId {
        StageId::Benchmark
    }
    /// Which targets lack which batch sizes is [`Writing::benchmark`]'s to decide.
    fn recorded(&self, _: &Experiment) -> bool {
        false
    }
    fn run(&self, w: &mut Writing) -> Result<(), PipelineError> {
        w.benchmark(&self.options, self.again)
    }
}
