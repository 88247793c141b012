//! Latency measurement in the manner of the Hugging Face benchmarking notebook: for each batch
//! size, build the batch once, run `warmup` untimed inferences, then time `iterations` runs of
//! the session alone and summarise them (numpy's mean, population std, linear percentiles).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::model::EncodedBatch;

use super::batch::cycle_rows;
use super::error::RuntimeError;
use super::session::OnnxSession;

/// The notebook's summary of one batch size. Durations are milliseconds per `session.run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub batch_size: usize,
    pub mean_ms: f64,
    /// Population standard deviation (`np.std`, ddof = 0).
    pub std_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// `batch_size * 1000 / mean_ms`.
    pub throughput_samples_per_sec: f64,
    pub iterations: usize,
    pub intra_op_threads: Option<usize>,
}

/// What to measure: the notebook's defaults are batch sizes 1, 4, 8, 10 warm-up and 100 timed runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyConfig {
    pub batch_sizes: Vec<usize>,
    pub warmup: usize,
    pub iterations: usize,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        LatencyConfig {
            batch_sizes: vec![1, 4, 8],
            warmup: 10,
            iterations: 100,
        }
    }
}

/// The `q`-th percentile (0..=100) of ascending `sorted` values, interpolating linearly between
/// the two nearest ranks like `numpy.percentile`'s default. `sorted` must not be empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    sorted[below] + (sorted[above] - sorted[below]) * (rank - below as f64)
}

/// Summarises measured durations (milliseconds) of runs over `batch_size` samples.
pub fn latency_stats(
    batch_size: usize,
    durations_ms: &[f64],
    intra_op_threads: Option<usize>,
) -> Result<LatencyStats, RuntimeError> {
    if durations_ms.is_empty() {
        return Err(RuntimeError::Latency(
            "no timed runs to summarise".to_string(),
        ));
    }
    if let Some(bad) = durations_ms.iter().find(|d| !d.is_finite() || **d < 0.0) {
        return Err(RuntimeError::Latency(format!(
            "a duration of {bad} ms is not a measurement"
        )));
    }
    let mut sorted = durations_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    let variance = sorted.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
    let throughput = if mean > 0.0 {
        batch_size as f64 * 1000.0 / mean
    } else {
        f64::INFINITY
    };
    Ok(LatencyStats {
        batch_size,
        mean_ms: mean,
        std_ms: variance.sqrt(),
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        p50_ms: percentile(&sorted, 50.0),
        p95_ms: percentile(&sorted, 95.0),
        p99_ms: percentile(&sorted, 99.0),
        throughput_samples_per_sec: throughput,
        iterations: sorted.len(),
        intra_op_threads,
    })
}

/// Times `session` for each configured batch size. Batches are built from `pool`'s rows in order
/// (repeated when the pool is smaller) at the pool's sequence length, or the model's fixed one.
pub fn measure_latency(
    session: &mut OnnxSession,
    pool: &EncodedBatch,
    config: &LatencyConfig,
) -> Result<Vec<LatencyStats>, RuntimeError> {
    if config.iterations == 0 {
        return Err(RuntimeError::Latency(
            "iterations must be at least 1".to_string(),
        ));
    }
    let threads = session.options().intra_op_threads;
    let mut results = Vec::with_capacity(config.batch_sizes.len());
    for &batch_size in &config.batch_sizes {
        if batch_size == 0 {
            return Err(RuntimeError::Latency(
                "a batch size of 0 measures nothing".to_string(),
            ));
        }
        let batch = cycle_rows(pool, batch_size)?;
        let inputs = session.prepare(&batch)?;
        for _ in 0..config.warmup {
            session.infer(&inputs)?;
        }
        let mut durations = Vec::with_capacity(config.iterations);
        for _ in 0..config.iterations {
            let start = Instant::now();
            session.infer(&inputs)?;
            durations.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        results.push(latency_stats(batch_size, &durations, threads)?);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn stats_of_one_to_ten_match_numpy() {
        let d: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = latency_stats(4, &d, Some(2)).unwrap();
        assert!(close(s.mean_ms, 5.5));
        // np.std(range(1, 11)) = sqrt(8.25)
        assert!(close(s.std_ms, 2.872_281_323_269_014_3), "{}", s.std_ms);
        assert!(close(s.min_ms, 1.0) && close(s.max_ms, 10.0));
        // np.percentile(range(1, 11), [50, 95, 99]) = [5.5, 9.55, 9.91]
        assert!(close(s.p50_ms, 5.5));
        assert!(close(s.p95_ms, 9.55), "{}", s.p95_ms);
        assert!(close(s.p99_ms, 9.91), "{}", s.p99_ms);
        assert!(close(s.throughput_samples_per_sec, 4.0 * 1000.0 / 5.5));
        assert_eq!(
            (s.iterations, s.batch_size, s.intra_op_threads),
            (10, 4, Some(2))
        );
    }

    #[test]
    fn stats_sort_unordered_durations() {
        // np.percentile([4, 1, 3, 2], [50, 95, 99]) = [2.5, 3.85, 3.97]; np.std = sqrt(1.25)
        let s = latency_stats(1, &[4.0, 1.0, 3.0, 2.0], None).unwrap();
        assert!(close(s.mean_ms, 2.5));
        assert!(close(s.std_ms, 1.25f64.sqrt()));
        assert!(close(s.p50_ms, 2.5));
        assert!((s.p95_ms - 3.85).abs() < 1e-12, "{}", s.p95_ms);
        assert!((s.p99_ms - 3.97).abs() < 1e-12, "{}", s.p99_ms);
        assert!(close(s.throughput_samples_per_sec, 400.0));
    }

    #[test]
    fn stats_of_a_single_run() {
        let s = latency_stats(8, &[2.5], None).unwrap();
        assert_eq!(
            (s.min_ms, s.p50_ms, s.p99_ms, s.max_ms, s.std_ms),
            (2.5, 2.5, 2.5, 2.5, 0.0)
        );
        assert!(close(s.throughput_samples_per_sec, 3200.0));
    }

    #[test]
    fn stats_refuse_empty_or_invalid_durations() {
        assert!(latency_stats(1, &[], None).is_err());
        assert!(latency_stats(1, &[1.0, f64::NAN], None).is_err());
        assert!(latency_stats(1, &[-1.0], None).is_err());
    }

    #[test]
    fn stats_round_trip_through_json() {
        let s = latency_stats(1, &[1.0, 2.0], Some(2)).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"p95_ms\""), "{json}");
        assert_eq!(serde_json::from_str::<LatencyStats>(&json).unwrap(), s);
    }

    #[test]
    fn default_config_is_the_notebooks() {
        let c = LatencyConfig::default();
        assert_eq!(
            (c.batch_sizes, c.warmup, c.iterations),
            (vec![1, 4, 8], 10, 100)
        );
    }
}
