//! `--set key=value`: plan values given by the user in place of what the analysis derives.
//! Parsed and checked before anything is recorded; applied to the derived plan, each one kept
//! with the value it replaced.

use std::time::Duration;

use super::plan::{batch_lr_scale, build_phases, LrBand, PhaseKind, Plan, Recipe};

/// The keys `--set` takes, with what each value means.
pub const KEYS: [(&str, &str); 7] = [
    ("epochs", "maximum epochs of every phase, 1-100"),
    (
        "lr_band",
        "the learning-rate band LOW..HIGH, or one RATE (FOCUS trains at the top, WEIGHTED mid-band, FULL at the bottom, each scaled for the batch size)",
    ),
    ("batch_size", "training batch size, 1-1024"),
    (
        "phases",
        "the analysis recipe's phases in order, FOCUS, WEIGHTED and FULL joined by '+' (e.g. FOCUS+FULL)",
    ),
    (
        "pruning_target",
        "the share of encoder parameters pruning removes, in one step (e.g. 30% or 0.3)",
    ),
    ("budget", "the time budget (e.g. 15m, 1h 30m) or none"),
    ("recipe", "analysis or plain"),
];

/// The keys, for error messages.
pub fn key_list() -> String {
    KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OverrideError {
    #[error("--set {0:?}: expected KEY=VALUE (valid keys: {keys})", keys = key_list())]
    Syntax(String),
    #[error("--set {0}: unknown key (valid keys: {keys})", keys = key_list())]
    UnknownKey(String),
    #[error("--set {key}={value}: {problem}")]
    BadValue {
        key: String,
        value: String,
        problem: String,
    },
    #[error("--set {key} is given twice ({first} and {second})")]
    Twice {
        key: String,
        first: String,
        second: String,
    },
    #[error("--set phases={0}: the plain recipe has one phase of its own; phases applies to the analysis recipe")]
    PhasesWithPlain(String),
    #[error("--set lr_band={0}: the plain recipe trains at one learning rate; give one RATE")]
    BandWithPlain(String),
}

/// One `--set`, its value in canonical form (`30%`, `FOCUS+FULL`, `0.0001..0.0005`, `15m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// A setting's value, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Epochs(usize),
    LrBand(LrBand),
    BatchSize(usize),
    Phases(Vec<PhaseKind>),
    /// Percent of the encoder's parameters.
    PruningTarget(u32),
    Budget(Option<Duration>),
    Recipe(Recipe),
}

impl Setting {
    /// `key=value`, checked: an unknown key or a bad value is an error naming it.
    pub fn parse(text: &str) -> Result<Setting, OverrideError> {
        let (key, raw) = text
            .split_once('=')
            .ok_or_else(|| OverrideError::Syntax(text.to_string()))?;
        let key = key.trim();
        let value = parse_value(key, raw.trim())?;
        Ok(Setting {
            key: key.to_string(),
            value: canonical(&value),
        })
    }

    /// The typed value (a recorded setting is read back as it was checked).
    pub fn value(&self) -> Result<Value, OverrideError> {
        parse_value(&self.key, &self.value)
    }
}

fn parse_value(key: &str, raw: &str) -> Result<Value, OverrideError> {
    let bad = |problem: &str| OverrideError::BadValue {
        key: key.to_string(),
        value: raw.to_string(),
        problem: problem.to_string(),
    };
    let integer = |low: usize, high: usize| {
        raw.parse::<usize>()
            .ok()
            .filter(|n| (low..=high).contains(n))
            .ok_or_else(|| bad(&format!("expected a whole number from {low} to {high}")))
    };
    let rate = |text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1.0)
            .ok_or_else(|| bad("a learning rate is a number above 0 and at most 1 (e.g. 5e-5)"))
    };
    match key {
        "epochs" => Ok(Value::Epochs(integer(1, 100)?)),
        "batch_size" => Ok(Value::BatchSize(integer(1, 1024)?)),
        "lr_band" => {
            let (low, high) = match raw.split_once("..") {
                Some((low, high)) => (rate(low)?, rate(high)?),
                None => (rate(raw)?, rate(raw)?),
            };
            if low > high {
                return Err(bad("LOW..HIGH with LOW at most HIGH"));
            }
            Ok(Value::LrBand(LrBand { low, high }))
        }
        "phases" => {
            let mut kinds = Vec::new();
            for part in raw.split('+') {
                let kind =
                    match part.trim().to_ascii_uppercase().as_str() {
                        "FOCUS" => PhaseKind::Focus,
                        "WEIGHTED" => PhaseKind::Weighted,
                        "FULL" => PhaseKind::Full,
                        _ => return Err(bad(
                            "phases are FOCUS, WEIGHTED and FULL joined by '+' (e.g. FOCUS+FULL)",
                        )),
                    };
                if kinds.contains(&kind) {
                    return Err(bad(&format!("{} is named twice", kind.name())));
                }
                kinds.push(kind);
            }
            Ok(Value::Phases(kinds))
        }
        "pruning_target" => {
            let percent = match raw.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().ok(),
                None => raw.parse::<f64>().ok().map(|f| f * 100.0),
            };
            percent
                .filter(|p| p.is_finite() && (1.0..=90.0).contains(&p.round()))
                .filter(|p| (p - p.round()).abs() < 1e-9)
                .map(|p| Value::PruningTarget(p.round() as u32))
                .ok_or_else(|| bad("a whole percent from 1% to 90% (e.g. 30% or 0.3)"))
        }
        "budget" => {
            if raw.eq_ignore_ascii_case("none") {
                return Ok(Value::Budget(None));
            }
            humantime::parse_duration(raw)
                .ok()
                .filter(|d| !d.is_zero())
                .map(|d| Value::Budget(Some(d)))
                .ok_or_else(|| bad("a duration such as 15m or 1h 30m, or none"))
        }
        "recipe" => match raw {
            "analysis" => Ok(Value::Recipe(Recipe::Analysis)),
            "plain" => Ok(Value::Recipe(Recipe::Plain)),
            _ => Err(bad("analysis or plain")),
        },
        other => Err(OverrideError::UnknownKey(other.to_string())),
    }
}

