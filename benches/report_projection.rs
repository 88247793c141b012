//! `exp report` on a large log: one experiment of 1,000,000 events (`support/log.rs`: creation,
//! data, split and baseline; then cycles of an epoch, its checkpoint and two benchmarks, so a
//! quarter of a million epochs across three phases; then the end of training and the sealed
//! test), written once through the store's batch append (1,000 events per transaction) into
//! `CARGO_TARGET_TMPDIR/report-<N>/exp.db` and reused by later runs. `EXP_BENCH_EVENTS` sets
//! another size.
//!
//! - `load`: `Projection::load`, the fold of the log into what every report file is made from;
//! - `write_files`: `report::files::write_all` of that projection: Markdown, CSV, JSON, the PNG
//!   and SVG plots and the HTML index (their size grows with the epochs: one row and one point
//!   per epoch);
//! - `generate`: `report::generate`, all of `exp report bench --compare baseline` (open, load,
//!   write, table, record `ReportGenerated`).
//!
//! For the command line: `exp --db <that file> report bench --compare baseline`.
//!
//! `cargo bench --bench report_projection`

mod support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use exp::report::{files, generate, Projection, ReportOptions};
use exp::store::Store;
use support::clock::Clock;
use support::log::{write_log, EXPERIMENT};

const DEFAULT_EVENTS: usize = 1_000_000;
const BATCH: usize = 1000;

fn events() -> usize {
    std::env::var("EXP_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_EVENTS)
}

/// The generated database, written on first use; a marker file says it is complete.
fn database(total: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{total}"));
    let db = dir.join("exp.db");
    let marker = dir.join("complete");
    if marker.is_file() {
        return db;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an incomplete log");
    }
    std::fs::create_dir_all(&dir).expect("create the log's directory");
    eprintln!("writing {total} events to {} ...", db.display());
    let started = Instant::now();
    let mut store = Store::open(&db).expect("open the store");
    write_log(&mut store, total, BATCH).expect("write the log");
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {total} events in {secs:.1} s ({:.0} events/s in batches of {BATCH}, generation included)",
        total as f64 / secs
    );
    std::fs::write(&marker, total.to_string()).expect("write the marker");
    db
}

fn report(c: &mut Criterion<Clock>) {
    let total = events();
    let db = database(total);
    let out = tempfile::tempdir().expect("temporary directory");
    let compare = vec!["baseline".to_string()];
    let mut group = c.benchmark_group("report_projection");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(total as u64));
    let store = Store::open(&db).expect("open the store");
    group.bench_function("load", |b| {
        b.iter(|| Projection::load(&store, &db, EXPERIMENT, &compare).expect("load"))
    });
    let projection = Projection::load(&store, &db, EXPERIMENT, &compare).expect("load");
    drop(store);
    let dir = out.path().join("files");
    group.bench_function("write_files", |b| {
        b.iter(|| files::write_all(&projection, &dir).expect("write"))
    });
    let options = ReportOptions {
        compare,
        out: Some(out.path().join("report")),
        model: None,
    };
    group.bench_function("generate", |b| {
        b.iter(|| generate(&db, EXPERIMENT, &options).expect("generate"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion(10);
    targets = report
}
criterion_main!(benches);
