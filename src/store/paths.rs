//! Paths in events relative to the database's directory, so that an experiment's directory
//! (`exp.db` beside `artifacts/` and `reports/`) can be copied or moved and stays whole.
//!
//! Written: a path under the directory's `artifacts/` or `reports/` (what exp writes there) is
//! stored relative to it (`artifacts/t/final/model.onnx`); any other path stays absolute: the
//! user's own files (a dataset, a model directory), even beside the database, are not part of
//! what exp moves (a dataset is known by its sha256 and can be named again with `--data`). Read:
//! a relative path is resolved against the directory the database is in now. Logs written
//! before this hold absolute paths, which are read as they are.

use std::path::{Path, PathBuf};

/// The directory paths are relative to: the database's, made absolute (as the pipeline makes
/// the artifact and report directories).
pub fn base_dir(db: &Path) -> PathBuf {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The directories under the database's that exp writes and moves with it.
const OWN_DIRS: [&str; 2] = ["artifacts", "reports"];

/// `path` relative to `base` when it is an absolute path under `base/artifacts` or
/// `base/reports`; else unchanged.
pub fn store_relative(base: &Path, path: &mut String) {
    let p = Path::new(path.as_str());
    if !p.is_absolute() {
        return;
    }
    if let Ok(rest) = p.strip_prefix(base) {
        let own = rest
            .components()
            .next()
            .is_some_and(|first| OWN_DIRS.iter().any(|d| first.as_os_str() == *d));
        if own {
            *path = rest.display().to_string();
        }
    }
}

/// A stored path as a path on this machine: a relative one joined to `base`.
pub fn resolve(base: &Path, path: &mut String) {
    if path.is_empty() || !Path::new(path.as_str()).is_relative() {
        return;
    }
    // One allocation, as `base.join(path)` would be, without the PathBuf and the copy from it
    // (every fold of a long log resolves its paths).
    match base.to_str() {
        Some(base) => {
            let mut joined = String::with_capacity(base.len() + 1 + path.len());
            joined.push_str(base);
            if !base.ends_with('/') {
                joined.push('/');
            }
            joined.push_str(path);
            *path = joined;
        }
        None => *path = base.join(path.as_str()).display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_base_are_stored_relative_and_resolved_back() {
        let base = Path::new("/data/exp");
        let mut p = "/data/exp/artifacts/t/final/model.onnx".to_string();
        store_relative(base, &mut p);
        assert_eq!(p, "artifacts/t/final/model.onnx");
        resolve(Path::new("/elsewhere"), &mut p);
        assert_eq!(p, "/elsewhere/artifacts/t/final/model.onnx");
        // Outside the base, and the base itself: unchanged.
        for outside in [
            "/root/.cache/exp/assets/minilm-l6",
            "/data/exp2/x",
            "/data/exp",
        ] {
            let mut p = outside.to_string();
            store_relative(base, &mut p);
            assert_eq!(p, outside);
            resolve(Path::new("/elsewhere"), &mut p);
            assert_eq!(p, outside);
        }
    }
}
