//! A time budget's allocation against what the run took: one row per allocated item (each
//! phase, pruning, the tail), with the estimate recorded in `PlanDerived` and the wall time
//! between the events that bound the item.

use serde::Serialize;

use crate::state::Experiment;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetRow {
    pub item: String,
    pub detail: String,
    pub estimate_s: f64,
    /// `None` while the item has not finished.
    pub actual_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetTable {
    pub budget_s: f64,
    pub spent_before_plan_s: f64,
    pub estimate_total_s: f64,
    /// Time before the plan plus the wall time from the plan to the log's last event.
    pub actual_total_s: Option<f64>,
    pub rows: Vec<BudgetRow>,
    pub left_out: Vec<String>,
    /// Allocations changed during the run (`BudgetRevised`), in words.
    pub revisions: Vec<String>,
}

fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let a = humantime::parse_rfc3339(from).ok()?;
    let b = humantime::parse_rfc3339(to).ok()?;
    Some(b.duration_since(a).ok()?.as_secs_f64())
}

/// The table for an experiment whose plan was fitted into a budget; `None` otherwise.
///
/// A phase runs from the end of the previous one (or the plan) to its `PhaseCompleted`, so its
/// augmentation and checkpoints count; pruning from the first sealed test to
/// `PruningCompleted`; the tail is the fine-tuned model and sealed test (last phase to first
/// sealed test) plus everything after pruning (or after the sealed test, without pruning).
pub fn table(state: &Experiment) -> Option<BudgetTable> {
    let budget = state.plan.as_ref()?.budget.as_ref()?;
    let t = &state.timing;
    let mut previous = t.plan.clone();
    let mut phase_end: Vec<(String, Option<f64>)> = Vec::new();
    for (kind, ts) in &t.phases {
        let actual = previous.as_deref().and_then(|p| seconds_between(p, ts));
        phase_end.push((format!("phase {kind}"), actual));
        previous = Some(ts.clone());
    }
    let last_phase = t.phases.last().map(|(_, ts)| ts.clone());
    let pruning = match (&t.first_test, &t.pruning) {
        (Some(a), Some(b)) => seconds_between(a, b),
        _ => None,
    };
    let last = Some(t.last.as_str()).filter(|l| !l.is_empty());
    let tail = match (&last_phase, &t.first_test, last) {
        (Some(done), Some(test), Some(last)) => {
            let after = t.pruning.as_deref().unwrap_or(test);
            Some(seconds_between(done, test)? + seconds_between(after, last)?)
        }
        _ => None,
    };
    let rows = budget
        .items
        .iter()
        .map(|item| {
            let actual = match item.item.as_str() {
                "pruning" => pruning,
                "tail" => tail,
                name => phase_end
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, a)| *a),
            };
            BudgetRow {
                item: item.item.clone(),
                detail: item.detail.clone(),
                estimate_s: item.estimate_s,
                actual_s: actual,
            }
        })
        .collect();
    let actual_total_s = match (&t.plan, last) {
        (Some(plan), Some(last)) if tail.is_some() => {
            seconds_between(plan, last).map(|s| s + budget.spent_s)
        }
        _ => None,
    };
    Some(BudgetTable {
        budget_s: budget.budget_s,
        spent_before_plan_s: budget.spent_s,
        estimate_total_s: budget.estimate_total_s,
        actual_total_s,
        rows,
        left_out: budget.left_out.clone(),
        revisions: state
            .budget_revisions
            .iter()
            .map(|r| format!("{} revised {}", r.item, r.describe()))
            .collect(),
    })
}

impl BudgetTable {
    /// The model card's section.
    pub fn markdown(&self) -> String {
        let secs = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{s:.0}"));
        let mut out = format!(
            "## Time budget\n\n{:.0} s in all; {:.0} s had gone to the baseline and analysis when the plan was derived. \
             Estimated {:.0} s, took {} s.\n\n| item | allocated | estimate (s) | actual (s) |\n|---|---|---|---|\n",
            self.budget_s,
            self.spent_before_plan_s,
            self.estimate_total_s,
            secs(self.actual_total_s)
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {} |\n",
                r.item,
                r.detail,
                r.estimate_s,
                secs(r.actual_s)
            ));
        }
        if !self.left_out.is_empty() {
            out.push_str("\nLeft out to fit the budget:\n\n");
            for l in &self.left_out {
                out.push_str(&format!("- {l}\n"));
            }
        }
        if !self.revisions.is_empty() {
            out.push_str("\nRevised during the run:\n\n");
            for r in &self.revisions {
                out.push_str(&format!("- {r}\n"));
            }
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_between_reads_the_stored_timestamps() {
        assert_eq!(
            seconds_between("2026-12-07T00:56:31.224Z", "2026-12-07T01:10:28.264Z"),
            Some(837.04)
        );
        assert_eq!(seconds_between("later", "2026-12-07T01:10:28.264Z"), None);
    }
}
