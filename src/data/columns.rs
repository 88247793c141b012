//! From CSV records to labelled rows: header detection and the choice of text and label columns.

use std::path::Path;

use serde::Serialize;

use super::csv::{parse_records, Record};
use super::error::DataError;
use super::fpb::RawRow;
use super::options::{ColumnRef, ReadOptions};

/// Header names (JSON Lines: field names) taken as the label column, in order of preference (case-insensitive).
pub(crate) const LABEL_NAMES: [&str; 6] = [
    "label",
    "labels",
    "sentiment",
    "class",
    "target",
    "category",
];
/// Header names (JSON Lines: field names) taken as the text column, in order of preference (case-insensitive).
pub(crate) const TEXT_NAMES: [&str; 8] = [
    "text",
    "sentence",
    "sentences",
    "content",
    "review",
    "headline",
    "title",
    "news",
];
/// Rows looked at when a column is detected from its contents.
const DETECT_ROWS: usize = 200;

/// How a CSV file was read: recorded with the dataset so a load can be reproduced exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CsvLayout {
    pub header: bool,
    /// 0-based.
    pub text_column: usize,
    /// 0-based.
    pub label_column: usize,
}

pub(crate) fn parse(
    path: &Path,
    text: &str,
    delimiter: u8,
    options: &ReadOptions,
    known: &[String],
) -> Result<(Vec<RawRow>, CsvLayout), DataError> {
    let records = parse_records(text, delimiter).map_err(|e| DataError::Malformed {
        path: path.to_path_buf(),
        line: e.line,
        reason: e.reason,
    })?;
    let columns_err = |reason: String| DataError::Columns {
        path: path.to_path_buf(),
        reason,
    };
    let by_name = matches!(options.text_column, Some(ColumnRef::Name(_)))
        || matches!(options.label_column, Some(ColumnRef::Name(_)));
    let header = match options.header {
        Some(false) if by_name => {
            return Err(columns_err(
                "columns are named but the file is read without a header".to_string(),
            ))
        }
        Some(h) => h,
        None => {
            by_name
                || records
                    .first()
                    .is_some_and(|r| !holds_known_label(r, known))
        }
    };
    let (names, data): (Option<&Record>, Vec<&Record>) = match records.split_first() {
        Some((first, rest)) if header => {
            (Some(first), rest.iter().filter(|r| !is_blank(r)).collect())
        }
        _ => (None, records.iter().filter(|r| !is_blank(r)).collect()),
    };
    if data.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }

    let label_column = match &options.label_column {
        Some(column) => resolve(column, names).map_err(columns_err)?,
        None => match names.and_then(|n| find_name(n, &LABEL_NAMES)) {
            Some(i) => i,
            None => detect_label_column(&data, known).ok_or_else(|| {
                columns_err(format!(
                    "cannot tell which column holds the labels: no header names one ({}) and no column \
                     holds mostly known labels ({}); set the label column",
                    LABEL_NAMES.join(", "),
                    known.join(", ")
                ))
            })?,
        },
    };
    let text_column = match &options.text_column {
        Some(column) => resolve(column, names).map_err(columns_err)?,
        None => match names.and_then(|n| find_name(n, &TEXT_NAMES)) {
            Some(i) => i,
            None => detect_text_column(&data, label_column).ok_or_else(|| {
                columns_err(format!(
                    "cannot tell which column holds the text: the only column is the label column \
                     {label_column}; set the text column"
                ))
            })?,
        },
    };
    if text_column == label_column {
        return Err(columns_err(format!(
            "text and label are both column {text_column}"
        )));
    }

    let mut rows: Vec<RawRow> = Vec::with_capacity(data.len());
    for record in data {
        let malformed = |reason: String| DataError::Malformed {
            path: path.to_path_buf(),
            line: record.line,
            reason,
        };
        let field = |column: usize, what: &str| {
            record.fields.get(column).ok_or_else(|| {
                malformed(format!(
                    "record has {} field(s), so no {what} column {column}",
                    record.fields.len()
                ))
            })
        };
        let text = field(text_column, "text")?;
        let label = field(label_column, "label")?;
        if label.trim().is_empty() {
            return Err(malformed(format!("empty label in column {label_column}")));
        }
        if text.trim().is_empty() {
            return Err(malformed(format!("empty text in column {text_column}")));
        }
        rows.push(RawRow {
            text: text.clone(),
            label: label.trim().to_string(),
            line: record.line,
        });
    }
    let layout = CsvLayout {
        header,
        text_column,
        label_column,
    };
    Ok((rows, layout))
}

