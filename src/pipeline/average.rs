//! The model training ends with: the best phase by validation macro-F1, or the uniform average of
//! the phases that each improved on the best so far, when that average does better on validation.

use candle_core::Device;

use crate::analysis::compute_metrics;
use crate::events::WeightAveraging;
use crate::model::{BertClassifier, BertConfig, Weights};
use crate::train::average::average_weights;
use crate::train::evaluate::evaluate_texts;

use super::baseline::MAX_LENGTH;
use super::train::{load_weights, verify_artifact};
use super::{PipelineError, Writing};

/// Texts per evaluation batch.
const EVAL_BATCH: usize = 64;

impl Writing {
    /// Completed phases (indices) whose best validation macro-F1 beat every model before them.
    pub(super) fn improving_phases(&self) -> Result<Vec<usize>, PipelineError> {
        let baseline = self.log.state().recorded_baseline()?;
        let mut best = baseline.validation.macro_f1;
        let mut kept = Vec::new();
        for (i, done) in self.log.state().phases_completed.iter().enumerate() {
            if let Some(f1) = done.best_macro_f1.filter(|&f1| f1 > best) {
                best = f1;
                kept.push(i);
            }
        }
        Ok(kept)
    }

    /// The fine-tuned model to save, and the averaging that was tried (two or more improving phases).
    pub(super) fn final_weights(
        &self,
    ) -> Result<(BertConfig, Weights, Option<WeightAveraging>), PipelineError> {
        let (config, best) = self.start_weights()?;
        let improving = self.improving_phases()?;
        if improving.len() < 2 {
            return Ok((config, best, None));
        }
        let mut models = Vec::with_capacity(improving.len());
        for &i in &improving {
            let path = verify_artifact(&self.log.state().phases_completed[i].weights)?;
            models.push(load_weights(&path)?);
        }
        let refs: Vec<&Weights> = models.iter().collect();
        let averaged = average_weights(&refs).map_err(|e| PipelineError::Training(Box::new(e)))?;

        let model = BertClassifier::from_weights(&config, &averaged, &Device::Cpu)?;
        let texts: Vec<String> = self
            .data
            .texts(&self.data.validation)
            .iter()
            .map(|t| t.to_string())
            .collect();
        let tokenizer = self.tokenizer_for_training()?;
        let evaluation = evaluate_texts(&model, &tokenizer, &texts, MAX_LENGTH, EVAL_BATCH, None)
            .map_err(|e| PipelineError::Training(Box::new(e)))?;
        let metrics = compute_metrics(
            &self.data.labels,
            &self.data.label_ids(&self.data.validation),
            &evaluation.probs,
        )?;
        let best_single = self.best_so_far()?.1;
        let adopted = metrics.macro_f1 > best_single;
        let record = WeightAveraging {
            phases: improving
                .iter()
                .map(|&i| self.log.state().phases_completed[i].phase.to_string())
                .collect(),
            macro_f1: metrics.macro_f1,
            accuracy: metrics.accuracy,
            best_single_macro_f1: best_single,
            adopted,
        };
        Ok((config, if adopted { averaged } else { best }, Some(record)))
    }
}
