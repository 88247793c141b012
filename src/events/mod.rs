//! The one catalogue of event kinds. An event is a fact in the past tense; its payload carries
//! everything a report or a resumed run needs, so the log alone can rebuild an experiment.
//!
//! Stored as `kind` (the variant name) plus `payload` (the variant's fields as JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod closed;
pub mod records;
pub mod version;

pub use closed::{
    AnalysisSource, BaselineOrigin, DataFormat, ExportFormat, ExportedModel, Importance,
    ModelFormat, ModelType, Provider, PruningMethod, Recipe,
};
pub use records::{
    AppliedOverride, AugmentationResult, EarlyStop, Environment, EpochReport, Flips, LatencyStats,
    Metrics, OrtLibrary, PhaseKind, PhaseStart, Plan, Setting,
};
pub use version::SchemaVersion;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
// Events are built and written one at a time, so the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    ExperimentCreated(ExperimentCreated),
    DatasetLoaded(DatasetLoaded),
    SplitMade(SplitMade),
    BaselineCaptured(BaselineCaptured),
    AnalysisRecorded(AnalysisRecorded),
    PlanDerived(PlanDerived),
    BudgetRevised(BudgetRevised),
    AugmentationApplied(AugmentationApplied),
    PhaseStarted(PhaseStarted),
    EpochCompleted(EpochCompleted),
    CheckpointSaved(CheckpointSaved),
    CheckpointRejected(CheckpointRejected),
    PhaseRestarted(PhaseRestarted),
    LrReduced(LrReduced),
    EarlyStopped(EarlyStopped),
    PhaseCompleted(PhaseCompleted),
    TrainingCompleted(TrainingCompleted),
    TestEvaluated(TestEvaluated),
    RunFailed(RunFailed),
    PruningStep(PruningStep),
    PruningCompleted(PruningCompleted),
    ModelExported(ModelExported),
    ExportValidated(ExportValidated),
    BenchmarkMeasured(BenchmarkMeasured),
    ReportGenerated(ReportGenerated),
    TagSet(TagSet),
    NoteAdded(NoteAdded),
    SweepDefined(SweepDefined),
    RunStarted(RunStarted),
}

