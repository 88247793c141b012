//! A time budget allocated to the work after the plan: the phases' epochs, the pruning steps and
//! their recovery epochs, and the fixed tail (fine-tuned model, sealed test, export, benchmark).
//! Pure: measured throughputs and the workload in, an allocation with an estimate for every item
//! out. What does not fit is listed in `left_out`, never dropped silently.

use serde::{Deserialize, Serialize};

use super::plan::{PhaseKind, Plan, PruningPlan};

/// What the probe measured on this machine, with the plan's batch size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Training samples per second (forward, backward, optimiser step).
    pub train_samples_per_s: f64,
    /// Inference samples per second (validation passes).
    pub eval_samples_per_s: f64,
}

/// The sizes the estimates scale with.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub train_samples: usize,
    pub validation_samples: usize,
    pub test_samples: usize,
    /// Training samples of each planned phase's epoch, in plan order.
    pub phase_samples: Vec<usize>,
    /// Samples each phase runs inference on once before training (FOCUS embeds the training
    /// split to generate samples), in plan order.
    pub phase_setup_samples: Vec<usize>,
    /// Samples the pruning importance is accumulated over (forward and backward).
    pub importance_samples: usize,
}

/// One allocated piece of work and its estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allocated {
    /// `phase FOCUS`, `pruning`, `tail`.
    pub item: String,
    /// Epochs (a phase), steps (pruning) or 0 (fixed work).
    pub units: usize,
    pub detail: String,
    pub estimate_s: f64,
}

/// The plan's work fitted into a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub budget_s: f64,
    /// Time the run had taken when the plan was derived (baseline, analysis, the probe).
    pub spent_s: f64,
    pub throughput: Throughput,
    /// Epochs of each planned phase, in plan order (0: the phase is left out).
    pub phase_epochs: Vec<usize>,
    /// Cumulative pruning fractions, one per step (empty: no pruning).
    pub pruning_steps: Vec<f64>,
    pub recovery_epochs: usize,
    pub items: Vec<Allocated>,
    /// Work the plan would do without a budget that this one leaves out, and why.
    pub left_out: Vec<String>,
    /// `spent_s` plus every item's estimate.
    pub estimate_total_s: f64,
}

/// Validation passes the fixed tail makes (the fine-tuned model in candle and ORT, the export's
/// fp32 and INT8 files) and sealed-test passes (baseline, fine-tuned, fp32 and INT8 exports).
const TAIL_VALIDATION_PASSES: f64 = 4.0;
const TAIL_TEST_PASSES: f64 = 4.0;
/// Of those, the passes that come after pruning (the export's two files, on both splits).
const TAIL_AFTER_PRUNING_PASSES: f64 = 2.0;
/// Seconds of the tail that do not scale with the data: ONNX writing, quantisation, latency
/// benchmarks of every file at three batch sizes.
const TAIL_FIXED_S: f64 = 45.0;
/// Seconds per pruning step besides training: its ONNX file and latency measurement.
const STEP_FIXED_S: f64 = 8.0;
/// Recovery epochs per step when the budget has room (one was not enough to bring a 30% step
/// of a fine-tuned MiniLM back within a point; two were).
const RECOVERY_EPOCHS: usize = 2;

fn epoch_s(samples: usize, validation: usize, t: Throughput) -> f64 {
    samples as f64 / t.train_samples_per_s + validation as f64 / t.eval_samples_per_s
}

/// The estimate of the work after training that every run does.
pub fn tail_estimate(w: &Workload, t: Throughput) -> f64 {
    (TAIL_VALIDATION_PASSES * w.validation_samples as f64
        + TAIL_TEST_PASSES * w.test_samples as f64)
        / t.eval_samples_per_s
        + TAIL_FIXED_S
}

/// The part of the tail that runs after pruning: the export, its checks and the benchmarks.
pub fn tail_after_pruning_estimate(w: &Workload, t: Throughput) -> f64 {
    TAIL_AFTER_PRUNING_PASSES * (w.validation_samples + w.test_samples) as f64
        / t.eval_samples_per_s
        + TAIL_FIXED_S
}

/// The pruning allocated when the plan was derived, fitted again when pruning is about to start.
#[derive(Clone, Debug, PartialEq)]
pub struct PruningRevision {
    /// Empty: pruning is left out.
    pub steps: Vec<f64>,
    pub recovery_epochs: usize,
    /// The revised pruning and the rest of the tail, at the measured speed.
    pub estimate_s: f64,
}

