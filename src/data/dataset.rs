//! Loading a dataset file: read, decode, parse, check labels, give ids, dedupe, report conflicts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::columns::{self, CsvLayout};
use super::decode::{decode, Encoding};
use super::error::DataError;
use super::fpb::{self, RawRow};
use super::ids::{normalize_text, sample_id};
use super::jsonl::{self, NamedColumns};
use super::label_map::{self, LabelMap};
use super::options::{DataFormat, ReadOptions};
use super::parquet;

/// One labelled text. `text` is whitespace-normalised (what the id is computed from).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub id: String,
    pub text: String,
    /// Lower-case, one of `Dataset::labels`.
    pub label: String,
    /// 1-based line of the file where the text first occurs.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConflictRow {
    pub line: usize,
    pub label: String,
}

/// A text that occurs with more than one label; all its rows are left out of `samples`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub id: String,
    pub text: String,
    /// Distinct labels, sorted.
    pub labels: Vec<String>,
    /// Every row of the text, in file order.
    pub rows: Vec<ConflictRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dataset {
    pub path: PathBuf,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    pub encoding: Encoding,
    /// The format actually read (never `Auto`).
    pub format: DataFormat,
    /// Header and columns used, for CSV files.
    pub csv: Option<CsvLayout>,
    /// Fields or columns used, for JSON Lines and Parquet files.
    pub named: Option<NamedColumns>,
    /// Data rows read (blank lines and a header not counted).
    pub rows_read: usize,
    /// Deduplicated, conflicts excluded, in order of first occurrence in the file.
    pub samples: Vec<Sample>,
    /// The known labels, lower-case, sorted: a label's index is its class id.
    pub labels: Vec<String>,
    /// Samples per label, every known label present (0 if unused).
    pub label_counts: BTreeMap<String, usize>,
    /// Rows dropped as exact repeats (same text, same label) of an earlier row.
    pub duplicates: usize,
    pub conflicts: Vec<Conflict>,
    /// The codes the file's labels were read as (integer labels, `--label-map`), if any.
    pub label_map: Option<LabelMap>,
}

impl Dataset {
    /// Class id of `label` (case-insensitive): its index in the sorted label list.
    pub fn label_id(&self, label: &str) -> Option<usize> {
        let label = label.trim().to_lowercase();
        self.labels.iter().position(|l| *l == label)
    }
}

/// Reads `path` as described by `options`. Unknown labels, malformed lines and files without data
/// are errors naming the file (and line); duplicates and conflicting labels are reported, not errors.
pub fn load(path: &Path, options: &ReadOptions) -> Result<Dataset, DataError> {
    let known = known_labels(&options.labels)?;
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let format = options.format.resolve(path);
    // Parquet is binary, its strings UTF-8; every other format is text to decode.
    let decoded = match format {
        DataFormat::Parquet => super::decode::Decoded {
            text: String::new(),
            encoding: Encoding::Utf8,
        },
        _ => decode(&bytes).map_err(|source| DataError::Encoding {
            path: path.to_path_buf(),
            source,
        })?,
    };
    let (mut rows, csv, named) = match format {
        DataFormat::Csv | DataFormat::Tsv => {
            let raw = label_map::raw_values(options.label_map.as_ref(), &options.labels, &known);
            let delimiter = if format == DataFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            let (rows, layout) = columns::parse(path, &decoded.text, delimiter, options, &raw)?;
            (rows, Some(layout), None)
        }
        DataFormat::Jsonl => {
            let (rows, layout) = jsonl::parse(path, &decoded.text, options)?;
            (rows, None, Some(layout))
        }
        DataFormat::Parquet => {
            let (rows, layout) = parquet::parse(path, options)?;
            (rows, None, Some(layout))
        }
        _ => (fpb::parse(path, &decoded.text)?, None, None),
    };
    let label_map = label_map::apply(
        path,
        &mut rows,
        options.label_map.as_ref(),
        &options.labels,
        &known,
    )?;
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let rows_read = rows.len();
    let grouped = group_by_id(path, rows, &known)?;

    let mut samples: Vec<Sample> = Vec::new();
    let mut conflicts: Vec<Conflict> = Vec::new();
    let mut duplicates = 0;
    for group in grouped {
        let labels: BTreeSet<&str> = group.rows.iter().map(|(_, l)| l.as_str()).collect();
        if labels.len() > 1 {
            conflicts.push(Conflict {
                id: group.id,
                text: group.text,
                labels: labels.iter().map(|l| l.to_string()).collect(),
                rows: group
                    .rows
                    .iter()
                    .map(|(line, label)| ConflictRow {
                        line: *line,
                        label: label.clone(),
                    })
                    .collect(),
            });
        } else {
            duplicates += group.rows.len() - 1;
            let (line, label) = group.rows[0].clone();
            samples.push(Sample {
                id: group.id,
                text: group.text,
                label,
                line,
            });
        }
    }
    let mut label_counts: BTreeMap<String, usize> = known.iter().map(|l| (l.clone(), 0)).collect();
    for sample in &samples {
        *label_counts.entry(sample.label.clone()).or_insert(0) += 1;
    }
    Ok(Dataset {
        path: path.to_path_buf(),
        sha256,
        encoding: decoded.encoding,
        format,
        csv,
        named,
        rows_read,
        samples,
        labels: known,
        label_counts,
        duplicates,
        conflicts,
        label_map,
    })
}

