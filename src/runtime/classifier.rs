//! An ONNX classifier with its tokenizer: texts in, class probabilities out.

use std::path::Path;

use crate::model::{BertTokenizer, Padding};

use super::latency::{measure_latency, LatencyConfig, LatencyStats};
use super::predict::softmax;
use super::session::{OnnxSession, SessionOptions};
use super::RuntimeError;

pub struct OnnxClassifier {
    pub session: OnnxSession,
    pub tokenizer: BertTokenizer,
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Tokenizer(#[from] crate::model::TokenizerError),
}

impl OnnxClassifier {
    /// Opens `onnx` with `tokenizer`, truncating to `max_length` (or the model's fixed length).
    pub fn open(
        onnx: &Path,
        tokenizer: &Path,
        max_length: usize,
        options: &SessionOptions,
    ) -> Result<OnnxClassifier, ClassifierError> {
        let session = OnnxSession::open(onnx, options)?;
        let tokenizer = BertTokenizer::from_file(tokenizer)?;
        let tokenizer = match session.fixed_sequence_length() {
            Some(n) => tokenizer
                .with_max_length(max_length.min(n))?
                .with_padding(Padding::Fixed(n))?,
            None => tokenizer.with_max_length(max_length)?,
        };
        Ok(OnnxClassifier { session, tokenizer })
    }

    /// Class probabilities of every text, in input order. Texts are batched by length so that
    /// dynamic padding wastes little.
    pub fn probabilities(
        &mut self,
        texts: &[&str],
        batch_size: usize,
    ) -> Result<Vec<Vec<f32>>, ClassifierError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (texts[i].len(), i));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let batch = self.tokenizer.encode_batch(&batch_texts)?;
            let (rows, classes, logits) = self.session.logits(&batch)?;
            for (row, &i) in (0..rows).zip(chunk) {
                out[i] = softmax(&logits[row * classes..(row + 1) * classes]);
            }
        }
        Ok(out)
    }

    /// Latency at batch 1 and 8 on the first 64 of `texts`, padded to the model's fixed length or
    /// 64 tokens as the benchmark notebook pads: the baseline and every pruning step are measured
    /// on the same pool, so their numbers compare.
    pub fn validation_latency(
        &mut self,
        texts: &[&str],
        iterations: usize,
    ) -> Result<Vec<LatencyStats>, ClassifierError> {
        let pool_texts: Vec<&str> = texts.iter().take(64).copied().collect();
        let pool = self
            .tokenizer
            .clone()
            .with_padding(Padding::Fixed(
                self.session.fixed_sequence_length().unwrap_or(64),
            ))?
            .encode_batch(&pool_texts)?;
        Ok(measure_latency(
            &mut self.session,
            &pool,
            &LatencyConfig {
                batch_sizes: vec![1, 8],
                warmup: 5,
                iterations: iterations.max(1),
            },
        )?)
    }
}