/// Refits the allocated pruning (`steps`, `recovery` epochs each) into `left_s`, the seconds
/// the budget has left, at `measured` throughput (the phases' own, when they ran slower than
/// the probe): fewer recovery epochs, down to one, else no pruning. `None` when the allocation
/// still fits (a faster run never gets more work than was allocated).
pub fn revise_pruning(
    w: &Workload,
    measured: Throughput,
    left_s: f64,
    steps: &[f64],
    recovery: usize,
) -> Option<PruningRevision> {
    let tail = tail_after_pruning_estimate(w, measured);
    let fits = |r: usize| pruning_estimate(w, measured, steps.len(), r) + tail <= left_s;
    if steps.is_empty() || fits(recovery) {
        return None;
    }
    let revision = match (1..recovery).rev().find(|&r| fits(r)) {
        Some(r) => PruningRevision {
            steps: steps.to_vec(),
            recovery_epochs: r,
            estimate_s: pruning_estimate(w, measured, steps.len(), r) + tail,
        },
        None => PruningRevision {
            steps: Vec::new(),
            recovery_epochs: 0,
            estimate_s: tail,
        },
    };
    Some(revision)
}

/// Pruning with `steps` steps of `recovery` epochs each: the teacher's logits once, then per
/// step the importance pass, the recovery epochs and the step's evaluation.
pub fn pruning_estimate(w: &Workload, t: Throughput, steps: usize, recovery: usize) -> f64 {
    if steps == 0 {
        return 0.0;
    }
    let teacher = w.train_samples as f64 / t.eval_samples_per_s;
    let per_step = w.importance_samples as f64 / t.train_samples_per_s
        + recovery as f64 * epoch_s(w.train_samples, w.validation_samples, t)
        + w.validation_samples as f64 / t.eval_samples_per_s
        + STEP_FIXED_S;
    teacher + steps as f64 * per_step
}

