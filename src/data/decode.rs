//! Bytes to text, and text to numbered lines.
//!
//! FinancialPhraseBank is ISO-8859-1 with CRLF or CR-only line endings, so decoding tries UTF-8
//! first and falls back to Latin-1 (every byte is a valid Latin-1 character, so this never fails),
//! and every one of CR, LF and CRLF ends a line. Files saved as UTF-16 or UTF-32 (Windows editors
//! and Excel's "Unicode text" do this) are recognised by their byte-order mark, or without one by
//! the NUL bytes that ASCII characters bring, and decoded as such: read as Latin-1 they would be
//! text with a NUL between letters.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "latin-1")]
    Latin1,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    #[serde(rename = "utf-32le")]
    Utf32Le,
    #[serde(rename = "utf-32be")]
    Utf32Be,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Latin1 => "latin-1",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Utf32Le => "utf-32le",
            Encoding::Utf32Be => "utf-32be",
        }
    }

    /// Bytes per code unit of the wide encodings (UTF-16, UTF-32).
    fn unit(self) -> usize {
        match self {
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
            Encoding::Utf32Le | Encoding::Utf32Be => 4,
            Encoding::Utf8 | Encoding::Latin1 => 1,
        }
    }

    fn little_endian(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf32Le)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
}

/// A UTF-16 or UTF-32 file with bytes that are not valid in that encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the file looks like {} ({how}), but {reason} at byte {offset}", .encoding.as_str())]
pub struct DecodeError {
    pub encoding: Encoding,
    /// How the encoding was recognised.
    pub how: &'static str,
    pub reason: &'static str,
    pub offset: usize,
}

/// The byte-order marks, longest first (UTF-32LE's starts with UTF-16LE's).
const MARKS: [(&[u8], Encoding); 5] = [
    (&[0xFF, 0xFE, 0x00, 0x00], Encoding::Utf32Le),
    (&[0x00, 0x00, 0xFE, 0xFF], Encoding::Utf32Be),
    (&[0xFF, 0xFE], Encoding::Utf16Le),
    (&[0xFE, 0xFF], Encoding::Utf16Be),
    (&[0xEF, 0xBB, 0xBF], Encoding::Utf8),
];

/// UTF-16 or UTF-32 recognised without a byte-order mark: in the first 4 KiB, at least 60% of
/// the code units have NUL bytes where an ASCII character has them, and at most 5% have a NUL
/// anywhere else (Latin-1 or UTF-8 text has almost no NUL bytes at all).
fn sniff_wide(bytes: &[u8]) -> Option<Encoding> {
    let head = &bytes[..bytes.len().min(4096)];
    if head.len() < 4 || !head.contains(&0) {
        return None;
    }
    let candidates: [(usize, &[usize], Encoding); 4] = [
        (4, &[1, 2, 3], Encoding::Utf32Le),
        (4, &[0, 1, 2], Encoding::Utf32Be),
        (2, &[1], Encoding::Utf16Le),
        (2, &[0], Encoding::Utf16Be),
    ];
    candidates.into_iter().find_map(|(unit, zeros, encoding)| {
        let units = head.len() / unit;
        let (mut ascii_like, mut stray) = (0, 0);
        for chunk in head.chunks_exact(unit) {
            ascii_like += usize::from(zeros.iter().all(|&i| chunk[i] == 0));
            stray += usize::from((0..unit).any(|i| !zeros.contains(&i) && chunk[i] == 0));
        }
        (units > 0 && ascii_like * 10 >= units * 6 && stray * 20 <= units).then_some(encoding)
    })
}

/// Decodes `bytes`: a byte-order mark (UTF-8, UTF-16, UTF-32) names the encoding and is dropped;
/// UTF-16/32 are also recognised without one; otherwise UTF-8 if the bytes are valid UTF-8,
/// else Latin-1. Only UTF-16/32 can fail, on bytes that are not valid in them.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    let marked = MARKS
        .iter()
        .find(|(mark, _)| bytes.starts_with(mark))
        .map(|(mark, encoding)| (mark.len(), *encoding, "byte-order mark"));
    let wide = marked
        .or_else(|| sniff_wide(bytes).map(|e| (0, e, "NUL bytes between characters")))
        .filter(|(_, encoding, _)| *encoding != Encoding::Utf8);
    match wide {
        Some((skip, encoding, how)) => decode_wide(bytes, skip, encoding, how),
        None => Ok(decode_narrow(bytes)),
    }
}

