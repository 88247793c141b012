//! `exp sweep`: sibling experiments made and trained one after another, each through the same
//! `exp new` and `exp train` a user runs; the sweep's definition is recorded once, so that
//! running the command again continues where a killed sweep stopped.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use exp::analysis::overrides::{self, Setting};
use exp::pipeline::sweep::{self, SweepSpec};
use exp::store::Store;

use super::output::{outln, print_json};
use super::run_line;
use super::train::Stage;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep's name; its members are NAME-1, NAME-2, ...
    pub name: String,
    /// The dataset every member is made from (as `exp new --data`).
    #[arg(long)]
    pub data: PathBuf,
    /// Model alias or path (as `exp new --model`).
    #[arg(long, default_value = "minilm-l6")]
    pub model: String,
    /// Training seeds, comma-separated: members that differ only in these share a split and are
    /// paired on the sealed test.
    #[arg(long, value_delimiter = ',', default_value = "42")]
    pub seeds: Vec<u64>,
    /// Split seeds, comma-separated: each draws another split (members on different splits are
    /// compared unpaired).
    #[arg(long, value_delimiter = ',', default_value = "42")]
    pub split_seeds: Vec<u64>,
    /// A plan value to vary, KEY=V1,V2,... (repeat for several keys; every combination is a
    /// member). Keys as for --set; phases take '+' between phases (phases=FULL,FOCUS+FULL).
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_grid)]
    pub grid: Vec<GridAxis>,
    /// Plan values every member has (see `exp new --help`).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::parse_setting)]
    pub set: Vec<Setting>,
    /// What `exp train` runs for each member.
    #[arg(long, value_delimiter = ',', default_value = super::train::ALL_STAGES)]
    pub stages: Vec<Stage>,
    /// Print nothing but each member's result.
    #[arg(long)]
    pub quiet: bool,
}

/// One `--grid KEY=V1,V2,...`.
#[derive(Clone, Debug)]
pub struct GridAxis(Vec<Setting>);

fn parse_grid(text: &str) -> Result<GridAxis, overrides::OverrideError> {
    let (key, values) = text
        .split_once('=')
        .ok_or_else(|| overrides::OverrideError::Syntax(text.to_string()))?;
    values
        .split(',')
        .map(|v| Setting::parse(&format!("{key}={v}")))
        .collect::<Result<Vec<_>, _>>()
        .map(GridAxis)
}

pub fn run(db: &Path, args: SweepArgs, json: bool) -> anyhow::Result<ExitCode> {
    overrides::check_distinct(&args.set)?;
    let spec = SweepSpec {
        name: args.name.clone(),
        data_path: args.data.display().to_string(),
        model: args.model.clone(),
        seeds: args.seeds.clone(),
        split_seeds: args.split_seeds.clone(),
        grid: args.grid.iter().map(|g| g.0.clone()).collect(),
        shared: args.set.clone(),
        stages: args.stages.iter().map(|s| s.name().to_string()).collect(),
    };
    let defined = sweep::expand(&spec)?;
    let total = defined.members.len();
    // A sweep recorded with other arguments, or a name taken by an experiment, is refused before
    // anything runs; the definition is recorded once the first member's `exp new` has checked
    // the data and model (bad input leaves the log as it was).
    let resumed = {
        let store = Store::open(db)?;
        match sweep::recorded(&store, &args.name)? {
            Some(_) => {
                sweep::record_or_resume(db, &args.name, &defined)?;
                true
            }
            None => {
                for member in &defined.members {
                    sweep::check_member(&store, member)?;
                }
                false
            }
        }
    };
    let say = |line: String| {
        if !json {
            eprintln!("{line}");
        }
    };
    say(format!(
        "sweep {}: {total} member(s){}; varies {}",
        args.name,
        if resumed { ", continuing" } else { "" },
        if defined.varies.is_empty() {
            "nothing".to_string()
        } else {
            defined.varies.join(", ")
        }
    ));
    let mut results = Vec::new();
    for (i, member) in defined.members.iter().enumerate() {
        let exists = Store::open(db)?.exists(&member.name)?;
        let grid: Vec<String> = member.grid.iter().map(|g| g.to_string()).collect();
        say(format!(
            "sweep {}: member {} of {total}: {} (seed {}, split seed {}{}){}",
            args.name,
            i + 1,
            member.name,
            member.seed,
            member.split_seed,
            if grid.is_empty() {
                String::new()
            } else {
                format!(", {}", grid.join(", "))
            },
            if exists { ", resuming" } else { "" }
        ));
        if !exists {
            let (seed, split_seed) = (member.seed.to_string(), member.split_seed.to_string());
            let sets: Vec<String> = args
                .set
                .iter()
                .map(|s| s.to_string())
                .chain(grid.iter().cloned())
                .collect();
            let mut line: Vec<&str> = vec![
                "new",
                &member.name,
                "--model",
                &args.model,
                "--data",
                &spec.data_path,
                "--seed",
                &seed,
                "--split-seed",
                &split_seed,
            ];
            for s in &sets {
                line.extend(["--set", s.as_str()]);
            }
            if run_line(db, false, &line)? != ExitCode::SUCCESS {
                bail!("sweep {}: `exp new {}` failed", args.name, member.name);
            }
        }
        if i == 0 && !resumed {
            sweep::record_or_resume(db, &args.name, &defined)?;
        }
        let stages = spec.stages.join(",");
        let mut line = vec!["train", member.name.as_str(), "--stages", stages.as_str()];
        if args.quiet || json {
            line.push("--quiet");
        }
        if run_line(db, false, &line)? != ExitCode::SUCCESS {
            bail!("sweep {}: `exp train {}` failed", args.name, member.name);
        }
        results.push(member.name.clone());
    }
    if json {
        print_json(&serde_json::json!({
            "sweep": args.name,
            "varies": defined.varies,
            "members": defined.members,
        }))?;
    } else {
        outln!(
            "sweep {}: {} member(s) trained; compare them with `exp compare --sweep {}`",
            args.name,
            results.len(),
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
