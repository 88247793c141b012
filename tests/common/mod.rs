//! Helpers shared by the integration tests: run the `exp` binary against a private database.
#![allow(dead_code)]

pub mod browser;
pub mod tiny;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FPB_DIR: &str = "../shared/data/FinancialPhraseBank";

pub fn fpb(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(FPB_DIR)
        .join(file)
}

/// Runs `exp --db DB ARGS...` and returns its output.
pub fn exp(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("the exp binary runs")
}

/// Runs `exp --db DB ARGS...` with extra environment variables.
pub fn exp_env(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(db)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the exp binary runs")
}

/// `exp new NAME --model MODEL --data DATA`, which must succeed.
pub fn new_experiment(db: &Path, name: &str, model: &Path, data: &Path) {
    new_experiment_with(db, name, model, data, &[]);
}

/// `exp new NAME --model MODEL --data DATA EXTRA...`, which must succeed.
pub fn new_experiment_with(db: &Path, name: &str, model: &Path, data: &Path, extra: &[&str]) {
    let out = exp(db, &new_args(name, model, data, extra));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The arguments of `exp new NAME --model MODEL --data DATA EXTRA...`.
pub fn new_args<'a>(
    name: &'a str,
    model: &'a Path,
    data: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "new",
        name,
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Asserts a command failed and its error names every given fragment.
pub fn assert_fails_with(out: &Output, fragments: &[&str]) {
    assert!(
        !out.status.success(),
        "expected failure, got success; stdout: {}",
        stdout(out)
    );
    let err = stderr(out);
    for fragment in fragments {
        assert!(
            err.contains(fragment),
            "error text lacks {fragment:?}:\n{err}"
        );
    }
}

/// The payloads of experiment `name`'s events of `kind`, in order (also while a command
/// writes: the read waits for its transaction).
pub fn payloads(db: &Path, name: &str, kind: &str) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let mut stmt = conn
        .prepare("select payload from events where experiment = ?1 and kind = ?2 order by seq")
        .unwrap();
    stmt.query_map([name, kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}

/// Number of events in the database (0 when it does not exist).
pub fn event_count(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap_or(0)
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// A path as an event stores it, on disk: exp stores the paths of its own files under the
/// database's directory relative to it.
pub fn on_disk(db: &Path, stored: &str) -> PathBuf {
    let path = Path::new(stored);
    if path.is_relative() {
        std::path::absolute(db.parent().unwrap())
            .unwrap()
            .join(path)
    } else {
        path.to_path_buf()
    }
}

/// Copies a directory tree (files and folders).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Whether the tests run as root (who can write anything).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs `exp train t --stages STAGES` with `EXP_FAULT=point`, waits until it announces the
/// point, and SIGKILLs it (the crash tests' way to kill a run at a named place).
pub fn kill_at_stages(db: &Path, point: &str, stages: &str) {
    kill_at(db, &["train", "t", "--quiet", "--stages", stages], point);
}

/// Runs `exp --db DB ARGS...` with `EXP_FAULT=point`, waits until it announces the point, and
/// SIGKILLs it.
pub fn kill_at(db: &Path, args: &[&str], point: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(["--db", db.to_str().unwrap()])
        .args(args)
        .env("EXP_FAULT", point)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let marker = format!(
        "exp: fault point {} reached",
        point.split('@').next().unwrap()
    );
    let mut seen = Vec::new();
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == marker {
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            assert_eq!(status.signal(), Some(9), "{point}: {status:?}");
            return;
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    panic!(
        "{point} was never reached; exp {} ended with {status:?}:\n{}",
        args.join(" "),
        seen.join("\n")
    );
}

/// A fresh scratch directory `NAME` of test suite `SUITE` under the build's temporary directory
/// (kept after the run, for a look at what a failing test left).
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(suite)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Python interpreter that can import `modules`, and the PYTHONPATH it needs (`.ci/run` sets
/// `EXP_TEST_PYTHON` and `EXP_TEST_PYTHONPATH`). Elsewhere a missing module skips the check,
/// saying why; on CI, or when an interpreter was named, it is a failure.
pub fn python_with(modules: &[&str]) -> Option<(String, Option<String>)> {
    python_on(modules, std::env::var("EXP_TEST_PYTHONPATH").ok())
}

/// [`python_with`] for MLflow, which `.ci/run` installs in a directory of its own (its
/// dependencies pin versions the other checks' packages do not share): `EXP_TEST_MLFLOW_PYTHONPATH`.
pub fn python_with_mlflow() -> Option<(String, Option<String>)> {
    let path = std::env::var("EXP_TEST_MLFLOW_PYTHONPATH")
        .or_else(|_| std::env::var("EXP_TEST_PYTHONPATH"))
        .ok();
    python_on(&["mlflow"], path)
}

fn python_on(modules: &[&str], path: Option<String>) -> Option<(String, Option<String>)> {
    let python = std::env::var("EXP_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let mut cmd = Command::new(&python);
    cmd.args(["-c", &format!("import {}", modules.join(", "))]);
    if let Some(p) = &path {
        cmd.env("PYTHONPATH", p);
    }
    if cmd.output().map(|o| o.status.success()).unwrap_or(false) {
        return Some((python, path));
    }
    let why = format!(
        "{python} cannot import {} (set EXP_TEST_PYTHON / EXP_TEST_PYTHONPATH, as .ci/run does)",
        modules.join(", ")
    );
    if std::env::var_os("CI").is_some() || std::env::var_os("EXP_TEST_PYTHON").is_some() {
        panic!("{why}");
    }
    eprintln!("skipping the Python check: {why}");
    None
}

/// [`python_with`] for checks that need PyTorch: where `.ci/run` could not install it, it sets
/// `EXP_TEST_NO_TORCH` to the reason, and the check is skipped saying so.
pub fn python_with_torch(modules: &[&str]) -> Option<(String, Option<String>)> {
    if let Ok(why) = std::env::var("EXP_TEST_NO_TORCH") {
        eprintln!("skipping the PyTorch check: {why}");
        return None;
    }
    let mut all = vec!["torch"];
    all.extend(modules);
    python_with(&all)
}
