//! A log written by exp 0.1.0 before the pipeline layer was rebuilt (`tests/fixtures/log-0.1.0/`:
//! a tiny experiment trained, pruned, exported and benchmarked, 61 events, made with the binary
//! of commit ea32ccd, whose event encoding is that of every release before it; its
//! `application_id` is 0, as every database made before exp marked its own). Every later version
//! must verify it, fold it, and report it with `comparison.csv` and `comparison.json`
//! byte-identical to what that binary wrote from it (checked in beside it). Its artifact paths
//! point into a directory that does not exist here, as a log copied from another machine does.

mod common;

use std::path::Path;

use common::*;

const FIXTURE: &str = "tests/fixtures/log-0.1.0";

fn fixture(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(FIXTURE)
            .join(file),
    )
    .unwrap()
}

#[test]
fn a_log_written_by_exp_0_1_0_verifies_folds_and_reports_the_same_files() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("exp.db");
    std::fs::write(&db, fixture("exp.db")).unwrap();

    let out = exp(&db, &["verify"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("ok    t (61 events, chain intact)"),
        "{}",
        stdout(&out)
    );

    let out = exp(&db, &["show", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(state["events"], 61);
    assert_eq!(state["export"]["source"], "pruned");
    assert_eq!(state["pruning_steps"].as_array().unwrap().len(), 4);
    // Its BaselineCaptured is schema version 1 (flat onnx_path/onnx_sha256/size_bytes): the fold
    // reads it through the upcaster into version 2's `onnx` file record.
    let baseline = &state["baseline"];
    assert_eq!(baseline["schema_version"], 2);
    assert!(baseline.get("onnx_path").is_none(), "{baseline}");
    assert!(baseline["onnx"]["path"]
        .as_str()
        .unwrap()
        .ends_with("artifacts/t/baseline/model.onnx"));
    assert_eq!(baseline["onnx"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(baseline["onnx"]["bytes"], 4_001_267);

    let reports = tmp.path().join("r");
    let out = exp(&db, &["report", "t", "--out", reports.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for file in ["comparison.csv", "comparison.json"] {
        let written = std::fs::read(reports.join(file)).unwrap();
        assert!(
            written == fixture(file),
            "{file} differs from what exp 0.1.0 wrote from this log:\n{}",
            String::from_utf8_lossy(&written)
        );
    }
}
