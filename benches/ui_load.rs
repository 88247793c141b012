//! `exp ui` under load while the log is written: 200 requests at once (the experiments page,
//! an experiment page, its live endpoint and an events page, in turn), in 5 rounds, while a
//! writer appends `EpochCompleted` events every 5 ms as `exp train` does (one transaction each).
//! The writer's append latency is measured alone and under the load, side by side in one run.
//! Prints failed requests, request latency percentiles, and the writer's latency and failures.
//!
//! `cargo bench --bench ui_load` (trains a tiny experiment first, about 30 s; needs the cached
//! minilm-l6 tokenizer, `exp fetch minilm-l6`).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use exp::assets::{self, Asset};
use exp::events::Event;
use exp::store::Store;
use exp::ui::Ui;

const CONCURRENT: usize = 200;
const ROUNDS: usize = 5;
const APPENDS: usize = 400;
const EVERY: Duration = Duration::from_millis(5);

fn exp(db: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exp {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A trained tiny experiment `t` (hidden 32, 2 layers, the real tokenizer) on 300 sentences.
fn trained(dir: &Path) -> Option<std::path::PathBuf> {
    let l6 = match assets::cached(Asset::MiniLmL6) {
        Some(path) => path,
        None => {
            support::skip("ui_load", "minilm-l6 is not cached (exp fetch minilm-l6)");
            return None;
        }
    };
    let fpb = support::fpb_path();
    let Ok(text) = std::fs::read(&fpb) else {
        support::skip("ui_load", &format!("{} is missing", fpb.display()));
        return None;
    };
    let mut config = exp::model::init::tiny_config(0);
    config.vocab_size = 30522;
    config.max_position_embeddings = 128;
    let weights = exp::model::init::random_weights(&config, 3).unwrap();
    let model = dir.join("tiny");
    exp::model::save_hf_dir(&model, &config, &weights).unwrap();
    std::fs::copy(l6.join("tokenizer.json"), model.join("tokenizer.json")).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.len() > 3)
        .collect();
    let picked: Vec<&[u8]> = lines
        .iter()
        .step_by(lines.len() / 300)
        .take(300)
        .copied()
        .collect();
    let data = dir.join("small.txt");
    std::fs::write(&data, picked.join(&b'\n')).unwrap();
    let db = dir.join("exp.db");
    exp(
        &db,
        &[
            "new",
            "t",
            "--model",
            model.to_str()?,
            "--data",
            data.to_str()?,
        ],
    );
    exp(&db, &["train", "t", "--stages", "train"]);
    Some(db)
}

fn get(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("no status line: {head:?}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "{name}: n {} p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms max {:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    )
}

/// Appends `APPENDS` epochs, one transaction each, every `EVERY`: (latencies in ms, failures).
fn write_epochs(db: &Path) -> (Vec<f64>, Vec<String>) {
    let mut store = Store::open(db).unwrap();
    let last = store
        .events("t", Some("EpochCompleted"))
        .unwrap()
        .pop()
        .unwrap()
        .payload;
    let lock = store.lock("t", "bench").unwrap();
    let mut latencies = Vec::with_capacity(APPENDS);
    let mut failures = Vec::new();
    for _ in 0..APPENDS {
        let event = Event::from_parts("EpochCompleted", last.clone()).unwrap();
        let started = Instant::now();
        match store.append(&lock, &[event]) {
            Ok(_) => latencies.push(started.elapsed().as_secs_f64() * 1e3),
            Err(e) => failures.push(e.to_string()),
        }
        std::thread::sleep(EVERY);
    }
    (latencies, failures)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = trained(dir.path()) else {
        return;
    };
    let ui = Arc::new(Ui::bind(&db, "127.0.0.1:0".parse().unwrap()).unwrap());
    let addr = ui.addr();
    let server = {
        let ui = Arc::clone(&ui);
        std::thread::spawn(move || ui.serve(8))
    };

    let (alone, alone_failed) = write_epochs(&db);

    let writer = {
        let db = db.clone();
        std::thread::spawn(move || write_epochs(&db))
    };
    let paths = [
        "/",
        "/x/t",
        "/api/x/t/live?after=0",
        "/x/t/events?kind=EpochCompleted",
    ];
    let mut request_ms = Vec::new();
    let mut failed = Vec::new();
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(CONCURRENT));
        let clients: Vec<_> = (0..CONCURRENT)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let path = paths[i % paths.len()];
                std::thread::spawn(move || {
                    barrier.wait();
                    let t = Instant::now();
                    (get(addr, path), t.elapsed().as_secs_f64() * 1e3, path)
                })
            })
            .collect();
        for c in clients {
            let (status, ms, path) = c.join().unwrap();
            match status {
                Ok(200) => request_ms.push(ms),
                Ok(code) => failed.push(format!("{path}: HTTP {code}")),
                Err(e) => failed.push(format!("{path}: {e}")),
            }
        }
    }
    let load_s = started.elapsed().as_secs_f64();
    let (loaded, loaded_failed) = writer.join().unwrap();
    ui.stop();
    server.join().unwrap();

    println!(
        "ui_load: {} requests ({CONCURRENT} at once x {ROUNDS} rounds) in {load_s:.1} s, {} failed",
        CONCURRENT * ROUNDS,
        failed.len()
    );
    for f in failed.iter().take(5) {
        println!("  failed: {f}");
    }
    println!("{}", summary("  request latency", request_ms));
    let p50 = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        percentile(&s, 0.5)
    };
    let ratio = p50(&loaded) / p50(&alone);
    println!(
        "{} (failed {})",
        summary("  append alone", alone.clone()),
        alone_failed.len()
    );
    println!(
        "{} (failed {})",
        summary("  append under load", loaded.clone()),
        loaded_failed.len()
    );
    println!("  append p50 under load / alone: {ratio:.2}x");
}
