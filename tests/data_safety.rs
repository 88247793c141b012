//! Data safety: exp never destroys or changes a file that is not its own, reads what it cannot
//! write, and says clearly what it cannot read. Each test here is one case of the data-safety
//! issue (a report's `--out`, long texts in tables, read-only logs, events from a newer exp,
//! foreign databases, UTF-16 files, `--db` naming a directory); each failed on the code before.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use sha2::{Digest, Sha256};

/// A trained tiny experiment `t` (training only), made once; tests copy it.
fn trained() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("data_safety/trained");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("exp.db");
        let model = tiny_encoder_dir(&dir, 3);
        let data = small_fpb(&dir, 240);
        new_experiment(&db, "t", &model, &data);
        let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
        assert!(out.status.success(), "{}", stderr(&out));
        dir
    })
}

/// A private copy of the trained experiment's directory (exp.db, artifacts, model, data).
fn copy_of_trained(tmp: &Path) -> PathBuf {
    let dir = tmp.join("exp");
    copy_dir(trained(), &dir);
    dir.join("exp.db")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn report_into(db: &Path, out_dir: &Path, cwd: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exp"));
    command
        .arg("--db")
        .arg(std::path::absolute(db).unwrap())
        .args(["report", "t", "--out"])
        .arg(out_dir);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.output().unwrap()
}

#[test]
fn report_out_never_deletes_or_moves_the_users_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = copy_of_trained(tmp.path());
    let events = event_count(&db);

    // A directory with the user's files is refused, untouched.
    let docs = tmp.path().join("mydocs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("thesis.txt"), "thesis").unwrap();
    let out = report_into(&db, &docs, None);
    assert_fails_with(
        &out,
        &["mydocs", "thesis.txt", "sub/", "nothing was written"],
    );
    assert_eq!(listing(&docs), ["sub", "thesis.txt"]);
    assert_eq!(
        std::fs::read_to_string(docs.join("thesis.txt")).unwrap(),
        "thesis"
    );
    assert_eq!(
        listing(tmp.path()),
        ["exp", "mydocs"],
        "nothing written beside it"
    );

    // A file is refused and stays where it was.
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "notes").unwrap();
    let out = report_into(&db, &file, None);
    assert_fails_with(&out, &["notes.txt", "is a file, not a directory"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "notes");
    assert_eq!(listing(tmp.path()), ["exp", "mydocs", "notes.txt"]);
    assert_eq!(event_count(&db), events, "a refused report records nothing");

    // `--out .` in an empty directory writes the report there, and again over its own report,
    // keeping a file the user put beside it.
    let here = tmp.path().join("here");
    std::fs::create_dir(&here).unwrap();
    let out = report_into(&db, Path::new("."), Some(&here));
    assert!(out.status.success(), "{}", stderr(&out));
    let first = listing(&here);
    assert!(first.contains(&"comparison.csv".to_string()), "{first:?}");
    assert!(first.contains(&".exp-report".to_string()), "{first:?}");
    assert!(!first.iter().any(|n| n.contains(".tmp-")), "{first:?}");
    std::fs::write(here.join("my-notes.txt"), "mine").unwrap();
    let out = report_into(&db, Path::new("."), Some(&here));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut expected = first.clone();
    expected.push("my-notes.txt".to_string());
    expected.sort();
    assert_eq!(listing(&here), expected);
    assert_eq!(
        std::fs::read_to_string(here.join("my-notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(listing(tmp.path()), ["exp", "here", "mydocs", "notes.txt"]);
}

#[test]
fn a_killed_reports_temporary_directory_is_removed_by_the_next_report() {
    let tmp = tempfile::tempdir().unwrap();
    let db = copy_of_trained(tmp.path());
    let reports = db.parent().unwrap().join("reports");
    // What a report killed half-way leaves: its pid is gone (above Linux's largest pid).
    let stale = reports.join(".t.tmp-4194304");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("comparison.csv"), "half").unwrap();
    let out = exp(&db, &["report", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listing(&reports), ["t"]);
}

#[test]
fn predict_prints_a_text_of_any_length_cut_with_an_ellipsis() {
    let model = trained().join("tiny-encoder");
    let long = "Operating profit rose. ".repeat(3000); // 69,000 characters
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("predict")
        .arg(&model)
        .arg(&long)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text.lines().nth(1).unwrap();
    assert!(
        row.ends_with("Operating profit rose…") || row.contains('…'),
        "{row}"
    );
    assert!(row.chars().count() < 200, "{row}");
}

/// `exp` as a user who cannot write what root owns: `nobody` through setpriv when the tests
/// run as root (root writes anything), else the current user. `None` when that is impossible.
fn reader() -> Option<Command> {
    let exe = env!("CARGO_BIN_EXE_exp");
    if !is_root() {
        return Some(Command::new(exe));
    }
    let nobody = || {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    };
    let probe = nobody().arg("--version").output();
    if probe.is_ok_and(|o| o.status.success()) {
        Some(nobody())
    } else {
        eprintln!("SKIPPED: as root, and user nobody cannot run {exe} through /usr/bin/setpriv");
        None
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn set_modes(dir: &Path, dirs: u32, files: u32) {
    set_mode(dir, dirs);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            set_modes(&entry.path(), dirs, files);
        } else {
            set_mode(&entry.path(), files);
        }
    }
}

#[test]
fn a_log_that_cannot_be_written_is_read_and_left_as_it_was() {
    let Some(_) = reader() else { return };
    let tmp = tempfile::tempdir().unwrap();
    set_mode(tmp.path(), 0o755);
    let db = copy_of_trained(tmp.path());
    let dir = db.parent().unwrap().to_path_buf();
    let before = sha256(&db);
    let reports = tmp.path().join("reports-out");
    std::fs::create_dir(&reports).unwrap();
    set_mode(&reports, 0o777);

    // A read-only file in a writable directory, then a read-only directory.
    for (dirs, files) in [(0o777, 0o444), (0o555, 0o444)] {
        set_modes(&dir, dirs, files);
        for args in [
            vec!["ls"],
            vec!["show", "t"],
            vec!["events", "t", "--kind", "SplitMade"],
            vec!["verify"],
        ] {
            let out = reader()
                .unwrap()
                .arg("--db")
                .arg(&db)
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?} with modes {dirs:o}/{files:o}: {}",
                stderr(&out)
            );
            assert!(stdout(&out).contains('t'));
        }
        // A report is written elsewhere, and says it could not record itself.
        let out_dir = reports.join(format!("{dirs:o}"));
        let out = reader()
            .unwrap()
            .arg("--db")
            .arg(&db)
            .args(["report", "t", "--out"])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("skipped recording ReportGenerated"),
            "{}",
            stdout(&out)
        );
        assert!(out_dir.join("comparison.csv").exists());
        let names = listing(&dir);
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with("-wal") || n.ends_with("-shm")),
            "left {names:?}"
        );
        assert_eq!(sha256(&db), before);
    }
    set_modes(&dir, 0o755, 0o644);
}

