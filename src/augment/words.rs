//! Word spans and capitalisation shared by the text augmenters: a word is a maximal run of
//! alphanumeric characters, and only all-ASCII-letter runs are ever replaced (so "3rd" or "Q4"
//! are left alone, and replacing never touches punctuation or spacing).

/// Byte ranges of the maximal alphanumeric runs of `text`.
pub(crate) fn alnum_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            spans.push((s, i));
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// Whether a run is a replaceable word (ASCII letters only).
pub(crate) fn is_plain_word(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphabetic())
}

/// `target` with the capitalisation of `source`: all-caps (two letters or more) stays all-caps,
/// a capital first letter stays capital, anything else is left as the table writes it.
pub(crate) fn match_case(source: &str, target: &str) -> String {
    let letters: Vec<char> = source.chars().collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_ascii_uppercase()) {
        return target.to_ascii_uppercase();
    }
    if letters.first().is_some_and(|c| c.is_ascii_uppercase()) {
        let mut out = String::with_capacity(target.len());
        let mut chars = target.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
        }
        out.extend(chars);
        return out;
    }
    target.to_string()
}

/// Replaces byte ranges (sorted, non-overlapping) of `text` by new strings.
pub(crate) fn splice(text: &str, edits: &[((usize, usize), String)]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for ((s, e), new) in edits {
        out.push_str(&text[at..*s]);
        out.push_str(new);
        at = *e;
    }
    out.push_str(&text[at..]);
    out
}

/// SplitMix64: a small fixed generator so a seed gives the same augmentations forever.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..bound` (`bound` > 0); the modulo bias is irrelevant for tables this small.
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A per-sample seed: the run's seed mixed with the sample id and a salt (method, attempt), so a
/// sample's augmentation does not depend on which other samples are augmented.
pub(crate) fn derive_seed(seed: u64, id: &str, salt: u64) -> u64 {
    // FNV-1a over the id, then one SplitMix step to spread it.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Rng::new(seed ^ h ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_on_punctuation_and_keep_digits_together() {
        let t = "Sales rose 3rd-quarter, EUR5m.";
        let words: Vec<&str> = alnum_spans(t).iter().map(|&(s, e)| &t[s..e]).collect();
        assert_eq!(words, vec!["Sales", "rose", "3rd", "quarter", "EUR5m"]);
        assert!(is_plain_word("quarter"));
        assert!(!is_plain_word("3rd"));
    }

    #[test]
    fn case_is_matched() {
        assert_eq!(match_case("Rose", "climbed"), "Climbed");
        assert_eq!(match_case("ROSE", "climbed"), "CLIMBED");
        assert_eq!(match_case("rose", "climbed"), "climbed");
    }
}
