//! Bad input end to end: each case fails with a message that names what is wrong, and the log
//! is left as it was. (Malformed data files, a malformed analysis file and a mismatched
//! tokenizer for `exp predict` are covered in tests/cli_new.rs, tests/stages.rs and
//! tests/engines.rs.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use exp::onnx::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto};
use prost::Message;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn onnx_fixture() -> PathBuf {
    manifest().join("tests/fixtures/onnx/bert_op17_dynamic_logits.onnx")
}

fn l6_tokenizer() -> PathBuf {
    exp::assets::ensure(exp::assets::Asset::MiniLmL6)
        .unwrap()
        .join("tokenizer.json")
}

/// A valid ONNX model that is not a BERT: one Relu.
fn relu_onnx() -> Vec<u8> {
    let float = exp::onnx::proto::data_type::FLOAT;
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                input: vec!["x".into()],
                output: vec!["y".into()],
                op_type: Some("Relu".into()),
                ..Default::default()
            }],
            name: Some("relu".into()),
            input: vec![ValueInfoProto::tensor("x", float, &[Ok(1), Ok(3)])],
            output: vec![ValueInfoProto::tensor("y", float, &[Ok(1), Ok(3)])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `exp new x --model MODEL --tokenizer TOKENIZER --data DATA` must fail naming `fragments`.
fn new_fails(model: &Path, tokenizer: &Path, fragments: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = small_fpb(dir.path(), 200);
    let out = exp(
        &db,
        &[
            "new",
            "x",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert_fails_with(&out, fragments);
    assert_eq!(event_count(&db), 0);
    stderr(&out)
}

#[test]
fn a_corrupt_or_truncated_onnx_file_is_refused_by_exp_new() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = l6_tokenizer();
    let garbage = write(
        dir.path(),
        "garbage.onnx",
        b"this is not a protobuf\xff\xff",
    );
    new_fails(
        &garbage,
        &tokenizer,
        &["garbage.onnx", "not a valid ONNX protobuf"],
    );
    let bytes = std::fs::read(onnx_fixture()).unwrap();
    let truncated = write(dir.path(), "truncated.onnx", &bytes[..bytes.len() / 2]);
    let err = new_fails(
        &truncated,
        &tokenizer,
        &["truncated.onnx", "not a valid ONNX protobuf"],
    );
    // The cause is said once, not once per layer of the error chain.
    assert_eq!(err.matches("not a valid ONNX protobuf").count(), 1, "{err}");
    assert_eq!(err.matches("buffer underflow").count(), 1, "{err}");
}

#[test]
fn an_onnx_model_that_is_not_a_bert_is_refused_by_exp_new() {
    let dir = tempfile::tempdir().unwrap();
    let relu = write(dir.path(), "relu.onnx", &relu_onnx());
    new_fails(
        &relu,
        &l6_tokenizer(),
        &["relu.onnx", "not a BERT model", "Relu"],
    );
}

#[test]
fn a_tokenizer_whose_vocabulary_does_not_fit_the_model_is_refused_by_exp_new() {
    // The fixture's word embeddings have 100 rows; minilm-l6's tokenizer has 30522 tokens.
    new_fails(
        &onnx_fixture(),
        &l6_tokenizer(),
        &[
            "tokenizer.json",
            "vocabulary of 30522 tokens",
            "bert_op17_dynamic_logits.onnx",
            "100 rows",
        ],
    );
}

#[test]
fn a_dataset_with_one_class_or_too_small_to_split_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let one_class: String = (0..40)
        .map(|i| format!("The meeting is on day {i} .@neutral\n"))
        .collect();
    let one_class = write(dir.path(), "one-class.txt", one_class.as_bytes());
    let out = exp(&db, &["new", "x", "--data", one_class.to_str().unwrap()]);
    assert_fails_with(&out, &["at least 2 labels", "found 1", "neutral: 40"]);
    assert_eq!(event_count(&db), 0);

    let tiny = write(
        dir.path(),
        "tiny.txt",
        b"Sales rose .@positive\nSales fell .@negative\nThe meeting is today .@neutral\nProfit rose .@positive\n",
    );
    let out = exp(&db, &["new", "x", "--data", tiny.to_str().unwrap()]);
    assert_fails_with(
        &out,
        &["cannot split", "every split needs at least one sample"],
    );
    assert_eq!(event_count(&db), 0);
}

#[test]
fn an_analysis_file_for_other_labels_is_refused_by_new_and_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let fixture = manifest().join("../shared/fixtures/comprehensive_analysis.tinybert.json");
    // A negative/positive dataset: the fixture's three classes do not match.
    let text = std::fs::read(fpb("Sentences_AllAgree.txt")).unwrap();
    let two: Vec<u8> = text
        .split(|&b| b == b'\n' || b == b'\r')
        .filter(|l| l.ends_with(b"@positive") || l.ends_with(b"@negative"))
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    let data = write(dir.path(), "two.txt", &two);
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "new",
            "x",
            "--data",
            data.to_str().unwrap(),
            "--labels",
            "negative,positive",
        ]
        .map(String::from)
        .to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        exp(&db, &args)
    };
    let out = run(args(&["--analysis", fixture.to_str().unwrap()]));
    let fragments = [
        "comprehensive_analysis.tinybert.json",
        "classes [negative, neutral, positive] do not match the dataset's [negative, positive]",
    ];
    assert_fails_with(&out, &fragments);
    assert_eq!(event_count(&db), 0);

    assert!(run(args(&[])).status.success());
    let before = event_count(&db);
    let out = exp(
        &db,
        &["analyze", "x", "--import", fixture.to_str().unwrap()],
    );
    assert_fails_with(&out, &fragments);
    assert_eq!(event_count(&db), before);
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).to_string());
        }
        Ok(Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_full_disk_fails_cleanly_and_the_run_resumes_once_there_is_room() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(dir.path(), 3);
    let data = small_fpb(dir.path(), 200);
    // Room for the database, not for the baseline's 4 MB ONNX file.
    let disk = match Tmpfs::mount(&dir.path().join("disk"), "2m") {
        Ok(disk) => disk,
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a tmpfs here: {e}");
            return;
        }
    };
    let db = disk.0.join("exp.db");
    new_experiment(&db, "t", &model, &data);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert_fails_with(&out, &["No space left on device", "artifacts/t/baseline"]);
    // The log holds what happened (at most the run's start and a RunFailed), verifies, and no
    // half file is left.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let kinds: Vec<String> = conn
        .prepare("select kind from events order by seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        kinds[..3],
        ["ExperimentCreated", "DatasetLoaded", "SplitMade"]
    );
    assert!(
        kinds[3..]
            .iter()
            .all(|k| k == "RunStarted" || k == "RunFailed"),
        "{kinds:?}"
    );
    assert!(exp(&db, &["verify", "t"]).status.success());
    let artifacts = files_under(&disk.0.join("artifacts"));
    assert!(artifacts.is_empty(), "left behind: {artifacts:?}");

    disk.resize("256m");
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(exp(&db, &["verify", "t"]).status.success());
    let tested: i64 = conn
        .query_row(
            "select count(*) from events where kind = 'TestEvaluated'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tested, 1);
}

