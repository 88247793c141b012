//! The seeded, stratified train / validation / test split, by sample id.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::dataset::Sample;
use super::error::DataError;
use super::rng::SplitMix64;

pub const DEFAULT_SPLIT_SEED: u64 = 42;

/// Percentages of each label's samples going to train / validation / test; they sum to 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SplitSpec {
    pub train: u32,
    pub validation: u32,
    pub test: u32,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            train: 70,
            validation: 15,
            test: 15,
        }
    }
}

impl fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.train, self.validation, self.test)
    }
}

impl FromStr for SplitSpec {
    type Err = DataError;
    /// `"70/15/15"`: three whole percentages, each above 0, summing to 100.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| DataError::SplitSpec {
            spec: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(err(format!(
                "expected three percentages train/validation/test like 70/15/15, found {} part(s)",
                parts.len()
            )));
        }
        let mut values = [0u32; 3];
        for ((value, part), name) in
            values
                .iter_mut()
                .zip(&parts)
                .zip(["train", "validation", "test"])
        {
            *value = part
                .parse::<u32>()
                .map_err(|_| err(format!("{name} percentage '{part}' is not a whole number")))?;
            if *value == 0 {
                return Err(err(format!(
                    "{name} percentage is 0; every split needs samples"
                )));
            }
        }
        let sum: u64 = values.iter().map(|&v| u64::from(v)).sum();
        if sum != 100 {
            return Err(err(format!("percentages sum to {sum}, not 100")));
        }
        Ok(SplitSpec {
            train: values[0],
            validation: values[1],
            test: values[2],
        })
    }
}

/// Sample ids of each split, each list sorted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    pub train: Vec<String>,
    pub validation: Vec<String>,
    pub test: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SplitCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

