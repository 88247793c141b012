//! `exp tag` and `exp note`.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use exp::events::TagSet;
use exp::pipeline::annotate;

use super::output::{outln, print_json};

#[derive(Debug, Args)]
pub struct TagArgs {
    /// Experiment name.
    pub name: String,
    /// Tags to set, as KEY=VALUE (a key set again takes the new value). Keys: letters, digits,
    /// '_', '-', '.', ':'.
    #[arg(value_parser = annotate::parse_tag)]
    pub tags: Vec<TagSet>,
    /// A tag key to remove (repeatable).
    #[arg(long, value_name = "KEY", value_parser = parse_key)]
    pub remove: Vec<String>,
}

fn parse_key(key: &str) -> Result<String, String> {
    annotate::check_tag_key(key)?;
    Ok(key.to_string())
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Experiment name.
    pub name: String,
    /// The note (quote it).
    pub text: String,
}

pub fn tag(db: &Path, args: TagArgs, json: bool) -> anyhow::Result<ExitCode> {
    if args.tags.is_empty() && args.remove.is_empty() {
        anyhow::bail!("nothing to tag: give KEY=VALUE or --remove KEY");
    }
    let count = args.tags.len() + args.remove.len();
    let seq = annotate::tag(db, &args.name, args.tags, &args.remove)?;
    if json {
        print_json(&json!({ "events": count, "last_seq": seq }))?;
    } else {
        outln!(
            "recorded {count} TagSet event(s) on '{}' (last seq {seq})",
            args.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn note(db: &Path, args: NoteArgs, json: bool) -> anyhow::Result<ExitCode> {
    if args.text.trim().is_empty() {
        anyhow::bail!("the note is empty");
    }
    let seq = annotate::note(db, &args.name, args.text.trim())?;
    if json {
        print_json(&json!({ "last_seq": seq }))?;
    } else {
        outln!("recorded NoteAdded on '{}' (seq {seq})", args.name);
    }
    Ok(ExitCode::SUCCESS)
}