fn rate_text(r: f64) -> String {
    format!("{r:?}")
}

fn band_text(b: LrBand) -> String {
    if b.low == b.high {
        rate_text(b.low)
    } else {
        format!("{}..{}", rate_text(b.low), rate_text(b.high))
    }
}

fn phases_text(kinds: impl Iterator<Item = PhaseKind>) -> String {
    kinds.map(PhaseKind::name).collect::<Vec<_>>().join("+")
}

fn canonical(value: &Value) -> String {
    match value {
        Value::Epochs(n) | Value::BatchSize(n) => n.to_string(),
        Value::LrBand(b) => band_text(*b),
        Value::Phases(kinds) => phases_text(kinds.iter().copied()),
        Value::PruningTarget(p) => format!("{p}%"),
        Value::Budget(None) => "none".to_string(),
        Value::Budget(Some(d)) => humantime::format_duration(*d).to_string(),
        Value::Recipe(r) => r.name().to_string(),
    }
}

/// Refuses a key given twice in one list.
pub fn check_distinct(settings: &[Setting]) -> Result<(), OverrideError> {
    for (i, s) in settings.iter().enumerate() {
        if let Some(first) = settings[..i].iter().find(|f| f.key == s.key) {
            return Err(OverrideError::Twice {
                key: s.key.clone(),
                first: first.value.clone(),
                second: s.value.clone(),
            });
        }
    }
    Ok(())
}

