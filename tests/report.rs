//! `exp report` end to end: a tiny experiment trained through the binary, reported with only
//! training in its log, then with synthetic pruning / export / benchmark events appended through
//! the store; byte-identical re-runs; SQL views queried as the README documents them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;
use exp::events::{
    ArtifactFile, BenchmarkMeasured, Event, ExportFormat, ExportValidated, ExportedModel,
    Importance, ModelExported, ModelShape, ModelType, Provider, PruningCompleted, PruningMethod,
    PruningStep, TestEvaluated,
};
use exp::state::Experiment;
use exp::store::Store;

const PLOTS: [&str; 8] = [
    "learning_curves",
    "per_class_f1",
    "confusion_matrices",
    "confidence_histograms",
    "confidence_evolution",
    "pruning_tradeoff",
    "latency_by_batch",
    "samples_fixed_broken",
];

const HEADER: &str = "model_name,model_type,provider,batch_size,avg_latency_ms,std_latency_ms,min_latency_ms,max_latency_ms,p50_latency_ms,p95_latency_ms,p99_latency_ms,throughput_samples_per_sec,peak_memory_mb,avg_memory_mb,memory_overhead_mb,model_size_mb,accuracy,f1_score,validation_samples,efficiency_score,latency_stability,memory_efficiency,efficiency";

fn state(db: &Path, name: &str) -> Experiment {
    let store = Store::open(db).unwrap();
    Experiment::replay(name, &store.events(name, None).unwrap(), store.base_dir()).unwrap()
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// The files whose bytes must not change between runs on the same log.
fn projections(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "model_card.md",
        "comparison.csv",
        "comparison.json",
        "training_summary.json",
    ]
    .iter()
    .map(|f| (f.to_string(), read(dir, f)))
    .collect()
}

fn report(db: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    exp(db, &all)
}

fn trained(dir: &Path) -> PathBuf {
    let db = dir.join("exp.db");
    let model = tiny_encoder_dir(dir, 5);
    let data = small_fpb(dir, 240);
    new_experiment(&db, "t", &model, &data);
    let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
    assert!(out.status.success(), "{}", stderr(&out));
    db
}

fn file(path: &str) -> ArtifactFile {
    ArtifactFile {
        path: path.to_string(),
        sha256: "0".repeat(64),
        bytes: 1000,
    }
}

