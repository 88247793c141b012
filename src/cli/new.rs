//! `exp new`: open an experiment.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

use super::output::outln;
use exp::data::{ColumnRef, DataFormat, ReadOptions, SplitSpec};
use exp::pipeline::{self, NewExperiment};
use exp::state::Experiment;
use exp::store::Store;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Experiment name (letters, digits, '.', '_', '-').
    pub name: String,
    /// Model: an alias (minilm-l6, minilm-l3-onnx), a Hugging Face model directory, an .onnx file,
    /// or ORG/NAME[@REVISION] of a model already in the Hugging Face hub cache ($HF_HUB_CACHE,
    /// $HF_HOME/hub or ~/.cache/huggingface/hub; never downloaded).
    #[arg(long, default_value = "minilm-l6")]
    pub model: String,
    /// Tokenizer (tokenizer.json) to use with the model; default: the one beside it.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Dataset: a FinancialPhraseBank `sentence@label` file, a CSV, TSV, JSON Lines or Parquet file.
    #[arg(long)]
    pub data: PathBuf,
    /// Dataset format; `auto` picks csv for *.csv, tsv for *.tsv, jsonl for *.jsonl and
    /// *.ndjson, parquet for *.parquet, fpb otherwise.
    #[arg(long, default_value = "auto", value_parser = ["auto", "fpb", "csv", "tsv", "jsonl", "parquet"])]
    pub format: String,
    /// CSV/TSV text column: a header name or a 0-based index; JSON Lines and Parquet: the name.
    #[arg(long)]
    pub text_column: Option<String>,
    /// CSV/TSV label column: a header name or a 0-based index; JSON Lines and Parquet: the name.
    #[arg(long)]
    pub label_column: Option<String>,
    /// The CSV's first row is a header (default: detected).
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The CSV has no header row (default: detected).
    #[arg(long)]
    pub no_header: bool,
    /// Known labels, comma-separated; any other label is an error.
    #[arg(
        long,
        default_value = "negative,neutral,positive",
        value_delimiter = ','
    )]
    pub labels: Vec<String>,
    /// Codes in the label column and the labels they stand for, e.g. `0=negative,1=neutral,2=positive`.
    /// Without it, a file whose labels are all integers (Hugging Face's ClassLabel convention)
    /// is read with 0..n-1 standing for --labels in the order given.
    #[arg(long)]
    pub label_map: Option<exp::data::LabelMap>,
    /// A text that appears with conflicting labels: `exclude` it (and report it) or refuse the file.
    #[arg(long, default_value = "exclude", value_parser = ["exclude", "error"])]
    pub on_conflict: String,
    /// A notebook-produced comprehensive_analysis.json to import.
    #[arg(long)]
    pub analysis: Option<PathBuf>,
    /// Seed for the split and everything random after it (training order, dropout, head
    /// initialisation, augmentation).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Seed for the split alone, when it is to differ from --seed: experiments with the same
    /// data and split seed share a split (and are paired on the sealed test) whatever their
    /// training seeds.
    #[arg(long)]
    pub split_seed: Option<u64>,
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::parse_setting, help = super::SET_HELP)]
    pub set: Vec<exp::analysis::overrides::Setting>,
    /// Train/validation/test percentages.
    #[arg(long, default_value = "70/15/15")]
    pub split: String,
    /// How `exp train` trains it: `analysis` (phases derived from the baseline's analysis) or
    /// `plain` (the control arm: one plain fine-tune of the model as loaded, 3 epochs at 5e-5,
    /// batch 32, AdamW with weight decay 0.01, 10% warm-up, clipping 1.0, 64 tokens). Compare
    /// the two with `exp report A --compare B`: experiments with the same data and --seed share
    /// a split and are paired sample by sample on the sealed test.
    /// [default: analysis]
    #[arg(long)]
    pub recipe: Option<exp::events::Recipe>,
}

fn column(spec: &Option<String>) -> Option<ColumnRef> {
    spec.as_ref().map(|s| match s.parse::<usize>() {
        Ok(i) => ColumnRef::Index(i),
        Err(_) => ColumnRef::Name(s.clone()),
    })
}

