//! What a request's URL asks for. Every path segment is percent-decoded once; a segment that is
//! empty, `.` or `..`, or that decodes to something holding a `/`, `\` or NUL, refuses the
//! whole request, so no file path is ever built from a segment that could leave its directory.

pub use crate::percent::{percent_decode, percent_encode};

/// Which of an experiment's directories a file is served from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRoot {
    /// The latest report's directory (`ReportGenerated`).
    Report,
    /// The exported model directory (`ModelExported`).
    Export,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Experiments,
    Experiment(String),
    Events {
        experiment: String,
        kind: Option<String>,
        after: i64,
    },
    File {
        experiment: String,
        root: FileRoot,
        /// Relative, `/`-separated, each segment checked.
        path: String,
    },
    /// The experiment's epochs after seq `after` and its status, as JSON (the live view polls it).
    Live {
        experiment: String,
        after: i64,
    },
    Compare(Vec<String>),
    Script,
    Style,
    NotFound,
    /// A path that tries to leave its directory or is not one a file can have.
    Refused(String),
}

/// One decoded path segment, or why it is refused.
fn segment(raw: &str) -> Result<String, String> {
    let decoded = percent_decode(raw).ok_or_else(|| format!("'{raw}' is not a valid escape"))?;
    if decoded.is_empty() || decoded == "." || decoded == ".." {
        return Err(format!("path segment '{decoded}' is not allowed"));
    }
    if decoded.contains(['/', '\\', '\0']) {
        return Err(format!(
            "path segment '{decoded}' holds a separator or NUL (absolute and nested paths are refused)"
        ));
    }
    Ok(decoded)
}

fn query_values<'a>(query: &'a str, key: &'a str) -> impl Iterator<Item = String> + 'a {
    query.split('&').filter_map(move |pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key)
            .then(|| percent_decode(&v.replace('+', " ")))
            .flatten()
    })
}

fn seq_param(query: &str) -> i64 {
    query_values(query, "after")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Route {
    pub fn parse(url: &str) -> Route {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        if !path.starts_with('/') {
            return Route::NotFound;
        }
        let raw: Vec<&str> = path[1..].split('/').collect();
        if path == "/" {
            return Route::Experiments;
        }
        let mut segments = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            // A trailing slash is allowed (`/x/NAME/`), an empty segment elsewhere is not.
            if r.is_empty() && i + 1 == raw.len() && i > 0 {
                continue;
            }
            match segment(r) {
                Ok(s) => segments.push(s),
                Err(why) => return Route::Refused(why),
            }
        }
        let s: Vec<&str> = segments.iter().map(String::as_str).collect();
        match s.as_slice() {
            ["static", "ui.js"] => Route::Script,
            ["static", "ui.css"] => Route::Style,
            ["compare"] => Route::Compare(query_values(query, "x").collect()),
            ["x", name] => Route::Experiment(name.to_string()),
            ["x", name, "events"] => Route::Events {
                experiment: name.to_string(),
                kind: query_values(query, "kind").next().filter(|k| !k.is_empty()),
                after: seq_param(query),
            },
            ["api", "x", name, "live"] => Route::Live {
                experiment: name.to_string(),
                after: seq_param(query),
            },
            ["x", name, root @ ("report" | "export"), rest @ ..] if !rest.is_empty() => {
                Route::File {
                    experiment: name.to_string(),
                    root: if *root == "report" {
                        FileRoot::Report
                    } else {
                        FileRoot::Export
                    },
                    path: rest.join("/"),
                }
            }
            _ => Route::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_files_are_routed() {
        assert_eq!(Route::parse("/"), Route::Experiments);
        assert_eq!(Route::parse("/x/fpb"), Route::Experiment("fpb".into()));
        assert_eq!(Route::parse("/x/a%20b/"), Route::Experiment("a b".into()));
        assert_eq!(
            Route::parse("/x/fpb/events?kind=EpochCompleted&after=40"),
            Route::Events {
                experiment: "fpb".into(),
                kind: Some("EpochCompleted".into()),
                after: 40
            }
        );
        assert_eq!(
            Route::parse("/x/fpb/report/plots/loss.svg"),
            Route::File {
                experiment: "fpb".into(),
                root: FileRoot::Report,
                path: "plots/loss.svg".into()
            }
        );
        assert_eq!(
            Route::parse("/compare?x=a&x=b%2Bc"),
            Route::Compare(vec!["a".into(), "b+c".into()])
        );
        assert_eq!(
            Route::parse("/api/x/fpb/live?after=7"),
            Route::Live {
                experiment: "fpb".into(),
                after: 7
            }
        );
        assert_eq!(Route::parse("/x/fpb/report"), Route::NotFound);
        assert_eq!(Route::parse("/etc/passwd"), Route::NotFound);
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        for url in [
            "/x/fpb/report/../../exp.db",
            "/x/fpb/report/%2e%2e/exp.db",
            "/x/fpb/report/%2E%2E%2Fexp.db",
            "/x/fpb/report/%2Fetc%2Fpasswd",
            "/x/fpb/report//etc/passwd",
            "/x/fpb/export/a%5C..%5Cb",
            "/x/fpb/report/a%00b",
            "/x/../x/fpb",
            "/x/fpb/report/./index.html",
            "/x/fpb/report/%zz",
        ] {
            assert!(
                matches!(Route::parse(url), Route::Refused(_)),
                "{url}: {:?}",
                Route::parse(url)
            );
        }
    }
}
