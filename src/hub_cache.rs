//! Models already in a Hugging Face hub cache on disk, found offline: `--model ORG/NAME[@REV]`
//! and the cache's own `models--ORG--NAME` directories. Nothing is ever downloaded.
//!
//! The layout (as `huggingface_hub` writes it): `HUB/models--ORG--NAME/refs/REF` holds a commit
//! hash, `HUB/models--ORG--NAME/snapshots/COMMIT/` holds the files (links into `blobs/`). `HUB`
//! is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HubCacheError {
    #[error("model '{repo}' is not in the Hugging Face cache {hub} (no {dir}); exp never downloads: run `huggingface-cli download {repo}` where the hub can be reached and copy the cache, or set HF_HUB_CACHE / HF_HOME")]
    NotCached {
        repo: String,
        hub: PathBuf,
        dir: String,
    },
    #[error("{repo} in the Hugging Face cache has no revision '{revision}' (refs: {refs}; snapshots: {snapshots})")]
    NoRevision {
        repo: String,
        revision: String,
        refs: String,
        snapshots: String,
    },
    #[error("{repo} in the Hugging Face cache has {count} snapshots and no refs/main to choose one: name one as {repo}@REVISION (snapshots: {snapshots})")]
    Ambiguous {
        repo: String,
        count: usize,
        snapshots: String,
    },
}

/// The hub cache directory the environment names (see the module comment).
pub fn hub_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(hub) = var("HF_HUB_CACHE") {
        return Some(PathBuf::from(hub));
    }
    if let Some(home) = var("HF_HOME") {
        return Some(PathBuf::from(home).join("hub"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// `ORG/NAME` or `ORG/NAME@REV`: a repository id as the hub spells them (one slash, no path
/// syntax), split into the id and the revision.
pub fn parse_repo_id(spec: &str) -> Option<(&str, Option<&str>)> {
    let (repo, revision) = match spec.split_once('@') {
        Some((r, rev)) if !rev.is_empty() => (r, Some(rev)),
        Some(_) => return None,
        None => (spec, None),
    };
    let (org, name) = repo.split_once('/')?;
    let part_ok = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (part_ok(org) && part_ok(name)).then_some((repo, revision))
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The snapshot directory of a cached repository (`models--ORG--NAME`) at `revision` (a ref
/// such as `main`, or a commit hash), else at `refs/main`, else its only snapshot.
pub fn snapshot(
    repo_dir: &Path,
    repo: &str,
    revision: Option<&str>,
) -> Result<PathBuf, HubCacheError> {
    let snapshots = repo_dir.join("snapshots");
    let listed = || names_in(&snapshots).join(", ");
    let commit_of = |r: &str| {
        std::fs::read_to_string(repo_dir.join("refs").join(r))
            .ok()
            .map(|c| c.trim().to_string())
    };
    let commit = match revision {
        Some(r) => commit_of(r).unwrap_or_else(|| r.to_string()),
        None => match commit_of("main") {
            Some(c) => c,
            None => {
                let all = names_in(&snapshots);
                match all.as_slice() {
                    [only] => only.clone(),
                    _ => {
                        return Err(HubCacheError::Ambiguous {
                            repo: repo.to_string(),
                            count: all.len(),
                            snapshots: listed(),
                        })
                    }
                }
            }
        },
    };
    let dir = snapshots.join(&commit);
    if commit.contains('/') || commit.contains("..") || !dir.is_dir() {
        return Err(HubCacheError::NoRevision {
            repo: repo.to_string(),
            revision: revision.unwrap_or("main").to_string(),
            refs: names_in(&repo_dir.join("refs")).join(", "),
            snapshots: listed(),
        });
    }
    Ok(dir)
}

/// `ORG/NAME[@REV]` in the hub cache at `hub`.
pub fn find(hub: &Path, repo: &str, revision: Option<&str>) -> Result<PathBuf, HubCacheError> {
    let dir_name = format!("models--{}", repo.replace('/', "--"));
    let repo_dir = hub.join(&dir_name);
    if !repo_dir.is_dir() {
        return Err(HubCacheError::NotCached {
            repo: repo.to_string(),
            hub: hub.to_path_buf(),
            dir: dir_name,
        });
    }
    snapshot(&repo_dir, repo, revision)
}

/// A cache's repository directory given as a path (`.../models--ORG--NAME`): its repository id.
pub fn repo_of_cache_dir(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_prefix("models--")?;
    let (org, model) = name.split_once("--")?;
    (path.join("snapshots").is_dir()).then(|| format!("{org}/{model}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_told_from_paths() {
        assert_eq!(parse_repo_id("org/name"), Some(("org/name", None)));
        assert_eq!(
            parse_repo_id("ProsusAI/finbert@v1.0"),
            Some(("ProsusAI/finbert", Some("v1.0")))
        );
        for not_an_id in [
            "name", "a/b/c", "./x", "../x", "/abs", "org/", "a/b@", "a b/c",
        ] {
            assert_eq!(parse_repo_id(not_an_id), None, "{not_an_id}");
        }
    }

    fn cache(hub: &Path, repo: &str, snapshots: &[&str], main: Option<&str>) -> PathBuf {
        let dir = hub.join(format!("models--{}", repo.replace('/', "--")));
        for s in snapshots {
            std::fs::create_dir_all(dir.join("snapshots").join(s)).unwrap();
        }
        if let Some(m) = main {
            std::fs::create_dir_all(dir.join("refs")).unwrap();
            std::fs::write(dir.join("refs/main"), format!("{m}\n")).unwrap();
        }
        dir
    }

    #[test]
    fn a_revision_is_chosen_by_ref_commit_or_the_only_snapshot() {
        let tmp = tempfile::tempdir().unwrap();
        let hub = tmp.path();
        cache(hub, "org/two", &["aaa", "bbb"], Some("bbb"));
        assert_eq!(
            find(hub, "org/two", None).unwrap(),
            hub.join("models--org--two/snapshots/bbb")
        );
        assert_eq!(
            find(hub, "org/two", Some("aaa")).unwrap(),
            hub.join("models--org--two/snapshots/aaa")
        );
        cache(hub, "org/one", &["ccc"], None);
        assert!(find(hub, "org/one", None)
            .unwrap()
            .ends_with("snapshots/ccc"));

        let dir = cache(hub, "org/many", &["x1", "x2"], None);
        let err = find(hub, "org/many", None).unwrap_err().to_string();
        assert!(err.contains("has 2 snapshots and no refs/main"), "{err}");
        let err = find(hub, "org/two", Some("nope")).unwrap_err().to_string();
        assert!(
            err.contains("no revision 'nope' (refs: main; snapshots: aaa, bbb)"),
            "{err}"
        );
        let err = find(hub, "org/missing", None).unwrap_err().to_string();
        assert!(
            err.contains("no models--org--missing") && err.contains("never downloads"),
            "{err}"
        );
        assert_eq!(repo_of_cache_dir(&dir).as_deref(), Some("org/many"));
    }
}
