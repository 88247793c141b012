//! Inference latency of minilm-l6 (seeded head) at batch 1 and 8, in ONNX Runtime and candle,
//! loaded and run the way `exp bench minilm-l6 --engine both` does it: `engine::load_model`,
//! `Engine::open` (ONNX Runtime with its default threads and full graph optimisation), inputs
//! padded to 64 tokens, one `Engine::logits` call per iteration. Throughput is samples/s.
//!
//! `cargo bench --bench inference`. Skipped when the data, minilm-l6 or ONNX Runtime is missing
//! from the asset cache.

mod support;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use exp::assets::resolve_model;
use exp::engine::{load_model, Engine, EngineKind};
use exp::model::{BertTokenizer, Padding};
use exp::runtime::SessionOptions;
use support::clock::Clock;

const SEQ_LEN: usize = 64;
const BATCH_SIZES: [usize; 2] = [1, 8];

fn inference(c: &mut Criterion<Clock>) {
    let ready = support::fpb_samples().and_then(|s| {
        support::minilm_l6()?;
        support::onnx_runtime()?;
        Ok(s)
    });
    let samples = match ready {
        Ok(samples) => samples,
        Err(reason) => return support::skip("inference", &reason),
    };
    let texts: Vec<&str> = samples.iter().take(8).map(|(t, _)| t.as_str()).collect();
    let labels: Vec<String> = ["negative", "neutral", "positive"]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let source = resolve_model("minilm-l6", None).expect("minilm-l6");
    let model = load_model(&source, &labels, 42).expect("load minilm-l6");
    let tokenizer_path = source.tokenizer.clone().expect("minilm-l6 has a tokenizer");
    let mut group = c.benchmark_group("inference");
    group.sampling_mode(SamplingMode::Flat);
    for (kind, name) in [(EngineKind::Ort, "ort"), (EngineKind::Candle, "candle")] {
        let mut engine =
            Engine::open(kind, &model, &SessionOptions::default()).expect("open the engine");
        let tokenizer = BertTokenizer::from_file(&tokenizer_path)
            .and_then(|t| t.with_max_length(SEQ_LEN))
            .and_then(|t| {
                t.with_padding(Padding::Fixed(
                    engine.fixed_sequence_length().unwrap_or(SEQ_LEN),
                ))
            })
            .expect("tokenizer");
        for n in BATCH_SIZES {
            let batch = tokenizer.encode_batch(&texts[..n]).expect("encode");
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| engine.logits(&batch).expect("logits"))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion(3);
    targets = inference
}
criterion_main!(benches);
