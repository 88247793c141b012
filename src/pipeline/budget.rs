//! `exp train --budget`: measure this machine's training and inference throughput on the
//! experiment's own model and samples (a short probe that records nothing), then fit the plan's
//! work into the budget (`analysis::budget::allocate`).

use std::time::Duration;

use candle_core::Device;

use crate::analysis::budget::{allocate, revise_pruning, Allocation, Throughput, Workload};
use crate::analysis::plan::{PhaseKind, Plan};
use crate::events::{BudgetRevised, Event};
use crate::model::TrainableBert;
use crate::train::checkpoint::TrainerCheckpoint;
use crate::train::observer::{EpochReport, PhaseObserver};
use crate::train::spec::PhaseSpec;
use crate::train::trainer::run_phase;

use super::prune::PruneOptions;
use super::train::{eval_set, train_set};
use super::{PipelineError, Writing};

/// Batches the probe trains on (the first ones include the kernels' warm-up, so the estimate
/// errs on the slow side).
const PROBE_BATCHES: usize = 8;
/// Validation samples the probe evaluates.
const PROBE_VALIDATION: usize = 96;

/// Keeps the probe's one epoch report.
#[derive(Default)]
struct ProbeObserver {
    report: Option<EpochReport>,
}

impl PhaseObserver for ProbeObserver {
    fn epoch_completed(
        &mut self,
        report: &EpochReport,
        _: &TrainerCheckpoint,
    ) -> anyhow::Result<()> {
        self.report = Some(report.clone());
        Ok(())
    }
}

impl Writing {
    /// Training samples/s at the plan's batch size and inference samples/s, measured on the
    /// baseline model with the experiment's own samples.
    fn measure_throughput(&mut self, plan: &Plan) -> Result<Throughput, PipelineError> {
        let (config, weights) = self.start_weights()?;
        let tokenizer = self.tokenizer_for_training()?;
        let n = (PROBE_BATCHES * plan.batch_size).min(self.data.train.len());
        let train = train_set(&self.data, &self.data.train[..n], vec![1.0; n]);
        let v = PROBE_VALIDATION.min(self.data.validation.len());
        let validation = eval_set(&self.data, &self.data.validation[..v]);
        let band = plan.lr_band.scaled(plan.lr_scale);
        let spec = PhaseSpec::new(PhaseKind::Full, 1, band, band.low, plan.batch_size, 0x9B0BE);
        let mut model = TrainableBert::from_weights(&config, &weights, &Device::Cpu)?;
        let mut probe = ProbeObserver::default();
        self.progress.message(&format!(
            "budget: measuring throughput ({n} training samples at batch {}, {v} validation samples)",
            plan.batch_size
        ));
        run_phase(
            &mut model,
            &tokenizer,
            &train,
            &validation,
            &spec,
            None,
            &mut probe,
        )
        .map_err(|e| PipelineError::Training(Box::new(e)))?;
        let Some(report) = probe.report else {
            return Err(PipelineError::Training(Box::new(
                crate::train::error::TrainError::Input("the throughput probe ran no epoch".into()),
            )));
        };
        let train_s = n as f64 / report.samples_per_sec;
        let eval_s = (report.duration_s - train_s).max(1e-3);
        Ok(Throughput {
            train_samples_per_s: report.samples_per_sec,
            eval_samples_per_s: v as f64 / eval_s,
        })
    }

    /// The sizes the budget's estimates scale with.
    fn workload(&self, plan: &Plan) -> Workload {
        Workload {
            train_samples: self.data.train.len(),
            validation_samples: self.data.validation.len(),
            test_samples: self.data.sealed_test().len(),
            phase_samples: plan
                .phases
                .iter()
                .map(|p| {
                    // FOCUS also trains on the samples generated from its priority samples.
                    let generated = match p.kind {
                        PhaseKind::Focus => super::augment::max_generated(p.priority_samples),
                        _ => 0,
                    };
                    p.priority_samples + p.other_samples + generated
                })
                .collect(),
            phase_setup_samples: plan
                .phases
                .iter()
                .map(|p| match p.kind {
                    PhaseKind::Focus => self.data.train.len(),
                    _ => 0,
                })
                .collect(),
            importance_samples: {
                let o = PruneOptions::default();
                o.importance_batches * o.importance_batch_size
            },
        }
    }

