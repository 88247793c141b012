//! The experiments `exp compare` puts side by side: each one's settings as flat `key = value`
//! pairs, its chosen sealed-test result, its learning curve and its benchmarks.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::events::{BenchmarkMeasured, TestResult};
use crate::report::project::{evaluated_models, find_model, replay_without_reports};
use crate::report::ReportError;
use crate::state::Experiment;
use crate::store::Store;

/// One compared experiment.
pub struct Member {
    pub name: String,
    pub state: Experiment,
    pub settings: BTreeMap<String, String>,
    /// The model compared: `--model`, or the latest evaluated candidate.
    pub result: Option<TestResult>,
    /// Why there is no result.
    pub no_result: Option<String>,
}

/// A point of a learning curve: validation accuracy after the `epoch`-th epoch (all phases).
#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    pub epoch: usize,
    pub phase: String,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
}

/// Scalars (and lists of scalars) of `v` under `prefix`, objects walked.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(items) if items.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let parts: Vec<String> = items.iter().map(scalar).collect();
            let text = if parts.is_empty() {
                "(none)".to_string()
            } else {
                parts.join(",")
            };
            out.insert(prefix.to_string(), text);
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), scalar(other));
        }
    }
}

/// A setting's value as people read it: fractions to 6 significant digits (a learning rate
/// computed as 0.0003 * 0.5 reads 0.00015, not 0.00015000000000000001), so two settings that
/// agree to 6 digits count as the same.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_string(),
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let rounded: f64 = format!("{x:.5e}").parse().unwrap_or(x);
            format!("{rounded:?}")
        }
        other => other.to_string(),
    }
}

/// What an experiment was asked to do and what its plan derived, as flat settings.
fn settings(state: &Experiment) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(c) = &state.created {
        out.insert("model".into(), c.model.spec.clone());
        out.insert(
            "model.sha256".into(),
            c.model.sha256.chars().take(12).collect(),
        );
        out.insert("data".into(), c.data_path.clone());
        out.insert("seed".into(), c.seed.to_string());
        out.insert("split_seed".into(), c.split_seed().to_string());
        out.insert(
            "split".into(),
            c.split
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("/"),
        );
        out.insert(
            "recipe".into(),
            format!("{:?}", c.recipe).to_ascii_lowercase(),
        );
        out.insert("exp_version".into(), c.exp_version.clone());
    }
    if let Some(d) = &state.dataset {
        out.insert("data.sha256".into(), d.sha256.chars().take(12).collect());
    }
    if let Some(s) = &state.split {
        out.insert("split.digest".into(), s.digest.chars().take(12).collect());
    }
    if let Some(plan) = &state.plan {
        if let Ok(v) = serde_json::to_value(&plan.plan) {
            // The analysis inputs are measurements of the baseline, not settings.
            let mut v = v;
            // Nor is the list of augmentation methods and their availability.
            if let Some(m) = v.as_object_mut() {
                m.remove("inputs");
                m.remove("augmentation");
            }
            flatten("plan", &v, &mut out);
        }
        // What was set by hand, beside the plan values it produced.
        for o in &plan.overrides {
            out.insert(format!("set.{}", o.key), o.value.clone());
        }
        if let Some(budget) = &plan.budget {
            if let Ok(v) = serde_json::to_value(budget) {
                for key in [
                    "budget_s",
                    "phase_epochs",
                    "pruning_steps",
                    "recovery_epochs",
                ] {
                    if let Some(x) = v.get(key) {
                        flatten(&format!("budget.{key}"), x, &mut out);
                    }
                }
            }
        }
    }
    // Where it ran: its latest run's environment, else exp new's.
    let environment = state
        .runs
        .last()
        .map(|(_, r)| &r.environment)
        .or_else(|| state.created.as_ref().and_then(|c| c.environment.as_ref()));
    if let Some(e) = environment {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        for (key, value) in [
            ("env.git_commit", short(&e.git_commit)),
            ("env.rustc", e.rustc.clone()),
            ("env.candle", e.candle.clone()),
            ("env.ort_crate", e.ort_crate.clone()),
            ("env.tokenizers", e.tokenizers.clone()),
            (
                "env.onnxruntime",
                e.onnxruntime.as_ref().map_or("none".into(), |o| {
                    format!("{} ({})", o.version, short(&o.sha256))
                }),
            ),
            ("env.cpu", e.cpu.clone()),
            ("env.gemm_kernels", e.gemm_kernels.clone()),
            ("env.threads", e.threads.to_string()),
            ("env.os", e.os.clone()),
        ] {
            out.insert(key.to_string(), value);
        }
    }
    for (k, v) in &state.tags {
        out.insert(format!("tag.{k}"), v.clone());
    }
    out
}

