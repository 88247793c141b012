//! `exp new` end to end: real files load, events are recorded, and bad input changes nothing.

mod common;

use common::*;

#[test]
fn new_on_real_50agree_records_three_events_and_prints_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_50Agree.txt");
    let out = exp(
        &db,
        &[
            "new",
            "fpb",
            "--model",
            "minilm-l6",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4846 rows read"), "{text}");
    assert!(text.contains("4836 samples"), "{text}");
    assert!(text.contains("2 conflicting texts"), "{text}");

    let conn = rusqlite::Connection::open(&db).unwrap();
    let kinds: Vec<String> = conn
        .prepare("select kind from events order by seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds, ["ExperimentCreated", "DatasetLoaded", "SplitMade"]);
    let (train, val, test): (i64, i64, i64) = conn
        .query_row(
            "select train_samples, validation_samples, test_samples from v_experiments where experiment = 'fpb'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((train, val, test), (3386, 726, 724));

    let verify = exp(&db, &["verify", "fpb"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("ok    fpb (3 events"));
}

#[test]
fn every_real_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    for (i, file) in [
        "Sentences_50Agree.txt",
        "Sentences_66Agree.txt",
        "Sentences_75Agree.txt",
        "Sentences_AllAgree.txt",
        "all-data.csv",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("e{i}");
        let data = fpb(file);
        let out = exp(
            &db,
            &["new", &name, "--data", data.to_str().unwrap(), "--json"],
        );
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let samples = state["dataset"]["samples"].as_u64().unwrap();
        assert!(samples > 2000, "{file}: {samples} samples");
        assert_eq!(
            state["dataset"]["labels"],
            serde_json::json!(["negative", "neutral", "positive"])
        );
    }
    assert_eq!(event_count(&db), 15);
}

#[test]
fn same_seed_same_split_other_seed_other_split() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_AllAgree.txt");
    let data = data.to_str().unwrap();
    for (name, seed) in [("a", "42"), ("b", "42"), ("c", "7")] {
        let out = exp(&db, &["new", name, "--data", data, "--seed", seed]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let digest = |name: &str| -> String {
        conn.query_row(
            "select json_extract(payload, '$.digest') from events where kind = 'SplitMade' and experiment = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(digest("a"), digest("b"));
    assert_ne!(digest("a"), digest("c"));
}

#[test]
fn conflicting_duplicates_are_excluded_or_refused_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let mut body = String::new();
    for i in 0..30 {
        body.push_str(&format!("Sales rose {i} percent .@positive\r\n"));
        body.push_str(&format!("Sales fell {i} percent .@negative\r\n"));
        body.push_str(&format!("The meeting is on day {i} .@neutral\r\n"));
    }
    body.push_str("Profit was flat .@neutral\r\nProfit  was flat .@negative\r\n");
    let data = write(dir.path(), "conflict.txt", body.as_bytes());
    let data = data.to_str().unwrap();

    let refused = exp(
        &db,
        &["new", "strict", "--data", data, "--on-conflict", "error"],
    );
    assert_fails_with(
        &refused,
        &["conflict.txt", "line 91", "line 92", "neutral", "negative"],
    );
    assert_eq!(event_count(&db), 0);

    let out = exp(&db, &["new", "lenient", "--data", data, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["dataset"]["samples"], 90);
    assert_eq!(
        state["dataset"]["conflicts"][0]["lines"],
        serde_json::json!([91, 92])
    );
}

#[test]
fn bad_input_fails_with_a_clear_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let good = fpb("Sentences_AllAgree.txt");
    let good = good.to_str().unwrap();
    let missing = dir.path().join("nope.txt");
    let empty = write(dir.path(), "empty.txt", b"");
    let no_at = write(
        dir.path(),
        "noat.txt",
        b"Fine sentence .@neutral\nNo label here\n",
    );
    let no_label = write(
        dir.path(),
        "nolabel.txt",
        b"Fine sentence .@neutral\r\nEmpty label .@\r\n",
    );
    let unknown = write(
        dir.path(),
        "unknown.txt",
        b"Fine sentence .@neutral\rAnother one .@positive\rOdd one .@bullish\r",
    );

    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["new", "x", "--data", missing.to_str().unwrap()],
            vec!["nope.txt"],
        ),
        (
            vec!["new", "x", "--data", empty.to_str().unwrap()],
            vec!["empty.txt", "no data rows"],
        ),
        (
            vec!["new", "x", "--data", no_at.to_str().unwrap()],
            vec!["noat.txt", "line 2", "@"],
        ),
        (
            vec!["new", "x", "--data", no_label.to_str().unwrap()],
            vec!["nolabel.txt", "line 2", "label"],
        ),
        (
            vec!["new", "x", "--data", unknown.to_str().unwrap()],
            vec!["unknown.txt", "line 3", "bullish"],
        ),
        (
            vec!["new", "x", "--data", good, "--split", "70/20/20"],
            vec!["split", "100"],
        ),
        (
            vec!["new", "x", "--data", good, "--split", "70/30"],
            vec!["split"],
        ),
        (
            vec!["new", "x", "--data", good, "--model", "bert-huge"],
            vec!["unknown model", "bert-huge"],
        ),
        (
            vec!["new", "bad name!", "--data", good],
            vec!["invalid experiment name"],
        ),
    ];
    for (args, fragments) in cases {
        let out = exp(&db, &args);
        assert_fails_with(&out, &fragments);
        assert_eq!(event_count(&db), 0, "{args:?} wrote events");
    }
}

#[test]
fn an_existing_name_is_refused_and_the_log_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_AllAgree.txt");
    let data = data.to_str().unwrap();
    assert!(exp(&db, &["new", "fpb", "--data", data]).status.success());
    let out = exp(&db, &["new", "fpb", "--data", data]);
    assert_fails_with(&out, &["experiment 'fpb' already exists"]);
    assert_eq!(event_count(&db), 3);
}

#[test]
fn an_unwritable_database_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = fpb("Sentences_AllAgree.txt");
    let db = dir.path().join("no-such-dir").join("exp.db");
    let out = exp(&db, &["new", "fpb", "--data", data.to_str().unwrap()]);
    assert_fails_with(&out, &["no-such-dir", "does not exist"]);
    // A directory where the database file should be: said in words, not "Error code 14".
    let db = dir.path().to_path_buf();
    let out = exp(&db, &["new", "fpb", "--data", data.to_str().unwrap()]);
    assert_fails_with(
        &out,
        &[
            &format!("{} is a directory", dir.path().display()),
            "--db names the database file",
        ],
    );
}

#[test]
fn a_reader_that_stops_early_ends_a_read_only_command_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    new_experiment(
        &db,
        "fpb",
        std::path::Path::new("minilm-l6"),
        &fpb("Sentences_50Agree.txt"),
    );
    // `exp events fpb --json | head`: SplitMade lists every sample id, far more than a pipe
    // holds, so the writer meets the closed pipe. `exp show fpb | head -0`: closed at once.
    for (args, keep) in [
        (&["events", "fpb", "--json"][..], 16),
        (&["show", "fpb"][..], 0),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_exp"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = vec![0u8; keep];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // Either it finished writing first, or the closed pipe ended it as it ends `cat`.
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {err}",
            out.status
        );
    }
}

