//! Where a report goes, and what it may replace there. A report is written only into a
//! directory that does not exist, is empty, or was written by an earlier report (it carries the
//! [`MARKER`] file, or holds nothing but report files). Anything else is refused before a byte is
//! written, and in a directory it may use, a report only ever replaces or removes report files.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::ArtifactFile;

use super::{io_err, plots, ReportError};

/// The file that marks a directory as written by `exp report`: which exp wrote it and the
/// report files it holds (the ones a later report may replace or remove).
pub const MARKER: &str = ".exp-report";

/// A report's temporary directory inside the directory it is written into: `PREFIX` + pid.
const INNER_TMP: &str = ".exp-report.tmp-";

/// Every file a report writes besides its plots.
const FILES: [&str; 5] = [
    "comparison.csv",
    "comparison.json",
    "model_card.md",
    "training_summary.json",
    "index.html",
];

/// What `exp compare` writes besides `index.html`, and the stem of its plot.
const COMPARE_FILES: [&str; 2] = ["compare.json", "compare.csv"];
const COMPARE_STEM: &str = "compare_learning_curves";

/// Whether `name` is a file that `exp report` or `exp compare` writes.
fn is_report_file(name: &str) -> bool {
    FILES.contains(&name)
        || COMPARE_FILES.contains(&name)
        || plots::STEMS.iter().chain([&COMPARE_STEM]).any(|stem| {
            name.strip_prefix(stem)
                .is_some_and(|ext| ext == ".png" || ext == ".svg")
        })
}

#[derive(Serialize, Deserialize)]
struct Marker {
    written_by: String,
    files: Vec<String>,
}

/// Refuses a report file this module does not know (it could never be replaced later).
pub fn check_names(files: &[ArtifactFile]) -> Result<(), ReportError> {
    match files.iter().find(|f| !is_report_file(&f.path)) {
        Some(f) => Err(ReportError::Internal(format!(
            "report file {} is missing from report::out_dir's list of report files",
            f.path
        ))),
        None => Ok(()),
    }
}

/// The report's directory and what is in it now.
#[derive(Debug)]
pub enum Destination {
    /// It does not exist: the report is written beside it and renamed into place whole.
    Missing { dir: PathBuf },
    /// Empty, or written by an earlier report: the new files are renamed into it one by one,
    /// then the earlier report's files that this one does not write are removed.
    Existing {
        dir: PathBuf,
        old_files: Vec<String>,
    },
}

fn refuse(dir: &Path, reason: String) -> ReportError {
    ReportError::OutDir {
        dir: dir.to_path_buf(),
        reason,
    }
}

