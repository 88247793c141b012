//! A small RFC 4180 CSV parser: comma-separated, fields optionally quoted (quoted fields may hold
//! commas, line breaks and doubled quotes), records ended by CR, LF or CRLF alike.
//!
//! Own parser rather than a crate: the data module needs the original line number of every record
//! (errors name it), and the real files end records with bare CRs, which not every reader accepts.

use std::iter::Peekable;
use std::str::Chars;

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

/// Every record of `text`, blank lines dropped. A quote that is not at the start of a field is
/// kept as a literal character (lenient, like most readers); a quoted field must be closed and be
/// followed by a comma or the end of the record.
pub(crate) fn parse_records(text: &str) -> Result<Vec<Record>, CsvError> {
    let mut chars = text.chars().peekable();
    let mut records: Vec<Record> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut line: usize = 1;
    let mut record_line: usize = 1;
    loop {
        let field = if chars.peek() == Some(&'"') {
            chars.next();
            let field = quoted_field(&mut chars, &mut line)?;
            match chars.peek() {
                None | Some(',') | Some('\r') | Some('\n') => {}
                Some(c) => {
                    return Err(CsvError {
                        line,
                        reason: format!(
                            "unexpected character '{c}' after the closing quote of a quoted field"
                        ),
                    })
                }
            }
            field
        } else {
            let mut field = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == '\r' || c == '\n' {
                    break;
                }
                field.push(c);
                chars.next();
            }
            field
        };
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            Some(end) => {
                if end == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                push_record(&mut records, record_line, std::mem::take(&mut fields));
                line += 1;
                record_line = line;
            }
            None => {
                push_record(&mut records, record_line, fields);
                return Ok(records);
            }
        }
    }
}

/// Reads a quoted field after its opening quote, through its closing quote.
fn quoted_field(chars: &mut Peekable<Chars<'_>>, line: &mut usize) -> Result<String, CsvError> {
    let start_line = *line;
    let mut field = String::new();
    loop {
        match chars.next() {
            None => {
                return Err(CsvError {
                    line: start_line,
                    reason: "quoted field is never closed".to_string(),
                })
            }
            Some('"') => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    return Ok(field);
                }
            }
            Some('\r') => {
                field.push('\r');
                if chars.peek() == Some(&'\n') {
                    chars.next();
                    field.push('\n');
                }
                *line += 1;
            }
            Some('\n') => {
                field.push('\n');
                *line += 1;
            }
            Some(c) => field.push(c),
        }
    }
}

/// A line with nothing on it parses as one empty unquoted field: that is a blank line, not a record.
fn push_record(records: &mut Vec<Record>, line: usize, fields: Vec<String>) {
    if fields.len() == 1 && fields[0].is_empty() {
        return;
    }
    records.push(Record { line, fields });
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
            parse_records(text).unwrap(),
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
            parse_records(text).unwrap(),
            vec![rec(1, &["a", "x\r\ny\rz"]), rec(5, &["b", "c"])]
        );
    }

    #[test]
    fn empty_fields_and_stray_quotes() {
        assert_eq!(
            parse_records(",x,\"\"\nit's 5\" long,\"\"").unwrap(),
            vec![rec(1, &["", "x", ""]), rec(2, &["it's 5\" long", ""])]
        );
        assert_eq!(parse_records("").unwrap(), vec![]);
        assert_eq!(parse_records("\r\n\r\n").unwrap(), vec![]);
    }

    #[test]
    fn malformed_quotes_name_the_line() {
        let e = parse_records("a,b\nc,\"never closed\nd,e").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.reason, "quoted field is never closed");
        let e = parse_records("a,b\r\"q\"x,y").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.reason.contains("'x' after the closing quote"),
            "{}",
            e.reason
        );
    }
}