/// Pruning, export, benchmark and an extra sealed-test event, built from the real ones so the
/// numbers are consistent; distinct values so the assertions can tell rows apart.
fn compression_events(s: &Experiment) -> Vec<Event> {
    let training = s.training.clone().unwrap();
    let test = s.test.clone().unwrap();
    let baseline = s.baseline.clone().unwrap();
    let shape = |params: usize| ModelShape {
        heads: vec![2, 2],
        ffn_neurons: vec![37, 37],
        encoder_parameters: params / 2,
        parameters: params,
    };
    let reference = shape(1_000_000);
    let mut lat1 = baseline.latency[0].clone();
    lat1.batch_size = 1;
    let step = |n: usize, params: usize, acc: f64, kept: bool| {
        let mut validation = training.validation.clone();
        validation.accuracy = acc;
        let mut latency = lat1.clone();
        latency.mean_ms = 2.0 - 0.5 * n as f64;
        Event::PruningStep(PruningStep {
            one_shot: false,
            step: n,
            target_fraction: 0.1 * n as f64,
            importance: Importance::Gradient,
            heads_removed: vec![0, 1],
            neurons_removed: vec![10, 10],
            shape: shape(params),
            reference_shape: reference.clone(),
            recovery_epochs: 1,
            temperature: 3.0,
            alpha: 0.7,
            validation,
            reference_accuracy: training.validation.accuracy,
            kept,
            latency: vec![latency],
            weights: file("./artifacts/t/pruning/step.safetensors"),
            config: file("./artifacts/t/pruning/step.json"),
        })
    };
    let bench = |model: &str, kind: ModelType, batch: usize, mean: f64, acc: f64| {
        let mut latency = lat1.clone();
        latency.batch_size = batch;
        latency.mean_ms = mean;
        latency.std_ms = mean / 10.0;
        latency.throughput_samples_per_sec = batch as f64 * 1000.0 / mean;
        Event::BenchmarkMeasured(BenchmarkMeasured {
            model: model.into(),
            model_type: kind,
            provider: Provider::Cpu,
            file: format!("onnx/{model}.onnx"),
            sha256: "1".repeat(64),
            model_size_mb: if kind == ModelType::OnnxInt8 {
                2.5
            } else {
                10.0
            },
            latency,
            peak_memory_mb: 200.0,
            avg_memory_mb: 150.0,
            memory_overhead_mb: 50.0,
            accuracy: acc,
            f1_score: acc - 0.05,
            validation_samples: 36,
        })
    };
    let mut int8 = test.candidate.clone();
    int8.model = "pruned-int8".into();
    int8.accuracy = (test.candidate.accuracy - 0.01).max(0.0);
    vec![
        step(1, 900_000, training.validation.accuracy, true),
        step(2, 800_000, training.validation.accuracy - 0.05, false),
        Event::PruningCompleted(PruningCompleted {
            method: PruningMethod::Structured,
            steps_run: 2,
            kept_step: Some(1),
            weights: file("./artifacts/t/pruning/step.safetensors"),
            config: file("./artifacts/t/pruning/step.json"),
            shape: shape(900_000),
            reference_shape: reference,
            sparsity: None,
            validation: training.validation.clone(),
        }),
        Event::ModelExported(ModelExported {
            dir: "./artifacts/t/model".into(),
            source: ExportedModel::Pruned,
            files: vec![file("onnx/model.onnx")],
            metadata_sha256: "2".repeat(64),
            source_weights_sha256: None,
            quantization: None,
        }),
        Event::ExportValidated(ExportValidated {
            file: "onnx/model.int8.onnx".into(),
            format: ExportFormat::OnnxInt8,
            sha256: "3".repeat(64),
            size_bytes: 2_500_000,
            max_abs_diff: None,
            validation: training.validation.clone(),
        }),
        bench("fine-tuned", ModelType::OnnxFp32, 1, 4.0, 0.8),
        bench("fine-tuned", ModelType::OnnxFp32, 8, 20.0, 0.8),
        bench("pruned-int8", ModelType::OnnxInt8, 1, 1.5, 0.78),
        bench("pruned-int8", ModelType::OnnxInt8, 8, 8.0, 0.78),
        // Measured again: the latest measurement replaces the row.
        bench("pruned-int8", ModelType::OnnxInt8, 8, 7.0, 0.78),
        Event::TestEvaluated(TestEvaluated {
            baseline: test.candidate.clone(),
            candidate: int8,
            flips: test.flips.clone(),
            fixed_ids: vec![],
            broken_ids: vec![],
            mcnemar_p: 0.5,
        }),
    ]
}

fn append(db: &Path, name: &str, events: &[Event]) {
    let mut store = Store::open(db).unwrap();
    let lock = store.lock(name, "test").unwrap();
    store.append(&lock, events).unwrap();
}

