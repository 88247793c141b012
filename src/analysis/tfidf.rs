//! A scikit-learn compatible `TfidfVectorizer` (word analyser, English stop words, n-grams,
//! document-frequency limits, max_features, smooth idf, l2 rows) and the notebook's keyword
//! mining on top of it.
//!
//! Compatibility notes:
//! - Tokens are maximal runs of word characters (`char::is_alphanumeric` or `_`) of at least
//!   two characters, after lower-casing: scikit-learn's `(?u)\b\w\w+\b`. Python's `\w` and
//!   Rust's alphanumeric differ only on a few combining marks (none in financial English).
//! - max_features keeps the terms with the highest total count. scikit-learn ranks them with
//!   numpy's default (unstable) argsort, so which of several terms tied at the cut-off it keeps
//!   depends on numpy's sort kernel; we keep the tied terms that come first in term order
//!   (what `argsort(kind="stable")` gives). Away from such ties the results are identical
//!   (checked against scikit-learn 1.9 in the tests).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::stop_words::is_stop_word;

/// The vectorizer settings. Defaults are the notebook's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfParams {
    /// Inclusive (min_n, max_n) word n-gram range.
    pub ngram_range: (usize, usize),
    /// Minimum number of documents a term must occur in.
    pub min_df: usize,
    /// Maximum fraction of documents a term may occur in.
    pub max_df: f64,
    pub max_features: usize,
    /// Remove scikit-learn's English stop words before forming n-grams.
    pub english_stop_words: bool,
}

impl Default for TfidfParams {
    fn default() -> Self {
        TfidfParams {
            ngram_range: (1, 3),
            min_df: 2,
            max_df: 0.8,
            max_features: 500,
            english_stop_words: true,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TfidfError {
    #[error("TF-IDF: no documents to fit")]
    NoDocuments,
    #[error(
        "TF-IDF: empty vocabulary; the documents only contain stop words or one-letter tokens"
    )]
    EmptyVocabulary,
    #[error(
        "TF-IDF: max_df {max_df} of {docs} documents allows fewer documents than min_df {min_df}"
    )]
    DfRange {
        max_df: f64,
        min_df: usize,
        docs: usize,
    },
    #[error("TF-IDF: no terms remain after the document-frequency limits (min_df {min_df}, max_df {max_df}) on {docs} documents")]
    NoTermsLeft {
        max_df: f64,
        min_df: usize,
        docs: usize,
    },
    #[error("TF-IDF: invalid ngram_range ({0}, {1})")]
    NgramRange(usize, usize),
    #[error("keyword mining: misclassified index {index} is out of range for {len} texts")]
    IndexOutOfRange { index: usize, len: usize },
}

/// One sparse row: (feature index, value), ascending feature index.
pub type SparseRow = Vec<(usize, f64)>;

/// A fitted vectorizer: features in term order (`get_feature_names_out`) and their idf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfidfModel {
    pub params: TfidfParams,
    pub vocabulary: Vec<String>,
    pub idf: Vec<f64>,
}

/// Lower-cases and splits into tokens of two or more word characters.
pub fn tokenize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut chars = 0usize;
    for ch in lower.chars().chain(std::iter::once(' ')) {
        if ch.is_alphanumeric() || ch == '_' {
            current.push(ch);
            chars += 1;
        } else {
            if chars >= 2 {
                tokens.push(std::mem::take(&mut current));
            }
            current.clear();
            chars = 0;
        }
    }
    tokens
}

/// scikit-learn's word analyser: tokens, stop words removed, then n-grams joined by a space
/// (all unigrams first, then bigrams, then trigrams, as `_word_ngrams` orders them).
pub fn analyze(text: &str, params: &TfidfParams) -> Vec<String> {
    let tokens: Vec<String> = tokenize(text)
        .into_iter()
        .filter(|t| !(params.english_stop_words && is_stop_word(t)))
        .collect();
    let (min_n, max_n) = params.ngram_range;
    let mut grams = Vec::new();
    for n in min_n..=max_n.min(tokens.len()) {
        for window in tokens.windows(n) {
            grams.push(window.join(" "));
        }
    }
    grams
}