    /// Before pruning starts, in the run that fitted the plan into a budget: when the phases
    /// trained slower than the probe measured and the allocated pruning no longer fits in the
    /// time left, records `BudgetRevised` with fewer recovery epochs or no pruning. A resumed
    /// run (another command) follows the allocation as recorded.
    pub(super) fn revise_pruning_budget(&mut self) -> Result<(), PipelineError> {
        let state = self.log.state();
        let (Some(derived), true) = (&state.plan, self.budget_clock) else {
            return Ok(());
        };
        let Some(budget) = derived.budget.clone() else {
            return Ok(());
        };
        if !state.budget_revisions.is_empty() || !state.pruning_steps.is_empty() {
            return Ok(());
        }
        let probe = budget.throughput.train_samples_per_s;
        let Some(measured) = state.epochs.last().map(|e| e.report.samples_per_sec) else {
            return Ok(());
        };
        // Slower only: a fast run keeps its allocation rather than gaining work.
        let ratio = (measured / probe).min(1.0);
        let speed = Throughput {
            train_samples_per_s: probe * ratio,
            eval_samples_per_s: budget.throughput.eval_samples_per_s * ratio,
        };
        let plan = Plan::from(&derived.plan);
        let workload = self.workload(&plan);
        let elapsed = self.started.elapsed().as_secs_f64() + crate::faults::budget_clock_offset_s();
        let Some(revision) = revise_pruning(
            &workload,
            speed,
            budget.budget_s - elapsed,
            &budget.pruning_steps,
            budget.recovery_epochs,
        ) else {
            return Ok(());
        };
        let words = |steps: &[f64], recovery: usize| match steps.last() {
            Some(f) => format!(
                "{} step(s) to {:.0}% with {recovery} recovery epoch(s) each",
                steps.len(),
                f * 100.0
            ),
            None => "no pruning".to_string(),
        };
        let event = BudgetRevised {
            item: "pruning".into(),
            budget_s: budget.budget_s,
            elapsed_s: elapsed,
            probe_train_samples_per_s: probe,
            measured_train_samples_per_s: measured,
            allocated: words(&budget.pruning_steps, budget.recovery_epochs),
            revised: words(&revision.steps, revision.recovery_epochs),
            estimate_s: revision.estimate_s,
            pruning_steps: revision.steps,
            recovery_epochs: revision.recovery_epochs,
        };
        self.progress.message(&format!(
            "budget: {:.0} of {:.0} s spent and the phases trained at {:.1} samples/s (the probe: {:.1}); pruning revised from {} to {} (~{:.0} s with the rest of the tail)",
            event.elapsed_s,
            event.budget_s,
            measured,
            probe,
            event.allocated,
            event.revised,
            event.estimate_s
        ));
        self.record(Event::BudgetRevised(event))
    }

    /// The plan with the phases' epochs the budget allows (phases given none are left out of
    /// it), and the allocation to record beside it.
    pub(super) fn fit_to_budget(
        &mut self,
        plan: Plan,
        budget: Duration,
    ) -> Result<(Plan, Allocation), PipelineError> {
        let throughput = self.measure_throughput(&plan)?;
        let workload = self.workload(&plan);
        let spent = self.started.elapsed().as_secs_f64();
        let allocation = allocate(&plan, &workload, throughput, budget.as_secs_f64(), spent);
        let mut fitted = plan;
        fitted.phases = fitted
            .phases
            .into_iter()
            .zip(&allocation.phase_epochs)
            .filter(|(_, &epochs)| epochs > 0)
            .map(|(mut phase, &epochs)| {
                phase.epochs = epochs;
                phase
            })
            .collect();
        self.progress.message(&format!(
            "budget: {:.0} s, {:.0} s spent; {:.1} training and {:.1} inference samples/s; estimate {:.0} s in all",
            allocation.budget_s,
            allocation.spent_s,
            throughput.train_samples_per_s,
            throughput.eval_samples_per_s,
            allocation.estimate_total_s
        ));
        for item in &allocation.items {
            self.progress.message(&format!(
                "  {:<18} {} (~{:.0} s)",
                item.item, item.detail, item.estimate_s
            ));
        }
        for left in &allocation.left_out {
            self.progress.message(&format!("  left out: {left}"));
        }
        Ok((fitted, allocation))
    }
}
