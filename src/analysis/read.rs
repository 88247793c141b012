//! Reading and validating `comprehensive_analysis.json`: a schema walk that names the JSON
//! path of any missing or mistyped key, then consistency checks on the typed result (indices
//! in range, counts that agree with each other and with the confusion matrix, known labels).

use std::path::Path;

use serde_json::Value;

use super::analysis_json::{parse_threshold_key, ComprehensiveAnalysis};
use super::recommend::{parse_learning_rate, PruningLevel};
use super::AnalysisError;

#[derive(Clone, Copy)]
enum Shape {
    Str,
    /// A non-negative integer.
    Int,
    /// Any JSON number (integers are accepted where floats are expected).
    Num,
    /// A list; `true` when it must not be empty.
    List(&'static Shape, bool),
    /// A `[string, number]` pair.
    Keyword,
    Object(&'static [Field]),
    /// An object with arbitrary keys (labels); `true` when it must not be empty.
    Map(&'static Shape, bool),
    /// An object with any content.
    AnyObject,
    /// An object keyed `threshold_<number>`, not empty.
    Thresholds(&'static Shape),
}

#[derive(Clone, Copy)]
struct Field {
    key: &'static str,
    shape: Shape,
    required: bool,
}

const fn req(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: true,
    }
}

const fn opt(key: &'static str, shape: Shape) -> Field {
    Field {
        key,
        shape,
        required: false,
    }
}

const METADATA: &[Field] = &[
    req("analysis_date", Shape::Str),
    req("dataset_size", Shape::Int),
    req("model_path", Shape::Str),
    req("model_name", Shape::Str),
    req("model_type", Shape::Str),
    req("analysis_type", Shape::Str),
    opt("split", Shape::Str),
];
const PERFORMANCE: &[Field] = &[
    req("overall_accuracy", Shape::Num),
    req("error_rate", Shape::Num),
    req("avg_confidence", Shape::Num),
    req("total_misclassifications", Shape::Int),
    opt("macro_f1", Shape::Num),
    opt("weighted_f1", Shape::Num),
];
const CLASS_ENTRY: &[Field] = &[
    req("precision", Shape::Num),
    req("recall", Shape::Num),
    req("f1_score", Shape::Num),
    req("support", Shape::Int),
    req("errors", Shape::Int),
];
const CLASS_ANALYSIS: &[Field] = &[
    req(
        "class_metrics",
        Shape::Map(&Shape::Object(CLASS_ENTRY), true),
    ),
    req(
        "confusion_matrix",
        Shape::List(&Shape::List(&Shape::Int, true), true),
    ),
    req("problematic_classes", Shape::List(&Shape::Str, true)),
];
const THRESHOLD_ENTRY: &[Field] = &[
    req("accuracy", Shape::Num),
    req("coverage", Shape::Num),
    req("sample_count", Shape::Int),
];
const ENTROPY: &[Field] = &[
    req("mean", Shape::Num),
    req("std", Shape::Num),
    req("high_entropy_samples", Shape::Int),
    opt("percentile_90", Shape::Num),
];
const HISTOGRAM: &[Field] = &[
    req("edges", Shape::List(&Shape::Num, true)),
    req("counts", Shape::List(&Shape::Int, true)),
];
const CONFIDENCE: &[Field] = &[
    req(
        "confidence_analysis",
        Shape::Thresholds(&Shape::Object(THRESHOLD_ENTRY)),
    ),
    req("entropy_stats", Shape::Object(ENTROPY)),
    req("low_confidence_indices", Shape::List(&Shape::Int, false)),
    req("low_confidence_threshold", Shape::Num),
    opt("confidence_histogram", Shape::Object(HISTOGRAM)),
];
const TFIDF_PARAMS: &[Field] = &[
    req("max_features", Shape::Int),
    req("ngram_range", Shape::List(&Shape::Int, true)),
    req("min_df", Shape::Int),
    req("max_df", Shape::Num),
];
const LINGUISTIC: &[Field] = &[
    req("problematic_keywords", Shape::List(&Shape::Keyword, false)),
    req("protective_keywords", Shape::List(&Shape::Keyword, false)),
    req("vocabulary_size", Shape::Int),
    req("tfidf_params", Shape::Object(TFIDF_PARAMS)),
];
const FOCUS: &[Field] = &[
    req("low_confidence_count", Shape::Int),
    req("misclassified_count", Shape::Int),
    req("strategy", Shape::Str),
];
const FINE_TUNING: &[Field] = &[
    req("target_classes", Shape::List(&Shape::Str, true)),
    req("learning_rate", Shape::Str),
    req("model_type", Shape::Str),
    req("focus_samples", Shape::Object(FOCUS)),
];
const PRUNING: &[Field] = &[
    req("strategy", Shape::Str),
    req("confidence_threshold", Shape::Num),
    req("expected_coverage", Shape::Num),
    req("model_type", Shape::Str),
];
const AUGMENTATION: &[Field] = &[
    req("target_keywords", Shape::List(&Shape::Str, false)),
    req("methods", Shape::List(&Shape::Str, true)),
];
const RECOMMENDATIONS: &[Field] = &[
    req("fine_tuning", Shape::Object(FINE_TUNING)),
    req("pruning", Shape::Object(PRUNING)),
    req("data_augmentation", Shape::Object(AUGMENTATION)),
    opt("architecture", Shape::AnyObject),
];
const SAMPLE_INDICES: &[Field] = &[
    req("misclassified", Shape::List(&Shape::Int, false)),
    req("low_confidence", Shape::List(&Shape::Int, false)),
];
const SAMPLE_IDS: &[Field] = &[
    req("misclassified", Shape::List(&Shape::Str, false)),
    req("low_confidence", Shape::List(&Shape::Str, false)),
];
const ROOT: &[Field] = &[
    req("metadata", Shape::Object(METADATA)),
    req("performance_metrics", Shape::Object(PERFORMANCE)),
    req("class_analysis", Shape::Object(CLASS_ANALYSIS)),
    req("confidence_analysis", Shape::Object(CONFIDENCE)),
    req("linguistic_analysis", Shape::Object(LINGUISTIC)),
    req("recommendations", Shape::Object(RECOMMENDATIONS)),
    req("sample_indices", Shape::Object(SAMPLE_INDICES)),
    opt("sample_ids", Shape::Object(SAMPLE_IDS)),
];

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn schema_err(path: &str, message: impl Into<String>) -> AnalysisError {
    AnalysisError::Schema {
        path: if path.is_empty() {
            "(root)".into()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check(v: &Value, shape: &Shape, path: &str) -> Result<(), AnalysisError> {
    let expected = |what: &str| schema_err(path, format!("expected {what}, found {}", describe(v)));
    match shape {
        Shape::Str => v
            .is_string()
            .then_some(())
            .ok_or_else(|| expected("a string")),
        Shape::Int => v
            .is_u64()
            .then_some(())
            .ok_or_else(|| expected("a non-negative integer")),
        Shape::Num => v
            .is_number()
            .then_some(())
            .ok_or_else(|| expected("a number")),
        Shape::List(item, non_empty) => {
            let list = v.as_array().ok_or_else(|| expected("a list"))?;
            if *non_empty && list.is_empty() {
                return Err(schema_err(path, "must not be empty"));
            }
            for (i, x) in list.iter().enumerate() {
                check(x, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Shape::Keyword => {
            let pair = v
                .as_array()
                .ok_or_else(|| expected("a [keyword, score] pair"))?;
            if pair.len() != 2 {
                return Err(schema_err(
                    path,
                    format!(
                        "expected a [keyword, score] pair, found a list of {}",
                        pair.len()
                    ),
                ));
            }
            check(&pair[0], &Shape::Str, &format!("{path}[0]"))?;
            check(&pair[1], &Shape::Num, &format!("{path}[1]"))
        }
        Shape::Object(fields) => {
            let obj = v.as_object().ok_or_else(|| expected("an object"))?;
            for f in fields.iter() {
                let p = join(path, f.key);
                match obj.get(f.key) {
                    Some(x) => check(x, &f.shape, &p)?,
                    None if f.required => return Err(schema_err(&p, "missing key")),
                    None => {}
                }
            }
            Ok(())
        }
        Shape::AnyObject => v
            .is_object()
            .then_some(())
            .ok_or_else(|| expected("an object")),
        Shape::Map(item, non_empty) => {
            let obj = v.as_object().ok_or_else(|| expected("an object"))?;
            if *non_empty && obj.is_empty() {
                return Err(schema_err(path, "must not be empty"));
            }
            obj.iter()
                .try_for_each(|(k, x)| check(x, item, &join(path, k)))
        }
        Shape::Thresholds(item) => {
            let obj = v.as_object().ok_or_else(|| expected("an object"))?;
            if obj.is_empty() {
                return Err(schema_err(path, "must not be empty"));
            }
            for (k, x) in obj {
                if parse_threshold_key(k).is_none() {
                    return Err(schema_err(
                        &join(path, k),
                        "expected a key of the form threshold_<number>",
                    ));
                }
                check(x, item, &join(path, k))?;
            }
            Ok(())
        }
    }
}

/// Reads and validates an analysis file. Errors name the file and the JSON path at fault.
pub fn read_analysis(path: impl AsRef<Path>) -> Result<ComprehensiveAnalysis, AnalysisError> {
    let path = path.as_ref();
    let in_file = |e: AnalysisError| AnalysisError::File {
        file: path.to_path_buf(),
        source: Box::new(e),
    };
    let text = std::fs::read_to_string(path).map_err(|source| AnalysisError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse_analysis(&text).map_err(in_file)
}

/// Parses and validates analysis JSON text.
pub fn parse_analysis(text: &str) -> Result<ComprehensiveAnalysis, AnalysisError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| schema_err("", format!("not valid JSON: {e}")))?;
    analysis_from_value(value)
}

/// Validates a JSON value (schema, then consistency) and converts it.
pub fn analysis_from_value(value: Value) -> Result<ComprehensiveAnalysis, AnalysisError> {
    check(&value, &Shape::Object(ROOT), "")?;
    // The schema walk has checked every key the structs need, so this only fails on
    // numbers out of range for their Rust type.
    let analysis: ComprehensiveAnalysis =
        serde_json::from_value(value).map_err(|e| schema_err("", e.to_string()))?;
    analysis.validate()?;
    Ok(analysis)
}

/// Tolerance for floats the notebook derived from counts.
const TOL: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn check_indices(list: &[usize], n: usize, path: &str) -> Result<(), AnalysisError> {
    for (i, &x) in list.iter().enumerate() {
        if x >= n {
            return Err(schema_err(
                &format!("{path}[{i}]"),
                format!("index {x} is out of range for metadata.dataset_size {n}"),
            ));
        }
        if i > 0 && x <= list[i - 1] {
            return Err(schema_err(
                &format!("{path}[{i}]"),
                format!("index {x} is not greater than the one before ({}): indices must be ascending and distinct", list[i - 1]),
            ));
        }
    }
    Ok(())
}

impl ComprehensiveAnalysis {
    /// Checks that the numbers agree with each other: the confusion matrix against the
    /// per-class and overall metrics, the index lists against the counts and the dataset
    /// size, the confidence thresholds against the dataset size, and the recommendation
    /// strings against their parsers.
    pub fn validate(&self) -> Result<(), AnalysisError> {
        let n = self.metadata.dataset_size;
        if n == 0 {
            return Err(schema_err("metadata.dataset_size", "must be positive"));
        }
        let cm_path = "class_analysis.confusion_matrix";
        let classes = &self.class_analysis.class_metrics.0;
        let cm = &self.class_analysis.confusion_matrix;
        let k = classes.len();
        if cm.len() != k {
            return Err(schema_err(
                cm_path,
                format!(
                    "{} rows for {k} classes in class_analysis.class_metrics",
                    cm.len()
                ),
            ));
        }
        for (i, row) in cm.iter().enumerate() {
            if row.len() != k {
                return Err(schema_err(
                    &format!("{cm_path}[{i}]"),
                    format!("{} columns for {k} classes", row.len()),
                ));
            }
        }
        let total: usize = cm.iter().flatten().sum();
        if total != n {
            return Err(schema_err(
                cm_path,
                format!("counts add up to {total}, but metadata.dataset_size is {n}"),
            ));
        }
        let trace: usize = (0..k).map(|c| cm[c][c]).sum();
        for (c, (label, e)) in classes.iter().enumerate() {
            let p = format!("class_analysis.class_metrics.{label}");
            let support: usize = cm[c].iter().sum();
            let predicted: usize = cm.iter().map(|r| r[c]).sum();
            let tp = cm[c][c];
            if e.support != support {
                return Err(schema_err(
                    &format!("{p}.support"),
                    format!(
                        "{} but row {c} of the confusion matrix adds up to {support}",
                        e.support
                    ),
                ));
            }
            if e.errors != support - tp {
                return Err(schema_err(
                    &format!("{p}.errors"),
                    format!(
                        "{} but the confusion matrix gives {}",
                        e.errors,
                        support - tp
                    ),
                ));
            }
            let (prec, rec) = (ratio(tp, predicted), ratio(tp, support));
            let f1 = if prec + rec > 0.0 {
                2.0 * prec * rec / (prec + rec)
            } else {
                0.0
            };
            for (key, have, want) in [
                ("precision", e.precision, prec),
                ("recall", e.recall, rec),
                ("f1_score", e.f1_score, f1),
            ] {
                if !close(have, want) {
                    return Err(schema_err(
                        &format!("{p}.{key}"),
                        format!("{have} but the confusion matrix gives {want}"),
                    ));
                }
            }
        }
        let labels = self.labels();
        let known = |list: &[String], path: &str| -> Result<(), AnalysisError> {
            for (i, l) in list.iter().enumerate() {
                if !labels.contains(l) {
                    return Err(schema_err(
                        &format!("{path}[{i}]"),
                        format!("unknown class {l:?} (classes: {})", labels.join(", ")),
                    ));
                }
            }
            Ok(())
        };
        known(
            &self.class_analysis.problematic_classes,
            "class_analysis.problematic_classes",
        )?;
        known(
            &self.recommendations.fine_tuning.target_classes,
            "recommendations.fine_tuning.target_classes",
        )?;

        let perf = &self.performance_metrics;
        let acc = ratio(trace, n);
        if !close(perf.overall_accuracy, acc) {
            return Err(schema_err(
                "performance_metrics.overall_accuracy",
                format!(
                    "{} but the confusion matrix gives {acc}",
                    perf.overall_accuracy
                ),
            ));
        }
        if !close(perf.error_rate, 1.0 - acc) {
            return Err(schema_err(
                "performance_metrics.error_rate",
                format!(
                    "{} but the confusion matrix gives {}",
                    perf.error_rate,
                    1.0 - acc
                ),
            ));
        }
        if perf.total_misclassifications != n - trace {
            return Err(schema_err(
                "performance_metrics.total_misclassifications",
                format!(
                    "{} but the confusion matrix gives {}",
                    perf.total_misclassifications,
                    n - trace
                ),
            ));
        }
        if !(0.0..=1.0).contains(&perf.avg_confidence) {
            return Err(schema_err(
                "performance_metrics.avg_confidence",
                format!("{} is not a probability", perf.avg_confidence),
            ));
        }

        let idx = &self.sample_indices;
        check_indices(&idx.misclassified, n, "sample_indices.misclassified")?;
        check_indices(&idx.low_confidence, n, "sample_indices.low_confidence")?;
        if idx.misclassified.len() != perf.total_misclassifications {
            return Err(schema_err(
                "sample_indices.misclassified",
                format!(
                    "{} indices but performance_metrics.total_misclassifications is {}",
                    idx.misclassified.len(),
                    perf.total_misclassifications
                ),
            ));
        }
        let conf = &self.confidence_analysis;
        if conf.low_confidence_indices != idx.low_confidence {
            return Err(schema_err(
                "confidence_analysis.low_confidence_indices",
                "differs from sample_indices.low_confidence",
            ));
        }
        let focus = &self.recommendations.fine_tuning.focus_samples;
        let fp = "recommendations.fine_tuning.focus_samples";
        if focus.misclassified_count != idx.misclassified.len() {
            return Err(schema_err(
                &format!("{fp}.misclassified_count"),
                format!(
                    "{} but sample_indices.misclassified has {}",
                    focus.misclassified_count,
                    idx.misclassified.len()
                ),
            ));
        }
        if focus.low_confidence_count != idx.low_confidence.len() {
            return Err(schema_err(
                &format!("{fp}.low_confidence_count"),
                format!(
                    "{} but sample_indices.low_confidence has {}",
                    focus.low_confidence_count,
                    idx.low_confidence.len()
                ),
            ));
        }
        if let Some(ids) = &self.sample_ids {
            if ids.misclassified.len() != idx.misclassified.len() {
                return Err(schema_err(
                    "sample_ids.misclassified",
                    format!(
                        "{} ids for {} indices",
                        ids.misclassified.len(),
                        idx.misclassified.len()
                    ),
                ));
            }
            if ids.low_confidence.len() != idx.low_confidence.len() {
                return Err(schema_err(
                    "sample_ids.low_confidence",
                    format!(
                        "{} ids for {} indices",
                        ids.low_confidence.len(),
                        idx.low_confidence.len()
                    ),
                ));
            }
        }

        let low_t = conf.low_confidence_threshold;
        if !(low_t > 0.0 && low_t <= 1.0) {
            return Err(schema_err(
                "confidence_analysis.low_confidence_threshold",
                format!("{low_t} is not in (0, 1]"),
            ));
        }
        let low_count = idx.low_confidence.len();
        let mut previous: Option<(f64, usize)> = None;
        for (t, e) in &conf.confidence_analysis.0 {
            let p = format!("confidence_analysis.confidence_analysis.threshold_{t}");
            if e.sample_count > n {
                return Err(schema_err(
                    &format!("{p}.sample_count"),
                    format!("{} exceeds metadata.dataset_size {n}", e.sample_count),
                ));
            }
            if !close(e.coverage, ratio(e.sample_count, n)) {
                return Err(schema_err(
                    &format!("{p}.coverage"),
                    format!(
                        "{} but sample_count / dataset_size is {}",
                        e.coverage,
                        ratio(e.sample_count, n)
                    ),
                ));
            }
            let right = e.accuracy * e.sample_count as f64;
            if !(0.0..=1.0).contains(&e.accuracy)
                || (right - right.round()).abs() > TOL * (1.0 + right)
                || right.round() as usize > trace
            {
                return Err(schema_err(&format!("{p}.accuracy"), format!("{} is not a fraction of {} samples consistent with {trace} correct overall", e.accuracy, e.sample_count)));
            }
            if let Some((pt, pc)) = previous {
                if *t <= pt || e.sample_count > pc {
                    return Err(schema_err(
                        &p,
                        "thresholds must ascend with non-increasing sample counts",
                    ));
                }
            }
            // Samples below a lower threshold are all low-confidence; low-confidence ones are
            // all below a higher threshold.
            if (*t <= low_t && n - e.sample_count > low_count)
                || (*t >= low_t && low_count > n - e.sample_count)
            {
                return Err(schema_err("sample_indices.low_confidence", format!("{low_count} low-confidence samples (< {low_t}) contradict {} samples at >= {t}", e.sample_count)));
            }
            previous = Some((*t, e.sample_count));
        }
        let ent = &conf.entropy_stats;
        if ent.mean < 0.0 || ent.std < 0.0 {
            return Err(schema_err(
                "confidence_analysis.entropy_stats",
                "mean and std must not be negative",
            ));
        }
        if ent.high_entropy_samples > n {
            return Err(schema_err(
                "confidence_analysis.entropy_stats.high_entropy_samples",
                format!(
                    "{} exceeds metadata.dataset_size {n}",
                    ent.high_entropy_samples
                ),
            ));
        }

        let tf = &self.linguistic_analysis.tfidf_params;
        let ngram_ok = tf.ngram_range.len() == 2
            && tf.ngram_range[0] >= 1
            && tf.ngram_range[0] <= tf.ngram_range[1];
        if !ngram_ok {
            return Err(schema_err(
                "linguistic_analysis.tfidf_params.ngram_range",
                format!(
                    "{:?} is not a [min_n, max_n] pair with 1 <= min_n <= max_n",
                    tf.ngram_range
                ),
            ));
        }
        if self.linguistic_analysis.vocabulary_size > tf.max_features {
            return Err(schema_err(
                "linguistic_analysis.vocabulary_size",
                format!(
                    "{} exceeds tfidf_params.max_features {}",
                    self.linguistic_analysis.vocabulary_size, tf.max_features
                ),
            ));
        }

        let rec = &self.recommendations;
        if parse_learning_rate(&rec.fine_tuning.learning_rate).is_none() {
            return Err(schema_err(
                "recommendations.fine_tuning.learning_rate",
                format!(
                    "cannot read a \"LOW to HIGH\" learning-rate band from {:?}",
                    rec.fine_tuning.learning_rate
                ),
            ));
        }
        if PruningLevel::parse_strategy(&rec.pruning.strategy).is_none() {
            return Err(schema_err(
                "recommendations.pruning.strategy",
                format!(
                    "{:?} does not start with Conservative, Moderate or Aggressive",
                    rec.pruning.strategy
                ),
            ));
        }
        if let Some(e) = conf
            .confidence_analysis
            .get(rec.pruning.confidence_threshold)
        {
            if !close(e.coverage, rec.pruning.expected_coverage) {
                return Err(schema_err(
                    "recommendations.pruning.expected_coverage",
                    format!(
                        "{} but the coverage at threshold {} is {}",
                        rec.pruning.expected_coverage, rec.pruning.confidence_threshold, e.coverage
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the analysis is about the same classes, in the same order, as `expected`.
    pub fn check_labels(&self, expected: &[String]) -> Result<(), AnalysisError> {
        let labels = self.labels();
        if labels != expected {
            return Err(schema_err(
                "class_analysis.class_metrics",
                format!(
                    "classes [{}] do not match the dataset's [{}]",
                    labels.join(", "),
                    expected.join(", ")
                ),
            ));
        }
        Ok(())
    }
}
