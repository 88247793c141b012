//! FinancialPhraseBank files: one `sentence@label` per line.

use std::path::Path;

use super::decode::split_lines;
use super::error::DataError;

/// One data row as read, before label checks and ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawRow {
    pub text: String,
    pub label: String,
    pub line: usize,
}

/// Rows of a `sentence@label` file. The split is at the last '@' because sentences may contain '@'.
/// Blank lines are skipped; a line without '@', or with an empty sentence or label, is an error.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Vec<RawRow>, DataError> {
    let mut rows: Vec<RawRow> = Vec::new();
    for (line, content) in split_lines(text) {
        if content.trim().is_empty() {
            continue;
        }
        let malformed = |reason: &str| DataError::Malformed {
            path: path.to_path_buf(),
            line,
            reason: reason.to_string(),
        };
        let (sentence, label) = content
            .rsplit_once('@')
            .ok_or_else(|| malformed("no '@' separating sentence and label"))?;
        if label.trim().is_empty() {
            return Err(malformed("empty label after the last '@'"));
        }
        if sentence.trim().is_empty() {
            return Err(malformed("empty sentence before the last '@'"));
        }
        rows.push(RawRow {
            text: sentence.to_string(),
            label: label.trim().to_string(),
            line,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_last_at_and_skips_blank_lines() {
        let rows = parse(
            Path::new("x.txt"),
            "mail ir@corp.com now .@Positive\r\n\r\n  \nplain .@ neutral \r",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                RawRow {
                    text: "mail ir@corp.com now .".into(),
                    label: "Positive".into(),
                    line: 1
                },
                RawRow {
                    text: "plain .".into(),
                    label: "neutral".into(),
                    line: 4
                },
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse(Path::new("d/f.txt"), "ok .@neutral\nno label here\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d/f.txt, line 2: no '@' separating sentence and label"
        );
        let e = parse(Path::new("d/f.txt"), "\r\nfine .@neutral\rempty .@  \r").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d/f.txt, line 3: empty label after the last '@'"
        );
        let e = parse(Path::new("d/f.txt"), "@positive").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d/f.txt, line 1: empty sentence before the last '@'"
        );
    }
}
