//! Length bucketing and dynamic padding. Texts are tokenised once per phase; each epoch's
//! batches are a pure function of (seed, epoch): shuffle, sort by length within chunks of
//! `CHUNK_BATCHES` batches, cut into batches, shuffle the batch order.

use crate::model::dropout::mix64;
use crate::model::init::SeededRng;
use crate::model::{BertTokenizer, EncodedBatch, TokenizerError};

/// Batches per sorting chunk: large enough to group similar lengths, small enough to keep
/// batches varied across epochs.
pub const CHUNK_BATCHES: usize = 50;

/// One text's tokens with [CLS]/[SEP], truncated.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedText {
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
}

impl EncodedText {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Tokenises each text alone (no padding) and truncates to `max_length` tokens keeping the
/// final [SEP], as the tokenizer's own truncation of a single sentence does. The tokenizer's
/// configured maximum still applies when it is shorter.
pub fn encode_texts(
    tokenizer: &BertTokenizer,
    texts: &[String],
    max_length: usize,
) -> Result<Vec<EncodedText>, TokenizerError> {
    texts
        .iter()
        .map(|t| {
            let b = tokenizer.encode_batch(&[t.as_str()])?;
            // A tokenizer padding to a fixed length pads on the right: keep the real tokens.
            let real = b.attention_mask.iter().filter(|&&m| m != 0).count();
            let mut ids = b.input_ids;
            let mut type_ids = b.token_type_ids;
            ids.truncate(real);
            type_ids.truncate(real);
            if ids.len() > max_length && max_length >= 2 {
                let last_id = ids[ids.len() - 1];
                let last_type = type_ids[type_ids.len() - 1];
                ids.truncate(max_length - 1);
                type_ids.truncate(max_length - 1);
                ids.push(last_id);
                type_ids.push(last_type);
            }
            Ok(EncodedText { ids, type_ids })
        })
        .collect()
}

/// The tokenizer's padding id (0 when it has none configured).
pub fn pad_id(tokenizer: &BertTokenizer) -> i64 {
    tokenizer
        .inner()
        .get_padding()
        .map(|p| i64::from(p.pad_id))
        .unwrap_or(0)
}

/// Pads the selected texts to the longest of them (dynamic padding).
pub fn pad_batch(texts: &[EncodedText], indices: &[usize], pad_id: i64) -> EncodedBatch {
    let seq_len = indices.iter().map(|&i| texts[i].len()).max().unwrap_or(0);
    let n = indices.len();
    let mut batch = EncodedBatch {
        batch: n,
        seq_len,
        input_ids: Vec::with_capacity(n * seq_len),
        attention_mask: Vec::with_capacity(n * seq_len),
        token_type_ids: Vec::with_capacity(n * seq_len),
    };
    for &i in indices {
        let t = &texts[i];
        let pad = seq_len - t.len();
        batch.input_ids.extend(&t.ids);
        batch.input_ids.extend(std::iter::repeat_n(pad_id, pad));
        batch
            .attention_mask
            .extend(std::iter::repeat_n(1, t.len()).chain(std::iter::repeat_n(0, pad)));
        batch.token_type_ids.extend(&t.type_ids);
        batch.token_type_ids.extend(std::iter::repeat_n(0, pad));
    }
    batch
}

/// A batch of sample indices with their current sample weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub indices: Vec<usize>,
    pub weights: Vec<f32>,
}

/// The seed of an epoch's batch order: a mix of the phase seed and the epoch.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    mix64(seed ^ mix64((epoch as u64).wrapping_add(0x5EED_BA7C)))
}

/// Fisher-Yates shuffle driven by `rng`.
pub fn shuffle<T>(items: &mut [T], rng: &mut SeededRng) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The batches of one epoch over samples with token `lengths`: every index exactly once, the
/// last batch of each chunk possibly smaller; `weights[i]` is carried with index `i`.
pub fn epoch_batches(
    lengths: &[usize],
    weights: &[f64],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Batch> {
    let batch_size = batch_size.max(1);
    let mut rng = SeededRng::new(epoch_seed(seed, epoch));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    shuffle(&mut order, &mut rng);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for chunk in order.chunks_mut(batch_size * CHUNK_BATCHES) {
        // Stable sort, longest first: ties keep the shuffled order.
        chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(chunk.chunks(batch_size).map(|b| b.to_vec()));
    }
    shuffle(&mut batches, &mut rng);
    batches
        .into_iter()
        .map(|indices| Batch {
            weights: indices.iter().map(|&i| weights[i] as f32).collect(),
            indices,
        })
        .collect()
}

/// Number of batches `epoch_batches` forms for `n` samples.
pub fn batches_per_epoch(n: usize, batch_size: usize) -> usize {
    let batch_size = batch_size.max(1);
    let chunk = batch_size * CHUNK_BATCHES;
    (n / chunk) * CHUNK_BATCHES + (n % chunk).div_ceil(batch_size)
}