/// Fits on `docs` and returns the model and the l2-normalised TF-IDF rows of `docs`.
pub fn fit_transform<S: AsRef<str>>(
    docs: &[S],
    params: &TfidfParams,
) -> Result<(TfidfModel, Vec<SparseRow>), TfidfError> {
    let (min_n, max_n) = params.ngram_range;
    if min_n == 0 || min_n > max_n {
        return Err(TfidfError::NgramRange(min_n, max_n));
    }
    if docs.is_empty() {
        return Err(TfidfError::NoDocuments);
    }
    let counts: Vec<HashMap<String, usize>> = docs
        .iter()
        .map(|d| {
            let mut m = HashMap::new();
            for g in analyze(d.as_ref(), params) {
                *m.entry(g).or_insert(0) += 1;
            }
            m
        })
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    let mut tf: HashMap<&str, usize> = HashMap::new();
    for doc in &counts {
        for (term, &c) in doc {
            *df.entry(term).or_insert(0) += 1;
            *tf.entry(term).or_insert(0) += c;
        }
    }
    if df.is_empty() {
        return Err(TfidfError::EmptyVocabulary);
    }
    let n_docs = docs.len();
    let max_doc_count = params.max_df * n_docs as f64;
    if max_doc_count < params.min_df as f64 {
        return Err(TfidfError::DfRange {
            max_df: params.max_df,
            min_df: params.min_df,
            docs: n_docs,
        });
    }
    // Candidates in term order, as scikit-learn sorts its vocabulary before limiting it.
    let mut candidates: Vec<&str> = df
        .iter()
        .filter(|&(_, &d)| d >= params.min_df && d as f64 <= max_doc_count)
        .map(|(&t, _)| t)
        .collect();
    candidates.sort_unstable();
    if candidates.len() > params.max_features {
        let mut ranked = candidates.clone();
        // Stable sort by descending total count keeps term order among ties.
        ranked.sort_by(|a, b| tf[b].cmp(&tf[a]));
        ranked.truncate(params.max_features);
        ranked.sort_unstable();
        candidates = ranked;
    }
    if candidates.is_empty() {
        return Err(TfidfError::NoTermsLeft {
            max_df: params.max_df,
            min_df: params.min_df,
            docs: n_docs,
        });
    }
    let idf = candidates
        .iter()
        .map(|t| ((1.0 + n_docs as f64) / (1.0 + df[t] as f64)).ln() + 1.0)
        .collect();
    let model = TfidfModel {
        params: params.clone(),
        vocabulary: candidates.iter().map(|t| t.to_string()).collect(),
        idf,
    };
    let rows = counts.iter().map(|c| model.row_from_counts(c)).collect();
    Ok((model, rows))
}

impl TfidfModel {
    fn row_from_counts(&self, counts: &HashMap<String, usize>) -> SparseRow {
        let mut row: SparseRow = self
            .vocabulary
            .iter()
            .enumerate()
            .filter_map(|(j, term)| counts.get(term).map(|&c| (j, c as f64 * self.idf[j])))
            .collect();
        let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, v) in &mut row {
                *v /= norm;
            }
        }
        row
    }

    /// TF-IDF rows of new documents with the fitted vocabulary and idf.
    pub fn transform<S: AsRef<str>>(&self, docs: &[S]) -> Vec<SparseRow> {
        docs.iter()
            .map(|d| {
                let mut m = HashMap::new();
                for g in analyze(d.as_ref(), &self.params) {
                    *m.entry(g).or_insert(0) += 1;
                }
                self.row_from_counts(&m)
            })
            .collect()
    }
}

/// Number of problematic / protective keywords kept, and the score margin they must exceed.
pub const TOP_PROBLEMATIC: usize = 15;
pub const TOP_PROTECTIVE: usize = 10;
pub const KEYWORD_MIN_SCORE: f64 = 0.001;

/// Result of keyword mining. Scores are mean TF-IDF over error texts minus mean over correct
/// texts; `protective` holds the magnitudes of the most negative scores (the notebook's JSON
/// stores them as positive numbers, largest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordAnalysis {
    pub problematic: Vec<(String, f64)>,
    pub protective: Vec<(String, f64)>,
    pub vocabulary_size: usize,
    pub params: TfidfParams,
    pub error_docs: usize,
    pub correct_docs: usize,
}

impl KeywordAnalysis {
    /// No keywords: used when there are no errors to contrast (a perfect model).
    pub fn empty(params: &TfidfParams) -> Self {
        KeywordAnalysis {
            problematic: Vec::new(),
            protective: Vec::new(),
            vocabulary_size: 0,
            params: params.clone(),
            error_docs: 0,
            correct_docs: 0,
        }
    }
}

