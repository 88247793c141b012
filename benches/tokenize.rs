//! Tokenisation throughput (sentences/s): real FinancialPhraseBank sentences through minilm-l6's
//! tokenizer, along the two paths the pipeline uses.
//!
//! - `encode_texts`: the trainer's path (`train::batching::encode_texts`: each sentence alone,
//!   truncated to 64 tokens, padded later per batch);
//! - `encode_batch/32`: the inference path (`BertTokenizer::encode_batch` on batches of 32,
//!   padded to the longest).
//!
//! `cargo bench --bench tokenize`. Skipped when the data or minilm-l6 is missing.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use exp::model::BertTokenizer;
use exp::train::batching::encode_texts;
use support::clock::Clock;

const SENTENCES: usize = 1024;
const MAX_LENGTH: usize = 64;

fn tokenize(c: &mut Criterion<Clock>) {
    let inputs = support::fpb_samples().and_then(|s| Ok((s, support::minilm_l6()?)));
    let (samples, dir) = match inputs {
        Ok(found) => found,
        Err(reason) => return support::skip("tokenize", &reason),
    };
    let texts: Vec<String> = samples
        .into_iter()
        .take(SENTENCES)
        .map(|(t, _)| t)
        .collect();
    let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"))
        .and_then(|t| t.with_max_length(MAX_LENGTH))
        .expect("minilm-l6 tokenizer");
    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("encode_texts", |b| {
        b.iter(|| encode_texts(&tokenizer, &texts, MAX_LENGTH).expect("encode"))
    });
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    group.bench_with_input(BenchmarkId::new("encode_batch", 32), &32, |b, &n| {
        b.iter(|| {
            for chunk in refs.chunks(n) {
                tokenizer.encode_batch(chunk).expect("encode");
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion(3);
    targets = tokenize
}
criterion_main!(benches);
