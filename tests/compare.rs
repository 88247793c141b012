//! `exp compare`: experiments side by side. Only the settings that differ, sealed-test numbers
//! with intervals, McNemar between members on the same split and "unpaired" otherwise, and the
//! files in `reports/compare-NAME/`.

mod common;

use std::path::Path;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

fn test_result(db: &Path, name: &str) -> Value {
    let conn = rusqlite::Connection::open(db).unwrap();
    let payload: String = conn
        .query_row(
            "select payload from events where experiment = ?1 and kind = 'TestEvaluated' order by seq desc limit 1",
            [name],
            |r| r.get(0),
        )
        .unwrap();
    serde_json::from_str::<Value>(&payload).unwrap()["candidate"]["metrics"].clone()
}

fn misclassified(metrics: &Value) -> Vec<u64> {
    metrics["misclassified"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_u64().unwrap()).collect())
        .unwrap_or_default()
}

fn setting<'a>(json: &'a Value, key: &str) -> Option<&'a Value> {
    json["differing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == key)
        .map(|row| &row["values"])
}

#[test]
fn compare_shows_what_differs_and_pairs_only_members_on_one_split() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_encoder_dir(&tmp.path().join("models"), 4);
    let data = small_fpb(tmp.path(), 240);
    let db = tmp.path().join("exp.db");

    new_experiment_with(&db, "targeted", &model, &data, &[]);
    new_experiment_with(&db, "control", &model, &data, &["--recipe", "plain"]);
    new_experiment_with(
        &db,
        "elsewhere",
        &model,
        &data,
        &["--recipe", "plain", "--seed", "7"],
    );
    new_experiment_with(&db, "untrained", &model, &data, &[]);
    for name in ["targeted", "control", "elsewhere"] {
        let out = exp(&db, &["train", name, "--quiet", "--stages", "train"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = exp(&db, &["tag", "targeted", "owner=<b>ops</b>"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // One experiment is not a comparison; an unknown one is named, and nothing is written.
    let out = exp(&db, &["compare", "targeted"]);
    assert_fails_with(&out, &["2 values required"]);
    let out = exp(&db, &["compare"]);
    assert_fails_with(&out, &["--sweep"]);
    let out = exp(&db, &["compare", "targeted", "nosuch"]);
    assert_fails_with(&out, &["no experiment named 'nosuch'"]);
    let out = exp(&db, &["compare", "targeted", "control", "targeted"]);
    assert_fails_with(&out, &["'targeted' is named twice"]);
    assert!(!tmp.path().join("reports").exists());

    let before = event_count(&db);
    let out = exp(
        &db,
        &[
            "compare",
            "targeted",
            "control",
            "elsewhere",
            "untrained",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_count(&db), before, "compare only reads the log");
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let json = &answer["comparison"];
    let dir = tmp
        .path()
        .join("reports/compare-targeted-control-elsewhere-untrained");
    assert_eq!(answer["dir"], dir.to_str().unwrap());
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap();
    assert_eq!(&on_disk, json);

    // Members: each one's recorded sealed-test result, its interval around it.
    let members = json["members"].as_array().unwrap();
    assert_eq!(members.len(), 4);
    let mut accuracies = Vec::new();
    for (row, name) in members.iter().zip(["targeted", "control", "elsewhere"]) {
        assert_eq!(row["name"], name);
        let recorded = test_result(&db, name);
        let accuracy = row["accuracy"].as_f64().unwrap();
        assert_eq!(accuracy, recorded["accuracy"].as_f64().unwrap());
        let (lo, hi) = (
            row["accuracy_ci95"][0].as_f64().unwrap(),
            row["accuracy_ci95"][1].as_f64().unwrap(),
        );
        assert!(lo <= accuracy && accuracy <= hi, "{row}");
        let f1 = row["macro_f1"].as_f64().unwrap();
        let (lo, hi) = (
            row["macro_f1_ci95"][0].as_f64().unwrap(),
            row["macro_f1_ci95"][1].as_f64().unwrap(),
        );
        assert!(lo <= f1 && f1 <= hi && hi - lo > 0.0, "{row}");
        accuracies.push(accuracy);
    }
    assert!(members[3]["accuracy"].is_null());
    assert!(members[3]["note"]
        .as_str()
        .unwrap()
        .contains("not evaluated on the sealed test"));
    let group = &json["group"];
    assert_eq!(group["members"], 3);
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    assert!((group["accuracy_mean"].as_f64().unwrap() - mean).abs() < 1e-12);

    // Settings: what differs is listed with every member's value; what they share is folded.
    assert_eq!(
        setting(json, "recipe").unwrap(),
        &serde_json::json!(["analysis", "plain", "plain", "analysis"])
    );
    assert_eq!(
        setting(json, "seed").unwrap(),
        &serde_json::json!(["42", "42", "7", "42"])
    );
    assert_eq!(
        setting(json, "tag.owner").unwrap(),
        &serde_json::json!(["<b>ops</b>", null, null, null])
    );
    assert!(setting(json, "model").is_none(), "the model is shared");
    assert!(json["shared_settings"].as_u64().unwrap() >= 1);

    // Pairs: McNemar only between members on the same split, from the recorded wrong answers.
    let pairs = json["pairs"].as_array().unwrap();
    let pair = |a: &str, b: &str| {
        pairs
            .iter()
            .find(|p| p["a"] == a && p["b"] == b)
            .unwrap_or_else(|| panic!("no pair {a} {b}: {json}"))
    };
    let same_split = pair("targeted", "control");
    assert_eq!(same_split["pairing"], "paired", "{same_split}");
    let (t, c) = (
        misclassified(&test_result(&db, "targeted")),
        misclassified(&test_result(&db, "control")),
    );
    let only_control_right = t.iter().filter(|i| !c.contains(i)).count() as u64;
    let only_targeted_right = c.iter().filter(|i| !t.contains(i)).count() as u64;
    assert_eq!(same_split["flips"]["broken"], only_targeted_right);
    assert_eq!(same_split["flips"]["fixed"], only_control_right);
    assert!((0.0..=1.0).contains(&same_split["mcnemar_p"].as_f64().unwrap()));
    for (a, b) in [("targeted", "elsewhere"), ("control", "elsewhere")] {
        let p = pair(a, b);
        assert_eq!(p["pairing"], "unpaired", "{p}");
        assert!(p.get("mcnemar_p").is_none(), "{p}");
    }
    assert!(
        pairs
            .iter()
            .all(|p| p["a"] != "untrained" && p["b"] != "untrained"),
        "a member without a result is in no pair"
    );

    // The files: a CSV row per member, both plot formats, and a page that escapes user data.
    let csv = std::fs::read_to_string(dir.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("targeted,"),
        "{csv}"
    );
    for file in ["compare_learning_curves.png", "compare_learning_curves.svg"] {
        assert!(
            std::fs::metadata(dir.join(file)).unwrap().len() > 1000,
            "{file}"
        );
    }
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("&lt;b&gt;ops&lt;/b&gt;"), "tag escaped");
    assert!(!page.contains("<b>ops"), "tag escaped");

    // The terminal table says the same in words.
    let out = exp(&db, &["compare", "targeted", "control", "elsewhere"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("settings that differ"), "{text}");
    assert!(
        text.contains("targeted vs control: paired on the same test samples"),
        "{text}"
    );
    assert!(
        text.contains("unpaired (different splits or samples; not tested"),
        "{text}"
    );
    assert!(text.contains("targeted vs elsewhere"), "{text}");

    // --out into a directory that exp did not write is refused, its files untouched.
    let mine = tmp.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    let precious = write(&mine, "thesis.txt", b"years of work");
    let out = exp(
        &db,
        &[
            "compare",
            "targeted",
            "control",
            "--out",
            mine.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(mine.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&precious).unwrap(), b"years of work");
}