impl Event {
    /// The `kind` column: the variant's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ExperimentCreated(_) => "ExperimentCreated",
            Event::DatasetLoaded(_) => "DatasetLoaded",
            Event::SplitMade(_) => "SplitMade",
            Event::BaselineCaptured(_) => "BaselineCaptured",
            Event::AnalysisRecorded(_) => "AnalysisRecorded",
            Event::PlanDerived(_) => "PlanDerived",
            Event::BudgetRevised(_) => "BudgetRevised",
            Event::AugmentationApplied(_) => "AugmentationApplied",
            Event::PhaseStarted(_) => "PhaseStarted",
            Event::EpochCompleted(_) => "EpochCompleted",
            Event::CheckpointSaved(_) => "CheckpointSaved",
            Event::CheckpointRejected(_) => "CheckpointRejected",
            Event::PhaseRestarted(_) => "PhaseRestarted",
            Event::LrReduced(_) => "LrReduced",
            Event::EarlyStopped(_) => "EarlyStopped",
            Event::PhaseCompleted(_) => "PhaseCompleted",
            Event::TrainingCompleted(_) => "TrainingCompleted",
            Event::TestEvaluated(_) => "TestEvaluated",
            Event::RunFailed(_) => "RunFailed",
            Event::PruningStep(_) => "PruningStep",
            Event::PruningCompleted(_) => "PruningCompleted",
            Event::ModelExported(_) => "ModelExported",
            Event::ExportValidated(_) => "ExportValidated",
            Event::BenchmarkMeasured(_) => "BenchmarkMeasured",
            Event::ReportGenerated(_) => "ReportGenerated",
            Event::TagSet(_) => "TagSet",
            Event::NoteAdded(_) => "NoteAdded",
            Event::SweepDefined(_) => "SweepDefined",
            Event::RunStarted(_) => "RunStarted",
        }
    }

    /// Every kind this version of `exp` writes, for `exp events --kind` validation.
    pub const KINDS: [&'static str; 29] = [
        "ExperimentCreated",
        "DatasetLoaded",
        "SplitMade",
        "BaselineCaptured",
        "AnalysisRecorded",
        "PlanDerived",
        "BudgetRevised",
        "AugmentationApplied",
        "PhaseStarted",
        "EpochCompleted",
        "CheckpointSaved",
        "CheckpointRejected",
        "PhaseRestarted",
        "LrReduced",
        "EarlyStopped",
        "PhaseCompleted",
        "TrainingCompleted",
        "TestEvaluated",
        "RunFailed",
        "PruningStep",
        "PruningCompleted",
        "ModelExported",
        "ExportValidated",
        "BenchmarkMeasured",
        "ReportGenerated",
        "TagSet",
        "NoteAdded",
        "SweepDefined",
        "RunStarted",
    ];

    /// Calls `f` on every field of the event that names a file or directory on disk, so that
    /// the recorder can store those under the database's directory relative to it and a fold can
    /// resolve them again (an experiment's directory, `exp.db` with `artifacts/`, can be copied
    /// or moved). Fields relative to another field (an export's or a report's files, relative to
    /// its `dir`) and what the user typed (`data_path`, `model.spec`) are left alone.
    pub fn for_each_path(&mut self, mut f: impl FnMut(&mut String)) {
        match self {
            Event::ExperimentCreated(e) => {
                f(&mut e.model.path);
                if let Some(t) = &mut e.model.tokenizer {
                    f(t);
                }
            }
            Event::DatasetLoaded(e) => f(&mut e.path),
            Event::BaselineCaptured(e) => f(&mut e.onnx.path),
            Event::AnalysisRecorded(e) => {
                f(&mut e.path);
                f(&mut e.summary_path);
            }
            Event::CheckpointSaved(e) => {
                f(&mut e.dir);
                e.files.iter_mut().for_each(|a| f(&mut a.path));
                if let Some(removed) = &mut e.removed {
                    f(removed);
                }
            }
            Event::CheckpointRejected(e) => f(&mut e.dir),
            Event::PhaseCompleted(e) => f(&mut e.weights.path),
            Event::TrainingCompleted(e) => {
                for a in [&mut e.weights, &mut e.config, &mut e.onnx] {
                    f(&mut a.path);
                }
            }
            Event::TestEvaluated(e) => {
                f(&mut e.baseline.onnx_path);
                f(&mut e.candidate.onnx_path);
            }
            Event::PruningStep(e) => {
                f(&mut e.weights.path);
                f(&mut e.config.path);
            }
            Event::PruningCompleted(e) => {
                f(&mut e.weights.path);
                f(&mut e.config.path);
            }
            Event::ModelExported(e) => f(&mut e.dir),
            Event::BenchmarkMeasured(e) => f(&mut e.file),
            Event::ReportGenerated(e) => f(&mut e.dir),
            Event::SplitMade(_)
            | Event::RunFailed(_)
            | Event::PlanDerived(_)
            | Event::BudgetRevised(_)
            | Event::AugmentationApplied(_)
            | Event::PhaseStarted(_)
            | Event::EpochCompleted(_)
            | Event::PhaseRestarted(_)
            | Event::LrReduced(_)
            | Event::EarlyStopped(_)
            | Event::ExportValidated(_)
            | Event::TagSet(_)
            | Event::NoteAdded(_)
            | Event::SweepDefined(_)
            | Event::RunStarted(_) => {}
        }
    }

    /// The payload alone, as JSON.
    pub fn payload(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("payload").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Rebuilds an event from its stored kind and payload, lifting an older schema version
    /// to the current one (`version::upcast`).
    pub fn from_parts(kind: &str, payload: serde_json::Value) -> Result<Event, serde_json::Error> {
        let payload = if version::current(kind) > 1 || payload.get(version::FIELD).is_some() {
            version::upcast(kind, payload)?
        } else {
            payload
        };
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": payload }))
    }

    /// Rebuilds an event from its stored kind and the payload column's text, parsing straight
    /// into the typed variant: no `serde_json::Value` and no copy of the text in between, which
    /// is what makes folding a long log fast. A payload that does not read as the current
    /// version is read again through `from_parts`, which upcasts an older one.
    pub fn from_json(kind: &str, payload: &str) -> Result<Event, serde_json::Error> {
        match Self::from_json_current(kind, payload) {
            Ok(event) => Ok(event),
            Err(current_error) => {
                let Ok(value) = serde_json::from_str::<serde_json::Value>(payload) else {
                    return Err(current_error);
                };
                match version::stored(&value) {
                    Ok(at) if at == version::current(kind) => Err(current_error),
                    _ => Self::from_parts(kind, value),
                }
            }
        }
    }

    fn from_json_current(kind: &str, payload: &str) -> Result<Event, serde_json::Error> {
        let mut content = serde_json::Deserializer::from_str(payload);
        let event = Event::deserialize(serde::de::value::MapAccessDeserializer::new(Parts {
            kind: Some(kind),
            content: Some(&mut content),
        }))?;
        content.end()?;
        Ok(event)
    }
}

