//! Parquet files (as pandas, pyarrow and Hugging Face's datasets write them), read with the
//! `parquet` crate: text and label in named columns; labels strings or integers. Rows are
//! numbered from 1 in errors and in each sample's `line`.

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::columns::{first_named, LABEL_NAMES, TEXT_NAMES};
use super::error::DataError;
use super::fpb::RawRow;
use super::jsonl::NamedColumns;
use super::options::{ColumnRef, ReadOptions};

/// The named column `given`, else the first of `names` the file has (case-insensitive), as the
/// file spells it.
fn column_name(
    path: &Path,
    given: &Option<ColumnRef>,
    columns: &[String],
    names: &[&str],
    what: &str,
) -> Result<String, DataError> {
    let columns_err = |reason: String| DataError::Columns {
        path: path.to_path_buf(),
        reason,
    };
    match given {
        Some(ColumnRef::Name(n)) => columns
            .iter()
            .find(|c| c.eq_ignore_ascii_case(n))
            .cloned()
            .ok_or_else(|| {
                columns_err(format!(
                    "no {what} column '{n}' (columns: {})",
                    columns.join(", ")
                ))
            }),
        Some(ColumnRef::Index(i)) => columns.get(*i).cloned().ok_or_else(|| {
            columns_err(format!(
                "no {what} column {i}: the file has {} columns ({})",
                columns.len(),
                columns.join(", ")
            ))
        }),
        None => {
            let all: Vec<&str> = columns.iter().map(String::as_str).collect();
            first_named(&all, names).map(|i| columns[i].clone()).ok_or_else(|| {
                columns_err(format!(
                    "cannot tell which column holds the {what}: the columns are {} and none is one of {}; set --{what}-column",
                    columns.join(", "),
                    names.join(", ")
                ))
            })
        }
    }
}

fn value(field: &Field) -> Option<String> {
    match field {
        Field::Str(s) => Some(s.clone()),
        Field::Byte(v) => (*v >= 0).then(|| v.to_string()),
        Field::Short(v) => (*v >= 0).then(|| v.to_string()),
        Field::Int(v) => (*v >= 0).then(|| v.to_string()),
        Field::Long(v) => (*v >= 0).then(|| v.to_string()),
        Field::UByte(v) => Some(v.to_string()),
        Field::UShort(v) => Some(v.to_string()),
        Field::UInt(v) => Some(v.to_string()),
        Field::ULong(v) => Some(v.to_string()),
        _ => None,
    }
}

pub(crate) fn parse(
    path: &Path,
    options: &ReadOptions,
) -> Result<(Vec<RawRow>, NamedColumns), DataError> {
    let bad_file = |e: parquet::errors::ParquetError| DataError::Columns {
        path: path.to_path_buf(),
        reason: format!("cannot read as Parquet: {e}"),
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(bad_file)?;
    let columns: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let layout = NamedColumns {
        text_field: column_name(path, &options.text_column, &columns, &TEXT_NAMES, "text")?,
        label_field: column_name(path, &options.label_column, &columns, &LABEL_NAMES, "label")?,
    };
    let mut rows = Vec::new();
    for (i, row) in reader.get_row_iter(None).map_err(bad_file)?.enumerate() {
        let line = i + 1;
        let row = row.map_err(bad_file)?;
        let get = |name: &str| -> Result<String, DataError> {
            let bad = |reason: String| DataError::Columns {
                path: path.to_path_buf(),
                reason: format!("row {line}: {reason}"),
            };
            let field = row
                .get_column_iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, f)| f)
                .ok_or_else(|| bad(format!("no column '{name}'")))?;
            let v = value(field).ok_or_else(|| {
                bad(format!(
                    "column '{name}' holds {field}, not a string or a non-negative integer"
                ))
            })?;
            if v.trim().is_empty() {
                return Err(bad(format!("column '{name}' is empty")));
            }
            Ok(v)
        };
        rows.push(RawRow {
            text: get(&layout.text_field)?,
            label: get(&layout.label_field)?.trim().to_string(),
            line,
        });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((rows, layout))
}
