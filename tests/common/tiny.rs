//! A tiny BERT encoder (real vocabulary, hidden 32, 2 layers, no classification head) saved as
//! a Hugging Face directory with the real minilm-l6 tokenizer: fast enough to train in tests.

use std::path::{Path, PathBuf};

use exp::assets::{self, Asset};

pub fn tiny_encoder_dir(dir: &Path, seed: u64) -> PathBuf {
    let mut config = exp::model::init::tiny_config(0);
    config.vocab_size = 30522;
    config.max_position_embeddings = 128;
    let weights = exp::model::init::random_weights(&config, seed).unwrap();
    let out = dir.join("tiny-encoder");
    exp::model::save_hf_dir(&out, &config, &weights).unwrap();
    let l6 = assets::ensure(Asset::MiniLmL6).unwrap();
    std::fs::copy(l6.join("tokenizer.json"), out.join("tokenizer.json")).unwrap();
    out
}

/// A small FinancialPhraseBank-style file: the first `n` lines of the AllAgree file.
pub fn small_fpb(dir: &Path, n: usize) -> PathBuf {
    let bytes = std::fs::read(super::fpb("Sentences_AllAgree.txt")).unwrap();
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let lines: Vec<&str> = text
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .collect();
    // Every k-th line, so all three labels are present.
    let step = lines.len() / n;
    let picked: Vec<&str> = lines.iter().step_by(step.max(1)).take(n).copied().collect();
    let path = dir.join("small.txt");
    let latin1: Vec<u8> = picked.join("\r\n").chars().map(|c| c as u8).collect();
    std::fs::write(&path, latin1).unwrap();
    path
}