/// `{"kind": KIND, "payload": ...}` as serde's adjacently tagged `Event` reads it, the tag first
/// (so the content is read without buffering), the content straight from the payload text.
struct Parts<'a, 'de> {
    kind: Option<&'a str>,
    content: Option<&'a mut serde_json::Deserializer<serde_json::de::StrRead<'de>>>,
}

impl<'de> serde::de::MapAccess<'de> for Parts<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, serde_json::Error> {
        use serde::de::IntoDeserializer;
        let key = if self.kind.is_some() {
            "kind"
        } else if self.content.is_some() {
            "payload"
        } else {
            return Ok(None);
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, serde_json::Error> {
        use serde::de::IntoDeserializer;
        if let Some(kind) = self.kind.take() {
            return seed.deserialize(kind.into_deserializer());
        }
        match self.content.take() {
            Some(content) => seed.deserialize(content),
            None => Err(serde::de::Error::custom("no value left")),
        }
    }
}

/// The model an experiment starts from, as the user named it and as it was resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    /// What the user passed to `--model`: an alias or a path.
    pub spec: String,
    pub format: ModelFormat,
    /// The resolved file or directory.
    pub path: String,
    /// sha256 of the weights file (model.safetensors or the .onnx file).
    pub sha256: String,
    /// The tokenizer.json used with it.
    pub tokenizer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentCreated {
    pub name: String,
    pub model: ModelSource,
    pub data_path: String,
    pub seed: u64,
    /// Percentages train/validation/test.
    pub split: [u32; 3],
    pub exp_version: String,
    /// `exp new --recipe`; absent (as in every log before recipes) for analysis.
    #[serde(default, skip_serializing_if = "Recipe::is_analysis")]
    pub recipe: Recipe,
    /// `exp new --set`: plan values given in place of what the analysis derives (absent when
    /// none, as in every log before overrides).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<records::Setting>,
    /// `exp new --split-seed`: the seed of the split when it is not `seed` (absent: `seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Where `exp new` ran (absent in logs before environments were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<records::Environment>,
}

impl PlanDerived {
    /// Whether the plan applied `--set key=value`.
    pub fn applied(&self, key: &str, value: &str) -> bool {
        self.overrides
            .iter()
            .any(|o| o.key == key && o.value == value)
    }
}

impl ExperimentCreated {
    /// The seed the split was drawn with.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    pub text: String,
    pub labels: Vec<String>,
    pub lines: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetLoaded {
    pub path: String,
    pub sha256: String,
    pub format: DataFormat,
    pub encoding: String,
    pub rows_read: usize,
    /// Samples kept: distinct texts without conflicting labels.
    pub samples: usize,
    /// Labels in class-id order (sorted alphabetically).
    pub labels: Vec<String>,
    pub label_counts: BTreeMap<String, usize>,
    /// Rows dropped as exact duplicates of an earlier row.
    pub duplicates: usize,
    pub conflicts: Vec<Conflict>,
    /// How the file was read, so later stages re-read it exactly (and notice if it changed).
    pub read: ReadSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadSpec {
    pub format: DataFormat,
    /// CSV only: whether the first record was a header, and the 0-based columns used.
    pub header: Option<bool>,
    pub text_column: Option<usize>,
    pub label_column: Option<usize>,
    /// JSON Lines only: the fields used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_field: Option<String>,
    /// The known labels the file was checked against.
    pub known_labels: Vec<String>,
    /// The codes the label column held and the labels they stand for (integer labels in the
    /// order of `known_labels`, or `--label-map`); absent when the labels were names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_map: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitIds {
    pub train: Vec<String>,
    pub validation: Vec<String>,
    pub test: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitMade {
    pub seed: u64,
    pub percentages: [u32; 3],
    pub counts: SplitCounts,
    /// Per split, per label sample counts.
    pub label_counts: BTreeMap<String, BTreeMap<String, usize>>,
    /// sha256 over the three id lists; equal digests mean equal splits.
    pub digest: String,
    /// The sample ids of each split. The test ids are sealed: only final evaluation reads them.
    pub ids: SplitIds,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFailed {
    pub command: String,
    pub stage: String,
    pub error: String,
}

/// The model every later number is compared with, measured on the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineCaptured {
    /// Version 2: the ONNX file as a file record (version 1 had `onnx_path`, `onnx_sha256`
    /// and `size_bytes`).
    pub schema_version: SchemaVersion<2>,
    pub origin: BaselineOrigin,
    /// The baseline as ONNX: the pipeline runs it in ONNX Runtime like a user's own ONNX baseline.
    pub onnx: ArtifactFile,
    pub labels: Vec<String>,
    pub validation: Metrics,
    /// ONNX Runtime latency at batch 1 and 8.
    pub latency: Vec<LatencyStats>,
    /// How a `fitted` baseline was trained; absent for `model`, and in logs written before it
    /// was recorded (left out rather than null, so those logs still hash as they did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<BaselineFitSettings>,
}

/// The plain fine-tune behind a `fitted` baseline: every layer at one rate, unweighted samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineFitSettings {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// The trainer's seed (order of batches, dropout), derived from the experiment's.
    pub seed: u64,
}

/// Short numbers from the analysis file, for `exp show` and SQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSummary {
    pub samples: usize,
    pub accuracy: f64,
    pub error_rate: f64,
    pub avg_confidence: f64,
    pub misclassified: usize,
    pub low_confidence: usize,
    pub problematic_classes: Vec<String>,
    pub learning_rate: String,
    pub pruning: String,
    pub problematic_keywords: Vec<String>,
}

/// Training-split samples the baseline gets wrong or is unsure of: the plan weights them, except
/// those set aside as likely label noise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainPriorities {
    pub misclassified_ids: Vec<String>,
    pub low_confidence_ids: Vec<String>,
    /// Absent when the data has no agreement levels (and in logs written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely_label_noise: Option<LikelyLabelNoise>,
}

impl TrainPriorities {
    /// The misclassified and the low-confidence ids that are not likely label noise.
    pub fn prioritised(&self) -> (Vec<&String>, Vec<&String>) {
        (
            self.not_noise(&self.misclassified_ids),
            self.not_noise(&self.low_confidence_ids),
        )
    }