impl Split {
    /// sha256 (hex) of the three id lists, each introduced by its name and length, so that moving
    /// an id between lists, or between the end of one and the start of the next, changes it.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"exp-split-v1\n");
        for (name, ids) in self.parts() {
            hasher.update(format!("{name} {}\n", ids.len()).as_bytes());
            for id in ids {
                hasher.update(id.as_bytes());
                hasher.update(b"\n");
            }
        }
        hex::encode(hasher.finalize())
    }

    /// Split sizes per label of `samples`; ids not among `samples` are not counted.
    pub fn counts_by_label(&self, samples: &[Sample]) -> BTreeMap<String, SplitCounts> {
        let labels: BTreeMap<&str, &str> = samples
            .iter()
            .map(|s| (s.id.as_str(), s.label.as_str()))
            .collect();
        let mut counts: BTreeMap<String, SplitCounts> = BTreeMap::new();
        for (name, ids) in self.parts() {
            for id in ids {
                if let Some(label) = labels.get(id.as_str()) {
                    let c = counts.entry(label.to_string()).or_default();
                    match name {
                        "train" => c.train += 1,
                        "validation" => c.validation += 1,
                        _ => c.test += 1,
                    }
                }
            }
        }
        counts
    }

    pub fn counts(&self) -> SplitCounts {
        SplitCounts {
            train: self.train.len(),
            validation: self.validation.len(),
            test: self.test.len(),
        }
    }

    fn parts(&self) -> [(&'static str, &Vec<String>); 3] {
        [
            ("train", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ]
    }
}

/// For each label: its ids sorted, shuffled (SplitMix64 seeded from `seed` and the label,
/// Fisher-Yates), then round(n * train%) to train, round(n * validation%) to validation, the
/// rest to test. Needs at least two labels, and every split non-empty for every label.
pub fn stratified_split(
    samples: &[Sample],
    spec: &SplitSpec,
    seed: u64,
) -> Result<Split, DataError> {
    let mut by_label: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for sample in samples {
        if !seen.insert(sample.id.as_str()) {
            return Err(DataError::Split(format!(
                "sample id {} occurs more than once; split deduplicated samples",
                sample.id
            )));
        }
        by_label
            .entry(sample.label.as_str())
            .or_default()
            .push(sample.id.as_str());
    }
    let per_label: String = by_label
        .iter()
        .map(|(label, ids)| format!("{label}: {}", ids.len()))
        .collect::<Vec<String>>()
        .join(", ");
    if by_label.len() < 2 {
        return Err(DataError::Split(format!(
            "need samples of at least 2 labels, found {} ({})",
            by_label.len(),
            per_label
        )));
    }

    let mut split = Split {
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
    };
    for (label, ids) in by_label.iter_mut() {
        let n = ids.len();
        let n_train = rounded_share(n, spec.train);
        let n_validation = rounded_share(n, spec.validation);
        let n_test = n.saturating_sub(n_train + n_validation);
        if n_train == 0 || n_validation == 0 || n_test == 0 {
            return Err(DataError::Split(format!(
                "label '{label}' has {n} sample(s): {spec} gives train {n_train}, validation \
                 {n_validation}, test {n_test}; every split needs at least one sample of every label \
                 (samples per label: {per_label})"
            )));
        }
        ids.sort_unstable();
        SplitMix64::new(seed ^ label_salt(label)).shuffle(ids);
        split
            .train
            .extend(ids[..n_train].iter().map(|id| id.to_string()));
        split.validation.extend(
            ids[n_train..n_train + n_validation]
                .iter()
                .map(|id| id.to_string()),
        );
        split.test.extend(
            ids[n_train + n_validation..]
                .iter()
                .map(|id| id.to_string()),
        );
    }
    split.train.sort_unstable();
    split.validation.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}

/// round(n * percent / 100), halves rounded up, in integers.
fn rounded_share(n: usize, percent: u32) -> usize {
    (n * percent as usize + 50) / 100
}

/// Each label gets its own random stream, so one label's samples do not move another's.
fn label_salt(label: &str) -> u64 {
    let digest = Sha256::digest(format!("exp-split-label:{label}").as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("sha256 has 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ids::sample_id;

    fn samples(per_label: &[(&str, usize)]) -> Vec<Sample> {
        let mut out = Vec::new();
        for (label, n) in per_label {
            for i in 0..*n {
                let text = format!("{label} sentence {i}");
                out.push(Sample {
                    id: sample_id(&text),
                    text,
                    label: label.to_string(),
                    line: out.len() + 1,
                });
            }
        }
        out
    }

    #[test]
    fn spec_parses_and_rejects_clearly() {
        assert_eq!(
            "70/15/15".parse::<SplitSpec>().unwrap(),
            SplitSpec::default()
        );
        assert_eq!(
            " 80 / 10 / 10 ".parse::<SplitSpec>().unwrap(),
            SplitSpec {
                train: 80,
                validation: 10,
                test: 10
            }
        );
        assert_eq!(SplitSpec::default().to_string(), "70/15/15");
        let cases = [
            ("70/15", "invalid split spec '70/15': expected three percentages train/validation/test like 70/15/15, found 2 part(s)"),
            ("70/20/20", "invalid split spec '70/20/20': percentages sum to 110, not 100"),
            ("a/b/c", "invalid split spec 'a/b/c': train percentage 'a' is not a whole number"),
            ("100/0/0", "invalid split spec '100/0/0': validation percentage is 0; every split needs samples"),
            ("70/-15/45", "invalid split spec '70/-15/45': validation percentage '-15' is not a whole number"),
        ];
        for (spec, message) in cases {
            assert_eq!(spec.parse::<SplitSpec>().unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn split_is_stratified_disjoint_complete_and_seeded() {
        let data = samples(&[("negative", 61), ("neutral", 290), ("positive", 137)]);
        let spec = SplitSpec::default();
        let a = stratified_split(&data, &spec, 42).unwrap();
        let b = stratified_split(&data, &spec, 42).unwrap();
        let c = stratified_split(&data, &spec, 43).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a, c);
        assert_ne!(a.digest(), c.digest());
        // Same sizes whatever the seed: only membership changes.
        assert_eq!(a.counts(), c.counts());

        let mut all: Vec<&String> = a.train.iter().chain(&a.validation).chain(&a.test).collect();
        assert_eq!(all.len(), data.len());
        all.sort();
        all.dedup();
        assert_eq!(all.len(), data.len(), "splits overlap");
        let mut ids: Vec<&String> = data.iter().map(|s| &s.id).collect();
        ids.sort();
        assert_eq!(all, ids);

        let counts = a.counts_by_label(&data);
        // round(61*.70)=43, round(61*.15)=9 (9.15), rest 9; 290 -> 203/44(43.5)/43; 137 -> 96(95.9)/21(20.55)/20.
        assert_eq!(
            counts["negative"],
            SplitCounts {
                train: 43,
                validation: 9,
                test: 9
            }
        );
        assert_eq!(
            counts["neutral"],
            SplitCounts {
                train: 203,
                validation: 44,
                test: 43
            }
        );
        assert_eq!(
            counts["positive"],
            SplitCounts {
                train: 96,
                validation: 21,
                test: 20
            }
        );
        for (label, n) in [("negative", 61.0), ("neutral", 290.0), ("positive", 137.0)] {
            let c = counts[label];
            for (got, pct) in [(c.train, 70.0), (c.validation, 15.0), (c.test, 15.0)] {
                let want: f64 = n * pct / 100.0;
                assert!((got as f64 - want).abs() <= 1.0, "{label}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn split_ignores_input_order_and_is_sorted() {
        let data = samples(&[("a", 20), ("b", 30)]);
        let mut reversed = data.clone();
        reversed.reverse();
        let spec = SplitSpec::default();
        let a = stratified_split(&data, &spec, 1).unwrap();
        assert_eq!(a, stratified_split(&reversed, &spec, 1).unwrap());
        assert!(a.train.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn digest_separates_lists() {
        let s = |t: &[&str], v: &[&str], e: &[&str]| Split {
            train: t.iter().map(|x| x.to_string()).collect(),
            validation: v.iter().map(|x| x.to_string()).collect(),
            test: e.iter().map(|x| x.to_string()).collect(),
        };
        let base = s(&["a", "b"], &["c"], &["d"]);
        assert_eq!(base.digest().len(), 64);
        assert_ne!(base.digest(), s(&["a"], &["b", "c"], &["d"]).digest());
        assert_ne!(base.digest(), s(&["a", "b"], &["d"], &["c"]).digest());
    }

    #[test]
    fn too_small_or_single_label_is_an_error_with_counts() {
        let spec = SplitSpec::default();
        let e = stratified_split(&samples(&[("neutral", 10)]), &spec, 42).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot split: need samples of at least 2 labels, found 1 (neutral: 10)"
        );
        let e = stratified_split(&samples(&[("negative", 3), ("positive", 20)]), &spec, 42)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot split: label 'negative' has 3 sample(s): 70/15/15 gives train 2, validation 0, \
             test 1; every split needs at least one sample of every label (samples per label: \
             negative: 3, positive: 20)"
        );
        let mut dup = samples(&[("a", 10), ("b", 10)]);
        dup.push(dup[0].clone());
        assert!(stratified_split(&dup, &spec, 42)
            .unwrap_err()
            .to_string()
            .contains("occurs more than once"));
    }
}
