//! Stable sample ids: the same text gets the same id in every file, run and machine.

use sha2::{Digest, Sha256};

/// Trim, then collapse every run of whitespace (Unicode White_Space) to one ASCII space.
pub fn normalize_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<&str>>().join(" ")
}

/// First 16 hex digits of sha256 of the UTF-8 bytes of the normalised text.
pub fn sample_id(text: &str) -> String {
    let digest = Sha256::digest(normalize_text(text).as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_trims_and_collapses() {
        assert_eq!(normalize_text("  a \t b\r\n\u{a0}c  "), "a b c");
        assert_eq!(normalize_text(""), "");
    }

    #[test]
    fn id_is_sha256_prefix_of_normalised_text() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(sample_id("abc"), "ba7816bf8f01cfea");
        assert_eq!(sample_id("  abc\t"), "ba7816bf8f01cfea");
        assert_eq!(sample_id("a  b"), sample_id("a b"));
        assert_ne!(sample_id("a b"), sample_id("ab"));
        assert_eq!(sample_id("x").len(), 16);
    }
}