    fn not_noise<'a>(&self, ids: &'a [String]) -> Vec<&'a String> {
        let noise = self.likely_label_noise.as_ref().map_or(&[][..], |n| &n.ids);
        ids.iter()
            .filter(|id| noise.binary_search(id).is_err())
            .collect()
    }
}

/// Training samples whose label the annotators split on (FinancialPhraseBank's 50% file against
/// its 66% file): not prioritised however the baseline does on them, and weighted down in the
/// WEIGHTED phase instead of up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LikelyLabelNoise {
    /// The file that confirms the other labels, as read.
    pub file: String,
    pub sha256: String,
    pub rule: String,
    /// Their weight factor in the WEIGHTED phase.
    pub weight: f64,
    /// The training split's samples the file does not confirm, sorted.
    pub ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRecorded {
    pub source: AnalysisSource,
    /// `comprehensive_analysis.json` as written (or copied) into the experiment's artifacts.
    pub path: String,
    pub sha256: String,
    pub summary_path: String,
    /// For an imported file: where it came from.
    pub imported_from: Option<String>,
    /// Whether the file's sample indices were matched to this experiment's samples and re-used.
    pub indices_reused: bool,
    /// Why the sample sets were (or were not) recomputed.
    pub sample_sets_note: String,
    pub summary: AnalysisSummary,
    /// Computed from the baseline's predictions on the training split; `None` until a baseline exists.
    pub train_priorities: Option<TrainPriorities>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanDerived {
    /// Seq of the `AnalysisRecorded` event the plan was derived from.
    pub analysis_seq: i64,
    /// Whether the priority counts came from the training split (else from the analysis file).
    pub priorities_from_training_split: bool,
    pub plan: Plan,
    /// `exp train --budget`: how the plan's work was fitted into it (its phases' epochs are
    /// already the allocated ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<records::BudgetAllocation>,
    /// `--set` values (of `exp new` and `exp train`) applied in place of the derived ones, each
    /// with the value it replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<records::AppliedOverride>,
}

/// A time budget's allocation changed during the run, before `item` started: the work so far
/// ran slower than the probe measured, and what was allocated no longer fits in the time left.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetRevised {
    /// The work revised: `pruning`.
    pub item: String,
    pub budget_s: f64,
    /// Seconds the run had taken (the budget's clock) when it was revised.
    pub elapsed_s: f64,
    /// Training samples/s the probe measured before the plan, and what the phases ran at.
    pub probe_train_samples_per_s: f64,
    pub measured_train_samples_per_s: f64,
    /// The allocation before and after, in words.
    pub allocated: String,
    pub revised: String,
    /// The revised work plus the rest of the tail, at the measured speed.
    pub estimate_s: f64,
    /// The revised pruning: cumulative fractions (empty: left out) and recovery epochs per step.
    pub pruning_steps: Vec<f64>,
    pub recovery_epochs: usize,
}

