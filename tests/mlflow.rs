//! `exp mlflow push` against a real `mlflow server` (SQLite backend, artifact proxy) on
//! 127.0.0.1, read back with MLflow's own Python client: runs, params, metric histories and
//! artifacts equal the log's; a second push adds nothing; a push after one more event adds one
//! tag; a name used by another experiment, a wrong URI and a closed port are refused clearly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use serde_json::Value;

/// A running `mlflow server`, stopped (its whole process group) when dropped.
struct Server {
    child: Child,
    uri: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        unsafe {
            libc::kill(-group, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(python: &str, path: Option<&str>, dir: &Path) -> Server {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let log = std::fs::File::create(dir.join("mlflow-server.log")).unwrap();
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--workers",
        "1",
    ])
    .args(["--port", &port.to_string()])
    .arg("--backend-store-uri")
    .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
    .arg("--artifacts-destination")
    .arg(dir.join("mlartifacts"))
    .current_dir(dir)
    .stdout(Stdio::from(log.try_clone().unwrap()))
    .stderr(Stdio::from(log))
    .process_group(0);
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    let server = Server {
        child: cmd.spawn().unwrap(),
        uri: format!("http://127.0.0.1:{port}"),
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(180) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "mlflow server did not answer within 180 s: {}",
        std::fs::read_to_string(dir.join("mlflow-server.log")).unwrap_or_default()
    );
}

/// Everything the server holds for MLflow experiment `name`, read with MLflow's client.
const READ_BACK: &str = r#"
import json, sys
from mlflow.tracking import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1])
e = c.get_experiment_by_name(sys.argv[2])
out = {"experiment_tags": dict(e.tags), "runs": {}}
for r in c.search_runs([e.experiment_id], max_results=1000):
    metrics = {}
    for m in r.data.metrics:
        h = c.get_metric_history(r.info.run_id, m)
        metrics[m] = [[x.step, x.value, x.timestamp] for x in sorted(h, key=lambda x: (x.step, x.timestamp))]
    files, stack = [], [None]
    while stack:
        for f in c.list_artifacts(r.info.run_id, stack.pop()):
            (stack.append(f.path) if f.is_dir else files.append(f.path))
    out["runs"][r.data.tags["exp.run"]] = {
        "id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
        "parent": r.data.tags.get("mlflow.parentRunId"), "params": r.data.params,
        "tags": r.data.tags, "metrics": metrics, "artifacts": sorted(files)}
out["versions"] = [[v.version, v.run_id, v.source] for v in c.search_model_versions("name='%s'" % sys.argv[2])]
print(json.dumps(out))
"#;

