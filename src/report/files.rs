//! Writes the report directory: every file into a temporary sibling directory, then one rename,
//! so a reader never sees half a report.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::events::ArtifactFile;

use super::project::Projection;
use super::{card, comparison, html, io_err, plots, summary, ReportError};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(io_err(format!("writing {}", path.display())))
}

fn json_bytes(name: &str, value: &serde_json::Value) -> Result<Vec<u8>, ReportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ReportError::Json {
        file: name.to_string(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".to_string());
    dir.with_file_name(format!(".{name}.{tag}-{}", std::process::id()))
}

/// Writes every report file into `dir` (replacing it) and returns them with their hashes.
pub fn write_all(p: &Projection, dir: &Path) -> Result<Vec<ArtifactFile>, ReportError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    let tmp = sibling(dir, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(format!("removing {}", tmp.display())))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    let result = write_into(p, &tmp);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let files = result?;
    if dir.exists() {
        let old = sibling(dir, "old");
        std::fs::rename(dir, &old).map_err(io_err(format!("moving {} aside", dir.display())))?;
        std::fs::rename(&tmp, dir).map_err(io_err(format!("renaming to {}", dir.display())))?;
        std::fs::remove_dir_all(&old).map_err(io_err(format!("removing {}", old.display())))?;
    } else {
        std::fs::rename(&tmp, dir).map_err(io_err(format!("renaming to {}", dir.display())))?;
    }
    Ok(files)
}

fn write_into(p: &Projection, dir: &Path) -> Result<Vec<ArtifactFile>, ReportError> {
    let csv = comparison::csv(&p.benchmarks);
    write(dir, "comparison.csv", csv.as_bytes())?;
    write(
        dir,
        "comparison.json",
        &json_bytes("comparison.json", &comparison::json(p))?,
    )?;
    write(
        dir,
        "training_summary.json",
        &json_bytes("training_summary.json", &summary::json(p))?,
    )?;
    write(dir, "model_card.md", card::markdown(p).as_bytes())?;
    let plots = plots::write_all(p, dir)?;
    write(
        dir,
        "index.html",
        html::page(p, &plots, &comparison::cells(&p.benchmarks)).as_bytes(),
    )?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io_err(format!("listing {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let bytes =
                std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
            Ok(ArtifactFile {
                path: name,
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: bytes.len() as u64,
            })
        })
        .collect()
}