/// Fits `plan`'s phases and pruning into `budget_s - spent_s`:
/// 1. the tail is reserved;
/// 2. every phase gets one epoch; if they do not all fit, phases are left out in
///    [`drop_order`] (the last phase, on the whole training set, stays; it runs even over the
///    budget);
/// 3. pruning gets one step at the plan's largest recommended fraction with
///    [`RECOVERY_EPOCHS`] recovery epochs, else one recovery epoch, else it is left out;
/// 4. what remains adds epochs to the phases in turn, up to the plan's epochs.
pub fn allocate(
    plan: &Plan,
    w: &Workload,
    t: Throughput,
    budget_s: f64,
    spent_s: f64,
) -> Allocation {
    let n = plan.phases.len();
    let phase_epoch: Vec<f64> = (0..n)
        .map(|i| epoch_s(w.phase_samples[i], w.validation_samples, t))
        .collect();
    let setup: Vec<f64> = (0..n)
        .map(|i| w.phase_setup_samples[i] as f64 / t.eval_samples_per_s)
        .collect();
    // A phase's first epoch carries its setup.
    let first_epoch: Vec<f64> = (0..n).map(|i| phase_epoch[i] + setup[i]).collect();
    let tail = tail_estimate(w, t);
    let mut left = budget_s - spent_s - tail;
    let mut left_out = Vec::new();
    let mut epochs = vec![0usize; n];

    // Every phase one epoch, dropping phases in `drop_order` while they do not fit.
    let mut kept = vec![true; n];
    for i in drop_order(plan) {
        let needed: f64 = (0..n).filter(|&j| kept[j]).map(|j| first_epoch[j]).sum();
        if needed <= left {
            break;
        }
        kept[i] = false;
        left_out.push(format!(
            "phase {} (one epoch needs ~{:.0} s; {:.0} s left for all phases)",
            plan.phases[i].kind.name(),
            first_epoch[i],
            left.max(0.0)
        ));
    }
    for i in (0..n).filter(|&i| kept[i]) {
        epochs[i] = 1;
        left -= first_epoch[i];
    }

    // Pruning: one step, as large as the plan recommends, when it fits.
    let pruning = &plan.pruning;
    let full = pruning_estimate(w, t, 1, RECOVERY_EPOCHS);
    let short = pruning_estimate(w, t, 1, 1);
    let (steps, recovery) = if full <= left {
        (vec![step_fraction(pruning)], RECOVERY_EPOCHS)
    } else if short <= left {
        (vec![step_fraction(pruning)], 1)
    } else {
        left_out.push(format!(
            "pruning (one step with one recovery epoch needs ~{short:.0} s; {:.0} s left)",
            left.max(0.0)
        ));
        (Vec::new(), 0)
    };
    left -= pruning_estimate(w, t, steps.len(), recovery);

    // The rest: more epochs, one phase at a time, up to the plan's.
    loop {
        let mut added = false;
        for i in (0..n).filter(|&i| kept[i]) {
            if epochs[i] < plan.phases[i].epochs && phase_epoch[i] <= left {
                epochs[i] += 1;
                left -= phase_epoch[i];
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    for i in (0..n).filter(|&i| kept[i]) {
        if epochs[i] < plan.phases[i].epochs {
            left_out.push(format!(
                "phase {}: {} of the plan's {} epochs, {} kept (~{:.0} s each)",
                plan.phases[i].kind.name(),
                plan.phases[i].epochs - epochs[i],
                plan.phases[i].epochs,
                epochs[i],
                phase_epoch[i]
            ));
        }
    }

    let mut items: Vec<Allocated> = (0..n)
        .filter(|&i| epochs[i] > 0)
        .map(|i| Allocated {
            item: format!("phase {}", plan.phases[i].kind.name()),
            units: epochs[i],
            detail: format!(
                "{} epoch(s) of {} samples (~{:.0} s each{})",
                epochs[i],
                w.phase_samples[i],
                phase_epoch[i],
                if setup[i] > 0.0 {
                    format!(", ~{:.0} s to prepare", setup[i])
                } else {
                    String::new()
                }
            ),
            estimate_s: epochs[i] as f64 * phase_epoch[i] + setup[i],
        })
        .collect();
    if !steps.is_empty() {
        items.push(Allocated {
            item: "pruning".into(),
            units: steps.len(),
            detail: format!(
                "{} step(s) to {:.0}% with {} recovery epoch(s) each",
                steps.len(),
                steps.last().copied().unwrap_or(0.0) * 100.0,
                recovery
            ),
            estimate_s: pruning_estimate(w, t, steps.len(), recovery),
        });
    }
    items.push(Allocated {
        item: "tail".into(),
        units: 0,
        detail: "fine-tuned model, sealed test, export (fp32 and INT8), benchmarks".into(),
        estimate_s: tail,
    });
    let estimate_total_s = spent_s + items.iter().map(|i| i.estimate_s).sum::<f64>();
    Allocation {
        budget_s,
        spent_s,
        throughput: t,
        phase_epochs: epochs,
        pruning_steps: steps,
        recovery_epochs: recovery,
        items,
        left_out,
        estimate_total_s,
    }
}

/// The order phases are left out in when one epoch of each does not fit: WEIGHTED first (in the
/// runs measured for the time budget, seeds 42, 1 and 2 on FinancialPhraseBank, its model was
/// never better on validation than the FOCUS model before it, and FOCUS gave the largest gain),
/// then the others from the front. The last phase is never in it.
fn drop_order(plan: &Plan) -> Vec<usize> {
    let last = plan.phases.len().saturating_sub(1);
    let weighted = (0..last).filter(|&i| plan.phases[i].kind == PhaseKind::Weighted);
    let others = (0..last).filter(|&i| plan.phases[i].kind != PhaseKind::Weighted);
    weighted.chain(others).collect()
}

/// One pruning step takes the plan's largest recommended fraction at once.
fn step_fraction(p: &PruningPlan) -> f64 {
    p.target_percent
        .unwrap_or(p.max_percent.max(p.min_percent))
        .max(1) as f64
        / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::plan::{Health, LrBand, Phase, PlanInputs, Recipe};
    use crate::analysis::recommend::PruningLevel;

    fn plan() -> Plan {
        let inputs = PlanInputs {
            accuracy: 0.7,
            error_rate: 0.3,
            avg_confidence: 0.6,
            dataset_size: 4000,
            misclassified_count: 400,
            low_confidence_count: 300,
            priority_count: 500,
            train_size: 3000,
            learning_rate_recommendation: "5e-5 to 1e-4".into(),
            pruning_strategy: "Moderate pruning".into(),
            target_classes: vec![],
        };
        let phases = [PhaseKind::Focus, PhaseKind::Weighted, PhaseKind::Full]
            .into_iter()
            .map(|kind| Phase {
                kind,
                learning_rate: 1e-4,
                epochs: 5,
                weighted: kind == PhaseKind::Weighted,
                priority_samples: 500,
                other_samples: 500,
            })
            .collect();
        Plan {
            inputs,
            epochs: 5,
            weight_multiplier: 3.0,
            batch_size: 16,
            lr_band: LrBand {
                low: 5e-5,
                high: 1e-4,
            },
            lr_scale: 1.0,
            target_classes: vec![],
            health: Health::Poor,
            pruning: PruningPlan {
                level: PruningLevel::Moderate,
                min_percent: 20,
                max_percent: 30,
                target_percent: None,
            },
            priority_fraction: 0.17,
            weight_scale: 1.0,
            phases,
            augmentation: vec![],
            recipe: Recipe::Analysis,
        }
    }

    fn workload() -> Workload {
        Workload {
            train_samples: 3000,
            validation_samples: 600,
            test_samples: 600,
            phase_samples: vec![1000, 3000, 3000],
            phase_setup_samples: vec![0, 0, 0],
            importance_samples: 1024,
        }
    }

    const T: Throughput = Throughput {
        train_samples_per_s: 30.0,
        eval_samples_per_s: 120.0,
    };

    #[test]
    fn a_generous_budget_runs_the_whole_plan_and_one_large_pruning_step() {
        let a = allocate(&plan(), &workload(), T, 1e9, 100.0);
        assert_eq!(a.phase_epochs, vec![5, 5, 5]);
        assert_eq!(a.pruning_steps, vec![0.3]);
        assert_eq!(a.recovery_epochs, 2);
        assert!(a.left_out.is_empty(), "{:?}", a.left_out);
        // Every item is estimated, and the total adds them up.
        let sum: f64 = a.items.iter().map(|i| i.estimate_s).sum();
        assert!((a.estimate_total_s - 100.0 - sum).abs() < 1e-9);
        // A phase epoch: 3000 / 30 s of training plus 600 / 120 s of validation.
        assert_eq!(a.items[1].estimate_s, 5.0 * 105.0);
    }

    #[test]
    fn a_tight_budget_says_what_it_left_out_and_stays_within() {
        let (w, budget, spent) = (workload(), 900.0, 200.0);
        let a = allocate(&plan(), &w, T, budget, spent);
        assert!(a.estimate_total_s <= budget, "{a:?}");
        assert!(a.phase_epochs.iter().all(|&e| e >= 1), "{a:?}");
        assert!(a.phase_epochs.iter().any(|&e| e < 5));
        assert!(
            a.left_out
                .iter()
                .any(|l| l.contains("of the plan's 5 epochs, ") && l.contains(" kept ")),
            "{:?}",
            a.left_out
        );
    }

    #[test]
    fn a_budget_too_small_for_every_phase_keeps_the_last_one_and_lists_the_others() {
        let a = allocate(&plan(), &workload(), T, 250.0, 100.0);
        assert_eq!(a.phase_epochs, vec![0, 0, 1]);
        assert!(a.pruning_steps.is_empty());
        let text = a.left_out.join("; ");
        assert!(text.contains("phase FOCUS"), "{text}");
        assert!(text.contains("phase WEIGHTED"), "{text}");
        assert!(text.contains("pruning"), "{text}");
        // Over the budget, and the estimate says so.
        assert!(a.estimate_total_s > 250.0, "{a:?}");
    }

    #[test]
    fn weighted_is_left_out_before_focus() {
        // Room for two of the three phases' first epochs (~38 + 105 + 105 s) and the tail.
        let w = workload();
        let tail = tail_estimate(&w, T);
        let a = allocate(&plan(), &w, T, 100.0 + tail + 38.4 + 105.0 + 1.0, 100.0);
        assert_eq!(a.phase_epochs, vec![1, 0, 1], "{a:?}");
        assert!(
            a.left_out[0].starts_with("phase WEIGHTED"),
            "{:?}",
            a.left_out
        );
    }

    #[test]
    fn pruning_is_refitted_to_the_time_left_at_the_measured_speed() {
        let w = workload();
        let tail = tail_after_pruning_estimate(&w, T);
        let two = pruning_estimate(&w, T, 1, 2) + tail;
        let one = pruning_estimate(&w, T, 1, 1) + tail;
        // Enough time: nothing changes.
        assert_eq!(revise_pruning(&w, T, two + 1.0, &[0.3], 2), None);
        // Time for one recovery epoch only.
        let r = revise_pruning(&w, T, one + 1.0, &[0.3], 2).unwrap();
        assert_eq!((r.steps, r.recovery_epochs), (vec![0.3], 1));
        assert!((r.estimate_s - one).abs() < 1e-9);
        // Not even that: pruning is left out, the tail remains.
        let r = revise_pruning(&w, T, one - 1.0, &[0.3], 2).unwrap();
        assert_eq!((r.steps.len(), r.recovery_epochs), (0, 0));
        // Half the speed the same time buys less.
        let slow = Throughput {
            train_samples_per_s: 15.0,
            eval_samples_per_s: 60.0,
        };
        assert!(revise_pruning(&w, slow, two + 1.0, &[0.3], 2).is_some());
        // Nothing allocated, nothing to revise.
        assert_eq!(revise_pruning(&w, T, 0.0, &[], 0), None);
    }
}