/// Runs each README query about the report views (with experiment 'fpb' renamed) and returns the
/// row counts by view.
fn readme_queries(db: &Path, name: &str) -> Vec<(String, usize)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut counts = Vec::new();
    for line in readme.lines() {
        let Some(rest) = line.strip_prefix("sqlite3 exp.db \"") else {
            continue;
        };
        let sql = rest
            .trim_end_matches('"')
            .replace("'fpb'", &format!("'{name}'"));
        let mut stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let columns = stmt.column_count();
        let rows: Vec<Vec<rusqlite::types::Value>> = stmt
            .query_map([], |r| (0..columns).map(|i| r.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let view = sql
            .split_whitespace()
            .skip_while(|w| !w.eq_ignore_ascii_case("from"))
            .nth(1)
            .unwrap_or("")
            .to_string();
        counts.push((view, rows.len()));
    }
    counts
}

fn screenshot(html: &Path, out: &Path) -> Option<u64> {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(browser) = browser else {
        eprintln!("skipping the screenshot: no chromium on PATH");
        return None;
    };
    let status = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--screenshot={}", out.display()))
        .arg("--window-size=1300,5200")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    Some(std::fs::metadata(out).unwrap().len())
}

#[test]
fn report_projects_the_log_and_is_byte_identical_on_rerun() {
    let tmp = tempfile::tempdir().unwrap();
    let db = trained(tmp.path());
    let dir = tmp.path().join("reports").join("t");

    // Training only: every file is written and the missing sections say so.
    let events_before = event_count(&db);
    let out = report(&db, &["t", "--compare", "baseline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("sealed test split"), "{text}");
    assert!(text.contains("no BenchmarkMeasured events"), "{text}");
    assert!(text.contains("recorded ReportGenerated"), "{text}");
    assert_eq!(event_count(&db), events_before + 1);
    assert_eq!(
        String::from_utf8(read(&dir, "comparison.csv")).unwrap(),
        format!("{HEADER}\n")
    );
    let html = String::from_utf8(read(&dir, "index.html")).unwrap();
    for plot in PLOTS {
        for ext in ["png", "svg"] {
            let bytes = read(&dir, &format!("{plot}.{ext}"));
            assert!(bytes.len() > 400, "{plot}.{ext} is {} bytes", bytes.len());
            assert!(
                html.contains(&format!("{plot}.{ext}")),
                "index.html lacks {plot}.{ext}"
            );
        }
    }
    assert!(read(&dir, "learning_curves.png").starts_with(b"\x89PNG"));
    assert!(
        html.contains("No data: no PruningStep events yet"),
        "{html}"
    );
    let card = String::from_utf8(read(&dir, "model_card.md")).unwrap();
    for section in [
        "## Intended use",
        "## Data and licence",
        "## Split and the sealed test",
        "## Baseline",
        "## Analysis findings",
        "## Plan",
        "## Phases",
        "## Augmentation",
        "## Compression",
        "## Metrics",
        "## Limitations",
        "## File hashes",
    ] {
        assert!(card.contains(section), "model card lacks {section}");
    }
    assert!(card.contains("CC BY-NC-SA 3.0"));
    assert!(card.contains("No pruning recorded yet."));
    assert!(card.contains("| fine-tuned | test (sealed) |"), "{card}");
    // Every recorded fine-tuned file is on disk with its recorded hash.
    assert!(
        card.contains("| fine-tuned ONNX |")
            && !card.contains("DIFFERS")
            && !card.contains("missing"),
        "{card}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&dir, "training_summary.json")).unwrap();
    let s = state(&db, "t");
    assert_eq!(
        summary["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["epochs"].as_array().unwrap().len())
            .sum::<usize>(),
        s.epochs.len()
    );
    assert_eq!(
        summary["sealed_test"][0]["candidate_accuracy"]
            .as_f64()
            .unwrap(),
        s.test.as_ref().unwrap().candidate.accuracy
    );

    // Re-running, and re-running after deleting the directory, gives the same bytes.
    let first = projections(&dir);
    let out = report(&db, &["t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(projections(&dir), first);
    std::fs::remove_dir_all(&dir).unwrap();
    let out = report(&db, &["t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(projections(&dir), first);

    // While another process holds the writer lock, the report is written but not recorded.
    {
        let mut store = Store::open(&db).unwrap();
        let _lock = store.lock("t", "test holding the lock").unwrap();
        let n = event_count(&db);
        let out = report(&db, &["t"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("skipped recording ReportGenerated"),
            "{}",
            stdout(&out)
        );
        assert_eq!(event_count(&db), n);
    }

    // A missing font is a clear error naming EXP_FONT.
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(&db)
        .args(["report", "t", "--out"])
        .arg(tmp.path().join("nofont"))
        .env("EXP_FONT", tmp.path().join("no-such-font.ttf"))
        .output()
        .unwrap();
    assert_fails_with(&out, &["EXP_FONT", "no-such-font.ttf"]);

    // Later stages: pruning, export, benchmarks, an INT8 sealed test.
    append(&db, "t", &compression_events(&s));
    let out = report(&db, &["t", "--compare", "baseline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(read(&dir, "comparison.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(lines.len(), 5, "{csv}");
    let last: Vec<&str> = lines[4].split(',').collect();
    assert_eq!(last.len(), 23);
    assert_eq!(
        &last[..4],
        &["pruned-int8", "onnx-int8", "CPUExecutionProvider", "8"]
    );
    assert_eq!(
        last[4].parse::<f64>().unwrap(),
        7.0,
        "the re-measured row wins"
    );
    let f = |i: usize| last[i].parse::<f64>().unwrap();
    assert!(
        (f(19) - 0.78 / 7.0).abs() < 1e-12,
        "efficiency_score = accuracy / avg latency"
    );
    assert!((f(20) - 0.1).abs() < 1e-12, "latency_stability = std / avg");
    assert!(
        (f(21) - 0.78 / 200.0).abs() < 1e-12,
        "memory_efficiency = accuracy / peak memory"
    );
    assert!(
        (f(22) - (8.0 * 1000.0 / 7.0) / 2.5).abs() < 1e-9,
        "efficiency = throughput / size"
    );
    let json: serde_json::Value = serde_json::from_slice(&read(&dir, "comparison.json")).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);
    assert_eq!(json["columns"].as_array().unwrap().len(), 23);
    assert!(json["derived_column_formulas"]["latency_stability"]
        .as_str()
        .unwrap()
        .contains("std_latency_ms / avg_latency_ms"));
    // The report's model is now the latest evaluated one, compared with the baseline.
    assert_eq!(json["subject"]["model"], "pruned-int8");
    assert_eq!(json["comparisons"][0]["before"]["model"], "baseline");
    let html = String::from_utf8(read(&dir, "index.html")).unwrap();
    assert!(
        !html.contains("No data: no PruningStep"),
        "pruning plot still empty"
    );
    assert!(html.contains("<td>pruned-int8</td>"));
    // Numbers are rounded for reading in the page, with the full value as the cell's title;
    // comparison.csv keeps full precision.
    let csv = String::from_utf8(read(&dir, "comparison.csv")).unwrap();
    let latency = csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(4)
        .unwrap()
        .to_string();
    let shown = exp::report::html::for_people(&latency);
    assert!(html.contains("<td title=\""), "no rounded cell: {html}");
    assert!(
        html.contains(&format!("<td title=\"{latency}\">{shown}</td>")) || latency == shown,
        "{latency} as {shown}: {html}"
    );
    let card = String::from_utf8(read(&dir, "model_card.md")).unwrap();
    assert!(card.contains("| 2 | 0.20 | 800000 |"), "{card}");
    assert!(card.contains("Exported the pruned model"));

    // --compare int8 reports the fine-tuned model against the INT8 one.
    let out = report(
        &db,
        &[
            "t",
            "--compare",
            "int8",
            "--out",
            tmp.path().join("int8").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&read(&tmp.path().join("int8"), "comparison.json")).unwrap();
    assert_eq!(json["comparisons"][0]["before"]["model"], "pruned-int8");
    assert_eq!(json["subject"]["model"], "fine-tuned");
    let out = report(&db, &["t", "--compare", "nonsense"]);
    assert_fails_with(
        &out,
        &["--compare nonsense", "baseline, fine-tuned, pruned-int8"],
    );

    // --compare OTHER_EXPERIMENT: a second experiment in the same database (its events copied).
    let copied: Vec<Event> = Store::open(&db)
        .unwrap()
        .events("t", None)
        .unwrap()
        .iter()
        .filter(|e| e.kind != "ReportGenerated" && e.kind != "TestEvaluated")
        .map(|e| e.event().unwrap())
        .chain(std::iter::once(Event::TestEvaluated(
            s.test.clone().unwrap(),
        )))
        .collect();
    append(&db, "t2", &copied);
    let out = report(&db, &["t", "--compare", "t2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&read(&dir, "comparison.json")).unwrap();
    assert_eq!(json["comparisons"][0]["before"]["model"], "t2:fine-tuned");
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        8,
        "t2's benchmarks join the table"
    );

    // The README's view queries run and find rows.
    let counts = readme_queries(&db, "t");
    for view in [
        "v_experiments",
        "v_epochs",
        "v_phases",
        "v_pruning_steps",
        "v_exports",
        "v_benchmarks",
        "v_tests",
        "v_reports",
    ] {
        let n = counts.iter().find(|(v, _)| v == view).map(|c| c.1);
        assert!(
            n.is_some_and(|n| n > 0),
            "README query on {view}: {n:?} rows ({counts:?})"
        );
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let epochs: i64 = conn
        .query_row(
            "SELECT count(*) FROM v_epochs WHERE experiment = 't'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(epochs as usize, s.epochs.len());
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM v_pruning_steps WHERE experiment = 't' AND kept",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 1);

    // index.html renders in a browser (where one is installed).
    if let Some(bytes) = screenshot(&dir.join("index.html"), &tmp.path().join("shot.png")) {
        assert!(bytes > 50_000, "screenshot is only {bytes} bytes");
    }
}

#[test]
fn quickstart_without_the_dataset_says_where_it_comes_from() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("exp.db");
    let out = exp(
        &db,
        &[
            "quickstart",
            "--data",
            tmp.path().join("Sentences_50Agree.txt").to_str().unwrap(),
        ],
    );
    assert_fails_with(
        &out,
        &[
            "Sentences_50Agree.txt",
            "FinancialPhraseBank",
            "CC BY-NC-SA 3.0",
            "--data",
        ],
    );
    assert_eq!(event_count(&db), 0);
}

#[test]
fn quickstart_runs_new_train_report_and_a_rerun_only_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("exp.db");
    let model = tiny_encoder_dir(tmp.path(), 7);
    let data = small_fpb(tmp.path(), 200);
    let args = [
        "quickstart",
        "--name",
        "q",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let out = exp(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tmp.path().join("reports").join("q");
    for f in [
        "model_card.md",
        "comparison.csv",
        "comparison.json",
        "training_summary.json",
        "index.html",
    ] {
        assert!(dir.join(f).is_file(), "quickstart did not write {f}");
    }
    let s = state(&db, "q");
    assert!(s.test.is_some(), "quickstart did not reach the sealed test");
    assert_eq!(s.reports.len(), 1);
    let first = projections(&dir);
    let events = event_count(&db);
    // Re-running on the existing experiment resumes (nothing left to do) and reports again.
    let out = exp(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    assert_eq!(
        event_count(&db),
        events + 1,
        "only a ReportGenerated event is added"
    );
    assert_eq!(projections(&dir), first);
    // Quickstart runs pruning too: `--compare pruned` shows the pruned model when a step was
    // kept, and otherwise says there is none, as a note rather than a failure.
    let out = report(&db, &["q", "--compare", "pruned"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pruning = s
        .pruning
        .as_ref()
        .expect("quickstart runs the pruning stage");
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    if pruning.kept_step.is_some() {
        assert!(stdout(&out).contains("pruned"), "{}", stdout(&out));
        assert!(
            !html.contains("No data: no pruned model evaluated"),
            "{html}"
        );
    } else {
        assert!(
            stdout(&out).contains("no pruned model evaluated on the sealed test"),
            "{}",
            stdout(&out)
        );
        assert!(
            html.contains("No data: no pruned model evaluated"),
            "{html}"
        );
    }
}
