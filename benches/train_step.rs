//! Training-step throughput of minilm-l6 on CPU: forward + cross-entropy + backward + AdamW step,
//! batch 32 (`EXP_BENCH_BATCH=N` for another) of real FinancialPhraseBank sentences, dynamic
//! padding, max length 64.
//!
//! Two paths run side by side, alternating on the same batches so that machine noise hits both:
//! `old` = basic-op LayerNorm/softmax/GELU + `candle_nn::AdamW`, `new` = fused kernels + fused
//! AdamW. Each step is timed by phase (forward + loss, backward, optimizer).
//!
//! Run with `cargo bench --bench train_step`. `EXP_FPB` overrides the data file.
//! `EXP_BENCH_JSON=1` also prints one JSON line per path (`{"bench":"train_step",...}`) for
//! scripts such as `benches/pytorch_anchor.sh`, which must not parse the human-readable lines.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{Optimizer, ParamsAdamW};
use exp::model::layers::set_fused_kernels;
use exp::model::{load_hf_dir, BertTokenizer, Mode, TrainableBert};
use exp::train::adamw::{AdamW, ParamGroup};

/// The batch size; `EXP_BENCH_BATCH` picks another (the phases of `exp train` use 8).
fn batch_size() -> usize {
    std::env::var("EXP_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&b| b > 0)
        .unwrap_or(32)
}
const MAX_LENGTH: usize = 64;
const WARMUP_STEPS: usize = 2;
const TIMED_STEPS: usize = 8;

fn fpb_path() -> PathBuf {
    if let Ok(p) = std::env::var("EXP_FPB") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/FinancialPhraseBank/Sentences_50Agree.txt");
    if !local.is_file() {
        panic!(
            "{} not found: put the FinancialPhraseBank data in ../shared/data/ beside the crate, or set EXP_FPB",
            local.display()
        );
    }
    local
}

/// `(sentence, label id)` pairs: Latin-1 text, split at the last '@', labels sorted alphabetically.
fn read_fpb(n: usize) -> Vec<(String, u32)> {
    let path = fpb_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text: String = bytes.iter().map(|&b| b as char).collect();
    text.split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .map(|line| {
            let at = line.rfind('@').expect("FPB line has '@'");
            let label = match line[at + 1..].trim() {
                "negative" => 0,
                "neutral" => 1,
                "positive" => 2,
                other => panic!("unknown label {other}"),
            };
            (line[..at].to_string(), label)
        })
        .collect()
}

/// CPU seconds (user + system, all threads) this process has used so far, from /proc/self/stat;
/// on a shared machine this moves less with other people's load than wall time does.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Kernel clock ticks are 100 per second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Seconds per phase, summed over timed steps.
#[derive(Default, Clone, Copy)]
struct Phases {
    forward: f64,
    backward: f64,
    optimizer: f64,
    cpu: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.forward + self.backward + self.optimizer
    }
}

enum Opt {
    Candle(candle_nn::AdamW),
    Fused(AdamW),
}

/// One training step; returns the loss and the seconds of each phase.
fn step(
    model: &TrainableBert,
    opt: &mut Opt,
    batch: &exp::model::EncodedBatch,
    labels: &Tensor,
    seed: u64,
) -> anyhow::Result<(f32, Phases)> {
    set_fused_kernels(matches!(opt, Opt::Fused(_)));
    let cpu0 = process_cpu_seconds();
    let t0 = Instant::now();
    let logits = model.forward(batch, Mode::Train { dropout_seed: seed })?;
    let loss = candle_nn::loss::cross_entropy(&logits, labels)?;
    let t1 = Instant::now();
    let grads = loss.backward()?;
    let t2 = Instant::now();
    match opt {
        Opt::Candle(o) => o.step(&grads)?,
        Opt::Fused(o) => o.step(&grads)?,
    }
    let t3 = Instant::now();
    Ok((
        loss.to_scalar::<f32>()?,
        Phases {
            forward: (t1 - t0).as_secs_f64(),
            backward: (t2 - t1).as_secs_f64(),
            optimizer: (t3 - t2).as_secs_f64(),
            cpu: process_cpu_seconds() - cpu0,
        },
    ))
}