/// Appends `kind`/`payload` to `experiment`'s chain with plain SQL, as another program (or a
/// newer exp) would: the hash chain stays valid.
fn append_raw(db: &Path, experiment: &str, kind: &str, payload: &serde_json::Value) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let prev: String = conn
        .query_row(
            "SELECT hash FROM events WHERE experiment = ?1 ORDER BY seq DESC LIMIT 1",
            [experiment],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| exp::store::GENESIS.to_string());
    let text = exp::store::canonical_json(payload);
    let (run, ts) = ("20991231T000000.000-1", "2099-12-31T00:00:00.000Z");
    let hash = exp::store::chain_hash_canonical(&prev, experiment, run, ts, kind, &text);
    conn.execute(
        "INSERT INTO events (experiment, run, ts, kind, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        rusqlite::params![experiment, run, ts, kind, text, prev, hash],
    )
    .unwrap();
}

#[test]
fn an_experiment_written_by_a_newer_exp_is_listed_as_such_and_the_others_as_usual() {
    let tmp = tempfile::tempdir().unwrap();
    let db = copy_of_trained(tmp.path());
    let created = {
        let out = exp(
            &db,
            &["events", "t", "--kind", "ExperimentCreated", "--json"],
        );
        let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        events[0]["payload"].clone()
    };
    let mut future = created.clone();
    future["name"] = "future".into();
    future["exp_version"] = "9.1.0".into();
    append_raw(&db, "future", "ExperimentCreated", &future);
    append_raw(
        &db,
        "future",
        "QuantumAnnealed",
        &serde_json::json!({ "qubits": 5 }),
    );

    let out = exp(&db, &["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let t_row = text.lines().find(|l| l.starts_with("t ")).unwrap();
    assert!(t_row.contains("evaluated"), "{text}");
    let future_row = text.lines().find(|l| l.starts_with("future ")).unwrap();
    assert!(future_row.contains("written by a newer exp"), "{text}");
    assert!(
        text.contains("future: was written by a newer exp (version 9.1.0): event")
            && text.contains("kind 'QuantumAnnealed'"),
        "{text}"
    );
    let out = exp(&db, &["ls", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], "t");
    assert!(rows[0].get("unreadable").is_none());
    assert_eq!(rows[1]["status"], "written by a newer exp");

    let out = exp(&db, &["show", "future"]);
    assert_fails_with(
        &out,
        &["written by a newer exp (version 9.1.0)", "QuantumAnnealed"],
    );
    let out = exp(&db, &["verify"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("ok    future (2 events"),
        "{}",
        stdout(&out)
    );
    assert!(exp(&db, &["events", "future"]).status.success());
}

#[test]
fn another_programs_database_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("theirs.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT);
             CREATE TABLE users (name TEXT);
             INSERT INTO events (what) VALUES ('meeting');",
        )
        .unwrap();
    }
    let before = sha256(&db);
    let data = small_fpb(tmp.path(), 200);
    let model = tiny_encoder_dir(tmp.path(), 1);
    for args in [
        vec!["ls"],
        vec!["verify"],
        vec!["show", "x"],
        vec![
            "new",
            "x",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    ] {
        let out = exp(&db, &args);
        assert_fails_with(&out, &["theirs.db is not an exp event database", "users"]);
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }
    assert_eq!(sha256(&db), before);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    assert_eq!(
        listing(tmp.path())
            .iter()
            .filter(|n| n.starts_with("theirs"))
            .count(),
        1
    );

    // Not SQLite at all.
    let text = write(tmp.path(), "notes.db", b"my notes\n");
    let out = exp(&text, &["ls"]);
    assert_fails_with(
        &out,
        &[
            "notes.db is not an exp event database",
            "not an SQLite database",
        ],
    );
    assert_eq!(std::fs::read(&text).unwrap(), b"my notes\n");

    // A directory.
    let out = exp(tmp.path(), &["ls"]);
    assert_fails_with(&out, &["is a directory", "exp.db"]);
}

#[test]
fn a_log_made_before_exp_marked_its_databases_is_still_exps() {
    let tmp = tempfile::tempdir().unwrap();
    let db = copy_of_trained(tmp.path());
    let id = |db: &Path| -> i32 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(id(&db), 0x4558_5031);
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "application_id", 0)
        .unwrap();
    assert!(exp(&db, &["ls"]).status.success());
    assert_eq!(id(&db), 0, "reading does not write");
    let out = exp(&db, &["report", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(id(&db), 0x4558_5031, "the first write marks it");
}

/// The small FinancialPhraseBank file as UTF-16 (little-endian, with a byte-order mark).
fn utf16_copy(latin1: &Path, dir: &Path) -> PathBuf {
    let text: String = std::fs::read(latin1)
        .unwrap()
        .iter()
        .map(|&b| char::from(b))
        .collect();
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    write(dir, "utf16.txt", &bytes)
}

#[test]
fn a_utf16_file_is_decoded_and_a_broken_one_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("exp.db");
    let data = small_fpb(tmp.path(), 200);
    let model = tiny_encoder_dir(tmp.path(), 1);
    let wide = utf16_copy(&data, tmp.path());
    let new = |name: &str, data: &Path| {
        exp(
            &db,
            &[
                "new",
                name,
                "--model",
                model.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--json",
            ],
        )
    };
    let latin = new("latin", &data);
    assert!(latin.status.success(), "{}", stderr(&latin));
    let utf16 = new("utf16", &wide);
    assert!(utf16.status.success(), "{}", stderr(&utf16));
    let state =
        |out: &Output| -> serde_json::Value { serde_json::from_slice(&out.stdout).unwrap() };
    let (a, b) = (state(&latin), state(&utf16));
    assert_eq!(b["dataset"]["encoding"], "utf-16le");
    assert_eq!(a["dataset"]["samples"], b["dataset"]["samples"]);
    assert_eq!(
        a["split"]["digest"], b["split"]["digest"],
        "the same samples"
    );

    let mut broken = std::fs::read(&wide).unwrap();
    broken.extend([0x00, 0xD8]); // a lone surrogate at the end
    let broken = write(tmp.path(), "broken16.txt", &broken);
    let events = event_count(&db);
    let out = new("broken", &broken);
    assert_fails_with(
        &out,
        &[
            "broken16.txt",
            "utf-16le",
            "unpaired surrogate",
            "save it as UTF-8",
        ],
    );
    assert_eq!(event_count(&db), events);
}
