//! `exp sweep`: the members of a sweep, and its definition recorded once under the sweep's name
//! so that running the command again continues it (running the members is the CLI's: each is an
//! `exp new` and an `exp train`, which resumes what its log has not recorded).

use std::path::Path;

use crate::analysis::overrides::{self, Setting};
use crate::analysis::plan::Recipe;
use crate::events::{Event, SweepDefined, SweepMember};
use crate::store::Store;

use super::{validate_name, PipelineError};

/// What `exp sweep` was asked for.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    pub name: String,
    pub data_path: String,
    pub model: String,
    /// Training seeds.
    pub seeds: Vec<u64>,
    /// Split seeds.
    pub split_seeds: Vec<u64>,
    /// `--grid KEY=V1,V2`: one list of settings per key, in the order given.
    pub grid: Vec<Vec<Setting>>,
    /// `--set`: every member's.
    pub shared: Vec<Setting>,
    pub stages: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("sweep '{name}' is recorded with other {what}: run `exp sweep` with the arguments it was started with to continue it, or give the sweep another name; nothing was recorded")]
    Differs { name: String, what: String },
    #[error(
        "'{0}' is an experiment, not a sweep; give the sweep another name; nothing was recorded"
    )]
    NotASweep(String),
    #[error("there is no sweep named '{0}' in the database")]
    Unknown(String),
    #[error("experiment '{member}' exists but is not the sweep's member {which} ({found}); nothing was recorded")]
    MemberDiffers {
        member: String,
        which: String,
        found: String,
    },
    #[error("--grid {0}: give at least two values (KEY=V1,V2,...); a single value is a --set")]
    GridOfOne(String),
    #[error("--grid {0} is given twice")]
    GridTwice(String),
    #[error("--grid {0} and --set {0}: a key is either varied or shared")]
    GridAndSet(String),
    #[error("member {member} ({settings}): {problem}; nothing was recorded")]
    Member {
        member: String,
        settings: String,
        problem: String,
    },
}

/// The members: every combination of split seed, training seed and grid value, named
/// `NAME-1`, `NAME-2`, ... in that order (the grid's last key varying fastest).
pub fn expand(spec: &SweepSpec) -> Result<SweepDefined, PipelineError> {
    let mut keys: Vec<&str> = Vec::new();
    for values in &spec.grid {
        let key = values.first().map_or("", |s| s.key.as_str());
        if values.len() < 2 {
            return Err(refused(SweepError::GridOfOne(key.to_string())));
        }
        if keys.contains(&key) {
            return Err(refused(SweepError::GridTwice(key.to_string())));
        }
        if spec.shared.iter().any(|s| s.key == key) {
            return Err(refused(SweepError::GridAndSet(key.to_string())));
        }
        keys.push(key);
    }
    let mut combos: Vec<Vec<Setting>> = vec![Vec::new()];
    for values in &spec.grid {
        combos = combos
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push(v.clone());
                    c
                })
            })
            .collect();
    }
    let mut members = Vec::new();
    for &split_seed in &spec.split_seeds {
        for &seed in &spec.seeds {
            for combo in &combos {
                let name = format!("{}-{}", spec.name, members.len() + 1);
                validate_name(&name)?;
                check_settings(&name, &spec.shared, combo)?;
                members.push(SweepMember {
                    name,
                    seed,
                    split_seed,
                    grid: combo.iter().map(Into::into).collect(),
                });
            }
        }
    }
    let mut varies = Vec::new();
    if spec.seeds.len() > 1 {
        varies.push("seed".to_string());
    }
    if spec.split_seeds.len() > 1 {
        varies.push("split_seed".to_string());
    }
    varies.extend(keys.iter().map(|k| format!("set.{k}")));
    Ok(SweepDefined {
        data_path: spec.data_path.clone(),
        model: spec.model.clone(),
        varies,
        shared: spec.shared.iter().map(Into::into).collect(),
        stages: spec.stages.clone(),
        members,
    })
}

