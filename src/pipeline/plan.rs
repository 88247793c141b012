//! The plan stage: the rules of DESIGN section 5 applied to the recorded analysis, or the plain
//! recipe (the control arm) in place of their phases.

use std::collections::BTreeSet;
use std::path::Path;

use crate::analysis::plan::{derive_plan, derive_plan_with_priorities, PriorityCounts, Recipe};
use crate::analysis::read_analysis;
use crate::assets;
use crate::events::{AnalysisRecorded, PlanDerived};

use super::experiment_data::ExperimentData;
use super::PipelineError;

pub fn derive(
    analysis_seq: i64,
    recorded: &AnalysisRecorded,
    data: &ExperimentData,
    recipe: Recipe,
) -> Result<PlanDerived, PipelineError> {
    let path = Path::new(&recorded.path);
    let found = assets::sha256_file(path)?;
    if found != recorded.sha256 {
        return Err(PipelineError::ArtifactChanged {
            path: path.to_path_buf(),
            recorded: recorded.sha256.clone(),
            found,
        });
    }
    let analysis = read_analysis(path)?;
    let train_size = data.train.len();
    let (plan, from_train) = match &recorded.train_priorities {
        Some(p) => {
            let (misclassified, low_confidence) = p.prioritised();
            let distinct: BTreeSet<&String> = misclassified
                .iter()
                .chain(&low_confidence)
                .copied()
                .collect();
            let counts = PriorityCounts {
                misclassified: misclassified.len(),
                low_confidence: low_confidence.len(),
                distinct: distinct.len(),
            };
            (
                derive_plan_with_priorities(&analysis, train_size, counts)?,
                true,
            )
        }
        None => (derive_plan(&analysis, train_size)?, false),
    };
    let plan = match recipe {
        Recipe::Analysis => plan,
        Recipe::Plain => plan.into_plain(),
    };
    Ok(PlanDerived {
        analysis_seq,
        priorities_from_training_split: from_train,
        plan: (&plan).into(),
        budget: None,
        overrides: Vec::new(),
    })
}
