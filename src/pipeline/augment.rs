//! Augmentation of the FOCUS phase's priority samples, from training samples only: synonym
//! replacement, the model's word-embedding neighbours and hard negatives mined with its sentence
//! embeddings (the baseline's predictions say which class each priority sample was confused with).

use candle_core::Device;

use crate::augment::{
    augment_priority_samples, build_neighbours_for_tokenizer, AugmentConfig, AugmentInputs,
    Confusion, TrainingSample,
};
use crate::events::AugmentationApplied;
use crate::model::{BertClassifier, BertConfig, BertTokenizer, Weights};
use crate::train::evaluate::{evaluate_texts, EmbeddingKind};

use super::experiment_data::ExperimentData;
use super::PipelineError;

/// Neighbours considered per word for contextual substitution.
const NEIGHBOURS: usize = 5;
/// Tokens per text when embedding the training split.
const EMBED_MAX_LENGTH: usize = 64;
/// Generated samples per priority sample, at most: the FOCUS phase stays mostly real text.
const MAX_GENERATED_PER_PRIORITY: f64 = 0.5;

/// The most samples the FOCUS phase generates from `priority` priority samples.
pub(super) fn max_generated(priority: usize) -> usize {
    (priority as f64 * MAX_GENERATED_PER_PRIORITY).ceil() as usize
}

/// `priority` are training-set positions (indices into `data.train`).
#[allow(clippy::too_many_arguments)]
pub fn augment_focus_samples(
    index: usize,
    data: &ExperimentData,
    priority: &[usize],
    keywords: &[String],
    config: &BertConfig,
    weights: &Weights,
    tokenizer: &BertTokenizer,
    seed: u64,
) -> Result<AugmentationApplied, PipelineError> {
    let texts: Vec<String> = data
        .texts(&data.train)
        .iter()
        .map(|t| t.to_string())
        .collect();
    let labels = data.label_ids(&data.train);
    let ids = data.ids(&data.train);
    let model = BertClassifier::from_weights(config, weights, &Device::Cpu)?;
    let evaluation = evaluate_texts(
        &model,
        tokenizer,
        &texts,
        EMBED_MAX_LENGTH,
        64,
        Some(EmbeddingKind::MeanLastHidden),
    )
    .map_err(|e| PipelineError::Training(Box::new(e)))?;
    // The class each priority sample is confused with: the predicted class when wrong, else the
    // runner-up (a low-confidence sample sits between the two).
    let confusions: Vec<Confusion> = priority
        .iter()
        .map(|&i| {
            let probs = &evaluation.probs[i];
            let mut order: Vec<usize> = (0..probs.len()).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            let confused_with = if order[0] != labels[i] {
                order[0]
            } else {
                order[1]
            };
            Confusion {
                id: ids[i].clone(),
                true_label: labels[i],
                confused_with,
            }
        })
        .collect();
    let train: Vec<TrainingSample> = (0..texts.len())
        .map(|i| TrainingSample {
            id: ids[i].clone(),
            text: texts[i].clone(),
            label: labels[i],
        })
        .collect();
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let embedding_matrix = weights
        .get("bert.embeddings.word_embeddings.weight")
        .ok_or_else(|| PipelineError::Incomplete("word embeddings".to_string()))?;
    let neighbours = build_neighbours_for_tokenizer(
        embedding_matrix,
        tokenizer.inner(),
        &text_refs,
        NEIGHBOURS,
    )?;
    let result = augment_priority_samples(
        &AugmentInputs {
            train: &train,
            priority: &confusions,
            keywords,
            neighbours: Some(&neighbours),
            sentence_embeddings: evaluation.embeddings.as_deref(),
        },
        &AugmentConfig {
            seed,
            max_samples: Some(max_generated(priority.len())),
            ..AugmentConfig::default()
        },
    )?;
    Ok(AugmentationApplied {
        index,
        priority_samples: priority.len(),
        result: (&result).into(),
    })
}