/// `--recipe`, else `--set recipe=`, else analysis; the two disagreeing is refused.
fn recipe(
    asked: Option<exp::events::Recipe>,
    set: &[exp::analysis::overrides::Setting],
) -> anyhow::Result<exp::events::Recipe> {
    let from_set = set.iter().rev().find(|s| s.key == "recipe");
    match (asked, from_set) {
        (Some(r), Some(s)) if r.as_str() != s.value => anyhow::bail!(
            "--recipe {} and --set recipe={} disagree; nothing was recorded",
            r.as_str(),
            s.value
        ),
        (Some(r), _) => Ok(r),
        (None, Some(s)) if s.value == "plain" => Ok(exp::events::Recipe::Plain),
        _ => Ok(exp::events::Recipe::Analysis),
    }
}

pub fn run(db: &Path, args: NewArgs, json: bool) -> anyhow::Result<ExitCode> {
    let split: SplitSpec = args.split.parse()?;
    pipeline::validate_name(&args.name)?;
    let format = match args.format.as_str() {
        "fpb" => DataFormat::Fpb,
        "csv" => DataFormat::Csv,
        "tsv" => DataFormat::Tsv,
        "jsonl" => DataFormat::Jsonl,
        "parquet" => DataFormat::Parquet,
        _ => DataFormat::Auto,
    };
    let read = ReadOptions {
        format,
        text_column: column(&args.text_column),
        label_column: column(&args.label_column),
        header: match (args.header, args.no_header) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        labels: args.labels.clone(),
        label_map: args.label_map.clone(),
    };
    let request = NewExperiment {
        name: args.name.clone(),
        model: args.model,
        tokenizer: args.tokenizer,
        data: args.data,
        read,
        seed: args.seed,
        split,
        refuse_conflicts: args.on_conflict == "error",
        analysis: args.analysis.clone(),
        recipe: recipe(args.recipe, &args.set)?,
        overrides: args.set.clone(),
        split_seed: args.split_seed,
    };
    pipeline::create_experiment(Store::open(db)?, &request)?;
    if let Some(file) = &args.analysis {
        let progress = super::progress::CliProgress::new(false, json);
        let mut writing =
            pipeline::Writing::open(db, &args.name, "exp new", None, Box::new(progress))?;
        pipeline::stages::run(
            &mut writing,
            "exp new",
            &[&pipeline::stages::ImportedAnalysis(file.clone())],
        )?;
    }
    let state = Experiment::load(&Store::open(db)?, &args.name, None)?;
    if json {
        super::inspect::print_state_json(&state)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(data), Some(split)) = (&state.dataset, &state.split) else {
        bail!("internal error: the events just written do not describe a dataset and a split");
    };
    outln!(
        "created experiment '{}' in {} ({} events)",
        args.name,
        db.display(),
        state.events
    );
    outln!(
        "dataset  {}: {} rows read ({}), {} samples after collapsing {} duplicates and excluding {} conflicting texts",
        data.path,
        data.rows_read,
        data.encoding,
        data.samples,
        data.duplicates,
        data.conflicts.len()
    );
    let counts: Vec<String> = data
        .label_counts
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    outln!("labels   {}", counts.join(", "));
    if let Some(map) = &data.read.label_map {
        let pairs: Vec<String> = map.iter().map(|(r, l)| format!("{r} = {l}")).collect();
        outln!("codes    {} (recorded in DatasetLoaded)", pairs.join(", "));
    }
    outln!(
        "split    train {}, validation {}, test {} (sealed until final evaluation), seed {}",
        split.counts.train,
        split.counts.validation,
        split.counts.test,
        split.seed
    );
    if let Some((_, analysis)) = &state.analysis {
        outln!(
            "analysis imported from {}: {}",
            analysis.imported_from.as_deref().unwrap_or("?"),
            analysis.sample_sets_note
        );
    }
    outln!("next     exp train {}", args.name);
    Ok(ExitCode::SUCCESS)
}
