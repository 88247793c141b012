//! Augmentation of training samples for the FOCUS phase (DESIGN section 5).
//!
//! Only training samples are ever augmented: the caller passes the training split only, and every
//! priority sample must be one of them (`AugmentError::NotTraining` otherwise), so validation and
//! test texts are never read, let alone rewritten. Every generated sample records the id of its
//! source and its method:
//! - keyword synonym replacement with a finance-aware table (`synonyms`),
//! - contextual substitution by the model's own word-embedding neighbours (`contextual`),
//! - hard-negative mining: nearest training sentences of the confused class (`hard_negative`).
//!
//! Back-translation is not offered: see `BACK_TRANSLATION_UNAVAILABLE`.

pub mod contextual;
pub mod hard_negative;
pub mod synonyms;
mod words;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::data::sample_id;

pub use contextual::{
    build_neighbours, build_neighbours_for_tokenizer, contextual_substitute, Neighbour,
    NeighbourIndex,
};
pub use hard_negative::{mine_hard_negatives, Confusion};
pub use synonyms::{polarity, synonym_replace, table_size};

/// Why back-translation is not among the methods.
pub const BACK_TRANSLATION_UNAVAILABLE: &str = "back-translation is not available: it needs a \
machine-translation model (e.g. English->German->English MarianMT) that is not part of the assets \
of this offline environment; it is not simulated";

#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    #[error("augmentation: priority sample {id} is not among the training samples given (only training samples may be augmented)")]
    NotTraining { id: String },
    #[error("augmentation: {samples} training samples but {embeddings} sentence embeddings")]
    EmbeddingCount { samples: usize, embeddings: usize },
    #[error("augmentation: sentence embedding of sample {id} has {actual} values, the first has {expected}")]
    EmbeddingDim {
        id: String,
        expected: usize,
        actual: usize,
    },
    #[error("augmentation: word-embedding matrix must be [vocab, hidden], got shape {shape:?}")]
    EmbeddingShape { shape: Vec<usize> },
    #[error("augmentation: vocabulary token `{token}` has id {id}, beyond the {rows} rows of the word-embedding matrix")]
    VocabOutOfRange { token: String, id: u32, rows: usize },
    #[error("augmentation: {what}: {source}")]
    Tensor {
        what: &'static str,
        #[source]
        source: candle_core::Error,
    },
}

/// How a sample was generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    SynonymReplacement,
    ContextualSubstitution,
    HardNegative,
}

impl Method {
    pub const ALL: [Method; 3] = [
        Method::SynonymReplacement,
        Method::ContextualSubstitution,
        Method::HardNegative,
    ];

    fn salt(self) -> u64 {
        match self {
            Method::SynonymReplacement => 1,
            Method::ContextualSubstitution => 2,
            Method::HardNegative => 3,
        }
    }
}

/// A generated (or, for hard negatives, mined) training sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augmented {
    pub text: String,
    /// Class id.
    pub label: usize,
    /// Id of the training sample it came from (hard negatives: the mined sample itself).
    pub source_id: String,
    pub method: Method,
    /// What was done, e.g. "rose -> climbed" or "nearest to 3f2a... (similarity 0.87)".
    pub detail: String,
}

/// A training sample as the augmenters see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingSample {
    pub id: String,
    pub text: String,
    /// Class id.
    pub label: usize,
}

/// One before/after pair for reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentExample {
    pub method: Method,
    pub source_id: String,
    pub original: String,
    pub augmented: String,
    pub detail: String,
}

/// Caps and seed.
#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    pub seed: u64,
    /// Synonym variants per priority sample.
    pub synonym_variants: usize,
    /// Words replaced per synonym variant.
    pub max_synonym_replacements: usize,
    /// Contextual variants per priority sample.
    pub contextual_variants: usize,
    /// Words replaced per contextual variant.
    pub max_contextual_words: usize,
    /// Hard negatives mined per priority sample.
    pub hard_negatives_k: usize,
    /// At most this many generated samples in all (a seeded subset is kept, in generation
    /// order): generated text is noisier than real text and must not outweigh it.
    pub max_samples: Option<usize>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            seed: 42,
            synonym_variants: 1,
            max_synonym_replacements: 2,
            contextual_variants: 1,
            max_contextual_words: 1,
            hard_negatives_k: 1,
            max_samples: None,
        }
    }
}

/// What the augmenters need. `train` must be the training split only.
pub struct AugmentInputs<'a> {
    pub train: &'a [TrainingSample],
    /// The priority samples (training ids) with the class each was confused with.
    pub priority: &'a [Confusion],
    /// Problematic keywords from the analysis: replaced first by the synonym table.
    pub keywords: &'a [String],
    /// Word-embedding neighbours (contextual substitution is skipped without them).
    pub neighbours: Option<&'a NeighbourIndex>,
    /// Sentence embeddings aligned with `train` (hard negatives are skipped without them).
    pub sentence_embeddings: Option<&'a [Vec<f32>]>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentationResult {
    pub samples: Vec<Augmented>,
    /// Kept samples per method (every method present).
    pub counts: BTreeMap<Method, usize>,
    /// The first three kept samples of each method.
    pub examples: Vec<AugmentExample>,
    /// Generated texts dropped because they repeat a training text or an earlier generated one,
    /// and hard negatives dropped because another priority sample mined the same sample.
    pub dropped_duplicates: usize,
    /// Generated samples left out to respect `AugmentConfig::max_samples`.
    #[serde(default)]
    pub dropped_over_cap: usize,
    pub back_translation: String,
}