/// `path` made absolute, `.` and `..` resolved: `--out .` names the directory itself.
fn normalise(path: &Path) -> Result<PathBuf, ReportError> {
    if let Ok(real) = path.canonicalize() {
        return Ok(real);
    }
    let absolute =
        std::path::absolute(path).map_err(io_err(format!("resolving {}", path.display())))?;
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

impl Destination {
    /// Inspects `dir`, has `write` fill a temporary directory beside it, and publishes what it
    /// wrote; on an error the temporary directory is removed and `dir` is as it was.
    pub fn write_whole(
        dir: &Path,
        write: impl FnOnce(&Path) -> Result<Vec<ArtifactFile>, ReportError>,
    ) -> Result<Vec<ArtifactFile>, ReportError> {
        let target = Destination::inspect(dir)?;
        target.remove_stale_temporaries();
        let tmp = target.temporary();
        std::fs::create_dir_all(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
        let result = write(&tmp).and_then(|files| {
            check_names(&files)?;
            Ok(files)
        });
        let files = match result {
            Ok(files) => files,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        target.publish(&tmp, &files)?;
        Ok(files)
    }

    /// Looks at `dir` and decides, or refuses with the reason; writes nothing.
    pub fn inspect(dir: &Path) -> Result<Destination, ReportError> {
        let dir = normalise(dir)?;
        let meta = match std::fs::metadata(&dir) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Destination::Missing { dir }),
            Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
        };
        if !meta.is_dir() {
            return Err(refuse(&dir, "it is a file, not a directory".to_string()));
        }
        let mut report_files = Vec::new();
        let mut foreign = Vec::new();
        let mut marked = None;
        let entries =
            std::fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if name == MARKER && is_file {
                marked = Some(std::fs::read(entry.path()).unwrap_or_default());
            } else if name.starts_with(INNER_TMP) {
                // A temporary directory of a report run (a killed one's is removed later).
            } else if is_file && is_report_file(&name) {
                report_files.push(name);
            } else {
                foreign.push(if is_file { name } else { format!("{name}/") });
            }
        }
        report_files.sort();
        match marked {
            Some(bytes) => {
                // What the marker lists, and any report file beside it (a killed publish).
                let mut old_files: Vec<String> = serde_json::from_slice::<Marker>(&bytes)
                    .map(|m| m.files)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|f| is_report_file(f))
                    .collect();
                old_files.extend(report_files);
                old_files.sort();
                old_files.dedup();
                Ok(Destination::Existing { dir, old_files })
            }
            None if foreign.is_empty() => Ok(Destination::Existing {
                dir,
                old_files: report_files,
            }),
            None => {
                foreign.sort();
                let shown = foreign.len().min(3);
                Err(refuse(
                    &dir,
                    format!(
                        "it holds files that no report wrote ({}{}) and no {MARKER} marker; \
                         a report is written only into a new or empty directory or one an \
                         earlier report wrote, and never deletes anything else",
                        foreign[..shown].join(", "),
                        if foreign.len() > shown {
                            format!(" and {} more", foreign.len() - shown)
                        } else {
                            String::new()
                        }
                    ),
                ))
            }
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            Destination::Missing { dir } | Destination::Existing { dir, .. } => dir,
        }
    }

    /// Where this run writes its files first: beside a missing directory (so one rename puts
    /// the whole report in place), inside an existing one (so the renames stay on its file
    /// system and nothing is created beside a directory the user chose).
    pub fn temporary(&self) -> PathBuf {
        let pid = std::process::id();
        match self {
            Destination::Missing { dir } => {
                dir.with_file_name(format!(".{}.tmp-{pid}", name_of(dir)))
            }
            Destination::Existing { dir, .. } => dir.join(format!("{INNER_TMP}{pid}")),
        }
    }

    /// Removes the temporary directories of report runs that were killed (their pid is gone):
    /// only directories with this report's temporary names that hold nothing but report files.
    pub fn remove_stale_temporaries(&self) {
        let dir = self.dir();
        let beside = format!(".{}.tmp-", name_of(dir));
        let mut places = vec![(dir.parent().map(Path::to_path_buf), beside)];
        if let Destination::Existing { dir, .. } = self {
            places.push((Some(dir.clone()), INNER_TMP.to_string()));
        }
        for (place, prefix) in places {
            let Some(entries) = place.and_then(|p| std::fs::read_dir(p).ok()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let Some(pid) = name
                    .strip_prefix(&prefix)
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if pid != std::process::id()
                    && !Path::new("/proc").join(pid.to_string()).exists()
                    && only_report_files(&entry.path())
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// Moves the files written into `tmp` into place and marks the directory as a report's.
    pub fn publish(&self, tmp: &Path, files: &[ArtifactFile]) -> Result<(), ReportError> {
        let marker = Marker {
            written_by: format!("exp {}", env!("CARGO_PKG_VERSION")),
            files: files.iter().map(|f| f.path.clone()).collect(),
        };
        let marker = serde_json::to_vec_pretty(&marker).map_err(|source| ReportError::Json {
            file: MARKER.to_string(),
            source,
        })?;
        let tmp_marker = tmp.join(MARKER);
        std::fs::write(&tmp_marker, marker)
            .map_err(io_err(format!("writing {}", tmp_marker.display())))?;
        match self {
            Destination::Missing { dir } => {
                std::fs::rename(tmp, dir).map_err(|e| {
                    let _ = std::fs::remove_dir_all(tmp);
                    io_err(format!("renaming {} to {}", tmp.display(), dir.display()))(e)
                })?;
            }
            Destination::Existing { dir, old_files } => {
                let mut names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
                // The marker last: it lists only files that are in place.
                names.push(MARKER);
                for name in &names {
                    let (from, to) = (tmp.join(name), dir.join(name));
                    // The earlier file is unlinked first: a rename over an existing file makes
                    // ext4 (auto_da_alloc) write the new file's data out at once, which made a
                    // report of a long log a quarter slower (training_summary.json is large).
                    remove_if_present(&to)?;
                    std::fs::rename(&from, &to).map_err(io_err(format!(
                        "renaming {} to {}",
                        from.display(),
                        to.display()
                    )))?;
                }
                for old in old_files
                    .iter()
                    .filter(|old| !names.contains(&old.as_str()))
                {
                    remove_if_present(&dir.join(old))?;
                }
                std::fs::remove_dir(tmp).map_err(io_err(format!("removing {}", tmp.display())))?;
            }
        }
        Ok(())
    }
}

/// Removes a file; one that is not there is no error.
fn remove_if_present(path: &Path) -> Result<(), ReportError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(io_err(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "report".to_string())
}

/// Whether `dir` holds only regular files named as report files (or the marker).
fn only_report_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            e.file_type().is_ok_and(|t| t.is_file()) && (name == MARKER || is_report_file(&name))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> ArtifactFile {
        ArtifactFile {
            path: name.to_string(),
            sha256: String::new(),
            bytes: 0,
        }
    }

    fn publish_into(dir: &Path, names: &[&str]) {
        let target = Destination::inspect(dir).unwrap();
        let tmp = target.temporary();
        std::fs::create_dir_all(&tmp).unwrap();
        for name in names {
            std::fs::write(tmp.join(name), name).unwrap();
        }
        let files: Vec<ArtifactFile> = names.iter().map(|n| file(n)).collect();
        target.publish(&tmp, &files).unwrap();
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_directory_with_other_files_is_refused_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let docs = tmp.path().join("mydocs");
        std::fs::create_dir_all(docs.join("sub")).unwrap();
        std::fs::write(docs.join("thesis.txt"), "thesis").unwrap();
        let err = Destination::inspect(&docs).unwrap_err().to_string();
        assert!(err.contains("(sub/, thesis.txt)"), "{err}");
        assert!(err.contains("no report wrote"), "{err}");
        // A file that happens to share a report file's name does not make it a report: a
        // directory holding one next to a foreign file is still refused.
        std::fs::write(docs.join("index.html"), "mine").unwrap();
        assert!(Destination::inspect(&docs).is_err());
        let file = tmp.path().join("notes.txt");
        std::fs::write(&file, "notes").unwrap();
        let err = Destination::inspect(&file).unwrap_err().to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
    }

    #[test]
    fn a_report_replaces_only_report_files_and_keeps_what_the_user_added_later() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        publish_into(
            &dir,
            &["comparison.csv", "pruning_tradeoff.png", "index.html"],
        );
        assert_eq!(
            listing(&dir),
            [
                MARKER,
                "comparison.csv",
                "index.html",
                "pruning_tradeoff.png"
            ]
        );
        std::fs::write(dir.join("my-notes.txt"), "mine").unwrap();
        publish_into(&dir, &["comparison.csv", "index.html"]);
        assert_eq!(
            listing(&dir),
            [MARKER, "comparison.csv", "index.html", "my-notes.txt"]
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("my-notes.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn an_empty_directory_and_an_unmarked_old_report_are_used() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        publish_into(&empty, &["comparison.csv"]);
        assert_eq!(listing(&empty), [MARKER, "comparison.csv"]);
        // Written by an exp from before the marker: nothing but report files.
        let old = tmp.path().join("old");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("model_card.md"), "old").unwrap();
        std::fs::write(old.join("latency_by_batch.svg"), "old").unwrap();
        publish_into(&old, &["model_card.md"]);
        assert_eq!(listing(&old), [MARKER, "model_card.md"]);
        assert_eq!(
            std::fs::read_to_string(old.join("model_card.md")).unwrap(),
            "model_card.md"
        );
    }

    #[test]
    fn dot_names_the_directory_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        std::fs::create_dir(&dir).unwrap();
        let target = Destination::inspect(&dir.join("..").join("a").join(".")).unwrap();
        assert_eq!(target.dir(), dir.canonicalize().unwrap());
        assert!(target.temporary().starts_with(target.dir()));
    }

    #[test]
    fn stale_temporaries_of_killed_runs_are_removed_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        // pid 0 is never a process's id here; 4194304 is above Linux's pid_max.
        let stale = tmp.path().join(".r.tmp-4194304");
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("comparison.csv"), "x").unwrap();
        let foreign = tmp.path().join(".r.tmp-4194305");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("thesis.txt"), "x").unwrap();
        let target = Destination::inspect(&dir).unwrap();
        target.remove_stale_temporaries();
        assert!(!stale.exists());
        assert!(foreign.join("thesis.txt").exists(), "not a report's: kept");
    }
}