fn main() -> anyhow::Result<()> {
    // EXP_BENCH_NO_TUNE=1 keeps glibc's default allocator settings (to measure their cost).
    if std::env::var_os("EXP_BENCH_NO_TUNE").is_none() {
        println!("{:?}", exp::model::alloc::tune_for_training());
    }
    let labels: Vec<String> = ["negative", "neutral", "positive"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dir = exp::assets::ensure(exp::assets::Asset::MiniLmL6)?;
    let (config, weights, _) = load_hf_dir(&dir, &labels, 42)?;
    let tokenizer =
        BertTokenizer::from_file(&dir.join("tokenizer.json"))?.with_max_length(MAX_LENGTH)?;
    let device = Device::Cpu;
    let old_model = TrainableBert::from_weights(&config, &weights, &device)?;
    let new_model = TrainableBert::from_weights(&config, &weights, &device)?;
    let (lr, weight_decay) = (2e-5, 0.01);
    let mut old_opt = Opt::Candle(candle_nn::AdamW::new(
        old_model.named_vars().into_iter().map(|(_, v)| v).collect(),
        ParamsAdamW {
            lr,
            weight_decay,
            ..Default::default()
        },
    )?);
    let mut new_opt = Opt::Fused(AdamW::new(
        vec![ParamGroup {
            vars: new_model.named_vars(),
            lr,
            weight_decay,
        }],
        (0.9, 0.999),
        1e-8,
    )?);

    let batch = batch_size();
    let samples = read_fpb(batch * (WARMUP_STEPS + TIMED_STEPS));
    let batches: Vec<_> = samples
        .chunks(batch)
        .map(|chunk| {
            let texts: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
            let ids: Vec<u32> = chunk.iter().map(|(_, l)| *l).collect();
            let encoded = tokenizer.encode_batch(&texts)?;
            let labels = Tensor::new(ids.as_slice(), &device)?;
            Ok((encoded, labels))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    // EXP_BENCH_ONLY=old|new runs one path (e.g. under a profiler).
    let only = std::env::var("EXP_BENCH_ONLY").ok();
    let mut totals = [Phases::default(); 2];
    let mut tokens = 0usize;
    let seq_lens: Vec<usize> = batches.iter().map(|(b, _)| b.seq_len).collect();
    for (i, (batch, labels)) in batches.iter().enumerate() {
        let phase = if i < WARMUP_STEPS { "warm-up" } else { "timed" };
        let mut line = format!("step {i:2} ({phase}): seq_len {:2}", batch.seq_len);
        for (k, (name, model, opt)) in [
            ("old", &old_model, &mut old_opt),
            ("new", &new_model, &mut new_opt),
        ]
        .into_iter()
        .enumerate()
        {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let (loss, p) = step(model, opt, batch, labels, i as u64)?;
            line += &format!(
                " | {name}: loss {loss:.4}, {:.0} ms (fwd {:.0}, bwd {:.0}, opt {:.0})",
                p.total() * 1e3,
                p.forward * 1e3,
                p.backward * 1e3,
                p.optimizer * 1e3
            );
            if i >= WARMUP_STEPS {
                let t = &mut totals[k];
                t.forward += p.forward;
                t.backward += p.backward;
                t.optimizer += p.optimizer;
                t.cpu += p.cpu;
            }
        }
        if i >= WARMUP_STEPS {
            tokens += batch.batch * batch.seq_len;
        }
        println!("{line}");
    }
    let n = (TIMED_STEPS * batch) as f64;
    let steps = TIMED_STEPS as f64;
    println!(
        "minilm-l6 train step, batch {batch}, max_length {MAX_LENGTH}, {} threads, {:.0} padded tokens/step:",
        candle_core::utils::get_num_threads(),
        tokens as f64 / steps
    );
    // The paths that ran (EXP_BENCH_ONLY leaves one out).
    let ran: Vec<(&str, &Phases)> = ["old", "new"]
        .into_iter()
        .zip(&totals)
        .filter(|(name, _)| only.as_deref().is_none_or(|o| o == *name))
        .collect();
    for &(name, t) in &ran {
        println!(
            "  {name}: {:.1} samples/s ({:.0} ms/step: forward+loss {:.0}, backward {:.0}, optimizer {:.0}; {:.2} CPU-s/step)",
            n / t.total(),
            t.total() / steps * 1e3,
            t.forward / steps * 1e3,
            t.backward / steps * 1e3,
            t.optimizer / steps * 1e3,
            t.cpu / steps
        );
    }
    if only.is_none() {
        println!(
            "  speed-up new/old: {:.2}x",
            totals[0].total() / totals[1].total()
        );
    }
    if std::env::var_os("EXP_BENCH_JSON").is_some() {
        for &(name, t) in &ran {
            let line = serde_json::json!({
                "bench": "train_step",
                "path": name,
                "batch": batch,
                "max_length": MAX_LENGTH,
                "threads": candle_core::utils::get_num_threads(),
                "warmup_steps": WARMUP_STEPS,
                "timed_steps": TIMED_STEPS,
                "seq_lens": seq_lens,
                "timed_padded_tokens": tokens,
                "samples_per_sec": n / t.total(),
                "ms_per_step": t.total() / steps * 1e3,
                "forward_ms": t.forward / steps * 1e3,
                "backward_ms": t.backward / steps * 1e3,
                "optimizer_ms": t.optimizer / steps * 1e3,
                "cpu_s_per_step": t.cpu / steps,
            });
            println!("{line}");
        }
    }
    Ok(())
}