#[test]
fn an_unreadable_cache_directory_is_named() {
    // Root reads any directory, so as root the command runs as `nobody` through setpriv.
    let as_nobody = is_root();
    if as_nobody && !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIPPED: running as root without setpriv, which could drop to an ordinary user");
        return;
    }
    let nobody = |exe: &str| {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    };
    if as_nobody {
        let probe = nobody(env!("CARGO_BIN_EXE_exp")).arg("--version").output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "SKIPPED: user nobody cannot run {}",
                env!("CARGO_BIN_EXE_exp")
            );
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let set_mode = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set_mode(dir.path(), 0o777);
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    set_mode(&cache, 0o000);
    let data = small_fpb(dir.path(), 200);
    set_mode(&data, 0o644);
    let db = dir.path().join("exp.db");
    let mut command = if as_nobody {
        nobody(env!("CARGO_BIN_EXE_exp"))
    } else {
        Command::new(env!("CARGO_BIN_EXE_exp"))
    };
    let out = command
        .env("EXP_HOME", &cache)
        .arg("--db")
        .arg(&db)
        .args(["new", "x", "--model", "minilm-l6", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    set_mode(&cache, 0o755);
    assert_fails_with(&out, &[cache.to_str().unwrap(), "Permission denied"]);
    assert_eq!(event_count(&db), 0);
}