fn read_back(python: &str, path: Option<&str>, uri: &str, name: &str) -> Value {
    let mut cmd = Command::new(python);
    cmd.args(["-c", READ_BACK, uri, name]);
    if let Some(p) = path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn push(db: &Path, uri: &str, extra: &[&str]) -> Value {
    let mut args = vec!["mlflow", "push", "t", "--tracking-uri", uri, "--json"];
    args.extend(extra);
    let out = exp(db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn items(report: &Value) -> u64 {
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            ["params", "metrics", "tags", "artifact_files"]
                .iter()
                .map(|k| r[k].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum()
}

/// A tiny experiment trained, exported and reported.
fn trained(dir: &Path) -> PathBuf {
    let db = dir.join("exp.db");
    let model = tiny_encoder_dir(dir, 5);
    let data = small_fpb(dir, 300);
    new_experiment(&db, "t", &model, &data);
    for args in [
        &["train", "t", "--quiet", "--stages", "train"][..],
        &["export", "t", "--quiet"],
        &["report", "t"],
    ] {
        let out = exp(&db, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    db
}

#[test]
fn a_pushed_log_reads_back_from_mlflow_as_recorded_and_pushes_again_incrementally() {
    let Some((python, path)) = python_with_mlflow() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let db = trained(tmp.path());
    let server = start_server(&python, path.as_deref(), tmp.path());
    let events_before = event_count(&db);

    let report = push(&db, &server.uri, &[]);
    assert_eq!(report["previous_seq"], Value::Null);
    assert_eq!(report["model_versions"], serde_json::json!(["t/1"]));
    assert_eq!(
        event_count(&db),
        events_before,
        "a push writes nothing to exp.db"
    );
    let first = read_back(&python, path.as_deref(), &server.uri, "t");
    let runs = first["runs"].as_object().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();

    // One parent run; the baseline, each phase and the export nested under it.
    let phases: Vec<i64> = conn
        .prepare("select phase_index from v_phases where experiment = 't' order by phase_index")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!phases.is_empty());
    let mut expected: Vec<String> = vec!["baseline".into(), "experiment".into(), "export".into()];
    expected.extend(phases.iter().map(|i| format!("phase-{i}")));
    expected.sort();
    let mut keys: Vec<String> = runs.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, expected);
    let parent = &runs["experiment"];
    assert_eq!(parent["name"], "t");
    assert_eq!(parent["status"], "FINISHED");
    for (key, run) in runs {
        if key != "experiment" {
            assert_eq!(run["parent"], parent["id"], "{key}");
            assert_eq!(run["status"], "FINISHED", "{key}");
        }
    }

    // Params: the plan's values; tags: the digests and the last pushed event.
    let (epochs, batch, lr_low, digest, last_seq, last_hash): (i64, i64, f64, String, i64, String) =
        conn.query_row(
            "select p.epochs, p.batch_size, p.lr_low,
                    (select json_extract(payload, '$.digest') from events where experiment = 't' and kind = 'SplitMade'),
                    (select max(seq) from events where experiment = 't'),
                    (select hash from events where experiment = 't' order by seq desc limit 1)
             from v_plans p where p.experiment = 't'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .unwrap();
    let params = &parent["params"];
    assert_eq!(params["plan.epochs"], epochs.to_string());
    assert_eq!(params["plan.batch_size"], batch.to_string());
    assert_eq!(
        params["plan.lr_band.low"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap(),
        lr_low
    );
    // Every scalar of the recorded plan is a param with its value.
    let plan: Value = conn
        .query_row(
            "select json_extract(payload, '$.plan') from events where experiment = 't' and kind = 'PlanDerived'",
            [],
            |r| r.get::<_, String>(0),
        )
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    fn scalars(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| scalars(&format!("{prefix}.{k}"), x, out)),
            Value::String(t) => out.push((prefix.to_string(), t.clone())),
            Value::Number(_) | Value::Bool(_) => out.push((prefix.to_string(), v.to_string())),
            _ => {}
        }
    }
    let mut expected_params = Vec::new();
    scalars("plan", &plan, &mut expected_params);
    assert!(expected_params.len() > 10, "{expected_params:?}");
    for (key, value) in &expected_params {
        assert_eq!(params[key.as_str()], value.as_str(), "param {key}");
    }
    assert_eq!(parent["tags"]["exp.split_digest"], digest);
    assert_eq!(parent["tags"]["exp.pushed_seq"], last_seq.to_string());
    assert_eq!(parent["tags"]["exp.pushed_hash"], last_hash);

    // Metric histories: every epoch of every phase at its global step, as v_epochs has them.
    for i in &phases {
        let rows: Vec<(i64, f64, f64)> = conn
            .prepare(
                "select json_extract(e.payload, '$.report.global_step'), v.val_accuracy, v.train_loss
                 from v_epochs v join events e on e.seq = v.seq
                 where v.experiment = 't' and v.phase_index = ?1 order by v.seq",
            )
            .unwrap()
            .query_map([i], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!rows.is_empty());
        let run = &runs[&format!("phase-{i}")];
        for (metric, column) in [("val_accuracy", 1), ("train_loss", 2)] {
            let history: Vec<(i64, f64)> = run["metrics"][metric]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_i64().unwrap(), h[1].as_f64().unwrap()))
                .collect();
            let logged: Vec<(i64, f64)> = rows
                .iter()
                .map(|r| (r.0, if column == 1 { r.1 } else { r.2 }))
                .collect();
            assert_eq!(history, logged, "phase {i} {metric}");
        }
    }
    // The sealed test, as v_tests has it.
    let (model, accuracy): (String, f64) = conn
        .query_row(
            "select model, accuracy from v_tests where experiment = 't' and role = 'candidate' order by seq limit 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let test = &parent["metrics"][format!("test.{model}.accuracy")];
    assert_eq!(test[0][1].as_f64().unwrap(), accuracy);

    // Artifacts: the report on the parent, the model directory on the export run, which is
    // the registered model version's source.
    let parent_files: Vec<&str> = parent["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        parent_files.contains(&"report/index.html"),
        "{parent_files:?}"
    );
    let export = &runs["export"];
    let export_files: Vec<&str> = export["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "model/onnx/model.onnx",
        "model/onnx/model.int8.onnx",
        "model/config.json",
    ] {
        assert!(export_files.contains(&f), "{f} not in {export_files:?}");
    }
    let versions = first["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0][1], export["id"]);
    assert!(versions[0][2]
        .as_str()
        .unwrap()
        .ends_with("/artifacts/model"));

    // Again: nothing new, nothing sent, the server unchanged.
    let again = push(&db, &server.uri, &[]);
    assert_eq!(again["previous_seq"], last_seq);
    assert_eq!(items(&again), 0);
    assert_eq!(again["model_versions"], serde_json::json!([]));
    assert_eq!(read_back(&python, path.as_deref(), &server.uri, "t"), first);

    // A push killed after its fourth batch, then run again, leaves what one push leaves.
    let killed = [
        "mlflow",
        "push",
        "t",
        "--tracking-uri",
        &server.uri,
        "--mlflow-experiment",
        "t-killed",
    ];
    kill_at(&db, &killed, "mlflow-sent@4");
    let resumed = push(&db, &server.uri, &["--mlflow-experiment", "t-killed"]);
    assert!(resumed["previous_seq"].is_null(), "{resumed}");
    let whole = read_back(&python, path.as_deref(), &server.uri, "t-killed");
    for (key, run) in runs {
        let other = &whole["runs"][key];
        for part in ["params", "metrics", "artifacts", "status", "name"] {
            assert_eq!(other[part], run[part], "{key} {part}");
        }
        let strip = |tags: &Value| {
            let mut t = tags.as_object().unwrap().clone();
            t.remove("mlflow.parentRunId");
            t
        };
        assert_eq!(strip(&other["tags"]), strip(&run["tags"]), "{key} tags");
    }

    // One more event (a tag): one tag more on the parent, nothing else.
    let out = exp(&db, &["tag", "t", "team=risk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let third = push(&db, &server.uri, &[]);
    assert_eq!(third["new_events"], 1);
    assert_eq!(items(&third), 1);
    let mut after = read_back(&python, path.as_deref(), &server.uri, "t");
    let tags = after["runs"]["experiment"]["tags"].as_object_mut().unwrap();
    assert_eq!(tags.remove("team").unwrap(), "risk");
    assert_eq!(tags["exp.pushed_seq"], (last_seq + 1).to_string());
    tags.insert("exp.pushed_seq".into(), last_seq.to_string().into());
    tags.insert("exp.pushed_hash".into(), last_hash.clone().into());
    let mut before = first.clone();
    // The parent's own progress tag moved with it; everything else is as it was.
    for v in [&mut after, &mut before] {
        v["runs"]["experiment"]["tags"]
            .as_object_mut()
            .unwrap()
            .remove("exp.seq");
    }
    assert_eq!(after, before);

    // Another experiment's log under this name, a URI that is not the API, a closed port.
    new_experiment(
        &db,
        "u",
        &tmp.path().join("tiny-encoder"),
        &tmp.path().join("small.txt"),
    );
    let out = exp(
        &db,
        &[
            "mlflow",
            "push",
            "u",
            "--tracking-uri",
            &server.uri,
            "--mlflow-experiment",
            "t",
        ],
    );
    assert_fails_with(
        &out,
        &["MLflow experiment 't' exists and is not the log of exp experiment 'u'"],
    );
    let wrong = format!("{}/nope", server.uri);
    let out = exp(&db, &["mlflow", "push", "t", "--tracking-uri", &wrong]);
    assert_fails_with(
        &out,
        &["refused GET experiments/get-by-name: HTTP 404", "root URI"],
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = exp(&db, &["mlflow", "push", "t", "--tracking-uri", &closed]);
    assert_fails_with(&out, &["cannot reach the MLflow tracking server", &closed]);
    drop(server);
}
