//! JSON Lines files: one JSON object per line, text and label in named fields. Labels may be
//! strings or integers (integers go on to `label_map`); blank lines are skipped.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::columns::{first_named, LABEL_NAMES, TEXT_NAMES};
use super::decode::split_lines;
use super::error::DataError;
use super::fpb::RawRow;
use super::options::{ColumnRef, ReadOptions};

/// The named fields (JSON Lines) or columns (Parquet) a file was read from: recorded so a load
/// can be reproduced exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedColumns {
    pub text_field: String,
    pub label_field: String,
}

/// The field named by `column`, else the first of `names` the first object has
/// (case-insensitive), as the object spells it.
fn field_name(
    path: &Path,
    column: &Option<ColumnRef>,
    first: &Map<String, Value>,
    names: &[&str],
    what: &str,
) -> Result<String, DataError> {
    let columns_err = |reason: String| DataError::Columns {
        path: path.to_path_buf(),
        reason,
    };
    match column {
        Some(ColumnRef::Name(n)) => Ok(n.clone()),
        Some(ColumnRef::Index(i)) => Err(columns_err(format!(
            "JSON Lines fields are named, not numbered: give the {what} field by name, not {i}"
        ))),
        None => {
            let keys: Vec<&str> = first.keys().map(String::as_str).collect();
            first_named(&keys, names)
                .map(|i| keys[i].to_string())
                .ok_or_else(|| {
                    columns_err(format!(
                    "cannot tell which field holds the {what}: the first object has {} and none is one of {}; set --{what}-column",
                    keys.join(", "),
                    names.join(", ")
                ))
                })
        }
    }
}

pub(crate) fn parse(
    path: &Path,
    text: &str,
    options: &ReadOptions,
) -> Result<(Vec<RawRow>, NamedColumns), DataError> {
    let mut objects: Vec<(usize, Map<String, Value>)> = Vec::new();
    for (line, content) in split_lines(text) {
        if content.trim().is_empty() {
            continue;
        }
        let malformed = |reason: String| DataError::Malformed {
            path: path.to_path_buf(),
            line,
            reason,
        };
        match serde_json::from_str::<Value>(content) {
            Ok(Value::Object(map)) => objects.push((line, map)),
            Ok(other) => {
                return Err(malformed(format!(
                    "expected a JSON object, found {}",
                    kind(&other)
                )))
            }
            Err(e) => return Err(malformed(format!("not JSON: {e}"))),
        }
    }
    let Some((_, first)) = objects.first() else {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    };
    let layout = NamedColumns {
        text_field: field_name(path, &options.text_column, first, &TEXT_NAMES, "text")?,
        label_field: field_name(path, &options.label_column, first, &LABEL_NAMES, "label")?,
    };
    let mut rows = Vec::with_capacity(objects.len());
    for (line, object) in objects {
        let value = |field: &str| -> Result<String, DataError> {
            let malformed = |reason: String| DataError::Malformed {
                path: path.to_path_buf(),
                line,
                reason,
            };
            let v = object
                .get(field)
                .ok_or_else(|| malformed(format!("no field '{field}'")))?;
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_u64() => n.to_string(),
                other => {
                    return Err(malformed(format!(
                        "field '{field}' is {}, not a string or a non-negative integer",
                        kind(other)
                    )))
                }
            };
            if s.trim().is_empty() {
                return Err(malformed(format!("field '{field}' is empty")));
            }
            Ok(s)
        };
        rows.push(RawRow {
            text: value(&layout.text_field)?,
            label: value(&layout.label_field)?.trim().to_string(),
            line,
        });
    }
    Ok((rows, layout))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, options: &ReadOptions) -> Result<(Vec<RawRow>, NamedColumns), DataError> {
        parse(Path::new("d.jsonl"), text, options)
    }

    #[test]
    fn fields_are_found_by_common_names_or_given() {
        let text = "{\"id\": 7, \"Sentence\": \"Profit rose\", \"label\": 2}\n\n{\"id\": 8, \"Sentence\": \"Sales fell\", \"label\": \"negative\"}\n";
        let (rows, layout) = read(text, &ReadOptions::default()).unwrap();
        assert_eq!(layout.text_field, "Sentence");
        assert_eq!(layout.label_field, "label");
        let got: Vec<(&str, &str, usize)> = rows
            .iter()
            .map(|r| (r.text.as_str(), r.label.as_str(), r.line))
            .collect();
        assert_eq!(
            got,
            [("Profit rose", "2", 1), ("Sales fell", "negative", 3)]
        );

        let named = ReadOptions {
            text_column: Some(ColumnRef::Name("body".into())),
            label_column: Some(ColumnRef::Name("y".into())),
            ..ReadOptions::default()
        };
        let (rows, _) = read("{\"body\": \"ok\", \"y\": \"neutral\"}", &named).unwrap();
        assert_eq!(rows[0].label, "neutral");
    }

    #[test]
    fn bad_lines_name_their_line_and_why() {
        let o = ReadOptions::default();
        let cases = [
            (
                "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"",
                "d.jsonl, line 2: not JSON",
            ),
            (
                "{\"text\": \"a\", \"label\": 1}\n[1, 2]",
                "d.jsonl, line 2: expected a JSON object, found an array",
            ),
            (
                "{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\"}",
                "d.jsonl, line 2: no field 'label'",
            ),
            (
                "{\"text\": \"a\", \"label\": -1}",
                "d.jsonl, line 1: field 'label' is a number, not a string",
            ),
            (
                "{\"text\": \" \", \"label\": 1}",
                "d.jsonl, line 1: field 'text' is empty",
            ),
            (
                "{\"body\": \"a\", \"label\": 1}",
                "cannot tell which field holds the text: the first object has body, label",
            ),
        ];
        for (text, expected) in cases {
            let err = read(text, &o).unwrap_err().to_string();
            assert!(err.starts_with(expected) || err.contains(expected), "{err}");
        }
        let by_index = ReadOptions {
            text_column: Some(ColumnRef::Index(0)),
            ..ReadOptions::default()
        };
        let err = read("{\"text\": \"a\", \"label\": 1}", &by_index).unwrap_err();
        assert!(
            err.to_string().contains("fields are named, not numbered"),
            "{err}"
        );
    }
}