/// `exp tag`: a key set to a value on the experiment (a later one of the same key replaces it),
/// or removed (`value` absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagSet {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `exp sweep`: sibling experiments made from one data file and model and trained one after
/// another, recorded under the sweep's own name (a stream of its own, not an experiment) before
/// the first member is made, so that running the command again continues it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepDefined {
    /// The data file and model as `exp new` is given them.
    pub data_path: String,
    pub model: String,
    /// What differs between members: `seed` (training seeds), `split_seed`, and `set.KEY` for
    /// each `--grid` key with more than one value.
    pub varies: Vec<String>,
    /// `--set` values every member has.
    pub shared: Vec<records::Setting>,
    /// `exp train --stages` of every member.
    pub stages: Vec<String>,
    pub members: Vec<SweepMember>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepMember {
    pub name: String,
    pub seed: u64,
    pub split_seed: u64,
    /// The member's `--grid` values.
    pub grid: Vec<records::Setting>,
}

/// The first event of each `exp train`, `prune`, `export` or `benchmark` run that records
/// anything (recorded in one transaction with it): the command and where it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    pub command: String,
    pub environment: records::Environment,
}

/// `exp note`: a free-text note on the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteAdded {
    pub text: String,
}

impl BudgetRevised {
    /// "from ALLOCATED to REVISED at N s: ..." (`exp show` and the report put the item before it).
    pub fn describe(&self) -> String {
        format!(
            "from {} to {} at {:.0} s: the phases trained at {:.1} samples/s, the probe measured {:.1}",
            self.allocated,
            self.revised,
            self.elapsed_s,
            self.measured_train_samples_per_s,
            self.probe_train_samples_per_s
        )
    }
}