fn is_blank(record: &Record) -> bool {
    record.fields.iter().all(|f| f.trim().is_empty())
}

fn is_known(value: &str, known: &[String]) -> bool {
    let value = value.trim().to_lowercase();
    known.contains(&value)
}

fn holds_known_label(record: &Record, known: &[String]) -> bool {
    record.fields.iter().any(|f| is_known(f, known))
}

fn find_name(header: &Record, candidates: &[&str]) -> Option<usize> {
    let names: Vec<&str> = header.fields.iter().map(String::as_str).collect();
    first_named(&names, candidates)
}

/// The position in `names` (a header, a JSON object's keys, a Parquet schema) of the first of
/// `candidates` it has, matched case-insensitively, ignoring surrounding blanks.
pub(crate) fn first_named(names: &[&str], candidates: &[&str]) -> Option<usize> {
    candidates.iter().find_map(|candidate| {
        names
            .iter()
            .position(|n| n.trim().eq_ignore_ascii_case(candidate))
    })
}

fn resolve(column: &ColumnRef, header: Option<&Record>) -> Result<usize, String> {
    match column {
        ColumnRef::Index(i) => Ok(*i),
        ColumnRef::Name(name) => {
            let header = header.ok_or_else(|| format!("{column} needs a header"))?;
            header
                .fields
                .iter()
                .position(|f| f.trim().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    format!(
                        "no {column} in the header (columns: {})",
                        header.fields.join(", ")
                    )
                })
        }
    }
}

/// The column whose values are most often known labels, if that is at least half the rows looked at.
fn detect_label_column(data: &[&Record], known: &[String]) -> Option<usize> {
    let sample = &data[..data.len().min(DETECT_ROWS)];
    let width = sample.iter().map(|r| r.fields.len()).max().unwrap_or(0);
    let (column, hits) = (0..width)
        .map(|j| {
            let hits = sample
                .iter()
                .filter(|r| r.fields.get(j).is_some_and(|f| is_known(f, known)))
                .count();
            (j, hits)
        })
        // max_by_key keeps the last of equals; reverse so the leftmost wins ties.
        .rev()
        .max_by_key(|&(_, hits)| hits)?;
    (hits > 0 && hits * 2 >= sample.len()).then_some(column)
}

