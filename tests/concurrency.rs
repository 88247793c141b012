//! Several processes on one database: one writer per experiment (a second `exp train` is refused
//! at once), readers work while a training writes (WAL), and two experiments train side by side.
//! (`exp report` is not built yet; `exp show`, `exp events` and `exp verify` are the readers.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;

fn spawn_train(db: &Path, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .args([
            "--db",
            db.to_str().unwrap(),
            "train",
            name,
            "--quiet",
            "--stages",
            "train",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn query_i64(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    (tiny_encoder_dir(dir, 21), small_fpb(dir, 300))
}

#[test]
fn a_second_train_is_refused_at_once_and_readers_work_while_a_training_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let (model, data) = setup(dir.path());
    new_experiment(&db, "t", &model, &data);
    let mut first = spawn_train(&db, "t");
    let pid = first.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while query_i64(
        &db,
        "select count(*) from writer_locks where experiment = 't'",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the training never took its lock"
        );
        assert!(first.try_wait().unwrap().is_none(), "the training ended");
        std::thread::sleep(Duration::from_millis(10));
    }

    let started = Instant::now();
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    let waited = started.elapsed();
    assert_fails_with(
        &out,
        &[
            "experiment 't' is being written by pid",
            &pid.to_string(),
            "exp train",
        ],
    );
    assert!(waited < Duration::from_secs(5), "refused after {waited:?}");

    // Readers while it writes: every call succeeds, sees a verifying chain, and the number of
    // events it sees never goes down.
    let mut reads = 0;
    let mut seen = 0;
    let mut slowest = Duration::ZERO;
    while first.try_wait().unwrap().is_none() {
        let started = Instant::now();
        let show = exp(&db, &["show", "t", "--json"]);
        let events = exp(&db, &["events", "t", "--json"]);
        let verify = exp(&db, &["verify", "t"]);
        slowest = slowest.max(started.elapsed());
        assert!(show.status.success(), "{}", stderr(&show));
        assert!(events.status.success(), "{}", stderr(&events));
        assert!(verify.status.success(), "{}", stdout(&verify));
        let n = serde_json::from_slice::<serde_json::Value>(&events.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len();
        assert!(n >= seen, "saw {n} events after {seen}");
        seen = n;
        reads += 1;
    }
    eprintln!("{reads} rounds of show/events/verify during training, slowest {slowest:?}");
    assert!(reads >= 3, "only {reads} reads while training");
    finish(first);
    assert!(exp(&db, &["verify", "t"]).status.success());
    // The refused run recorded nothing, the training everything.
    assert_eq!(
        query_i64(&db, "select count(*) from events where kind = 'RunFailed'"),
        0
    );
    assert_eq!(
        query_i64(
            &db,
            "select count(*) from events where kind = 'TestEvaluated'"
        ),
        1
    );
    assert_eq!(query_i64(&db, "select count(*) from writer_locks"), 0);
}

#[test]
fn two_experiments_in_one_database_train_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let (model, data) = setup(dir.path());
    new_experiment(&db, "a", &model, &data);
    new_experiment(&db, "b", &model, &data);
    let a = spawn_train(&db, "a");
    let b = spawn_train(&db, "b");
    finish(a);
    finish(b);
    let out = exp(&db, &["verify", "--json"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["experiments"].as_array().unwrap().len(), 2);
    // Same model, data and seed: interleaved appends change nothing in either result.
    let last = |name: &str, kind: &str| -> serde_json::Value {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let text: String = conn
            .query_row(
                "select payload from events where experiment = ?1 and kind = ?2",
                [name, kind],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(
        last("a", "TrainingCompleted")["weights"]["sha256"],
        last("b", "TrainingCompleted")["weights"]["sha256"]
    );
    assert_eq!(
        last("a", "TestEvaluated")["candidate"]["metrics"],
        last("b", "TestEvaluated")["candidate"]["metrics"]
    );
    assert!(last("a", "TrainingCompleted")["weights"]["path"]
        .as_str()
        .unwrap()
        .contains("artifacts/a/"));
}