/// A training phase began (or resumed from a checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseStarted {
    /// Position of the phase in the plan (0-based).
    pub index: usize,
    pub start: PhaseStart,
    /// Priority samples (training split) and replayed others in a FOCUS phase.
    pub samples: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochCompleted {
    /// The phase's index in the plan; for a pruning recovery epoch, its step.
    pub index: usize,
    pub report: EpochReport,
    /// Set for an epoch of recovery training after a pruning step (absent for the phases'
    /// epochs, as in logs written before recovery epochs were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruning_step: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArtifactFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The state to resume from after `epoch` of phase `index`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointSaved {
    pub index: usize,
    pub phase: PhaseKind,
    pub epoch: usize,
    pub dir: String,
    pub files: Vec<ArtifactFile>,
    /// The checkpoint of this phase deleted now that this one is recorded: the one two epochs
    /// back (the previous one stays until the next is recorded, so a resume can fall back to it).
    /// Logs written before that name the previous one.
    pub removed: Option<String>,
}

/// A resume found a recorded checkpoint of the phase in progress unusable (its directory or a
/// file missing, a sha256 that differs from the recorded one, a file that does not load, a
/// checkpoint that does not fit the phase) and did not resume from it. The epochs from `epoch`
/// on are trained again; their earlier `EpochCompleted` are superseded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRejected {
    pub index: usize,
    pub phase: PhaseKind,
    /// The epoch (0-based) after which the checkpoint was saved.
    pub epoch: usize,
    pub dir: String,
    /// Why, e.g. `missing: ...` or `sha256 mismatch: ...`.
    pub reason: String,
}

/// The phase in progress was started again from its start: no recorded checkpoint of it was
/// usable, or `exp train --restart-phase` asked for it. Its earlier `EpochCompleted` (and
/// checkpoints) are superseded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseRestarted {
    pub index: usize,
    pub phase: PhaseKind,
    /// `requested` (`--restart-phase`) or why no checkpoint could be used.
    pub reason: String,
    /// Epochs of the phase recorded before and now superseded.
    pub discarded_epochs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrReduced {
    pub index: usize,
    pub phase: PhaseKind,
    pub epoch: usize,
    pub from: f64,
    pub to: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopped {
    pub index: usize,
    pub stop: EarlyStop,
}

/// A phase ended. Its best weights go on to the next phase only if they beat the best
/// validation macro-F1 so far (the baseline's included); otherwise the next phase starts from
/// that earlier model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseCompleted {
    pub index: usize,
    pub phase: PhaseKind,
    pub epochs_run: usize,
    pub best_epoch: Option<usize>,
    pub best_macro_f1: Option<f64>,
    pub early_stopped: bool,
    pub weights: ArtifactFile,
    /// Validation macro-F1 of the model the phase started from.
    #[serde(default)]
    pub start_macro_f1: Option<f64>,
    /// Whether this phase's weights became the best so far (absent in older logs).
    #[serde(default)]
    pub kept: Option<bool>,
}

