//! The event store's promises: append-only, a verifiable hash chain, one writer per experiment.

mod common;
// The benches' generator of a long-lived experiment's log (epochs, checkpoints, re-measured
// benchmarks, the phases' ends).
#[path = "../benches/support/log.rs"]
#[allow(dead_code)]
mod long_log;

use common::*;
use exp::events::{Event, RunFailed};
use exp::store::Store;

fn failed(n: usize) -> Event {
    Event::RunFailed(RunFailed {
        command: "test".into(),
        stage: format!("stage {n}"),
        error: "none".into(),
    })
}

fn store_with_events(db: &std::path::Path, experiment: &str, n: usize) {
    let mut store = Store::open(db).unwrap();
    let lock = store.lock(experiment, "test").unwrap();
    let events: Vec<Event> = (0..n).map(failed).collect();
    store.append(&lock, &events).unwrap();
}

#[test]
fn update_and_delete_are_rejected_by_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    store_with_events(&db, "a", 2);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let err = conn
        .execute("UPDATE events SET payload = '{}' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(event_count(&db), 2);
}

#[test]
fn chains_are_per_experiment_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    store_with_events(&db, "a", 3);
    store_with_events(&db, "b", 2);
    store_with_events(&db, "a", 1);
    let store = Store::open(&db).unwrap();
    let a = store.events("a", None).unwrap();
    assert_eq!(a.len(), 4);
    assert_eq!(a[0].prev_hash, exp::store::GENESIS);
    for pair in a.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let reports = store.verify(None).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.ok()));
    let out = exp(&db, &["verify"]);
    assert!(out.status.success());
}

/// Copies the database with the triggers dropped, so a test can tamper behind their back.
fn tamper(db: &std::path::Path, sql: &str) -> std::path::PathBuf {
    let copy = db.with_file_name(format!("tampered-{}.db", sql.len()));
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch("DROP TRIGGER events_reject_update; DROP TRIGGER events_reject_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
    copy
}

#[test]
fn verify_finds_a_changed_payload_a_removed_and_a_reordered_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    store_with_events(&db, "a", 4);
    assert!(exp(&db, &["verify", "a"]).status.success());

    let changed = tamper(
        &db,
        "UPDATE events SET payload = json_set(payload, '$.error', 'edited') WHERE seq = 2",
    );
    let out = exp(&changed, &["verify", "a"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("first bad event seq 2"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("changed"), "{}", stdout(&out));

    let removed = tamper(&db, "DELETE FROM events WHERE seq = 3");
    let out = exp(&removed, &["verify", "a"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("first bad event seq 4"),
        "{}",
        stdout(&out)
    );

    let reordered = tamper(
        &db,
        "UPDATE events SET seq = 100 WHERE seq = 2; UPDATE events SET seq = 2 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = 100;",
    );
    let out = exp(&reordered, &["verify", "a", "--json"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["experiments"][0]["first_bad"]["seq"], 2);
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut store = Store::open(&db).unwrap();
    let _held = store.lock("fpb", "exp train").unwrap();
    let data = fpb("Sentences_AllAgree.txt");
    let out = exp(&db, &["new", "fpb", "--data", data.to_str().unwrap()]);
    let pid = std::process::id().to_string();
    assert_fails_with(
        &out,
        &[
            "experiment 'fpb' is being written by pid",
            &pid,
            "exp train",
            "since",
        ],
    );
    assert_eq!(event_count(&db), 0);
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    Store::open(&db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO writer_locks (experiment, pid, pid_started, host, command, since) VALUES ('fpb', ?1, 1, 'h', 'exp train', 't')",
        [dead_pid],
    )
    .unwrap();
    let data = fpb("Sentences_AllAgree.txt");
    let out = exp(&db, &["new", "fpb", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let locks: i64 = conn
        .query_row("SELECT count(*) FROM writer_locks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(locks, 0, "the lock is released when the command ends");
}

/// Loading skips events a later one overwrites (superseded checkpoints and benchmark
/// measurements) and decodes while reading; the state must still be the full fold's, whichever
/// chunk boundaries fall where.
#[test]
fn streamed_load_equals_the_full_fold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut store = Store::open(&db).unwrap();
    long_log::write_log(&mut store, 5_000, 700).unwrap();
    let name = long_log::EXPERIMENT;
    let full =
        exp::state::Experiment::replay(name, &store.events(name, None).unwrap(), store.base_dir())
            .unwrap();
    let loaded = exp::state::Experiment::load(&store, name, None).unwrap();
    assert_eq!(loaded.events, full.events);
    assert!(full.epochs.len() > 1000, "{} epochs", full.epochs.len());
    // Measured again and again: the fold keeps the latest of each target.
    assert_eq!(full.benchmarks.len(), 4, "{:?}", full.benchmarks);
    assert!(loaded == full, "streamed load differs from the full fold");
}

/// A superseded event is not decoded, but one that does not parse as its kind still fails the
/// load when nothing supersedes it; the error names its seq.
#[test]
fn an_unreadable_payload_fails_the_load_with_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut store = Store::open(&db).unwrap();
    long_log::write_log(&mut store, 2_000, 500).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let seq: i64 = conn
        .query_row("SELECT max(seq) FROM events", [], |r| r.get(0))
        .unwrap();
    // A row written by something else (plain SQL), whose payload is not a BenchmarkMeasured.
    conn.execute(
        "INSERT INTO events (experiment, run, ts, kind, payload, prev_hash, hash)
         VALUES (?1, 'r', 't', 'BenchmarkMeasured', '{\"model\": 1}', 'x', 'y')",
        [long_log::EXPERIMENT],
    )
    .unwrap();
    let err = exp::state::Experiment::load(&store, long_log::EXPERIMENT, None)
        .expect_err("a payload that does not parse");
    let text = err.to_string();
    assert!(
        text.contains(&format!("event {} (BenchmarkMeasured)", seq + 1)),
        "{text}"
    );
}

/// Appending writes each payload straight from the typed event; the text must be the canonical
/// JSON of the event's payload value, byte for byte, and the chain must verify.
#[test]
fn appended_payloads_are_the_canonical_json_of_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut store = Store::open(&db).unwrap();
    let lock = store.lock(long_log::EXPERIMENT, "test").unwrap();
    let mut events = long_log::head();
    events.extend((0..8).map(|i| long_log::bulk(i, 8)));
    events.extend(long_log::tail());
    let appended = store.append(&lock, &events).unwrap();
    let stored = store.events(long_log::EXPERIMENT, None).unwrap();
    assert_eq!(stored.len(), events.len());
    for ((event, row), written) in events.iter().zip(&stored).zip(&appended) {
        let expected = exp::store::canonical_json(&event.payload());
        assert_eq!(written.payload, expected, "{}", event.kind());
        assert_eq!(exp::store::canonical_json(&row.payload), expected);
        assert_eq!(
            &written.event().unwrap(),
            event,
            "{} read back",
            event.kind()
        );
    }
    assert!(store.verify(None).unwrap().iter().all(|r| r.ok()));
}
