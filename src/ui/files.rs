//! Which files `exp ui` serves: only those a live event names (the latest report's files, the
//! exported model directory's files), each found under the directory that event names. The
//! request's path must be one of the event's file paths exactly; the file, symbolic links
//! resolved, must still be inside that directory.

use std::path::{Path, PathBuf};

use crate::events::ArtifactFile;
use crate::state::Experiment;

use super::route::FileRoot;

/// Why a file is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No live event names it (or the experiment has no such directory yet): 404.
    NotNamed(String),
    /// Named, but the file is gone or resolves outside its directory: 404 / 403.
    Missing(String),
    Outside(String),
}

/// The directory and file list a live event gives for `root`.
fn listing(state: &Experiment, root: FileRoot) -> Option<(&str, &[ArtifactFile])> {
    match root {
        FileRoot::Report => state
            .reports
            .last()
            .map(|r| (r.dir.as_str(), r.files.as_slice())),
        FileRoot::Export => state
            .export
            .as_ref()
            .map(|e| (e.dir.as_str(), e.files.as_slice())),
    }
}

/// The files a live event names under `root`, as the UI links them (relative paths).
pub fn named(state: &Experiment, root: FileRoot) -> Vec<&ArtifactFile> {
    listing(state, root).map_or_else(Vec::new, |(_, files)| files.iter().collect())
}

/// The file to serve for `path` (relative, already checked segment by segment by the router).
pub fn resolve(state: &Experiment, root: FileRoot, path: &str) -> Result<PathBuf, Refusal> {
    let what = match root {
        FileRoot::Report => "report",
        FileRoot::Export => "exported model directory",
    };
    let Some((dir, files)) = listing(state, root) else {
        return Err(Refusal::NotNamed(format!(
            "experiment '{}' has no {what} in its log",
            state.name
        )));
    };
    if !files.iter().any(|f| f.path == path) {
        return Err(Refusal::NotNamed(format!(
            "'{path}' is not a file of the {what} the log names"
        )));
    }
    let dir = Path::new(dir);
    let (Ok(real_dir), Ok(real_file)) = (dir.canonicalize(), dir.join(path).canonicalize()) else {
        return Err(Refusal::Missing(format!(
            "'{path}' of the {what} is no longer on disk"
        )));
    };
    if !real_file.starts_with(&real_dir) || !real_file.is_file() {
        return Err(Refusal::Outside(format!(
            "'{path}' resolves outside the {what}'s directory"
        )));
    }
    Ok(real_file)
}

/// The Content-Type of a served file, by extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ReportGenerated;

    fn state_with_report(dir: &Path, files: &[&str]) -> Experiment {
        let mut state = Experiment::named("x");
        state.reports.push(ReportGenerated {
            dir: dir.display().to_string(),
            compare: vec![],
            through_seq: 1,
            files: files
                .iter()
                .map(|f| ArtifactFile {
                    path: f.to_string(),
                    sha256: String::new(),
                    bytes: 0,
                })
                .collect(),
        });
        state
    }

    #[test]
    fn only_named_files_inside_the_directory_are_served() {
        let tmp = tempfile::tempdir().unwrap();
        let report = tmp.path().join("reports/x");
        std::fs::create_dir_all(&report).unwrap();
        std::fs::write(report.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "no").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), report.join("link.txt")).unwrap();
        let state = state_with_report(&report, &["index.html", "link.txt", "gone.svg"]);

        let ok = resolve(&state, FileRoot::Report, "index.html").unwrap();
        assert_eq!(ok, report.canonicalize().unwrap().join("index.html"));
        assert!(matches!(
            resolve(&state, FileRoot::Report, "secret.txt"),
            Err(Refusal::NotNamed(_))
        ));
        #[cfg(unix)]
        assert!(matches!(
            resolve(&state, FileRoot::Report, "link.txt"),
            Err(Refusal::Outside(_))
        ));
        assert!(matches!(
            resolve(&state, FileRoot::Report, "gone.svg"),
            Err(Refusal::Missing(_))
        ));
        assert!(matches!(
            resolve(&state, FileRoot::Export, "index.html"),
            Err(Refusal::NotNamed(_))
        ));
    }
}