/// `exp new ... | head -0`: a command that records events meets the closed pipe when it prints
/// its summary; it neither panics nor stops, and the experiment is recorded whole.
#[test]
fn a_closed_pipe_does_not_stop_a_command_that_records() {
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = fpb("Sentences_50Agree.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(&db)
        .args(["new", "fpb", "--model", "minilm-l6", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before `exp new` has read the data, so every line it prints meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?} {err}", out.status);
    let shown = exp(&db, &["show", "fpb", "--json"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let state: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(state["events"], 3, "{state}");
}

/// FinancialPhraseBank's 50% file as (sentence, label) pairs.
fn fpb_pairs() -> Vec<(String, String)> {
    let bytes = std::fs::read(fpb("Sentences_50Agree.txt")).unwrap();
    // ISO-8859-1: every byte is the code point of the same value.
    let text: String = bytes.iter().map(|&b| b as char).collect();
    text.split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (sentence, label) = line.rsplit_once('@').unwrap();
            (sentence.to_string(), label.trim().to_string())
        })
        .collect()
}

/// FinancialPhraseBank's 50% file written as a CSV whose labels are codes (`code(label)`).
fn fpb_as_csv(path: &std::path::Path, code: impl Fn(&str) -> String) {
    let mut csv = String::from("sentence,label\n");
    for (sentence, label) in fpb_pairs() {
        csv.push_str(&format!(
            "\"{}\",{}\n",
            sentence.replace('"', "\"\""),
            code(&label)
        ));
    }
    std::fs::write(path, csv).unwrap();
}

fn class_label(label: &str) -> usize {
    ["negative", "neutral", "positive"]
        .iter()
        .position(|n| *n == label)
        .unwrap()
}

fn split_digest(db: &std::path::Path, name: &str) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "select json_extract(payload, '$.digest') from events where experiment = ?1 and kind = 'SplitMade'",
        [name],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn integer_and_mapped_labels_give_the_same_samples_and_split_as_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let names = fpb("Sentences_50Agree.txt");
    let out = exp(&db, &new_args("names", "minilm-l6".as_ref(), &names, &[]));
    assert!(out.status.success(), "{}", stderr(&out));

    // Hugging Face's ClassLabel convention: 0, 1, 2 in the order of --labels.
    let ints = dir.path().join("ints.csv");
    fpb_as_csv(&ints, |l| class_label(l).to_string());
    let out = exp(&db, &new_args("ints", "minilm-l6".as_ref(), &ints, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4836 samples"), "{text}");
    assert!(
        text.contains("codes    0 = negative, 1 = neutral, 2 = positive"),
        "{text}"
    );
    assert_eq!(split_digest(&db, "ints"), split_digest(&db, "names"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let recorded: String = conn
        .query_row(
            "select json_extract(payload, '$.read.label_map') from events where experiment = 'ints' and kind = 'DatasetLoaded'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, r#"{"0":"negative","1":"neutral","2":"positive"}"#);

    // Other codes, named by --label-map.
    let coded = dir.path().join("coded.csv");
    fpb_as_csv(&coded, |l| {
        match l {
            "negative" => "bear",
            "neutral" => "hold",
            _ => "bull",
        }
        .to_string()
    });
    let map = ["--label-map", "bear=negative,hold=neutral,bull=positive"];
    let out = exp(&db, &new_args("coded", "minilm-l6".as_ref(), &coded, &map));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(split_digest(&db, "coded"), split_digest(&db, "names"));

    // TSV (text first, as Hugging Face's datasets often export): tabs delimit, commas stay text.
    let tsv = dir.path().join("fpb.tsv");
    let mut body = String::from("text\tlabel\r\n");
    for (sentence, label) in fpb_pairs() {
        body.push_str(&format!(
            "\"{}\"\t{label}\r\n",
            sentence.replace('"', "\"\"")
        ));
    }
    std::fs::write(&tsv, body).unwrap();
    let out = exp(&db, &new_args("tsv", "minilm-l6".as_ref(), &tsv, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("4836 samples"), "{}", stdout(&out));
    assert_eq!(split_digest(&db, "tsv"), split_digest(&db, "names"));

    // A map onto a label that is not known, or codes without a map, are refused, nothing recorded.
    let before = event_count(&db);
    let bad = ["--label-map", "bear=negative,hold=neutral,bull=bullish"];
    let out = exp(&db, &new_args("bad", "minilm-l6".as_ref(), &coded, &bad));
    assert_fails_with(&out, &["'bullish' is not a known label"]);
    let out = exp(&db, &new_args("bad", "minilm-l6".as_ref(), &coded, &[]));
    assert_fails_with(&out, &["coded.csv, line 2: unknown label"]);
    assert_eq!(event_count(&db), before);
}

#[test]
fn json_lines_give_the_same_samples_and_split_as_the_original_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let out = exp(
        &db,
        &new_args(
            "names",
            "minilm-l6".as_ref(),
            &fpb("Sentences_50Agree.txt"),
            &[],
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // As Hugging Face's datasets write them: `{"sentence": ..., "label": 2}`, with an extra field.
    let jsonl = dir.path().join("fpb.jsonl");
    let lines: Vec<String> = fpb_pairs()
        .iter()
        .enumerate()
        .map(|(i, (sentence, label))| {
            serde_json::json!({"idx": i, "sentence": sentence, "label": class_label(label)})
                .to_string()
        })
        .collect();
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    let out = exp(&db, &new_args("jsonl", "minilm-l6".as_ref(), &jsonl, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4846 rows read"), "{text}");
    assert!(
        text.contains("codes    0 = negative, 1 = neutral, 2 = positive"),
        "{text}"
    );
    assert_eq!(split_digest(&db, "jsonl"), split_digest(&db, "names"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (format, text_field): (String, String) = conn
        .query_row(
            "select json_extract(payload, '$.read.format'), json_extract(payload, '$.read.text_field') from events where experiment = 'jsonl' and kind = 'DatasetLoaded'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (format.as_str(), text_field.as_str()),
        ("jsonl", "sentence")
    );

    // A broken line is named, and nothing is recorded.
    let before = event_count(&db);
    std::fs::write(&jsonl, format!("{}\n{{\"sentence\": \"cut", lines[0])).unwrap();
    let out = exp(&db, &new_args("broken", "minilm-l6".as_ref(), &jsonl, &[]));
    assert_fails_with(&out, &["fpb.jsonl, line 2: not JSON"]);
    assert_eq!(event_count(&db), before);
}

#[test]
fn a_model_in_the_hugging_face_hub_cache_resolves_by_its_repository_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = common::tiny::small_fpb(dir.path(), 60);
    // The layout huggingface_hub writes: blobs, a snapshot per commit linking to them, refs/main.
    let model = common::tiny::tiny_encoder_dir(&dir.path().join("models"), 2);
    let hub = dir.path().join("hf/hub");
    let repo = hub.join("models--acme--tiny-bert");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let blob = repo.join("blobs").join(format!("blob-{file}"));
        std::fs::copy(model.join(file), &blob).unwrap();
        std::os::unix::fs::symlink(&blob, snapshot.join(file)).unwrap();
    }
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();

    // HF_HUB_CACHE wins over HF_HOME (and over the machine's own settings).
    let hub_var = hub.to_str().unwrap();
    let env = [("HF_HUB_CACHE", hub_var), ("HF_HOME", "/nonexistent")];
    let data = data.to_str().unwrap();
    let args = |name: &'static str, spec: &str| -> Vec<String> {
        ["new", name, "--model", spec, "--data", data]
            .map(String::from)
            .to_vec()
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        exp_env(&db, &a, &env)
    };
    let out = run(args("hub", "acme/tiny-bert"));
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (spec, path): (String, String) = conn
        .query_row(
            "select json_extract(payload, '$.model.spec'), json_extract(payload, '$.model.path') from events where experiment = 'hub' and kind = 'ExperimentCreated'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(spec, "acme/tiny-bert");
    assert!(path.ends_with(&format!("snapshots/{commit}")), "{path}");
    // Later commands use the recorded snapshot (through its links), not the environment.
    let out = exp(&db, &["train", "hub", "--stages", "train", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A revision by commit works too; a repository that is not cached is named, nothing recorded.
    let out = run(args("hub-at", &format!("acme/tiny-bert@{commit}")));
    assert!(out.status.success(), "{}", stderr(&out));
    let before = event_count(&db);
    let out = run(args("missing", "acme/other"));
    assert_fails_with(
        &out,
        &[
            "model 'acme/other' is not in the Hugging Face cache",
            "models--acme--other",
            "never downloads",
        ],
    );
    assert_eq!(event_count(&db), before);
}

/// Writes the (sentence, label code) pairs as a Parquet file with pyarrow (snappy, its default).
const WRITE_PARQUET: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
rows = json.load(open(sys.argv[1]))
table = pa.table({"idx": list(range(len(rows))), "sentence": [r[0] for r in rows], "label": pa.array([r[1] for r in rows], pa.int64())})
pq.write_table(table, sys.argv[2])
"#;

#[test]
fn parquet_written_by_pyarrow_gives_the_same_samples_and_split_as_the_original_file() {
    let Some((python, path)) = python_with(&["pyarrow"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let out = exp(
        &db,
        &new_args(
            "names",
            "minilm-l6".as_ref(),
            &fpb("Sentences_50Agree.txt"),
            &[],
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pairs: Vec<(String, usize)> = fpb_pairs()
        .into_iter()
        .map(|(s, l)| (s, class_label(&l)))
        .collect();
    let json = dir.path().join("rows.json");
    std::fs::write(&json, serde_json::to_string(&pairs).unwrap()).unwrap();
    let parquet = dir.path().join("fpb.parquet");
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", WRITE_PARQUET]).arg(&json).arg(&parquet);
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    let written = cmd.output().unwrap();
    assert!(written.status.success(), "{}", stderr(&written));

    let out = exp(
        &db,
        &new_args("parquet", "minilm-l6".as_ref(), &parquet, &[]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("4846 rows read"), "{text}");
    assert!(
        text.contains("codes    0 = negative, 1 = neutral, 2 = positive"),
        "{text}"
    );
    assert_eq!(split_digest(&db, "parquet"), split_digest(&db, "names"));

    // A column that is not there is named with the file's columns; nothing is recorded.
    let before = event_count(&db);
    let out = exp(
        &db,
        &new_args(
            "bad",
            "minilm-l6".as_ref(),
            &parquet,
            &["--text-column", "body"],
        ),
    );
    assert_fails_with(
        &out,
        &["fpb.parquet: no text column 'body' (columns: idx, sentence, label)"],
    );
    // Bytes that are not Parquet say so.
    let fake = write(dir.path(), "fake.parquet", b"PAR1 not really");
    let out = exp(&db, &new_args("fake", "minilm-l6".as_ref(), &fake, &[]));
    assert_fails_with(&out, &["fake.parquet: cannot read as Parquet"]);
    assert_eq!(event_count(&db), before);
}
