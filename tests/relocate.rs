//! An experiment's directory (`exp.db` beside `artifacts/`) copied elsewhere stays whole: the
//! events name exp's own files relative to the database's directory, `exp verify --files`
//! re-hashes them there, the model card finds every one, and `exp export --again` works, with
//! `--data` naming the dataset when it did not come along.

mod common;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;

#[test]
fn a_copied_experiment_verifies_reports_and_exports_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    // The model stays put (as the asset cache does); the experiment's directory moves.
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let original = tmp.path().join("original");
    std::fs::create_dir_all(&original).unwrap();
    let data = small_fpb(&original, 240);
    let db = original.join("exp.db");
    new_experiment(&db, "t", &model, &data);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train,export"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Exp's own files are named relative to the database's directory.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let onnx: String = conn
        .query_row(
            "select json_extract(payload, '$.onnx.path') from events where kind = 'TrainingCompleted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(onnx, "artifacts/t/final/model.onnx");
    drop(conn);

    let moved = tmp.path().join("moved");
    copy_dir(&original, &moved);
    std::fs::remove_dir_all(&original).unwrap();
    let db = moved.join("exp.db");

    let out = exp(&db, &["verify", "--files"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("0 missing or changed"), "{text}");

    let reports = moved.join("reports/t");
    let out = exp(&db, &["report", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let card = std::fs::read_to_string(reports.join("model_card.md")).unwrap();
    let hashes = &card[card.find("## File hashes").unwrap()..];
    let rows: Vec<&str> = hashes
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| what"))
        .collect();
    assert!(rows.len() >= 8, "{hashes}");
    for row in &rows {
        assert!(row.ends_with("| matches |"), "{row}");
        assert!(row.contains("`artifacts/t/"), "relative path: {row}");
        assert!(!row.contains(tmp.path().to_str().unwrap()), "{row}");
    }

    // The dataset stayed behind: named again with --data (and checked by its sha256).
    let out = exp(&db, &["export", "t", "--again"]);
    assert_fails_with(&out, &["small.txt", "is not there", "--data FILE"]);
    let moved_data = moved.join("small.txt");
    let out = exp(
        &db,
        &[
            "export",
            "t",
            "--again",
            "--data",
            moved_data.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = exp(&db, &["verify", "--files"]);
    assert!(out.status.success(), "{}", stdout(&out));

    // A changed file is named, and verify fails.
    let onnx = moved.join("artifacts/t/final/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&onnx, bytes).unwrap();
    let out = exp(&db, &["verify", "--files"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("CHANGED t fine-tuned ONNX: artifacts/t/final/model.onnx"),
        "{}",
        stdout(&out)
    );
}