/// A member's settings are checked before anything runs, as its `exp new` and `exp train`
/// would check them, so that a sweep does not stop at its third member after training two.
fn check_settings(name: &str, shared: &[Setting], grid: &[Setting]) -> Result<(), PipelineError> {
    let all: Vec<Setting> = shared.iter().chain(grid).cloned().collect();
    let recipe = match overrides::find(&all, "recipe") {
        Some(overrides::Value::Recipe(r)) => r,
        _ => Default::default(),
    };
    let budget = matches!(
        overrides::find(&all, "budget"),
        Some(overrides::Value::Budget(Some(_)))
    );
    let problem = match overrides::check_for_recipe(&all, recipe) {
        Err(e) => Some(e.to_string()),
        Ok(()) if budget && recipe == Recipe::Plain => Some(
            "the plain recipe's work is fixed, so a budget does not apply to it (vary the budget and the recipe in separate sweeps)"
                .to_string(),
        ),
        Ok(()) => None,
    };
    match problem {
        Some(problem) => Err(refused(SweepError::Member {
            member: name.to_string(),
            settings: all
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            problem,
        })),
        None => Ok(()),
    }
}

fn refused(e: SweepError) -> PipelineError {
    PipelineError::Refused(Box::new(PipelineError::Sweep(Box::new(e))))
}

/// The sweep's recorded definition, if `name` is a sweep (an experiment's name is refused).
pub fn recorded(store: &Store, name: &str) -> Result<Option<SweepDefined>, PipelineError> {
    if !store.exists(name)? {
        return Ok(None);
    }
    // Only the definition is read: an experiment's name is told by its kinds, not its events.
    for stored in store.events(name, Some("SweepDefined"))? {
        if let Event::SweepDefined(d) = stored.event()? {
            return Ok(Some(d));
        }
    }
    Err(refused(SweepError::NotASweep(name.to_string())))
}

/// The members of a sweep grouped by their grid values, each group with its label
/// (`KEY=VALUE, ...`); none without a grid (one group is "all" members).
pub fn grid_groups(defined: &SweepDefined) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for m in &defined.members {
        let label: Vec<String> = m.grid.iter().map(|g| g.to_string()).collect();
        let label = label.join(", ");
        match groups.iter_mut().find(|g| g.0 == label) {
            Some(g) => g.1.push(m.name.clone()),
            None => groups.push((label, vec![m.name.clone()])),
        }
    }
    if groups.len() < 2 {
        groups.clear();
    }
    groups
}

/// Records `defined` under its name, or checks that it is what was recorded (a sweep run again
/// continues); returns whether it was recorded now.
pub fn record_or_resume(
    db: &Path,
    name: &str,
    defined: &SweepDefined,
) -> Result<bool, PipelineError> {
    validate_name(name)?;
    let mut store = Store::open(db)?;
    // Held from the check to the append: two sweeps started at once record one definition.
    let lock = store.lock(name, "exp sweep")?;
    if let Some(found) = recorded(&store, name)? {
        let what = if found.members != defined.members {
            Some("members")
        } else if found.data_path != defined.data_path || found.model != defined.model {
            Some("data or model")
        } else if found.shared != defined.shared {
            Some("--set values")
        } else if found.stages != defined.stages {
            Some("stages")
        } else {
            None
        };
        return match what {
            Some(what) => Err(refused(SweepError::Differs {
                name: name.to_string(),
                what: what.to_string(),
            })),
            None => Ok(false),
        };
    }
    for member in &defined.members {
        check_member(&store, member)?;
    }
    store.append(&lock, &[Event::SweepDefined(defined.clone())])?;
    Ok(true)
}

