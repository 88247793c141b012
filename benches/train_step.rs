//! Training-step throughput of minilm-l6 on CPU: forward + cross-entropy + backward + AdamW step,
//! batch 32 of real FinancialPhraseBank sentences, dynamic padding, max length 64.
//!
//! Run with `cargo bench --bench train_step`. `EXP_FPB` overrides the data file.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use exp::model::{load_hf_dir, BertTokenizer, Mode, TrainableBert};

const BATCH: usize = 32;
const MAX_LENGTH: usize = 64;
const WARMUP_STEPS: usize = 2;
const TIMED_STEPS: usize = 8;

fn fpb_path() -> PathBuf {
    if let Ok(p) = std::env::var("EXP_FPB") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/FinancialPhraseBank/Sentences_50Agree.txt");
    if local.is_file() {
        local
    } else {
        PathBuf::from("/work/shared/data/FinancialPhraseBank/Sentences_50Agree.txt")
    }
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

fn main() -> anyhow::Result<()> {
    let labels: Vec<String> = ["negative", "neutral", "positive"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dir = exp::assets::ensure(exp::assets::Asset::MiniLmL6)?;
    let (config, weights, _) = load_hf_dir(&dir, &labels, 42)?;
    let tokenizer =
        BertTokenizer::from_file(&dir.join("tokenizer.json"))?.with_max_length(MAX_LENGTH)?;
    let device = Device::Cpu;
    let model = TrainableBert::from_weights(&config, &weights, &device)?;
    let vars = model.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: 2e-5,
            weight_decay: 0.01,
            ..Default::default()
        },
    )?;

    let samples = read_fpb(BATCH * (WARMUP_STEPS + TIMED_STEPS));
    let batches: Vec<_> = samples
        .chunks(BATCH)
        .map(|chunk| {
            let texts: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
            let ids: Vec<u32> = chunk.iter().map(|(_, l)| *l).collect();
            let encoded = tokenizer.encode_batch(&texts)?;
            let labels = Tensor::new(ids.as_slice(), &device)?;
            Ok((encoded, labels))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut timed = 0.0f64;
    let mut tokens = 0usize;
    for (step, (batch, labels)) in batches.iter().enumerate() {
        let start = Instant::now();
        let logits = model.forward(
            batch,
            Mode::Train {
                dropout_seed: step as u64,
            },
        )?;
        let loss = candle_nn::loss::cross_entropy(&logits, labels)?;
        opt.backward_step(&loss)?;
        let loss = loss.to_scalar::<f32>()?;
        let secs = start.elapsed().as_secs_f64();
        let phase = if step < WARMUP_STEPS {
            "warm-up"
        } else {
            "timed"
        };
        println!(
            "step {step:2} ({phase}): seq_len {:2}, loss {loss:.4}, {:.0} ms",
            batch.seq_len,
            secs * 1e3
        );
        if step >= WARMUP_STEPS {
            timed += secs;
            tokens += batch.batch * batch.seq_len;
        }
    }
    let n = (TIMED_STEPS * BATCH) as f64;
    println!(
        "minilm-l6 train step, batch {BATCH}, max_length {MAX_LENGTH}, {} threads: {:.1} samples/s ({:.0} ms/step, {:.0} padded tokens/s)",
        candle_core::utils::get_num_threads(),
        n / timed,
        timed / TIMED_STEPS as f64 * 1e3,
        tokens as f64 / timed
    );
    Ok(())
}