/// Mines keywords as the notebook did: the vectorizer is fitted on all error texts plus the
/// same number of correct texts — the first ones in index order (deterministic; the notebook
/// drew them without a recorded seed) — then each feature is scored by mean TF-IDF over the
/// errors minus mean over the correct ones. The top 15 scores above 0.001 are problematic
/// (descending), the bottom 10 below -0.001 protective (most negative first). With no
/// misclassified samples there is nothing to contrast and the result is empty.
pub fn mine_keywords<S: AsRef<str>>(
    texts: &[S],
    misclassified: &[usize],
    params: &TfidfParams,
) -> Result<KeywordAnalysis, TfidfError> {
    let mut is_error = vec![false; texts.len()];
    for &i in misclassified {
        *is_error.get_mut(i).ok_or(TfidfError::IndexOutOfRange {
            index: i,
            len: texts.len(),
        })? = true;
    }
    let errors: Vec<&str> = (0..texts.len())
        .filter(|&i| is_error[i])
        .map(|i| texts[i].as_ref())
        .collect();
    if errors.is_empty() {
        return Ok(KeywordAnalysis::empty(params));
    }
    let correct: Vec<&str> = (0..texts.len())
        .filter(|&i| !is_error[i])
        .map(|i| texts[i].as_ref())
        .take(errors.len())
        .collect();
    let docs: Vec<&str> = errors.iter().chain(&correct).copied().collect();
    let (model, rows) = fit_transform(&docs, params)?;
    let scores = keyword_scores(&rows, errors.len(), model.vocabulary.len());

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let problematic = order
        .iter()
        .take(TOP_PROBLEMATIC)
        .filter(|&&j| scores[j] > KEYWORD_MIN_SCORE)
        .map(|&j| (model.vocabulary[j].clone(), scores[j]))
        .collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let protective = order
        .iter()
        .take(TOP_PROTECTIVE)
        .filter(|&&j| scores[j] < -KEYWORD_MIN_SCORE)
        .map(|&j| (model.vocabulary[j].clone(), -scores[j]))
        .collect();
    Ok(KeywordAnalysis {
        problematic,
        protective,
        vocabulary_size: model.vocabulary.len(),
        params: params.clone(),
        error_docs: errors.len(),
        correct_docs: correct.len(),
    })
}

