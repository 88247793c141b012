//! CSV and TSV records through the `csv` crate: fields optionally quoted (quoted fields may hold
//! the delimiter, line breaks and doubled quotes), records ended by CR, LF or CRLF alike (the real
//! files end records with bare CRs).
//!
//! Two things the crate leaves to its caller, because errors here name lines: the crate counts
//! lines by LF only, so a record's line is worked out from its byte offset with every CR, LF and
//! CRLF counted; and it reads an unclosed quoted field to the end of the file without complaint,
//! so a sentinel record is read after the file: if the file ends inside quotes, the sentinel
//! disappears into the last field and that record is reported. A quote inside an unquoted field
//! is a literal character, and text after a closing quote is appended to the field, as Python's
//! `csv` module and pandas read them.

use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// 1-based line of the file on which the record starts.
    pub line: usize,
    pub fields: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CsvError {
    pub line: usize,
    pub reason: String,
}

/// Read after the file; NUL bytes do not occur in decoded text files.
const SENTINEL: &str = "\0exp-end-of-file\0";

/// Byte offsets at which each line of `text` starts (CR, LF and CRLF each end one line).
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                starts.push(i + 2);
                i += 2;
                continue;
            }
            b'\r' | b'\n' => starts.push(i + 1),
            _ => {}
        }
        i += 1;
    }
    starts
}

/// Every record of `text` (fields split at `delimiter`), blank lines dropped.
pub(crate) fn parse_records(text: &str, delimiter: u8) -> Result<Vec<Record>, CsvError> {
    let bytes = text.as_bytes();
    let starts = line_starts(text);
    // The crate's position of a record is where it resumed after the previous one, before any
    // line breaks (blank lines, the LF of a CRLF) it skipped: the record starts after them.
    let line_of = |byte: u64| {
        let mut at = byte as usize;
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        starts.partition_point(|&s| s <= at)
    };
    let tail = format!("\n{SENTINEL}");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes.chain(tail.as_bytes()));
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut pending: Option<Record> = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(1, |p| line_of(p.byte()));
                return Err(CsvError {
                    line,
                    reason: e.to_string(),
                });
            }
        }
        records.extend(pending.take());
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        pending = Some(Record {
            line: line_of(record.position().map_or(0, |p| p.byte())),
            fields: record.iter().map(str::to_string).collect(),
        });
    }
    // The last record read is the sentinel, unless the file ended inside an open quoted field,
    // which then swallowed it.
    match pending {
        Some(last) if last.fields == [SENTINEL] => Ok(records),
        last => Err(CsvError {
            line: last.map_or(1, |r| r.line),
            reason: "quoted field is never closed".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: usize, fields: &[&str]) -> Record {
        Record {
            line,
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn quoted_commas_doubled_quotes_and_all_endings() {
        let text =
            "label,text\r\nneutral,\"a, b\"\rpositive,\"say \"\"hi\"\"\"\nnegative,plain\r\n";
        assert_eq!(
            parse_records(text, b',').unwrap(),
            vec![
                rec(1, &["label", "text"]),
                rec(2, &["neutral", "a, b"]),
                rec(3, &["positive", "say \"hi\""]),
                rec(4, &["negative", "plain"]),
            ]
        );
    }

    #[test]
    fn line_breaks_inside_quotes_advance_line_numbers() {
        let text = "a,\"x\r\ny\rz\"\n\nb,c";
        assert_eq!(
            parse_records(text, b',').unwrap(),
            vec![rec(1, &["a", "x\r\ny\rz"]), rec(5, &["b", "c"])]
        );
    }

    #[test]
    fn empty_fields_stray_quotes_and_text_after_a_closing_quote() {
        assert_eq!(
            parse_records(",x,\"\"\nit's 5\" long,\"\"", b',').unwrap(),
            vec![rec(1, &["", "x", ""]), rec(2, &["it's 5\" long", ""])]
        );
        assert_eq!(
            parse_records("a,b\r\"q\"x,y", b',').unwrap(),
            vec![rec(1, &["a", "b"]), rec(2, &["qx", "y"])]
        );
        assert_eq!(parse_records("", b',').unwrap(), vec![]);
        assert_eq!(parse_records("\r\n\r\n", b',').unwrap(), vec![]);
    }

    #[test]
    fn an_unclosed_quote_names_its_record_line() {
        let e = parse_records("a,b\nc,\"never closed\nd,e", b',').unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.reason, "quoted field is never closed");
        let e = parse_records("a,b\r\r\"x", b',').unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn tabs_delimit_tsv_and_commas_stay_in_fields() {
        assert_eq!(
            parse_records("text\tlabel\rProfit rose, sales fell\tneutral\n", b'\t').unwrap(),
            vec![
                rec(1, &["text", "label"]),
                rec(2, &["Profit rose, sales fell", "neutral"])
            ]
        );
    }
}
