//! `comprehensive_analysis.json`: serde structs in the notebook's key order and nesting,
//! the builder from our own metrics and keywords, and the short text summary.
//!
//! Keys we add beyond the notebook's schema are optional (`split`, `macro_f1`, `weighted_f1`,
//! `percentile_90`, `confidence_histogram`, `sample_ids`), so the notebook's own files read
//! back and ours keep every key it had.

use std::fmt::Write as _;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::metrics::{Histogram, Metrics};
use super::recommend::{
    LrBandKind, PruningLevel, AUGMENTATION_METHODS, FOCUS_STRATEGY, PRUNING_CONFIDENCE_THRESHOLD,
    TARGET_KEYWORDS,
};
use super::tfidf::KeywordAnalysis;

/// The notebook's `metadata.analysis_type`.
pub const ANALYSIS_TYPE: &str = "universal_fine_tuning_pruning";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComprehensiveAnalysis {
    pub metadata: Metadata,
    pub performance_metrics: PerformanceMetrics,
    pub class_analysis: ClassAnalysis,
    pub confidence_analysis: ConfidenceAnalysis,
    pub linguistic_analysis: LinguisticAnalysis,
    pub recommendations: Recommendations,
    pub sample_indices: SampleIndices,
    /// Stable sample ids for `sample_indices` (ours; absent from the notebook's files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_ids: Option<SampleIds>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// "YYYY-MM-DD HH:MM:SS" (UTC for ours).
    pub analysis_date: String,
    pub dataset_size: usize,
    pub model_path: String,
    pub model_name: String,
    pub model_type: String,
    pub analysis_type: String,
    /// Which split the diagnostics were computed on (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceMetrics {
    pub overall_accuracy: f64,
    pub error_rate: f64,
    pub avg_confidence: f64,
    pub total_misclassifications: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted_f1: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEntry {
    pub precision: f64,
    pub recall: f64,
    pub f1_score: f64,
    pub support: usize,
    pub errors: usize,
}

/// `class_metrics`: an object keyed by label, in class-id order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassMetricsMap(pub Vec<(String, ClassEntry)>);

impl ClassMetricsMap {
    pub fn labels(&self) -> Vec<String> {
        self.0.iter().map(|(l, _)| l.clone()).collect()
    }

    pub fn get(&self, label: &str) -> Option<&ClassEntry> {
        self.0.iter().find(|(l, _)| l == label).map(|(_, e)| e)
    }
}

impl Serialize for ClassMetricsMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (label, entry) in &self.0 {
            map.serialize_entry(label, entry)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ClassMetricsMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // serde_json's map keeps insertion order (preserve_order), so class order survives.
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| {
                serde_json::from_value(v)
                    .map(|e| (k.clone(), e))
                    .map_err(|e| D::Error::custom(format!("class_metrics.{k}: {e}")))
            })
            .collect::<Result<_, _>>()
            .map(ClassMetricsMap)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAnalysis {
    pub class_metrics: ClassMetricsMap,
    /// Rows true class, columns predicted class, in `class_metrics` order.
    pub confusion_matrix: Vec<Vec<usize>>,
    pub problematic_classes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdEntry {
    pub accuracy: f64,
    pub coverage: f64,
    pub sample_count: usize,
}

/// The nested `confidence_analysis.confidence_analysis` object keyed `threshold_0.5`, ...
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThresholdMap(pub Vec<(f64, ThresholdEntry)>);

impl ThresholdMap {
    pub fn get(&self, threshold: f64) -> Option<&ThresholdEntry> {
        self.0.iter().find(|(t, _)| *t == threshold).map(|(_, e)| e)
    }
}

/// `threshold_{t}` with Python's float formatting for the notebook's thresholds.
pub fn threshold_key(threshold: f64) -> String {
    format!("threshold_{threshold}")
}

/// Inverse of `threshold_key`.
pub fn parse_threshold_key(key: &str) -> Option<f64> {
    let t: f64 = key.strip_prefix("threshold_")?.parse().ok()?;
    t.is_finite().then_some(t)
}

impl Serialize for ThresholdMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (t, entry) in &self.0 {
            map.serialize_entry(&threshold_key(*t), entry)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ThresholdMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| {
                let t = parse_threshold_key(&k).ok_or_else(|| {
                    D::Error::custom(format!("{k}: not a threshold_<number> key"))
                })?;
                serde_json::from_value(v)
                    .map(|e| (t, e))
                    .map_err(|e| D::Error::custom(format!("{k}: {e}")))
            })
            .collect::<Result<_, _>>()
            .map(ThresholdMap)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntropyEntry {
    pub mean: f64,
    pub std: f64,
    pub high_entropy_samples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile_90: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceAnalysis {
    pub confidence_analysis: ThresholdMap,
    pub entropy_stats: EntropyEntry,
    pub low_confidence_indices: Vec<usize>,
    pub low_confidence_threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_histogram: Option<Histogram>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfParamsEntry {
    pub max_features: usize,
    pub ngram_range: Vec<usize>,
    pub min_df: usize,
    pub max_df: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinguisticAnalysis {
    /// `[term, score]` pairs, highest score first.
    pub problematic_keywords: Vec<(String, f64)>,
    /// `[term, |score|]` pairs for the most negative scores, most negative first.
    pub protective_keywords: Vec<(String, f64)>,
    pub vocabulary_size: usize,
    pub tfidf_params: TfidfParamsEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FocusSamples {
    pub low_confidence_count: usize,
    pub misclassified_count: usize,
    pub strategy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuningRecommendation {
    pub target_classes: Vec<String>,
    /// e.g. "5e-5 to 1e-4 (moderate fine-tuning)"; see `recommend::parse_learning_rate`.
    pub learning_rate: String,
    pub model_type: String,
    pub focus_samples: FocusSamples,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruningRecommendation {
    pub strategy: String,
    pub confidence_threshold: f64,
    pub expected_coverage: f64,
    pub model_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataAugmentationRecommendation {
    pub target_keywords: Vec<String>,
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    pub fine_tuning: FineTuningRecommendation,
    pub pruning: PruningRecommendation,
    pub data_augmentation: DataAugmentationRecommendation,
    /// Free-form architecture advice; the notebook writes `{}` for the models it handled.
    #[serde(default)]
    pub architecture: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleIndices {
    pub misclassified: Vec<usize>,
    pub low_confidence: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleIds {
    pub misclassified: Vec<String>,
    pub low_confidence: Vec<String>,
}

/// What the builder cannot know from the metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisMetadata {
    /// "YYYY-MM-DD HH:MM:SS"; see `format_analysis_date`.
    pub analysis_date: String,
    pub model_path: String,
    pub model_name: String,
    /// "onnx", "candle", ...
    pub model_type: String,
    pub split: Option<String>,
}

/// Formats a time as the notebook's `analysis_date` ("2025-08-15 11:07:48"), in UTC.
pub fn format_analysis_date(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time)
        .to_string()
        .trim_end_matches('Z')
        .replacen('T', " ", 1)
}

impl ComprehensiveAnalysis {
    /// Builds the notebook's JSON from our metrics and keywords, applying its
    /// recommendation rules. `sample_ids[i]` is the stable id of sample `i`, if known; the
    /// `sample_ids` key is written only when every listed index has an id.
    pub fn build(
        metrics: &Metrics,
        keywords: &KeywordAnalysis,
        meta: AnalysisMetadata,
        sample_ids: Option<&[String]>,
    ) -> Self {
        let at_pruning = metrics.threshold(PRUNING_CONFIDENCE_THRESHOLD);
        let (coverage, accuracy) = at_pruning.map_or((0.0, 0.0), |t| (t.coverage, t.accuracy));
        let pruning = PruningLevel::from_confidence(coverage, accuracy);
        let lr = LrBandKind::from_accuracy(metrics.accuracy);
        let ids = |idx: &[usize]| -> Option<Vec<String>> {
            let all = sample_ids?;
            idx.iter().map(|&i| all.get(i).cloned()).collect()
        };
        let sample_ids = match (ids(&metrics.misclassified), ids(&metrics.low_confidence)) {
            (Some(misclassified), Some(low_confidence)) => Some(SampleIds {
                misclassified,
                low_confidence,
            }),
            _ => None,
        };
        ComprehensiveAnalysis {
            metadata: Metadata {
                analysis_date: meta.analysis_date,
                dataset_size: metrics.sample_count,
                model_path: meta.model_path,
                model_name: meta.model_name,
                model_type: meta.model_type.clone(),
                analysis_type: ANALYSIS_TYPE.to_string(),
                split: meta.split,
            },
            performance_metrics: PerformanceMetrics {
                overall_accuracy: metrics.accuracy,
                error_rate: metrics.error_rate,
                avg_confidence: metrics.avg_confidence,
                total_misclassifications: metrics.misclassified.len(),
                macro_f1: Some(metrics.macro_f1),
                weighted_f1: Some(metrics.weighted_f1),
            },
            class_analysis: ClassAnalysis {
                class_metrics: ClassMetricsMap(
                    metrics
                        .per_class
                        .iter()
                        .map(|c| {
                            let entry = ClassEntry {
                                precision: c.precision,
                                recall: c.recall,
                                f1_score: c.f1_score,
                                support: c.support,
                                errors: c.errors,
                            };
                            (c.label.clone(), entry)
                        })
                        .collect(),
                ),
                confusion_matrix: metrics.confusion_matrix.clone(),
                problematic_classes: metrics.problematic_classes.clone(),
            },
            confidence_analysis: ConfidenceAnalysis {
                confidence_analysis: ThresholdMap(
                    metrics
                        .thresholds
                        .iter()
                        .map(|t| {
                            let entry = ThresholdEntry {
                                accuracy: t.accuracy,
                                coverage: t.coverage,
                                sample_count: t.sample_count,
                            };
                            (t.threshold, entry)
                        })
                        .collect(),
                ),
                entropy_stats: EntropyEntry {
                    mean: metrics.entropy.mean,
                    std: metrics.entropy.std,
                    high_entropy_samples: metrics.entropy.high_entropy_samples,
                    percentile_90: Some(metrics.entropy.percentile_90),
                },
                low_confidence_indices: metrics.low_confidence.clone(),
                low_confidence_threshold: metrics.low_confidence_threshold,
                confidence_histogram: Some(metrics.confidence_histogram.clone()),
            },
            linguistic_analysis: LinguisticAnalysis {
                problematic_keywords: keywords.problematic.clone(),
                protective_keywords: keywords.protective.clone(),
                vocabulary_size: keywords.vocabulary_size,
                tfidf_params: TfidfParamsEntry {
                    max_features: keywords.params.max_features,
                    ngram_range: vec![keywords.params.ngram_range.0, keywords.params.ngram_range.1],
                    min_df: keywords.params.min_df,
                    max_df: keywords.params.max_df,
                },
            },
            recommendations: Recommendations {
                fine_tuning: FineTuningRecommendation {
                    target_classes: metrics.problematic_classes.clone(),
                    learning_rate: lr.recommendation().to_string(),
                    model_type: meta.model_type.clone(),
                    focus_samples: FocusSamples {
                        low_confidence_count: metrics.low_confidence.len(),
                        misclassified_count: metrics.misclassified.len(),
                        strategy: FOCUS_STRATEGY.to_string(),
                    },
                },
                pruning: PruningRecommendation {
                    strategy: pruning.strategy().to_string(),
                    confidence_threshold: PRUNING_CONFIDENCE_THRESHOLD,
                    expected_coverage: coverage,
                    model_type: meta.model_type,
                },
                data_augmentation: DataAugmentationRecommendation {
                    target_keywords: keywords
                        .problematic
                        .iter()
                        .take(TARGET_KEYWORDS)
                        .map(|(k, _)| k.clone())
                        .collect(),
                    methods: AUGMENTATION_METHODS.iter().map(|m| m.to_string()).collect(),
                },
                architecture: serde_json::Map::new(),
            },
            sample_indices: SampleIndices {
                misclassified: metrics.misclassified.clone(),
                low_confidence: metrics.low_confidence.clone(),
            },
            sample_ids,
        }
    }

    /// Class labels in class-id order (the order of `class_metrics`).
    pub fn labels(&self) -> Vec<String> {
        self.class_analysis.class_metrics.labels()
    }

    /// Pretty JSON as written to `comprehensive_analysis.json`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("analysis serialises: no maps with non-string keys")
    }

    /// The short human summary written to `analysis_summary.txt`.
    pub fn render_summary(&self) -> String {
        let m = &self.metadata;
        let p = &self.performance_metrics;
        let r = &self.recommendations;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Analysis of {} ({}), {}",
            m.model_name, m.model_type, m.analysis_date
        );
        let split = m
            .split
            .as_deref()
            .map(|s| format!(" ({s} split)"))
            .unwrap_or_default();
        let _ = writeln!(s, "Samples: {}{split}", m.dataset_size);
        let _ = writeln!(
            s,
            "Accuracy: {:.2}%  error rate: {:.2}%  mean confidence: {:.3}  misclassified: {}",
            100.0 * p.overall_accuracy,
            100.0 * p.error_rate,
            p.avg_confidence,
            p.total_misclassifications
        );
        if let (Some(ma), Some(w)) = (p.macro_f1, p.weighted_f1) {
            let _ = writeln!(s, "Macro F1: {ma:.4}  weighted F1: {w:.4}");
        }
        let _ = writeln!(s, "\nPer class:");
        let _ = writeln!(
            s,
            "  {:<12} {:>9} {:>9} {:>9} {:>8} {:>7}",
            "class", "precision", "recall", "f1", "support", "errors"
        );
        for (label, c) in &self.class_analysis.class_metrics.0 {
            let _ = writeln!(
                s,
                "  {:<12} {:>9.4} {:>9.4} {:>9.4} {:>8} {:>7}",
                label, c.precision, c.recall, c.f1_score, c.support, c.errors
            );
        }
        let _ = writeln!(
            s,
            "Problematic classes: {}",
            self.class_analysis.problematic_classes.join(", ")
        );
        let _ = writeln!(s, "\nConfidence:");
        for (t, e) in &self.confidence_analysis.confidence_analysis.0 {
            let _ = writeln!(
                s,
                "  >= {t:<5} coverage {:>6.2}%  accuracy {:>6.2}%  ({} samples)",
                100.0 * e.coverage,
                100.0 * e.accuracy,
                e.sample_count
            );
        }
        let e = &self.confidence_analysis.entropy_stats;
        let _ = writeln!(
            s,
            "  low confidence (< {}): {}  entropy mean {:.4} std {:.4}  high-entropy samples {}",
            self.confidence_analysis.low_confidence_threshold,
            self.confidence_analysis.low_confidence_indices.len(),
            e.mean,
            e.std,
            e.high_entropy_samples
        );
        let l = &self.linguistic_analysis;
        let words = |v: &[(String, f64)]| {
            v.iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "\nKeywords (TF-IDF, {} features):", l.vocabulary_size);
        let _ = writeln!(s, "  problematic: {}", words(&l.problematic_keywords));
        let _ = writeln!(s, "  protective:  {}", words(&l.protective_keywords));
        let _ = writeln!(s, "\nRecommendations:");
        let _ = writeln!(s, "  learning rate: {}", r.fine_tuning.learning_rate);
        let _ = writeln!(
            s,
            "  target classes: {}",
            r.fine_tuning.target_classes.join(", ")
        );
        let _ = writeln!(
            s,
            "  focus samples: {} misclassified + {} low confidence ({})",
            r.fine_tuning.focus_samples.misclassified_count,
            r.fine_tuning.focus_samples.low_confidence_count,
            r.fine_tuning.focus_samples.strategy
        );
        let _ = writeln!(
            s,
            "  pruning: {} (coverage {:.2}% at confidence {})",
            r.pruning.strategy,
            100.0 * r.pruning.expected_coverage,
            r.pruning.confidence_threshold
        );
        let _ = writeln!(
            s,
            "  augmentation keywords: {}",
            r.data_augmentation.target_keywords.join(", ")
        );
        s
    }
}
