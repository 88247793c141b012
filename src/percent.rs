//! Percent-encoding of URL parts (RFC 3986), for the MLflow client's paths and `exp ui`'s links
//! and routes.

/// Percent-decodes `text` (`+` stays `+`: a query's `+` for a space is the caller's to replace).
/// `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes everything but unreserved characters (a path segment or a query value).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        let name = "a b/<c>&é";
        assert_eq!(percent_decode(&percent_encode(name)).unwrap(), name);
        assert_eq!(percent_encode("fpb-1_x.y~"), "fpb-1_x.y~");
        assert_eq!(percent_encode("a b#?%"), "a%20b%23%3F%25");
        assert_eq!(percent_decode("%zz"), None);
    }
}
