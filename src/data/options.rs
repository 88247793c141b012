//! How to read a dataset file: format, columns, header and the known label set.

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;

/// Labels of FinancialPhraseBank, the default label set.
pub const DEFAULT_LABELS: [&str; 3] = ["negative", "neutral", "positive"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// `.csv` (any case) is CSV, `.tsv` TSV, `.jsonl` and `.ndjson` JSON Lines, `.parquet` Parquet,
    /// anything else FinancialPhraseBank.
    #[default]
    Auto,
    /// FinancialPhraseBank: one `sentence@label` per line.
    Fpb,
    /// RFC 4180 CSV, with or without a header.
    Csv,
    /// CSV with tabs for commas (quoting as in CSV), with or without a header.
    Tsv,
    /// JSON Lines: one object per line, text and label in named fields.
    Jsonl,
    /// Parquet: text and label in named columns.
    Parquet,
}

impl DataFormat {
    /// The concrete format for `path`: `Auto` decided by the file extension.
    pub fn resolve(self, path: &Path) -> DataFormat {
        match self {
            DataFormat::Auto => {
                let extension = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                match extension.as_str() {
                    "csv" => DataFormat::Csv,
                    "tsv" => DataFormat::Tsv,
                    "jsonl" | "ndjson" => DataFormat::Jsonl,
                    "parquet" => DataFormat::Parquet,
                    _ => DataFormat::Fpb,
                }
            }
            other => other,
        }
    }
}

impl FromStr for DataFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DataFormat::Auto),
            "fpb" => Ok(DataFormat::Fpb),
            "csv" => Ok(DataFormat::Csv),
            "tsv" => Ok(DataFormat::Tsv),
            "jsonl" => Ok(DataFormat::Jsonl),
            "parquet" => Ok(DataFormat::Parquet),
            other => Err(format!(
                "unknown data format '{other}': expected auto, fpb, csv, tsv, jsonl or parquet"
            )),
        }
    }
}

/// A CSV column, by 0-based index or by header name (names need a header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Index(usize),
    Name(String),
}

impl FromStr for ColumnRef {
    type Err = String;
    /// All digits is an index, anything else a name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty column reference".to_string());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<usize>()
                .map(ColumnRef::Index)
                .map_err(|e| format!("column index '{s}': {e}"))
        } else {
            Ok(ColumnRef::Name(s.to_string()))
        }
    }
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRef::Index(i) => write!(f, "column {i}"),
            ColumnRef::Name(n) => write!(f, "column '{n}'"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadOptions {
    pub format: DataFormat,
    /// CSV and JSON Lines (by name); `None` detects it (header or field name, else for CSV the
    /// longest non-label column).
    pub text_column: Option<ColumnRef>,
    /// CSV and JSON Lines (by name); `None` detects it (header or field name, else for CSV the
    /// column holding known labels).
    pub label_column: Option<ColumnRef>,
    /// CSV only; `None` detects it: a first record holding no known label is a header.
    pub header: Option<bool>,
    /// Known labels, matched case-insensitively; stored lower-case. Their order is the one
    /// integer labels `0..n-1` stand for.
    pub labels: Vec<String>,
    /// Codes in the label column and the known labels they stand for; `None`: integer labels
    /// (when every label is one) stand for `labels` in order.
    pub label_map: Option<super::label_map::LabelMap>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: DataFormat::Auto,
            text_column: None,
            label_column: None,
            header: None,
            labels: DEFAULT_LABELS.iter().map(|l| l.to_string()).collect(),
            label_map: None,
        }
    }
}
