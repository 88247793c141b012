//! Event append throughput (events/s) with the pipeline's own events (epochs, checkpoints,
//! benchmarks; payloads of about 1 kB), each chained and stored as the log keeps them.
//!
//! - `single`: one event per transaction, as `Recorder::record` appends a lone event;
//! - `batched/N`: N events per transaction through `Store::append`;
//! - `record_all/N`: `Recorder::record_all` itself (fault hook, one transaction, fold into the
//!   in-memory state) on an experiment created by `exp new`'s code from the real data, whose log
//!   already holds 10,000 events. Skipped when the data or minilm-l6 (for `exp new`'s model
//!   check) is missing.
//!
//! `cargo bench --bench event_append`

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use exp::data::{ReadOptions, SplitSpec};
use exp::events::Event;
use exp::pipeline::{create_experiment, NewExperiment};
use exp::recorder::Recorder;
use exp::state::Experiment;
use exp::store::Store;
use support::clock::Clock;
use support::log::{bulk, head, EXPERIMENT};

/// Distinct events to cycle through (generated before timing).
const POOL: usize = 10_000;
const BATCHES: [usize; 2] = [100, 1000];

fn pool() -> Vec<Event> {
    (0..POOL).map(|i| bulk(i, POOL)).collect()
}

fn store_append(c: &mut Criterion<Clock>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut store = Store::open(&dir.path().join("exp.db")).expect("open the store");
    let lock = store.lock(EXPERIMENT, "bench").expect("writer lock");
    store.append(&lock, &head()).expect("append the head");
    let events = pool();
    let mut group = c.benchmark_group("event_append");
    group.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    group.bench_function("single", |b| {
        b.iter(|| {
            let event = &events[next % POOL];
            next += 1;
            store
                .append(&lock, std::slice::from_ref(event))
                .expect("append")
        })
    });
    for n in BATCHES {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batched", n), &n, |b, &n| {
            b.iter(|| {
                let start = (next * n) % (POOL - n);
                next += 1;
                store
                    .append(&lock, &events[start..start + n])
                    .expect("append")
            })
        });
    }
    group.finish();
}

fn record_all(c: &mut Criterion<Clock>) {
    const NAME: &str = "record-all";
    let ready = support::fpb_samples()
        .map(|_| ())
        .and_then(|_| support::minilm_l6().map(|_| ()));
    if let Err(reason) = ready {
        support::skip("event_append/record_all", &reason);
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("exp.db");
    let store = Store::open(&db).expect("open the store");
    create_experiment(
        store,
        &NewExperiment {
            name: NAME.to_string(),
            model: "minilm-l6".to_string(),
            tokenizer: None,
            data: support::fpb_path(),
            read: ReadOptions::default(),
            seed: 42,
            split: SplitSpec::default(),
            refuse_conflicts: false,
            analysis: None,
            recipe: Default::default(),
            overrides: Default::default(),
            split_seed: None,
        },
    )
    .expect("create the experiment");
    let mut store = Store::open(&db).expect("open the store");
    let lock = store.lock(NAME, "bench").expect("lock the experiment");
    let state = Experiment::load(&store, NAME, None).expect("fold the experiment");
    let mut writing = Recorder::with_lock(store, lock, state);
    let events = pool();
    for chunk in events.chunks(1000) {
        writing
            .record_all(chunk.to_vec())
            .expect("pre-fill the log");
    }
    let mut group = c.benchmark_group("event_append/record_all");
    let mut next = 0usize;
    for n in [1, BATCHES[0], BATCHES[1]] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let start = (next * n) % (POOL - n);
                    next += 1;
                    events[start..start + n].to_vec()
                },
                |batch| writing.record_all(batch).expect("record_all"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion(3);
    targets = store_append, record_all
}
criterion_main!(benches);