/// UTF-8 (a leading byte-order mark is dropped) if the bytes are valid UTF-8, else Latin-1.
fn decode_narrow(bytes: &[u8]) -> Decoded {
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

/// UTF-16 or UTF-32 after a byte-order mark of `skip` bytes.
fn decode_wide(
    bytes: &[u8],
    skip: usize,
    encoding: Encoding,
    how: &'static str,
) -> Result<Decoded, DecodeError> {
    let error = |reason, offset| DecodeError {
        encoding,
        how,
        reason,
        offset,
    };
    let unit = encoding.unit();
    let body = &bytes[skip..];
    if body.len() % unit != 0 {
        return Err(error(
            "its length is not a whole number of code units",
            bytes.len() - body.len() % unit,
        ));
    }
    let units = body.chunks_exact(unit).map(|c| {
        let fold = |n: u32, b: &u8| n << 8 | u32::from(*b);
        if encoding.little_endian() {
            c.iter().rev().fold(0, fold)
        } else {
            c.iter().fold(0, fold)
        }
    });
    let mut text = String::with_capacity(body.len() / unit);
    if unit == 2 {
        // Two bytes folded: each unit fits a u16.
        for (i, c) in char::decode_utf16(units.map(|u| u as u16)).enumerate() {
            let c = c.map_err(|_| error("has an unpaired surrogate", skip + 2 * i))?;
            text.push(c);
        }
    } else {
        for (i, u) in units.enumerate() {
            let c =
                char::from_u32(u).ok_or(error("has a value that is no character", skip + 4 * i))?;
            text.push(c);
        }
    }
    Ok(Decoded { text, encoding })
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

    fn utf16(text: &str, big_endian: bool, mark: bool) -> Vec<u8> {
        let mark = mark.then_some(0xFEFF_u16);
        mark.into_iter()
            .chain(text.encode_utf16())
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    fn utf32(text: &str, big_endian: bool, mark: bool) -> Vec<u8> {
        let mark = mark.then_some('\u{feff}');
        mark.into_iter()
            .chain(text.chars())
            .flat_map(|c| {
                let u = u32::from(c);
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn utf16_and_utf32_are_decoded_with_or_without_a_byte_order_mark() {
        let text =
            "Operating profit rose to EUR 13.1 mn \u{20ac}@positive\r\nSales fell@negative\n";
        for mark in [true, false] {
            for (bytes, encoding) in [
                (utf16(text, false, mark), Encoding::Utf16Le),
                (utf16(text, true, mark), Encoding::Utf16Be),
                (utf32(text, false, mark), Encoding::Utf32Le),
                (utf32(text, true, mark), Encoding::Utf32Be),
            ] {
                let d = decode(&bytes).unwrap();
                assert_eq!(
                    (d.encoding, d.text.as_str()),
                    (encoding, text),
                    "mark {mark}"
                );
            }
        }
    }

    #[test]
    fn broken_utf16_is_an_error_naming_the_encoding_and_the_byte() {
        let mut bytes = utf16("ab", false, true);
        bytes.extend([0x00, 0xD8, b'c', 0x00]); // a lone high surrogate, then 'c'
        let err = decode(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the file looks like utf-16le (byte-order mark), but has an unpaired surrogate at byte 6"
        );
        let odd = [0xFF, 0xFE, b'a', 0, b'b'];
        let err = decode(&odd).unwrap_err().to_string();
        assert!(
            err.contains("not a whole number of code units at byte 4"),
            "{err}"
        );
    }

    #[test]
    fn latin1_text_with_a_stray_nul_is_not_taken_for_utf16() {
        let mut bytes = b"Sales rose \xa3 5 mn@positive\n".repeat(20);
        bytes[7] = 0;
        assert_eq!(decode(&bytes).unwrap().encoding, Encoding::Latin1);
    }

    #[test]
    fn utf8_is_kept_and_bom_dropped() {
        let d = decode("\u{feff}Säljä €".as_bytes()).unwrap();
        assert_eq!(d.encoding, Encoding::Utf8);
        assert_eq!(d.text, "Säljä €");
    }

    #[test]
    fn invalid_utf8_falls_back_to_latin1() {
        // 0xe4 is 'ä' and 0xa3 '£' in Latin-1, invalid as UTF-8 here.
        let d = decode(b"S\xe4lj\xe4 \xa3 5").unwrap();
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
