//! Labels stored as codes rather than names: integers in Hugging Face's `ClassLabel` convention
//! (`0..n-1`, in the order of `--labels`), or any codes given by `--label-map 0=negative,...`.
//! Rows are rewritten to the known label names before ids, duplicates and conflicts are
//! worked out, so a file with codes gives the same samples and split as one with names.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

use super::error::DataError;
use super::fpb::RawRow;

/// Raw label (trimmed, lower-case) -> known label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LabelMap(pub BTreeMap<String, String>);

impl FromStr for LabelMap {
    type Err = String;
    /// `0=negative,1=neutral,2=positive`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut map = BTreeMap::new();
        for pair in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (raw, label) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}' is not RAW=LABEL (e.g. 0=negative)"))?;
            let (raw, label) = (raw.trim().to_lowercase(), label.trim().to_lowercase());
            if raw.is_empty() || label.is_empty() {
                return Err(format!("'{pair}' has an empty side"));
            }
            if map.insert(raw.clone(), label).is_some() {
                return Err(format!("'{raw}' is mapped twice"));
            }
        }
        if map.is_empty() {
            return Err("no RAW=LABEL pairs".to_string());
        }
        Ok(LabelMap(map))
    }
}

impl std::fmt::Display for LabelMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self.0.iter().map(|(r, l)| format!("{r}={l}")).collect();
        f.write_str(&pairs.join(","))
    }
}

/// The integer codes `0..n-1` for `labels` in the order given (duplicates dropped).
fn integer_codes(labels: &[String]) -> LabelMap {
    let mut ordered: Vec<String> = Vec::new();
    for l in labels.iter().map(|l| l.trim().to_lowercase()) {
        if !ordered.contains(&l) {
            ordered.push(l);
        }
    }
    LabelMap(
        ordered
            .into_iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l))
            .collect(),
    )
}

/// The raw values a label column may hold: the known labels and every code that maps to one
/// (the explicit map's, else the integer codes). CSV header and column detection use it.
pub fn raw_values(explicit: Option<&LabelMap>, labels: &[String], known: &[String]) -> Vec<String> {
    let codes = explicit.cloned().unwrap_or_else(|| integer_codes(labels));
    known.iter().cloned().chain(codes.0.into_keys()).collect()
}

fn is_integer(label: &str) -> bool {
    let l = label.trim();
    !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit())
}

/// Rewrites the rows' labels to known labels and returns the map applied, if any:
/// - with `explicit`, every label it names is mapped (its targets must be known labels; a label
///   it does not name stays, and is checked against the known labels as usual);
/// - without, when every row's label is an integer, `0..n-1` map to `labels` in their order and
///   any other integer is an error naming its line;
/// - otherwise nothing changes.
pub(crate) fn apply(
    path: &Path,
    rows: &mut [RawRow],
    explicit: Option<&LabelMap>,
    labels: &[String],
    known: &[String],
) -> Result<Option<LabelMap>, DataError> {
    let map = match explicit {
        Some(map) => {
            if let Some((raw, label)) = map.0.iter().find(|(_, l)| !known.contains(l)) {
                return Err(DataError::Options(format!(
                    "--label-map {raw}={label}: '{label}' is not a known label (known labels: {})",
                    known.join(", ")
                )));
            }
            map.clone()
        }
        None if !rows.is_empty() && rows.iter().all(|r| is_integer(&r.label)) => {
            let codes = integer_codes(labels);
            if let Some(row) = rows.iter().find(|r| !codes.0.contains_key(r.label.trim())) {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    line: row.line,
                    reason: format!(
                        "integer label '{}' has no class: every label is an integer, and 0..{} stand for {} (the order of --labels); --label-map RAW=LABEL,... maps other codes",
                        row.label.trim(),
                        codes.0.len() - 1,
                        codes.0.values().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            codes
        }
        None => return Ok(None),
    };
    for row in rows.iter_mut() {
        if let Some(label) = map.0.get(&row.label.trim().to_lowercase()) {
            row.label = label.clone();
        }
    }
    Ok(Some(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(labels: &[&str]) -> Vec<RawRow> {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| RawRow {
                text: format!("text {i}"),
                label: l.to_string(),
                line: i + 1,
            })
            .collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn integer_labels_follow_the_order_of_the_labels_given() {
        let known = names(&["negative", "neutral", "positive"]);
        let mut r = rows(&["0", " 2", "1"]);
        let given = names(&["positive", "negative", "neutral"]);
        let map = apply(Path::new("d.csv"), &mut r, None, &given, &known).unwrap();
        assert_eq!(map.unwrap().to_string(), "0=positive,1=negative,2=neutral");
        let got: Vec<&str> = r.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(got, ["positive", "neutral", "negative"]);
    }

    #[test]
    fn an_integer_without_a_class_names_its_line() {
        let known = names(&["negative", "neutral", "positive"]);
        let mut r = rows(&["0", "3"]);
        let err = apply(Path::new("d.csv"), &mut r, None, &known, &known).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("d.csv, line 2: integer label '3' has no class"),
            "{text}"
        );
        assert!(
            text.contains("0..2 stand for negative, neutral, positive"),
            "{text}"
        );
    }

    #[test]
    fn names_and_mixed_labels_are_left_to_the_known_label_check() {
        let known = names(&["negative", "neutral", "positive"]);
        for labels in [&["positive", "negative"][..], &["1", "positive"][..]] {
            let mut r = rows(labels);
            let before = r.clone();
            assert_eq!(
                apply(Path::new("d"), &mut r, None, &known, &known).unwrap(),
                None
            );
            assert_eq!(r, before);
        }
    }

    #[test]
    fn an_explicit_map_is_parsed_checked_and_applied() {
        let known = names(&["negative", "neutral", "positive"]);
        let map: LabelMap = "bear=negative, HOLD=neutral,bull=positive".parse().unwrap();
        let mut r = rows(&["Bull", "hold", "bear"]);
        apply(Path::new("d"), &mut r, Some(&map), &known, &known).unwrap();
        let got: Vec<&str> = r.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(got, ["positive", "neutral", "negative"]);

        let bad: LabelMap = "0=bullish".parse().unwrap();
        let err = apply(Path::new("d"), &mut r, Some(&bad), &known, &known).unwrap_err();
        assert!(
            err.to_string().contains("'bullish' is not a known label"),
            "{err}"
        );
        assert!("0negative"
            .parse::<LabelMap>()
            .unwrap_err()
            .contains("RAW=LABEL"));
        assert!("0=a,0=b"
            .parse::<LabelMap>()
            .unwrap_err()
            .contains("mapped twice"));
    }
}