/// Lower-cased, trimmed, sorted, deduplicated; at least one, none empty.
fn known_labels(labels: &[String]) -> Result<Vec<String>, DataError> {
    let set: BTreeSet<String> = labels.iter().map(|l| l.trim().to_lowercase()).collect();
    if set.is_empty() {
        return Err(DataError::Options("no known labels given".to_string()));
    }
    if set.contains("") {
        return Err(DataError::Options("a known label is empty".to_string()));
    }
    Ok(set.into_iter().collect())
}

/// All rows of one text, in file order.
struct Group {
    id: String,
    text: String,
    /// (line, lower-case label)
    rows: Vec<(usize, String)>,
}

/// Rows grouped by id, groups in order of first occurrence; labels checked against `known`.
fn group_by_id(path: &Path, rows: Vec<RawRow>, known: &[String]) -> Result<Vec<Group>, DataError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let label = row.label.to_lowercase();
        if !known.contains(&label) {
            return Err(DataError::UnknownLabel {
                path: path.to_path_buf(),
                line: row.line,
                label: row.label,
                known: known.to_vec(),
            });
        }
        let text = normalize_text(&row.text);
        let id = sample_id(&text);
        match index.get(&id) {
            Some(&g) => {
                let group = &mut groups[g];
                // 64-bit ids make this practically impossible, but a silent merge would be wrong.
                if group.text != text {
                    return Err(DataError::Malformed {
                        path: path.to_path_buf(),
                        line: row.line,
                        reason: format!(
                            "text differs from line {} but has the same id {id}",
                            group.rows[0].0
                        ),
                    });
                }
                group.rows.push((row.line, label));
            }
            None => {
                index.insert(id.clone(), groups.len());
                groups.push(Group {
                    id,
                    text,
                    rows: vec![(row.line, label)],
                });
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        path
    }

    #[test]
    fn dedupes_reports_conflicts_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "d.txt",
            b"Up  it goes .@Positive\r\nDown .@negative\rUp it goes .@positive\n\
              Flat .@neutral\r\nMixed .@positive\r\nMixed .@NEUTRAL\r\n  Up it goes .  @positive\r\n",
        );
        let ds = load(&path, &ReadOptions::default()).unwrap();
        assert_eq!(ds.rows_read, 7);
        assert_eq!(ds.encoding, Encoding::Utf8);
        assert_eq!(ds.format, DataFormat::Fpb);
        assert_eq!(ds.duplicates, 2);
        let got: Vec<(&str, &str, usize)> = ds
            .samples
            .iter()
            .map(|s| (s.text.as_str(), s.label.as_str(), s.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Up it goes .", "positive", 1),
                ("Down .", "negative", 2),
                ("Flat .", "neutral", 4)
            ]
        );
        assert_eq!(ds.samples[0].id, sample_id("Up it goes ."));
        assert_eq!(ds.conflicts.len(), 1);
        let c = &ds.conflicts[0];
        assert_eq!(c.text, "Mixed .");
        assert_eq!(c.labels, vec!["neutral", "positive"]);
        assert_eq!(
            c.rows,
            vec![
                ConflictRow {
                    line: 5,
                    label: "positive".into()
                },
                ConflictRow {
                    line: 6,
                    label: "neutral".into()
                }
            ]
        );
        assert_eq!(ds.labels, vec!["negative", "neutral", "positive"]);
        assert_eq!(ds.label_id("Neutral"), Some(1));
        let counts: Vec<(&str, usize)> = ds
            .label_counts
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect();
        assert_eq!(
            counts,
            vec![("negative", 1), ("neutral", 1), ("positive", 1)]
        );
        assert_eq!(
            ds.sha256,
            hex::encode(Sha256::digest(std::fs::read(&path).unwrap()))
        );
    }

    #[test]
    fn unknown_label_names_file_line_label_and_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "bad.txt", b"fine .@neutral\r\n\r\nhmm .@Bullish\r\n");
        let e = load(&path, &ReadOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}, line 3: unknown label 'Bullish' (known labels: negative, neutral, positive)",
                path.display()
            )
        );
        // The same label is fine once it is known, and labels are stored lower-case.
        let options = ReadOptions {
            labels: vec!["Bullish".into(), "NEUTRAL".into()],
            ..ReadOptions::default()
        };
        let ds = load(&path, &options).unwrap();
        assert_eq!(ds.labels, vec!["bullish", "neutral"]);
        assert_eq!(ds.samples[1].label, "bullish");
    }

    #[test]
    fn missing_empty_and_malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        assert_eq!(
            load(&missing, &ReadOptions::default())
                .unwrap_err()
                .to_string(),
            format!("dataset file not found: {}", missing.display())
        );
        for (name, bytes) in [("e.txt", &b""[..]), ("b.txt", b"\r\n \r\n"), ("e.csv", b"")] {
            let path = write(&dir, name, bytes);
            assert_eq!(
                load(&path, &ReadOptions::default())
                    .unwrap_err()
                    .to_string(),
                format!("{}: no data rows", path.display())
            );
        }
        let path = write(&dir, "m.txt", b"a .@neutral\rb . neutral\r");
        assert_eq!(
            load(&path, &ReadOptions::default())
                .unwrap_err()
                .to_string(),
            format!(
                "{}, line 2: no '@' separating sentence and label",
                path.display()
            )
        );
        let path = write(&dir, "u.csv", b"text,label\r\nx,neutral\r\ny,meh\r\n");
        assert_eq!(
            load(&path, &ReadOptions::default())
                .unwrap_err()
                .to_string(),
            format!(
                "{}, line 3: unknown label 'meh' (known labels: negative, neutral, positive)",
                path.display()
            )
        );
        let none = ReadOptions {
            labels: vec![],
            ..ReadOptions::default()
        };
        assert_eq!(
            load(&path, &none).unwrap_err().to_string(),
            "invalid read options: no known labels given"
        );
    }

    #[test]
    fn csv_with_header_quotes_and_latin1() {
        let dir = tempfile::tempdir().unwrap();
        // Latin-1 bytes: 0xe4 'ä', 0xa3 '£'; CRLF, CR and LF record endings mixed.
        let path = write(
            &dir,
            "h.csv",
            b"Text,Label\r\n\"S\xe4lj\xe4, \"\"up\"\" \xa35\",POSITIVE\rplain,neutral\n\"plain\",neutral\r\n",
        );
        let ds = load(&path, &ReadOptions::default()).unwrap();
        assert_eq!(ds.encoding, Encoding::Latin1);
        assert_eq!(ds.format, DataFormat::Csv);
        assert_eq!(
            ds.csv,
            Some(CsvLayout {
                header: true,
                text_column: 0,
                label_column: 1
            })
        );
        assert_eq!(ds.rows_read, 3);
        assert_eq!(ds.duplicates, 1);
        assert_eq!(ds.samples[0].text, "Säljä, \"up\" £5");
        assert_eq!(ds.samples[0].label, "positive");
        assert_eq!(ds.samples[0].line, 2);
        assert_eq!(ds.samples[1].line, 3);
    }
}