/// The non-label column with the most characters: free text is longer than ids, dates or labels.
fn detect_text_column(data: &[&Record], label_column: usize) -> Option<usize> {
    let sample = &data[..data.len().min(DETECT_ROWS)];
    let width = sample.iter().map(|r| r.fields.len()).max().unwrap_or(0);
    (0..width)
        .filter(|&j| j != label_column)
        .map(|j| {
            let chars: usize = sample
                .iter()
                .map(|r| r.fields.get(j).map_or(0, |f| f.chars().count()))
                .sum();
            (j, chars)
        })
        .rev()
        .max_by_key(|&(_, chars)| chars)
        .map(|(j, _)| j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        vec!["negative".into(), "neutral".into(), "positive".into()]
    }

    fn read(text: &str, options: &ReadOptions) -> Result<(Vec<RawRow>, CsvLayout), DataError> {
        parse(Path::new("t.csv"), text, b',', options, &known())
    }

    fn pairs(rows: &[RawRow]) -> Vec<(&str, &str, usize)> {
        rows.iter()
            .map(|r| (r.text.as_str(), r.label.as_str(), r.line))
            .collect()
    }

    #[test]
    fn headerless_label_first_is_detected() {
        let (rows, layout) = read(
            "neutral,\"A, b .\"\rPositive,Up 5 %\r",
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(
            layout,
            CsvLayout {
                header: false,
                text_column: 1,
                label_column: 0
            }
        );
        assert_eq!(
            pairs(&rows),
            vec![("A, b .", "neutral", 1), ("Up 5 %", "Positive", 2)]
        );
    }

    #[test]
    fn header_names_are_found_and_used() {
        let text = "id,Sentence,Sentiment\r\n7,\"He said \"\"no\"\", then left\",negative\r\n8,ok,neutral\r\n";
        let (rows, layout) = read(text, &ReadOptions::default()).unwrap();
        assert_eq!(
            layout,
            CsvLayout {
                header: true,
                text_column: 1,
                label_column: 2
            }
        );
        assert_eq!(
            pairs(&rows),
            vec![
                ("He said \"no\", then left", "negative", 2),
                ("ok", "neutral", 3)
            ]
        );
        // Explicit names, matched case-insensitively.
        let options = ReadOptions {
            text_column: Some(ColumnRef::Name("sentence".into())),
            label_column: Some(ColumnRef::Name("SENTIMENT".into())),
            ..ReadOptions::default()
        };
        let (rows2, _) = read(text, &options).unwrap();
        assert_eq!(rows2, rows);
    }

    #[test]
    fn explicit_indices_without_header() {
        let options = ReadOptions {
            text_column: Some(ColumnRef::Index(2)),
            label_column: Some(ColumnRef::Index(0)),
            header: Some(false),
            ..ReadOptions::default()
        };
        let (rows, _) = read("positive,x,long text here\n", &options).unwrap();
        assert_eq!(pairs(&rows), vec![("long text here", "positive", 1)]);
    }

    #[test]
    fn header_without_known_names_detects_by_content() {
        let (rows, layout) = read(
            "a,b\nshort text,negative\nother,positive\n",
            &ReadOptions::default(),
        )
        .unwrap();
        assert!(layout.header);
        assert_eq!(layout.label_column, 1);
        assert_eq!(layout.text_column, 0);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn column_errors_are_clear() {
        let named = ReadOptions {
            label_column: Some(ColumnRef::Name("label".into())),
            header: Some(false),
            ..ReadOptions::default()
        };
        assert_eq!(
            read("neutral,x\n", &named).unwrap_err().to_string(),
            "t.csv: columns are named but the file is read without a header"
        );
        let missing = ReadOptions {
            text_column: Some(ColumnRef::Name("body".into())),
            ..ReadOptions::default()
        };
        assert_eq!(
            read("text,label\nx,neutral\n", &missing)
                .unwrap_err()
                .to_string(),
            "t.csv: no column 'body' in the header (columns: text, label)"
        );
        let e = read("x,y\n1,2\n", &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.csv: cannot tell which column holds the labels"),
            "{e}"
        );
        let short = read("neutral,a b\npositive\n", &ReadOptions::default()).unwrap_err();
        assert_eq!(
            short.to_string(),
            "t.csv, line 2: record has 1 field(s), so no text column 1"
        );
        let empty = read("neutral,a b\r\n\"\",x\r\n", &ReadOptions::default()).unwrap_err();
        assert_eq!(empty.to_string(), "t.csv, line 2: empty label in column 0");
        let no_data = read("text,label\r\n\r\n", &ReadOptions::default()).unwrap_err();
        assert_eq!(no_data.to_string(), "t.csv: no data rows");
        let bad_quote = read("neutral,\"open\n", &ReadOptions::default()).unwrap_err();
        assert_eq!(
            bad_quote.to_string(),
            "t.csv, line 1: quoted field is never closed"
        );
    }
}