/// The fine-tuned model, before compression: weights, config and ONNX, with validation metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingCompleted {
    pub weights: ArtifactFile,
    pub config: ArtifactFile,
    pub onnx: ArtifactFile,
    pub validation: Metrics,
    /// Max |logit difference| between the ONNX file in ONNX Runtime and candle on the validation split.
    pub onnx_max_abs_diff: f32,
    /// The average of the kept phases, tried when two or more were kept (absent in older logs).
    #[serde(default)]
    pub averaging: Option<WeightAveraging>,
}

/// The uniform average of the phases that each improved on the best model so far, measured on
/// the validation split and adopted only if its macro-F1 beats the best single phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightAveraging {
    /// The averaged phases, in plan order.
    pub phases: Vec<String>,
    pub macro_f1: f64,
    pub accuracy: f64,
    pub best_single_macro_f1: f64,
    pub adopted: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub model: String,
    pub onnx_path: String,
    pub onnx_sha256: String,
    pub samples: usize,
    pub correct: usize,
    pub accuracy: f64,
    /// 95% Wilson interval of the accuracy.
    pub accuracy_ci95: (f64, f64),
    pub metrics: Metrics,
}

/// The sealed test split, used once: the baseline and the final model side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestEvaluated {
    pub baseline: TestResult,
    pub candidate: TestResult,
    pub flips: Flips,
    /// Ids of the test samples the candidate fixed and broke.
    pub fixed_ids: Vec<String>,
    pub broken_ids: Vec<String>,
    /// Two-sided exact McNemar p-value of candidate vs baseline.
    pub mcnemar_p: f64,
}

/// Samples generated from training samples for a FOCUS phase, each with its source id and method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentationApplied {
    /// The phase (plan position) whose training set they join.
    pub index: usize,
    pub priority_samples: usize,
    pub result: AugmentationResult,
}

/// Heads and FFN neurons per layer of a (possibly pruned) model, and its parameter counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelShape {
    pub heads: Vec<usize>,
    pub ffn_neurons: Vec<usize>,
    /// Attention (Q, K, V, output) plus FFN parameters of all layers, biases included.
    pub encoder_parameters: usize,
    /// Every parameter, embeddings and head included.
    pub parameters: usize,
}

/// One iterative structured-pruning step, followed by recovery training with distillation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruningStep {
    /// 1-based position in the schedule.
    pub step: usize,
    /// Target fraction of the unpruned model's encoder parameters removed at this step (cumulative).
    pub target_fraction: f64,
    pub importance: Importance,
    /// Heads and FFN neurons removed in this step, per layer.
    pub heads_removed: Vec<usize>,
    pub neurons_removed: Vec<usize>,
    /// The model after this step, and the unpruned fine-tuned model it is measured against.
    pub shape: ModelShape,
    pub reference_shape: ModelShape,
    pub recovery_epochs: usize,
    pub temperature: f64,
    pub alpha: f64,
    pub validation: Metrics,
    /// Validation accuracy of the unpruned fine-tuned model.
    pub reference_accuracy: f64,
    /// Whether the step stayed within the tolerance (validation accuracy drop <= 1 point by default).
    pub kept: bool,
    /// ONNX Runtime latency of the step's model at batch 1 and 8.
    pub latency: Vec<LatencyStats>,
    /// The step's weights and config (recorded whether or not the step is kept).
    pub weights: ArtifactFile,
    pub config: ArtifactFile,
    /// Whether the step started from the unpruned fine-tuned model in one shot: the retry of an
    /// iterative step that fell outside the tolerance (absent in older logs).
    #[serde(default)]
    pub one_shot: bool,
}

/// The pruning stage ended: the model that goes on to export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruningCompleted {
    pub method: PruningMethod,
    pub steps_run: usize,
    /// The last kept step; `None` when no step stayed within tolerance (the fine-tuned model goes on).
    pub kept_step: Option<usize>,
    pub weights: ArtifactFile,
    pub config: ArtifactFile,
    pub shape: ModelShape,
    pub reference_shape: ModelShape,
    /// Fraction of encoder weights that are zero (magnitude pruning; no dense speed-up is claimed).
    pub sparsity: Option<f64>,
    pub validation: Metrics,
}

