//! Bytes to text, and text to numbered lines.
//!
//! FinancialPhraseBank is ISO-8859-1 with CRLF or CR-only line endings, so decoding tries UTF-8
//! first and falls back to Latin-1 (every byte is a valid Latin-1 character, so this never fails),
//! and every one of CR, LF and CRLF ends a line.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
}

/// UTF-8 (a leading byte-order mark is dropped) if the bytes are valid UTF-8, else Latin-1.
pub fn decode(bytes: &[u8]) -> Decoded {
    match std::str::from_utf8(bytes) {
        Ok(text) => Decoded {
            text: text.strip_prefix('\u{feff}').unwrap_or(text).to_string(),
            encoding: Encoding::Utf8,
        },
        // Latin-1 maps byte b to code point U+00b.
        Err(_) => Decoded {
            text: bytes.iter().map(|&b| char::from(b)).collect(),
            encoding: Encoding::Latin1,
        },
    }
}

/// The lines of `text` with their 1-based line numbers; CR, LF and CRLF each end one line.
/// A terminator at the very end does not start another (empty) line.
pub fn split_lines(text: &str) -> Vec<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                lines.push((lines.len() + 1, &text[start..i]));
                i += if bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            b'\n' => {
                lines.push((lines.len() + 1, &text[start..i]));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push((lines.len() + 1, &text[start..]));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_kept_and_bom_dropped() {
        let d = decode("\u{feff}Säljä €".as_bytes());
        assert_eq!(d.encoding, Encoding::Utf8);
        assert_eq!(d.text, "Säljä €");
    }

    #[test]
    fn invalid_utf8_falls_back_to_latin1() {
        // 0xe4 is 'ä' and 0xa3 '£' in Latin-1, invalid as UTF-8 here.
        let d = decode(b"S\xe4lj\xe4 \xa3 5");
        assert_eq!(d.encoding, Encoding::Latin1);
        assert_eq!(d.text, "Säljä £ 5");
    }

    #[test]
    fn every_line_ending_splits() {
        let text = "a\rb\r\nc\nd";
        assert_eq!(
            split_lines(text),
            vec![(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        );
        // LF then CR is two endings; blank lines keep their numbers.
        assert_eq!(
            split_lines("a\n\rb\r\n\r\nc\r"),
            vec![(1, "a"), (2, ""), (3, "b"), (4, ""), (5, "c")]
        );
        assert_eq!(split_lines(""), Vec::<(usize, &str)>::new());
        assert_eq!(split_lines("only"), vec![(1, "only")]);
    }
}
