//! Training-step throughput (samples/s) of minilm-l6 on CPU, as `exp train` runs a step: batch
//! 32 of real FinancialPhraseBank sentences (the trainer's `encode_texts`, then `pad_batch` to
//! the longest of each batch, max length 64), forward with dropout, weighted cross-entropy,
//! backward, and the trainer's AdamW (layer-wise LR groups, gradient clipping 1.0). Allocator and
//! thread settings as `exp train` sets them. Each iteration is the next of 8 batches.
//!
//! `cargo bench --bench training`. `train_step` is the hand-timed comparison of the fused and the
//! basic-op kernels. Skipped when the data or minilm-l6 is missing.

mod support;

use candle_core::{Device, Var};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use exp::model::{load_hf_dir, BertTokenizer, Mode, TrainableBert};
use exp::train::batching::{encode_texts, pad_batch, pad_id};
use exp::train::groups::{build_groups, DEFAULT_LAYER_DECAY, DEFAULT_WEIGHT_DECAY};
use exp::train::loss::{labels_tensor, weighted_cross_entropy, weights_tensor, Reduction};
use exp::train::optimizer::AdamW;
use exp::train::spec::PhaseSpec;
use exp::train::trainer::{ADAM_BETA1, ADAM_BETA2, ADAM_EPS};
use support::clock::Clock;

const BATCH: usize = 32;
const BATCHES: usize = 8;
const MAX_LENGTH: usize = 64;
const PEAK_LR: f64 = 2.5e-4;

fn training(c: &mut Criterion<Clock>) {
    let inputs = support::fpb_samples().and_then(|s| Ok((s, support::minilm_l6()?)));
    let (samples, dir) = match inputs {
        Ok(found) => found,
        Err(reason) => return support::skip("training", &reason),
    };
    exp::model::alloc::tune_for_training();
    let labels: Vec<String> = ["negative", "neutral", "positive"]
        .iter()
        .map(|l| l.to_string())
        .collect();
    let (config, weights, _) = load_hf_dir(&dir, &labels, 42).expect("load minilm-l6");
    let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"))
        .and_then(|t| t.with_max_length(MAX_LENGTH))
        .expect("tokenizer");
    let device = Device::Cpu;
    let model = TrainableBert::from_weights(&config, &weights, &device).expect("model");
    let dtype = model.model().dtype();
    let vars = model.named_vars();
    let plain: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let groups = build_groups(
        &vars,
        config.num_hidden_layers,
        PEAK_LR,
        DEFAULT_LAYER_DECAY,
        DEFAULT_WEIGHT_DECAY,
    );
    let mut opt = AdamW::new(
        groups.into_iter().map(|g| g.group).collect(),
        ADAM_BETA1,
        ADAM_BETA2,
        ADAM_EPS,
    )
    .expect("optimizer");
    let grad_clip = PhaseSpec::new(
        exp::analysis::plan::PhaseKind::Full,
        1,
        exp::analysis::plan::LrBand {
            low: 1e-5,
            high: PEAK_LR,
        },
        PEAK_LR,
        BATCH,
        42,
    )
    .grad_clip;

    let samples: Vec<(String, usize)> = samples.into_iter().take(BATCH * BATCHES).collect();
    let texts: Vec<String> = samples.iter().map(|(t, _)| t.clone()).collect();
    let encoded = encode_texts(&tokenizer, &texts, MAX_LENGTH).expect("encode");
    let pad = pad_id(&tokenizer);
    let batches: Vec<_> = (0..BATCHES)
        .map(|b| {
            let indices: Vec<usize> = (b * BATCH..(b + 1) * BATCH).collect();
            let ids: Vec<usize> = indices.iter().map(|&i| samples[i].1).collect();
            (pad_batch(&encoded, &indices, pad), ids)
        })
        .collect();
    let ones = vec![1.0f32; BATCH];

    let mut group = c.benchmark_group("training");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut step = 0u64;
    group.bench_function("step/32", |b| {
        b.iter(|| {
            let (batch, ids) = &batches[step as usize % BATCHES];
            let logits = model
                .forward(batch, Mode::train_step(42, step))
                .expect("forward");
            let loss = weighted_cross_entropy(
                &logits,
                &labels_tensor(ids, &device).expect("labels"),
                &weights_tensor(&ones, dtype, &device).expect("weights"),
                Reduction::Count,
            )
            .expect("loss");
            let grads = loss.backward().expect("backward");
            opt.step_clipped(&grads, &plain, grad_clip).expect("step");
            step += 1;
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::criterion(20);
    targets = training
}
criterion_main!(benches);