/// Synonym and contextual variants, then hard negatives, for every priority sample, in the order
/// given. A generated text is dropped when its `sample_id` equals that of a training text or of
/// an earlier generated text. Hard negatives are training samples by construction, so they are
/// only deduplicated among themselves (by mined id).
pub fn augment_priority_samples(
    inputs: &AugmentInputs,
    config: &AugmentConfig,
) -> Result<AugmentationResult, AugmentError> {
    let by_id: HashMap<&str, &TrainingSample> =
        inputs.train.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut seen_ids: BTreeSet<String> = inputs.train.iter().map(|s| sample_id(&s.text)).collect();
    let mut samples: Vec<Augmented> = Vec::new();
    let mut dropped = 0;
    let mut keep = |candidate: Augmented, samples: &mut Vec<Augmented>| {
        if seen_ids.insert(sample_id(&candidate.text)) {
            samples.push(candidate);
        } else {
            dropped += 1;
        }
    };
    for c in inputs.priority {
        let source = by_id
            .get(c.id.as_str())
            .ok_or_else(|| AugmentError::NotTraining { id: c.id.clone() })?;
        for attempt in 0..config.synonym_variants {
            let seed = words::derive_seed(
                config.seed,
                &source.id,
                Method::SynonymReplacement.salt() * 1000 + attempt as u64,
            );
            if let Some((text, detail)) = synonym_replace(
                &source.text,
                seed,
                config.max_synonym_replacements,
                inputs.keywords,
            ) {
                let a = generated(source, text, detail, Method::SynonymReplacement);
                keep(a, &mut samples);
            }
        }
        if let Some(index) = inputs.neighbours {
            for attempt in 0..config.contextual_variants {
                let seed = words::derive_seed(
                    config.seed,
                    &source.id,
                    Method::ContextualSubstitution.salt() * 1000 + attempt as u64,
                );
                if let Some((text, detail)) =
                    contextual_substitute(&source.text, index, seed, config.max_contextual_words)
                {
                    let a = generated(source, text, detail, Method::ContextualSubstitution);
                    keep(a, &mut samples);
                }
            }
        }
    }
    if let Some(embeddings) = inputs.sentence_embeddings {
        let mined = mine_hard_negatives(
            inputs.train,
            embeddings,
            inputs.priority,
            config.hard_negatives_k,
        )?;
        let mut mined_ids: BTreeSet<String> = BTreeSet::new();
        for a in mined {
            if mined_ids.insert(a.source_id.clone()) {
                samples.push(a);
            } else {
                dropped += 1;
            }
        }
    }
    let dropped_over_cap = cap_samples(&mut samples, config.max_samples, config.seed);
    let mut counts: BTreeMap<Method, usize> = Method::ALL.iter().map(|&m| (m, 0)).collect();
    let mut examples = Vec::new();
    for a in &samples {
        let n = counts.entry(a.method).or_default();
        *n += 1;
        if *n <= 3 {
            let original = match a.method {
                // A hard negative is shown next to the priority sample it was mined for.
                Method::HardNegative => priority_text_for(a, inputs),
                _ => by_id
                    .get(a.source_id.as_str())
                    .map(|s| s.text.clone())
                    .unwrap_or_default(),
            };
            examples.push(AugmentExample {
                method: a.method,
                source_id: a.source_id.clone(),
                original,
                augmented: a.text.clone(),
                detail: a.detail.clone(),
            });
        }
    }
    examples.sort_by_key(|e| e.method);
    Ok(AugmentationResult {
        samples,
        counts,
        examples,
        dropped_duplicates: dropped,
        dropped_over_cap,
        back_translation: BACK_TRANSLATION_UNAVAILABLE.to_string(),
    })
}

/// Keeps at most `cap` samples: those with the smallest seeded hash of their text, in their
/// original order. Returns how many were left out.
fn cap_samples(samples: &mut Vec<Augmented>, cap: Option<usize>, seed: u64) -> usize {
    let Some(cap) = cap.filter(|&c| c < samples.len()) else {
        return 0;
    };
    let rank = |a: &Augmented| words::derive_seed(seed, &sample_id(&a.text), 0xCA9);
    let mut ranks: Vec<u64> = samples.iter().map(rank).collect();
    ranks.sort_unstable();
    let threshold = ranks[cap - 1];
    let before = samples.len();
    let mut kept = 0;
    samples.retain(|a| {
        let keep = kept < cap && rank(a) <= threshold;
        kept += keep as usize;
        keep
    });
    before - samples.len()
}

fn generated(source: &TrainingSample, text: String, detail: String, method: Method) -> Augmented {
    Augmented {
        text,
        label: source.label,
        source_id: source.id.clone(),
        method,
        detail,
    }
}

/// The text of the priority sample a hard negative's detail names.
fn priority_text_for(a: &Augmented, inputs: &AugmentInputs) -> String {
    let pid = a
        .detail
        .strip_prefix("nearest to ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("");
    inputs
        .train
        .iter()
        .find(|s| s.id == pid)
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