/// The production model directory was written (files relative to `dir`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelExported {
    pub dir: String,
    /// The model the directory holds.
    pub source: ExportedModel,
    pub files: Vec<ArtifactFile>,
    pub metadata_sha256: String,
    /// sha256 of the source weights file (`TrainingCompleted` / `PruningCompleted`), so that a
    /// later change of source (pruning recorded after an export) is seen as a stale export.
    #[serde(default)]
    pub source_weights_sha256: Option<String>,
    /// The INT8 variant written as `onnx/model.int8.onnx`, e.g. `per-channel+emb`.
    #[serde(default)]
    pub quantization: Option<String>,
}

/// One exported file checked on the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportValidated {
    /// Path relative to the export directory, e.g. `onnx/model.int8.onnx`.
    pub file: String,
    pub format: ExportFormat,
    pub sha256: String,
    pub size_bytes: u64,
    /// Max |logit difference| against the candle model (None where not comparable).
    pub max_abs_diff: Option<f32>,
    pub validation: Metrics,
}

/// Inference measured for one model x format x batch size, in the benchmark notebook's terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkMeasured {
    /// `baseline`, `fine-tuned`, `pruned`, `pruned-int8`, ...
    pub model: String,
    pub model_type: ModelType,
    /// ONNX Runtime execution provider.
    pub provider: Provider,
    pub file: String,
    pub sha256: String,
    pub model_size_mb: f64,
    /// Latency statistics; carries the batch size.
    pub latency: LatencyStats,
    pub peak_memory_mb: f64,
    pub avg_memory_mb: f64,
    /// Resident memory added by loading and running the model.
    pub memory_overhead_mb: f64,
    /// Validation split metrics of this file.
    pub accuracy: f64,
    pub f1_score: f64,
    pub validation_samples: usize,
}

/// `exp report` wrote a report directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportGenerated {
    pub dir: String,
    pub compare: Vec<String>,
    /// Last seq of the events the report projects (later events are not in it).
    pub through_seq: i64,
    pub files: Vec<ArtifactFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        vec![
            Event::RunFailed(RunFailed {
                command: "exp train".into(),
                stage: "train".into(),
                error: "boom: \"quoted\", caf\u{e9}\n\u{1}".into(),
            }),
            Event::LrReduced(LrReduced {
                index: 1,
                phase: PhaseKind::Full,
                epoch: 2,
                from: 1e-4,
                to: 0.1 + 0.2,
            }),
            Event::ReportGenerated(ReportGenerated {
                dir: "reports/x".into(),
                compare: vec!["baseline".into()],
                through_seq: 42,
                files: vec![ArtifactFile {
                    path: "index.html".into(),
                    sha256: "0".repeat(64),
                    bytes: u64::MAX,
                }],
            }),
        ]
    }

    #[test]
    fn from_json_reads_back_what_was_stored_as_from_parts_does() {
        for event in samples() {
            let text = crate::store::canonical_json(&event.payload());
            assert_eq!(Event::from_json(event.kind(), &text).unwrap(), event);
            assert_eq!(
                Event::from_parts(event.kind(), event.payload()).unwrap(),
                event
            );
        }
    }

    #[test]
    fn from_json_refuses_unknown_kinds_bad_payloads_and_trailing_text() {
        let ok = r#"{"index":1,"phase":"FULL","epoch":2,"from":0.1,"to":0.05}"#;
        assert!(Event::from_json("LrReduced", ok).is_ok());
        assert!(Event::from_json("NoSuchKind", ok).is_err());
        assert!(Event::from_json("LrReduced", r#"{"index":1}"#).is_err());
        assert!(Event::from_json("LrReduced", &format!("{ok} x")).is_err());
        assert!(Event::from_json("LrReduced", &format!("{ok} ")).is_ok());
    }
}