/// `earlier` with each key that `later` also sets replaced by `later`'s value (`exp new`'s
/// settings, then `exp train`'s), in key order.
pub fn merge(earlier: &[Setting], later: &[Setting]) -> Vec<Setting> {
    let mut out: Vec<Setting> = earlier
        .iter()
        .filter(|e| !later.iter().any(|l| l.key == e.key))
        .chain(later)
        .cloned()
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The value one setting names in `settings`, typed.
pub fn find(settings: &[Setting], key: &str) -> Option<Value> {
    settings
        .iter()
        .find(|s| s.key == key)
        .and_then(|s| s.value().ok())
}

/// Refuses settings that `recipe` cannot take (the same checks as [`apply`], before anything
/// is derived).
pub fn check_for_recipe(settings: &[Setting], recipe: Recipe) -> Result<(), OverrideError> {
    if recipe != Recipe::Plain {
        return Ok(());
    }
    for s in settings {
        match s.value()? {
            Value::Phases(_) => return Err(OverrideError::PhasesWithPlain(s.value.clone())),
            Value::LrBand(b) if b.low != b.high => {
                return Err(OverrideError::BandWithPlain(s.value.clone()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// An override as applied: the value given and the value it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub key: String,
    pub value: String,
    pub derived: String,
}

/// `plan` with `settings` in place of what it derived, and each override with the value it
/// replaced. `budget` and `recipe` are applied by whoever fits and chooses the plan; they are
/// listed here (derived: no budget, the analysis recipe) so that every override is recorded.
/// Phases are rebuilt from the rules with the new values: a batch size changes the rates' batch
/// scale too, an epoch count is each phase's maximum (a budget may allocate fewer).
pub fn apply(plan: Plan, settings: &[Setting]) -> Result<(Plan, Vec<Applied>), OverrideError> {
    let mut plan = plan;
    let mut applied = Vec::new();
    let mut rebuild = false;
    let mut kinds: Vec<PhaseKind> = plan.phases.iter().map(|p| p.kind).collect();
    for setting in settings {
        let derived = match setting.value()? {
            Value::Epochs(n) => {
                let before = plan.epochs.to_string();
                plan.epochs = n;
                rebuild = true;
                before
            }
            Value::LrBand(band) => {
                if plan.recipe == Recipe::Plain && band.low != band.high {
                    return Err(OverrideError::BandWithPlain(setting.value.clone()));
                }
                let before = band_text(plan.lr_band);
                plan.lr_band = band;
                rebuild = true;
                before
            }
            Value::BatchSize(n) => {
                let before = plan.batch_size.to_string();
                plan.batch_size = n;
                if plan.recipe == Recipe::Analysis {
                    plan.lr_scale = batch_lr_scale(n);
                }
                rebuild = true;
                before
            }
            Value::Phases(asked) => {
                if plan.recipe == Recipe::Plain {
                    return Err(OverrideError::PhasesWithPlain(setting.value.clone()));
                }
                let before = phases_text(kinds.iter().copied());
                kinds = asked;
                rebuild = true;
                before
            }
            Value::PruningTarget(p) => {
                let before = format!("{}-{}%", plan.pruning.min_percent, plan.pruning.max_percent);
                plan.pruning.target_percent = Some(p);
                before
            }
            Value::Budget(_) => "none".to_string(),
            Value::Recipe(_) => Recipe::Analysis.name().to_string(),
        };
        applied.push(Applied {
            key: setting.key.clone(),
            value: setting.value.clone(),
            derived,
        });
    }
    if rebuild {
        plan.phases = rebuilt_phases(&plan, &kinds);
    }
    Ok((plan, applied))
}

/// Phases of `kinds` from the epochs, band and batch scale of `plan`.
fn rebuilt_phases(plan: &Plan, kinds: &[PhaseKind]) -> Vec<super::plan::Phase> {
    let train_size = plan.inputs.train_size;
    if plan.recipe == Recipe::Plain {
        return build_phases(kinds, plan.epochs, plan.lr_band, 1.0, 0, train_size);
    }
    let prio = plan.inputs.priority_count.min(train_size);
    build_phases(
        kinds,
        plan.epochs,
        plan.lr_band,
        plan.lr_scale,
        prio,
        train_size - prio,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> Setting {
        Setting::parse(text).unwrap()
    }

    #[test]
    fn values_are_checked_and_written_one_way() {
        assert_eq!(set("epochs=3").value, "3");
        assert_eq!(set(" lr_band = 1e-4..5e-4").value, "0.0001..0.0005");
        assert_eq!(set("lr_band=5e-5").value, "5e-5");
        assert_eq!(set("phases=focus+FULL").value, "FOCUS+FULL");
        assert_eq!(set("pruning_target=0.3").value, "30%");
        assert_eq!(set("pruning_target=25%").value, "25%");
        assert_eq!(set("budget=90s").value, "1m 30s");
        assert_eq!(set("budget=NONE").value, "none");
        assert_eq!(set("recipe=plain").value, "plain");
        // A canonical value reads back as the same value.
        for text in ["lr_band=1e-4..5e-4", "phases=FULL", "budget=1h 30m"] {
            let s = set(text);
            assert_eq!(Setting::parse(&format!("{}={}", s.key, s.value)), Ok(s));
        }
    }

    #[test]
    fn bad_settings_say_what_is_expected() {
        let message = |text: &str| Setting::parse(text).unwrap_err().to_string();
        let unknown = message("epoch=3");
        assert!(unknown.contains("unknown key"), "{unknown}");
        assert!(
            unknown.contains("epochs, lr_band, batch_size, phases, pruning_target, budget, recipe"),
            "{unknown}"
        );
        assert!(message("epochs").contains("expected KEY=VALUE"));
        assert!(message("epochs=0").contains("1 to 100"));
        assert!(message("batch_size=eight").contains("1 to 1024"));
        assert!(message("lr_band=5e-4..1e-4").contains("LOW at most HIGH"));
        assert!(message("lr_band=2").contains("at most 1"));
        assert!(message("phases=FOCUS+FOCUS").contains("FOCUS is named twice"));
        assert!(message("phases=PLAIN").contains("joined by '+'"));
        assert!(message("pruning_target=95%").contains("1% to 90%"));
        assert!(message("pruning_target=0.333").contains("whole percent"));
        assert!(message("budget=soon").contains("15m"));
        assert!(message("recipe=fancy").contains("analysis or plain"));
    }

    #[test]
    fn later_settings_replace_earlier_ones_and_twice_is_refused() {
        let merged = merge(
            &[set("epochs=3"), set("batch_size=16")],
            &[set("epochs=2"), set("phases=FULL")],
        );
        let pairs: Vec<(&str, &str)> = merged
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("batch_size", "16"), ("epochs", "2"), ("phases", "FULL")]
        );
        let err = check_distinct(&[set("epochs=3"), set("epochs=4")]).unwrap_err();
        assert_eq!(err.to_string(), "--set epochs is given twice (3 and 4)");
    }
}