impl Member {
    pub fn load(store: &Store, name: &str, model: Option<&str>) -> Result<Member, ReportError> {
        if !store.exists(name)? {
            return Err(ReportError::Unknown(name.to_string()));
        }
        let state = replay_without_reports(store, name)?;
        let models = evaluated_models(&state);
        let (result, no_result) = match model {
            Some(spec) => match find_model(&models, spec) {
                Some(r) => (Some(r.clone()), None),
                None => (
                    None,
                    Some(format!(
                        "no model '{spec}' evaluated on the sealed test (evaluated: {})",
                        if models.is_empty() {
                            "none".to_string()
                        } else {
                            models
                                .iter()
                                .map(|m| m.model.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    )),
                ),
            },
            // The fine-tuned model, the one every recipe makes; else the first one tested.
            None => match find_model(&models, "fine-tuned")
                .or(state.tests.first().map(|t| &t.candidate))
            {
                Some(r) => (Some(r.clone()), None),
                None => (
                    None,
                    Some("not evaluated on the sealed test yet".to_string()),
                ),
            },
        };
        Ok(Member {
            name: name.to_string(),
            settings: settings(&state),
            state,
            result,
            no_result,
        })
    }

    /// Validation scores of every epoch in the order they ran (phases, then recovery).
    pub fn curve(&self) -> Vec<CurvePoint> {
        let phases = self
            .state
            .epochs
            .iter()
            .map(|e| (format!("{} {}", e.index + 1, e.report.phase.name()), e));
        let recovery = self
            .state
            .recovery_epochs
            .iter()
            .map(|e| ("recovery".to_string(), e));
        phases
            .chain(recovery)
            .enumerate()
            .map(|(i, (phase, e))| CurvePoint {
                epoch: i + 1,
                phase,
                val_accuracy: e.report.validation.accuracy,
                val_macro_f1: e.report.validation.macro_f1,
            })
            .collect()
    }

    /// The latest measurement of each model x format x batch size.
    pub fn benchmarks(&self) -> Vec<&BenchmarkMeasured> {
        let mut rows: Vec<&BenchmarkMeasured> = Vec::new();
        for b in &self.state.benchmarks {
            let same = |r: &&BenchmarkMeasured| {
                r.model == b.model
                    && r.model_type == b.model_type
                    && r.latency.batch_size == b.latency.batch_size
            };
            match rows.iter().position(same) {
                Some(i) => rows[i] = b,
                None => rows.push(b),
            }
        }
        rows
    }
}

/// The settings that differ between members (a key missing from one counts as differing), and
/// how many are shared.
pub fn differing(members: &[Member]) -> (Vec<String>, usize) {
    let mut keys: Vec<&String> = members.iter().flat_map(|m| m.settings.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut differ = Vec::new();
    let mut shared = 0;
    for key in keys {
        let first = members[0].settings.get(key);
        if members.iter().all(|m| m.settings.get(key) == first) {
            shared += 1;
        } else {
            differ.push(key.clone());
        }
    }
    (differ, shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_people_write_them() {
        let plan = serde_json::json!({
            "lr": 0.00015000000000000001,
            "fraction": 0.5008860011813349,
            "epochs": 3,
            "budget": 900.0,
            "classes": ["negative", "positive"],
            "none": [],
            "phases": [{"kind": "FOCUS"}, {"kind": "FULL"}],
            "cap": null,
        });
        let mut out = BTreeMap::new();
        flatten("plan", &plan, &mut out);
        let get = |k: &str| out.get(k).map(String::as_str);
        assert_eq!(get("plan.lr"), Some("0.00015"));
        assert_eq!(get("plan.fraction"), Some("0.500886"));
        assert_eq!(get("plan.epochs"), Some("3"));
        assert_eq!(get("plan.budget"), Some("900.0"));
        assert_eq!(get("plan.classes"), Some("negative,positive"));
        assert_eq!(get("plan.none"), Some("(none)"));
        assert_eq!(get("plan.phases.1.kind"), Some("FULL"));
        assert_eq!(get("plan.cap"), Some("none"));
    }
}
