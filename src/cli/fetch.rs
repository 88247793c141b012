//! `exp fetch`: download pinned assets into the cache.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::output::outln;
use exp::assets::{self, Asset};

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// minilm-l6, minilm-l3-onnx, onnxruntime or all.
    #[arg(default_value = "all")]
    pub asset: String,
    /// Download again even when the cache holds a verified copy.
    #[arg(long)]
    pub force: bool,
}

#[derive(Serialize)]
struct Fetched {
    asset: &'static str,
    path: String,
    cached: bool,
}

pub fn run(args: FetchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let wanted: Vec<Asset> = if args.asset == "all" {
        Asset::ALL.to_vec()
    } else {
        vec![Asset::from_alias(&args.asset)?]
    };
    let mut done = Vec::new();
    for asset in wanted {
        let cached = if args.force {
            None
        } else {
            assets::cached(asset)
        };
        let (path, was_cached) = match cached {
            Some(path) => (path, true),
            None => {
                if !json {
                    eprintln!("fetching {} ...", asset.alias());
                }
                (assets::fetch(asset)?, false)
            }
        };
        if !json {
            let how = if was_cached { "cached" } else { "fetched" };
            outln!("{:<15} {how:<8} {}", asset.alias(), path.display());
        }
        done.push(Fetched {
            asset: asset.alias(),
            path: path.display().to_string(),
            cached: was_cached,
        });
    }
    if json {
        super::output::print_json(&done)?;
    }
    Ok(ExitCode::SUCCESS)
}
