//! Writes the report directory: every file into a temporary sibling directory, then one rename,
//! so a reader never sees half a report.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::events::ArtifactFile;

use super::project::Projection;
use super::{card, comparison, html, io_err, out_dir, plots, summary, ReportError};

/// Writes `bytes` to `dir/name` and returns the file's record (hashed from memory).
pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<ArtifactFile, ReportError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(io_err(format!("writing {}", path.display())))?;
    Ok(ArtifactFile {
        path: name.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        bytes: bytes.len() as u64,
    })
}

/// A file writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Pretty JSON and a final newline, streamed to `dir/name` (a long log's summary is a large
/// file: no copy of it is held in memory or read back to hash it).
pub(crate) fn write_json(
    dir: &Path,
    name: &str,
    value: &impl serde::Serialize,
) -> Result<ArtifactFile, ReportError> {
    let path = dir.join(name);
    let context = || format!("writing {}", path.display());
    let file = File::create(&path).map_err(io_err(context()))?;
    // Buffered before the hash: serde_json writes token by token, and hashing each token on its
    // own cost more than the serialisation.
    let mut out = BufWriter::with_capacity(
        1 << 20,
        Hashing {
            inner: file,
            hasher: Sha256::new(),
            bytes: 0,
        },
    );
    serde_json::to_writer_pretty(&mut out, value).map_err(|source| ReportError::Json {
        file: name.to_string(),
        source,
    })?;
    out.write_all(b"\n").map_err(io_err(context()))?;
    let hashed = out.into_inner().map_err(|e| ReportError::Io {
        context: context(),
        source: e.into_error(),
    })?;
    Ok(ArtifactFile {
        path: name.to_string(),
        sha256: hex::encode(hashed.hasher.finalize()),
        bytes: hashed.bytes,
    })
}

/// Writes every report file into `dir` and returns them with their hashes. `dir` must be
/// missing, empty, or a directory an earlier report wrote ([`out_dir`] says what is refused);
/// the files are written into a temporary directory first, so a failure leaves `dir` as it was.
pub fn write_all(p: &Projection, dir: &Path) -> Result<Vec<ArtifactFile>, ReportError> {
    out_dir::Destination::write_whole(dir, |tmp| write_into(p, tmp))
}

fn write_into(p: &Projection, dir: &Path) -> Result<Vec<ArtifactFile>, ReportError> {
    // The summary of a long log is a large file: it is written beside the rest, not after it.
    let (summary, rest) = rayon::join(
        || write_json(dir, "training_summary.json", &summary::json(p)),
        || write_the_rest(p, dir),
    );
    let mut files = rest?;
    files.push(summary?);
    // The plots are written by plotters: hash them from disk.
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io_err(format!("listing {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .collect();
    for name in names {
        if files.iter().any(|f| f.path == name) {
            continue;
        }
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
        files.push(ArtifactFile {
            path: name,
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Every file but `training_summary.json` (the plots unhashed).
fn write_the_rest(p: &Projection, dir: &Path) -> Result<Vec<ArtifactFile>, ReportError> {
    let csv = comparison::csv(&p.benchmarks);
    let mut files = vec![
        write(dir, "comparison.csv", csv.as_bytes())?,
        write_json(dir, "comparison.json", &comparison::json(p))?,
        write(dir, "model_card.md", card::markdown(p).as_bytes())?,
    ];
    let plots = plots::write_all(p, dir)?;
    files.push(write(
        dir,
        "index.html",
        html::page(p, &plots, &comparison::cells(&p.benchmarks)).as_bytes(),
    )?);
    Ok(files)
}
