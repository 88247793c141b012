//! `exp tag` and `exp note`: events on an experiment, shown by `ls` and `show`, queried with
//! `v_tags`/`v_notes`, and `exp ls --tag` / `--where` choose experiments by them.

mod common;

use common::tiny::small_fpb;
use common::*;

#[test]
fn tags_and_notes_are_recorded_shown_and_used_to_choose_experiments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let data = small_fpb(dir.path(), 60);
    let model = common::tiny::tiny_encoder_dir(&dir.path().join("models"), 1);
    new_experiment(&db, "a", &model, &data);
    new_experiment_with(&db, "b", &model, &data, &["--seed", "7"]);

    let ok = |args: &[&str]| {
        let out = exp(&db, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    ok(&["tag", "a", "arm=exp", "owner=ana"]);
    ok(&["tag", "b", "arm=control", "owner=ana"]);
    // A key set again takes the new value; a removed key is gone.
    ok(&["tag", "a", "owner=bo", "--remove", "arm"]);
    ok(&["note", "a", "first try with <b>bold</b> ideas"]);

    let show = ok(&["show", "a"]);
    assert!(show.contains("tags        owner=bo\n"), "{show}");
    assert!(
        show.contains(": first try with <b>bold</b> ideas"),
        "{show}"
    );
    let ls = ok(&["ls"]);
    assert!(ls.contains("arm=control owner=ana"), "{ls}");

    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ls", "--json"];
        full.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(&full)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&["--tag", "owner=ana"]), ["b"]);
    assert_eq!(
        names(&["--tag", "owner=bo", "--tag", "arm=exp"]),
        Vec::<String>::new()
    );
    assert_eq!(names(&["--where", "seed = 7"]), ["b"]);
    assert_eq!(
        names(&["--where", "experiment LIKE '%'", "--tag", "owner=bo"]),
        ["a"]
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    let tags: Vec<(String, String, String)> = conn
        .prepare("select experiment, key, value from v_tags order by experiment, key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("a", "owner", "bo"),
        ("b", "arm", "control"),
        ("b", "owner", "ana"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(tags, expected);
    let notes: i64 = conn
        .query_row(
            "select count(*) from v_notes where experiment = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(notes, 1);

    // Bad input is refused with the reason, and nothing is recorded.
    let before = event_count(&db);
    assert_fails_with(
        &exp(&db, &["tag", "a", "no value"]),
        &["'no value' is not KEY=VALUE"],
    );
    assert_fails_with(
        &exp(&db, &["tag", "a", "bad key=1"]),
        &["tag key 'bad key'"],
    );
    assert_fails_with(
        &exp(&db, &["tag", "a", "k="]),
        &["empty value", "--remove k"],
    );
    assert_fails_with(&exp(&db, &["tag", "a"]), &["nothing to tag"]);
    assert_fails_with(
        &exp(&db, &["tag", "nobody", "k=v"]),
        &["no experiment 'nobody'"],
    );
    assert_fails_with(&exp(&db, &["note", "a", "  "]), &["the note is empty"]);
    assert_fails_with(
        &exp(&db, &["ls", "--where", "no_such_column = 1"]),
        &["--where", "no_such_column"],
    );
    assert_fails_with(
        &exp(&db, &["ls", "--where", "1); DELETE FROM events; --"]),
        &["--where"],
    );
    assert_eq!(event_count(&db), before);
}