/// A member that exists already must be the one the sweep makes (same seeds and settings).
pub fn check_member(store: &Store, member: &SweepMember) -> Result<(), PipelineError> {
    let Some(first) = store
        .events(&member.name, Some("ExperimentCreated"))?
        .into_iter()
        .next()
    else {
        if store.exists(&member.name)? {
            return Err(refused(SweepError::MemberDiffers {
                member: member.name.clone(),
                which: "(it is another sweep)".to_string(),
                found: "no ExperimentCreated".to_string(),
            }));
        }
        return Ok(());
    };
    let Event::ExperimentCreated(created) = first.event()? else {
        return Ok(());
    };
    let differs = |which: &str, found: String| {
        Err(refused(SweepError::MemberDiffers {
            member: member.name.clone(),
            which: which.to_string(),
            found,
        }))
    };
    if created.seed != member.seed {
        return differs("seed", format!("seed {}", created.seed));
    }
    if created.split_seed() != member.split_seed {
        return differs("split seed", format!("split seed {}", created.split_seed()));
    }
    Ok(())
}

/// The members of sweep `name`, for `exp compare --sweep`.
pub fn members(db: &Path, name: &str) -> Result<SweepDefined, PipelineError> {
    let store = Store::open_read_only(db)?;
    recorded(&store, name)?.ok_or_else(|| refused(SweepError::Unknown(name.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seeds: &[u64], split_seeds: &[u64], grid: &[&[&str]]) -> SweepSpec {
        SweepSpec {
            name: "s".into(),
            data_path: "d.txt".into(),
            model: "m".into(),
            seeds: seeds.to_vec(),
            split_seeds: split_seeds.to_vec(),
            grid: grid
                .iter()
                .map(|vs| vs.iter().map(|v| Setting::parse(v).unwrap()).collect())
                .collect(),
            shared: vec![Setting::parse("epochs=1").unwrap()],
            stages: vec!["train".into()],
        }
    }

    #[test]
    fn members_are_every_combination_and_say_what_varies() {
        let d = expand(&spec(
            &[1, 2],
            &[42],
            &[&["phases=FULL", "phases=FOCUS+FULL"]],
        ))
        .unwrap();
        let rows: Vec<(String, u64, u64, String)> = d
            .members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.seed,
                    m.split_seed,
                    m.grid.iter().map(|g| g.value.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("s-1".to_string(), 1, 42, "FULL".to_string()),
                ("s-2".to_string(), 1, 42, "FOCUS+FULL".to_string()),
                ("s-3".to_string(), 2, 42, "FULL".to_string()),
                ("s-4".to_string(), 2, 42, "FOCUS+FULL".to_string()),
            ]
        );
        assert_eq!(d.varies, ["seed", "set.phases"]);
        let d = expand(&spec(&[42], &[1, 2, 3], &[])).unwrap();
        assert_eq!(d.members.len(), 3);
        assert_eq!(d.varies, ["split_seed"]);
    }

    #[test]
    fn a_member_whose_settings_its_recipe_cannot_take_is_refused_before_anything_runs() {
        let mut s = spec(&[1], &[1], &[&["recipe=analysis", "recipe=plain"]]);
        s.shared = vec![Setting::parse("budget=15m").unwrap()];
        let message = expand(&s).unwrap_err().to_string();
        assert!(
            message.contains("member s-2 (budget=15m, recipe=plain)"),
            "{message}"
        );
        assert!(message.contains("a budget does not apply"), "{message}");
        s.shared = vec![Setting::parse("phases=FULL").unwrap()];
        let message = expand(&s).unwrap_err().to_string();
        assert!(message.contains("plain recipe has one phase"), "{message}");
        // Without them, a recipe grid is a control arm beside each seed.
        s.shared = vec![Setting::parse("epochs=1").unwrap()];
        assert_eq!(expand(&s).unwrap().members.len(), 2);
    }

    #[test]
    fn a_grid_that_varies_nothing_or_clashes_is_refused() {
        let message = |s: SweepSpec| expand(&s).unwrap_err().to_string();
        assert!(message(spec(&[1], &[1], &[&["epochs=2"]])).contains("at least two values"));
        assert!(message(spec(&[1], &[1], &[&["epochs=2", "epochs=3"]]))
            .contains("either varied or shared"));
        assert!(message(spec(
            &[1],
            &[1],
            &[
                &["batch_size=8", "batch_size=16"],
                &["batch_size=8", "batch_size=32"]
            ]
        ))
        .contains("given twice"));
    }
}
