//! Tampering with a real log behind the triggers' back (as an attacker would: triggers dropped
//! with plain SQL). `exp verify` exits 1 and names the first bad seq of the tampered experiment,
//! while the other experiment in the same database still verifies. (tests/store.rs covers the
//! same three cases on a synthetic log.) A changed artifact is refused before it is used.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Two experiments (`a`, then `b`) with 3 events each in one database.
fn real_log(dir: &Path) -> PathBuf {
    let db = dir.join("exp.db");
    let data = fpb("Sentences_AllAgree.txt");
    for name in ["a", "b"] {
        let out = exp(&db, &["new", name, "--data", data.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    db
}

/// A copy of the database with the triggers dropped and `sql` applied.
fn tampered(db: &Path, name: &str, sql: &str) -> PathBuf {
    let copy = db.with_file_name(format!("{name}.db"));
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch("DROP TRIGGER events_reject_update; DROP TRIGGER events_reject_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
    copy
}

fn seqs(db: &Path, experiment: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("select seq from events where experiment = ?1 order by seq")
        .unwrap();
    let seqs = stmt
        .query_map([experiment], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<i64>, _>>()
        .unwrap();
    seqs
}

/// Runs `exp verify --json` on the whole database: it must fail, name `seq` as experiment a's
/// first bad event with a reason containing `reason`, and find b intact.
fn assert_first_bad(db: &Path, seq: i64, reason: &str) {
    let out = exp(db, &["verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let experiments = report["experiments"].as_array().unwrap();
    let a = experiments.iter().find(|e| e["experiment"] == "a").unwrap();
    let b = experiments.iter().find(|e| e["experiment"] == "b").unwrap();
    assert_eq!(a["first_bad"]["seq"], seq, "{a}");
    assert!(
        a["first_bad"]["reason"].as_str().unwrap().contains(reason),
        "{a}"
    );
    assert!(b["first_bad"].is_null(), "{b}");
    // The plain-text report names it too.
    let out = exp(db, &["verify", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains(&format!("first bad event seq {seq}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_changed_payload_is_found_even_when_its_own_hash_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_log(dir.path());
    assert!(exp(&db, &["verify"]).status.success());
    let a = seqs(&db, "a");

    // A smaller test split: the row no longer hashes to its stored hash.
    let sql = format!(
        "UPDATE events SET payload = json_set(payload, '$.counts.test', 1) WHERE seq = {}",
        a[2]
    );
    assert_first_bad(&tampered(&db, "changed", &sql), a[2], "was changed");

    // The same edit with the row's hash recomputed: the next event's link breaks instead.
    let copy = tampered(&db, "rehashed", &sql);
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let (run, ts, kind, payload, prev): (String, String, String, String, String) = conn
        .query_row(
            "select run, ts, kind, payload, prev_hash from events where seq = ?1",
            [a[1]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    // Edit the DatasetLoaded event (seq a[1]) and give it a matching hash.
    let mut value: Value = serde_json::from_str(&payload).unwrap();
    value["samples"] = Value::from(1);
    let hash = exp::store::chain_hash(&prev, "a", &run, &ts, &kind, &value);
    conn.execute(
        "UPDATE events SET payload = ?1, hash = ?2 WHERE seq = ?3",
        rusqlite::params![exp::store::canonical_json(&value), hash, a[1]],
    )
    .unwrap();
    drop(conn);
    assert_first_bad(&copy, a[2], "does not match the previous event's hash");
}

#[test]
fn a_removed_event_is_found_at_the_next_seq() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_log(dir.path());
    let a = seqs(&db, "a");
    let sql = format!("DELETE FROM events WHERE seq = {}", a[1]);
    assert_first_bad(
        &tampered(&db, "removed", &sql),
        a[2],
        "was removed, inserted or reordered",
    );
}

#[test]
fn reordered_events_are_found_at_the_first_moved_seq() {
    let dir = tempfile::tempdir().unwrap();
    let db = real_log(dir.path());
    let a = seqs(&db, "a");
    let (x, y) = (a[1], a[2]);
    let sql = format!(
        "UPDATE events SET seq = 1000 WHERE seq = {x}; UPDATE events SET seq = {x} WHERE seq = {y}; UPDATE events SET seq = {y} WHERE seq = 1000;"
    );
    assert_first_bad(
        &tampered(&db, "reordered", &sql),
        x,
        "was removed, inserted or reordered",
    );
}

#[test]
fn a_model_file_changed_after_it_was_recorded_is_not_evaluated() {
    use common::tiny::{small_fpb, tiny_encoder_dir};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 4);
    let data = small_fpb(dir.path(), 200);
    new_experiment(&db, "t", &model, &data);
    // Stop just before the sealed test (the EXP_FAULT hook, see src/faults.rs), then swap the
    // fine-tuned ONNX file for the baseline's.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
        .args([
            "--db",
            db.to_str().unwrap(),
            "train",
            "t",
            "--quiet",
            "--stages",
            "train",
        ])
        .env("EXP_FAULT", "record:TestEvaluated")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = std::io::BufReader::new(child.stderr.take().unwrap());
    let reached = std::io::BufRead::lines(stderr_pipe)
        .map(|l| l.unwrap())
        .any(|l| l == "exp: fault point record:TestEvaluated reached");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "the run never reached the sealed test");
    let artifacts = dir.path().join("artifacts/t");
    std::fs::copy(
        artifacts.join("baseline/model.onnx"),
        artifacts.join("final/model.onnx"),
    )
    .unwrap();
    let before = event_count(&db);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert_fails_with(&out, &["final/model.onnx", "changed since it was recorded"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tested: i64 = conn
        .query_row(
            "select count(*) from events where kind = 'TestEvaluated'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tested, 0,
        "a test result for a file the log does not describe"
    );
    assert_eq!(
        event_count(&db),
        before + 2,
        "only the run's start and its RunFailed are added"
    );
    assert!(exp(&db, &["verify", "t"]).status.success());
}