/// Mean of the first `n_errors` rows minus mean of the rest, per feature. With no correct
/// rows the second mean is taken as zero.
pub fn keyword_scores(rows: &[SparseRow], n_errors: usize, n_features: usize) -> Vec<f64> {
    let mut err = vec![0.0; n_features];
    let mut ok = vec![0.0; n_features];
    for (i, row) in rows.iter().enumerate() {
        let target = if i < n_errors { &mut err } else { &mut ok };
        for &(j, v) in row {
            target[j] += v;
        }
    }
    let n_ok = rows.len() - n_errors;
    (0..n_features)
        .map(|j| {
            let ok_mean = if n_ok == 0 { 0.0 } else { ok[j] / n_ok as f64 };
            err[j] / n_errors as f64 - ok_mean
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn tokenizer_matches_sklearn_pattern() {
        assert_eq!(
            tokenize("Net sales rose 5.2% to EUR0.5 mn; a_b I x-ray Ünïcode"),
            vec![
                "net",
                "sales",
                "rose",
                "to",
                "eur0",
                "mn",
                "a_b",
                "ray",
                "ünïcode"
            ]
        );
        assert!(tokenize("a b c . ,").is_empty());
    }

    #[test]
    fn analyzer_drops_stop_words_before_ngrams() {
        let p = TfidfParams::default();
        // "the" and "of" are stop words, so "profit rose" and "rose sharply" become adjacent.
        assert_eq!(
            analyze("The profit of Nokia rose sharply", &p),
            vec![
                "profit",
                "nokia",
                "rose",
                "sharply",
                "profit nokia",
                "nokia rose",
                "rose sharply",
                "profit nokia rose",
                "nokia rose sharply"
            ]
        );
        assert_eq!(super::super::stop_words::ENGLISH_STOP_WORDS.len(), 318);
    }

    #[test]
    fn small_fit_by_hand() {
        // 4 docs; min_df 2, max_df 0.8 (3.2 docs): "sales" is in 4 docs -> dropped.
        // ("up" and "down" would be stop words.)
        let docs = [
            "sales rose profit",
            "sales fell profit",
            "sales rose",
            "sales flat",
        ];
        let p = TfidfParams {
            ngram_range: (1, 1),
            ..TfidfParams::default()
        };
        let (m, rows) = fit_transform(&docs, &p).unwrap();
        assert_eq!(m.vocabulary, vec!["profit", "rose"]);
        let idf = ((1.0f64 + 4.0) / 3.0).ln() + 1.0; // both df 2
        assert!((m.idf[0] - idf).abs() < 1e-15 && (m.idf[1] - idf).abs() < 1e-15);
        let r = 1.0 / 2f64.sqrt();
        assert_eq!(rows[0].len(), 2);
        assert!((rows[0][0].1 - r).abs() < 1e-15);
        assert_eq!(rows[1], vec![(0, 1.0)]);
        assert_eq!(rows[3], vec![]);
        // tf 2 and 1 with equal idf: l2 row (profit 1, rose 2) / sqrt(5).
        let t = m.transform(&["rose rose profit"]);
        assert!((t[0][0].1 - 1.0 / 5f64.sqrt()).abs() < 1e-15);
        assert!((t[0][1].1 - 2.0 / 5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn errors_on_degenerate_input() {
        let p = TfidfParams::default();
        assert_eq!(
            fit_transform::<&str>(&[], &p).unwrap_err(),
            TfidfError::NoDocuments
        );
        assert_eq!(
            fit_transform(&["the a of", "and"], &p).unwrap_err(),
            TfidfError::EmptyVocabulary
        );
        assert!(matches!(
            fit_transform(&["profit up", "profit down"], &p).unwrap_err(),
            TfidfError::DfRange { .. }
        ));
        assert_eq!(
            mine_keywords(&["x"], &[3], &p).unwrap_err(),
            TfidfError::IndexOutOfRange { index: 3, len: 1 }
        );
        assert_eq!(
            mine_keywords(&["profit up"], &[], &p)
                .unwrap()
                .vocabulary_size,
            0
        );
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    fn floats(v: &Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn pairs(v: &Value) -> Vec<(String, f64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_f64().unwrap()))
            .collect()
    }

    /// 300 real FinancialPhraseBank sentences run through scikit-learn 1.9.1 by
    /// tests/fixtures/analysis/make_tfidf_fixture.py.
    #[test]
    fn matches_scikit_learn_on_fpb_sentences() {
        let fx: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/analysis/tfidf_fpb.json"))
                .unwrap();
        let errors = strings(&fx["errors"]);
        let correct = strings(&fx["correct"]);
        assert_eq!((errors.len(), correct.len()), (150, 150));
        let docs: Vec<&String> = errors.iter().chain(&correct).collect();
        let p = TfidfParams::default();
        let (m, rows) = fit_transform(&docs, &p).unwrap();

        assert_eq!(m.vocabulary, strings(&fx["stable_vocabulary"]));
        for (a, b) in m.idf.iter().zip(floats(&fx["stable_idf"])) {
            assert!((a - b).abs() < 1e-12, "idf {a} vs {b}");
        }
        let scores = keyword_scores(&rows, errors.len(), m.vocabulary.len());
        for (j, (a, b)) in scores.iter().zip(floats(&fx["stable_scores"])).enumerate() {
            assert!((a - b).abs() < 1e-9, "{}: {a} vs {b}", m.vocabulary[j]);
        }
        for (i, want) in fx["stable_first_rows"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let mut want: Vec<(usize, f64)> = want["col"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap() as usize)
                .zip(floats(&want["val"]))
                .collect();
            want.sort_by_key(|x| x.0);
            assert_eq!(rows[i].len(), want.len());
            for (a, b) in rows[i].iter().zip(&want) {
                assert_eq!(a.0, b.0);
                assert!((a.1 - b.1).abs() < 1e-12);
            }
        }

        // scikit-learn's own vocabulary differs only in terms tied at the cut-off count.
        let sk = strings(&fx["sklearn_vocabulary"]);
        let cut = fx["cutoff_total_count"].as_u64().unwrap() as usize;
        let tf = |t: &str| -> usize {
            docs.iter()
                .map(|d| analyze(d, &p).iter().filter(|g| *g == t).count())
                .sum()
        };
        let ours: std::collections::BTreeSet<&String> = m.vocabulary.iter().collect();
        let theirs: std::collections::BTreeSet<&String> = sk.iter().collect();
        let differing: Vec<&&String> = ours.symmetric_difference(&theirs).collect();
        assert_eq!(differing.len(), 10);
        for t in differing {
            assert_eq!(tf(t), cut, "{t}");
        }
        // Same idf as scikit-learn for every shared term (idf does not depend on the rest).
        let sk_idf = floats(&fx["sklearn_idf"]);
        for (j, t) in sk.iter().enumerate() {
            if let Ok(k) = m.vocabulary.binary_search(t) {
                assert!((m.idf[k] - sk_idf[j]).abs() < 1e-12, "{t}");
            }
        }

        // Keyword mining over the same texts (errors = every 4th of the first 600 lines is the
        // fixture's construction; here the texts are laid out errors first).
        let texts: Vec<&String> = docs.clone();
        let mis: Vec<usize> = (0..150).collect();
        let k = mine_keywords(&texts, &mis, &p).unwrap();
        assert_eq!(k.vocabulary_size, 500);
        assert_eq!((k.error_docs, k.correct_docs), (150, 150));
        for (got, want) in [
            (&k.problematic, pairs(&fx["stable_problematic"])),
            (&k.protective, pairs(&fx["stable_protective"])),
        ] {
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert_eq!(a.0, b.0);
                assert!((a.1 - b.1).abs() < 1e-9);
            }
        }
        assert_eq!(k.problematic[0].0, "grew");
        assert_eq!(k.protective[0].0, "increased");
    }
}
