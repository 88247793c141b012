//! `exp quickstart`: fetch the assets, then `exp new` (unless the experiment exists), `exp train`
//! (which resumes or finds everything done) and `exp report`, through the same entry points.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use exp::assets::{self, Asset};
use exp::store::Store;

use super::run_line as exp;

/// Where the README's main job finds the dataset.
pub const DEFAULT_DATA: &str = "../shared/data/FinancialPhraseBank/Sentences_50Agree.txt";

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// The dataset (a FinancialPhraseBank `sentence@label` file or a CSV file).
    #[arg(long, default_value = DEFAULT_DATA)]
    pub data: PathBuf,
    /// Experiment name.
    #[arg(long, default_value = "fpb")]
    pub name: String,
    /// Model alias or path.
    #[arg(long, default_value = "minilm-l6")]
    pub model: String,
    /// Time the training run may take (see `exp train --budget`), or `none` for the plan's
    /// full epochs and pruning schedule (about an hour on 2 cores).
    #[arg(long, default_value = "15m", value_parser = parse_budget)]
    pub budget: Budget,
    /// What the report compares with (see `exp report --help`).
    #[arg(long, default_value = "baseline")]
    pub compare: String,
}

/// `--budget`: a duration, or none.
#[derive(Clone, Debug)]
pub struct Budget(Option<std::time::Duration>);

fn parse_budget(text: &str) -> Result<Budget, String> {
    if text == "none" {
        return Ok(Budget(None));
    }
    humantime::parse_duration(text)
        .map(|d| Budget(Some(d)))
        .map_err(|e| format!("{e} (a duration such as 15m or 1h 30m, or none)"))
}

fn missing_data(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "dataset {} not found. quickstart expects the FinancialPhraseBank (Malo, Sinha, Korhonen, \
         Wallenius, Takala 2014, \"Good debt or bad debt\"), e.g. FinancialPhraseBank-v1.0/Sentences_50Agree.txt \
         as published by its authors (ResearchGate / Hugging Face dataset `financial_phrasebank`), licensed \
         CC BY-NC-SA 3.0 (non-commercial); pass its path with --data FILE",
        path.display()
    )
}

pub fn run(db: &Path, args: QuickstartArgs, json: bool) -> anyhow::Result<ExitCode> {
    let exists = {
        let store = Store::open(db)?;
        store.exists(&args.name)?
    };
    if !exists && !args.data.is_file() {
        return Err(missing_data(&args.data));
    }
    if !json {
        eprintln!("quickstart: fetching assets (cached after the first time)");
    }
    if args.model == "minilm-l6" {
        assets::ensure(Asset::MiniLmL6)?;
    }
    assets::ort_dylib()?;
    let data = args.data.display().to_string();
    if exists {
        if !json {
            eprintln!(
                "quickstart: experiment '{}' exists in {}: resuming it (`exp train` does only what its log has not recorded)",
                args.name,
                db.display()
            );
        }
    } else {
        let code = exp(
            db,
            json,
            &["new", &args.name, "--model", &args.model, "--data", &data],
        )?;
        if code != ExitCode::SUCCESS {
            bail!("quickstart: `exp new {}` failed", args.name);
        }
    }
    let budget = args
        .budget
        .0
        .map(|b| humantime::format_duration(b).to_string());
    let mut train = vec!["train", args.name.as_str()];
    if let Some(b) = &budget {
        train.extend(["--budget", b.as_str()]);
    }
    let code = exp(db, json, &train)?;
    if code != ExitCode::SUCCESS {
        bail!("quickstart: `exp train {}` failed", args.name);
    }
    exp(
        db,
        json,
        &["report", &args.name, "--compare", &args.compare],
    )
}
