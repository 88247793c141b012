//! Test hook: named crash points for the crash-matrix tests (`tests/crash.rs`). Not a feature.
//!
//! With `EXP_FAULT=NAME` (or `NAME@N`: the N-th time the point is reached, 1-based) the process
//! stops at that point: it prints `exp: fault point NAME reached` on stderr and sleeps, so that
//! the test can SIGKILL it exactly there (no destructor, lock release or flush runs, as in a real
//! crash). If nobody kills it within a minute it aborts. Without `EXP_FAULT` a point is a no-op.
//!
//! Points: `baseline-step` (a step of the plain baseline fit), `analysis-write` (between the
//! analysis JSON and its summary), `train-step` (a training step of a phase), `checkpoint-write`
//! (inside a checkpoint save: the model file written, the optimiser and state files not yet),
//! `checkpoint-saved` (a checkpoint on disk, its events not yet recorded) and `record:KIND`
//! (just before an event of that kind is appended by `Writing::record`, and `record:EarlyStopped`),
//! `mlflow-sent` (after a `log-batch` request of `exp mlflow push`).
//!
//! One more hook stops nothing: `budget-clock+SECONDS` makes a time budget's clock read that
//! many seconds later when pruning is fitted again to the time left (`tests/budget.rs`), as if
//! the phases had run that much slower.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// The variable that arms a point.
pub const VAR: &str = "EXP_FAULT";

struct Armed {
    name: String,
    /// Stop on this hit (1-based).
    at: usize,
    hits: AtomicUsize,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var(VAR).ok().filter(|v| !v.is_empty())?;
            let (name, at) = match value.rsplit_once('@') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (value, 1),
            };
            Some(Armed {
                name,
                at,
                hits: AtomicUsize::new(0),
            })
        })
        .as_ref()
}

/// A crash point (see the module comment).
pub fn point(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name != name || armed.hits.fetch_add(1, Ordering::SeqCst) + 1 != armed.at {
        return;
    }
    eprintln!("exp: fault point {name} reached");
    std::thread::sleep(Duration::from_secs(60));
    std::process::abort();
}

/// `record:KIND`: just before an event of that kind is appended.
pub fn before_record(kind: &str) {
    if armed().is_some_and(|a| a.name.strip_prefix("record:") == Some(kind)) {
        point(&format!("record:{kind}"));
    }
}

/// The seconds `budget-clock+SECONDS` adds to a time budget's clock (0 when not armed).
pub fn budget_clock_offset_s() -> f64 {
    armed()
        .and_then(|a| a.name.strip_prefix("budget-clock+"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}
