//! Evaluation: class probabilities (for `analysis::compute_metrics`) and sentence embeddings
//! (for hard-negative mining) of a model in eval mode, batched by length.

use candle_core::{DType, Tensor, D};

use super::batching::{pad_batch, EncodedText};
use crate::model::{BertClassifier, Mode};

/// Which sentence embedding to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddingKind {
    /// The pooler output `tanh(dense(hidden[:, 0]))`.
    Pooled,
    /// The mean of the last hidden states over real (unmasked) tokens, as sentence-transformers.
    MeanLastHidden,
}

/// Index order for evaluation: longest first (less padding); ties by index.
fn length_order(texts: &[EncodedText]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
    order
}

/// Runs `f` on each batch of `batch_size` texts (by length) and puts its rows back in input order.
fn batched_rows(
    texts: &[EncodedText],
    batch_size: usize,
    pad_id: i64,
    mut f: impl FnMut(&crate::model::EncodedBatch) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    for chunk in length_order(texts).chunks(batch_size.max(1)) {
        let batch = pad_batch(texts, chunk, pad_id);
        let rows: Vec<Vec<f32>> = f(&batch)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i] = row;
        }
    }
    Ok(out)
}

/// Softmax probabilities `[n][num_labels]` in input order.
pub fn predict_probs(
    model: &BertClassifier,
    texts: &[EncodedText],
    batch_size: usize,
    pad_id: i64,
) -> candle_core::Result<Vec<Vec<f32>>> {
    batched_rows(texts, batch_size, pad_id, |batch| {
        candle_nn::ops::softmax_last_dim(&model.forward(batch, Mode::Eval)?)
    })
}

/// Sentence embeddings `[n][hidden]` in input order.
pub fn embeddings(
    model: &BertClassifier,
    texts: &[EncodedText],
    batch_size: usize,
    pad_id: i64,
    kind: EmbeddingKind,
) -> candle_core::Result<Vec<Vec<f32>>> {
    batched_rows(texts, batch_size, pad_id, |batch| {
        let hidden = model.encode(batch, Mode::Eval)?;
        match kind {
            EmbeddingKind::Pooled => model.pool(&hidden),
            EmbeddingKind::MeanLastHidden => {
                let mask: Vec<f32> = batch.attention_mask.iter().map(|&m| m as f32).collect();
                let mask =
                    Tensor::from_vec(mask, (batch.batch, batch.seq_len, 1), hidden.device())?
                        .to_dtype(hidden.dtype())?;
                let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
                let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
                summed.broadcast_div(&counts)
            }
        }
    })
}

/// The class with the highest probability (first maximum) of each row.
pub fn argmax_rows(logits: &Tensor) -> candle_core::Result<Vec<usize>> {
    let idx = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    Ok(idx.into_iter().map(|i| i as usize).collect())
}

/// Probabilities and (on request) sentence embeddings of `texts`, both in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub probs: Vec<Vec<f32>>,
    pub embeddings: Option<Vec<Vec<f32>>>,
}

/// Tokenises `texts` (truncated to `max_length`) and runs `model` in eval mode over them in
/// length-sorted batches. Embeddings cost a second encoder pass (the classifier head is not
/// reachable from the encoder output), so ask for them only when mining.
pub fn evaluate_texts(
    model: &BertClassifier,
    tokenizer: &crate::model::BertTokenizer,
    texts: &[String],
    max_length: usize,
    batch_size: usize,
    embedding: Option<EmbeddingKind>,
) -> Result<Evaluation, super::error::TrainError> {
    let encoded = super::batching::encode_texts(tokenizer, texts, max_length)?;
    let pad = super::batching::pad_id(tokenizer);
    let probs = predict_probs(model, &encoded, batch_size, pad)?;
    let embeddings = match embedding {
        Some(kind) => Some(embeddings(model, &encoded, batch_size, pad, kind)?),
        None => None,
    };
    Ok(Evaluation { probs, embeddings })
}
