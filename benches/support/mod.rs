//! What the criterion benches share: their settings and clock, the real FinancialPhraseBank
//! sentences, the cached model assets (a bench whose inputs are missing says why and measures
//! nothing) and a generator of realistic events.
// Each bench uses a part of this module.
#![allow(dead_code)]

pub mod clock;
pub mod log;

use std::path::PathBuf;
use std::time::Duration;

use clock::Clock;
use criterion::Criterion;
use exp::assets::{self, Asset};

/// Ten samples and short windows: the whole `cargo bench` has to fit in a few minutes on two
/// shared cores. Command-line options (`--measurement-time`, `--sample-size`) still override
/// (`criterion_group!` applies them). `EXP_BENCH_CLOCK=cpu` times CPU instead of wall time (see
/// `clock`).
pub fn criterion(measurement_secs: u64) -> Criterion<Clock> {
    Criterion::default()
        .with_measurement(Clock::from_env())
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measurement_secs))
}

/// Says on stderr why a bench measures nothing.
pub fn skip(bench: &str, reason: &str) {
    eprintln!("skipping {bench}: {reason}");
}

/// `EXP_FPB`, else `Sentences_50Agree.txt` in `../shared/data/FinancialPhraseBank/` beside the
/// crate.
pub fn fpb_path() -> PathBuf {
    if let Some(path) = std::env::var_os("EXP_FPB") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/FinancialPhraseBank/Sentences_50Agree.txt")
}

/// The real sentences and class ids (labels sorted: negative, neutral, positive), read by the
/// same reader `exp new` uses.
pub fn fpb_samples() -> Result<Vec<(String, usize)>, String> {
    let path = fpb_path();
    if !path.is_file() {
        return Err(format!(
            "{} not found (set EXP_FPB to a FinancialPhraseBank file)",
            path.display()
        ));
    }
    let dataset = exp::data::load(&path, &exp::data::ReadOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let labels = dataset.labels.clone();
    Ok(dataset
        .samples
        .into_iter()
        .map(|s| {
            let id = labels.iter().position(|l| *l == s.label).unwrap_or(0);
            (s.text, id)
        })
        .collect())
}

/// The minilm-l6 directory from the asset cache, without fetching (`exp fetch minilm-l6` puts it
/// there).
pub fn minilm_l6() -> Result<PathBuf, String> {
    assets::cached(Asset::MiniLmL6).ok_or_else(|| {
        "minilm-l6 is not in the asset cache (run `exp fetch minilm-l6`)".to_string()
    })
}

/// Whether ONNX Runtime can be loaded without fetching it.
pub fn onnx_runtime() -> Result<(), String> {
    if std::env::var_os("ORT_DYLIB_PATH").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    assets::cached(Asset::OnnxRuntime).map(|_| ()).ok_or_else(|| {
        "ONNX Runtime is not in the asset cache (run `exp fetch onnxruntime` or set ORT_DYLIB_PATH)"
            .to_string()
    })
}
