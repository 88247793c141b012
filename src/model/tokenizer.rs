//! Wrapper over `tokenizers::Tokenizer` that produces [`EncodedBatch`]es. The shipped minilm
//! `tokenizer.json` pads and truncates to a fixed 128; we replace that with our own truncation
//! (`max_length`) and padding (to the longest in the batch, or to a fixed length on request).

use std::path::{Path, PathBuf};

use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use super::EncodedBatch;

/// Default truncation length (the original pipeline's `max_length`).
pub const DEFAULT_MAX_LENGTH: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{path}: cannot read tokenizer: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: invalid truncation setting: {message}")]
    Truncation { path: PathBuf, message: String },
    #[error("{path}: encoding failed: {message}")]
    Encode { path: PathBuf, message: String },
    #[error("{path}: max_length must be at least 2 (room for [CLS] and [SEP])")]
    MaxLength { path: PathBuf },
}

/// How a batch is padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// To the longest sequence of the batch (dynamic padding).
    Longest,
    /// To exactly this length (for ONNX files with a fixed sequence axis); longer texts are truncated to it.
    Fixed(usize),
}

#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    max_length: usize,
    padding: Padding,
    pad_id: u32,
    pad_type_id: u32,
    pad_token: String,
}

impl BertTokenizer {
    /// Reads `tokenizer.json`; truncation to 128 and dynamic padding.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_file(path).map_err(|e| TokenizerError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // Keep the file's pad token when it names one; BERT vocabularies use [PAD].
        let (pad_id, pad_type_id, pad_token) = match inner.get_padding() {
            Some(p) => (p.pad_id, p.pad_type_id, p.pad_token.clone()),
            None => (inner.token_to_id("[PAD]").unwrap_or(0), 0, "[PAD]".into()),
        };
        let mut tokenizer = Self {
            inner,
            path: path.to_path_buf(),
            max_length: DEFAULT_MAX_LENGTH,
            padding: Padding::Longest,
            pad_id,
            pad_type_id,
            pad_token,
        };
        tokenizer.apply()?;
        Ok(tokenizer)
    }

    /// Truncates encodings (special tokens included) to `max_length`.
    pub fn with_max_length(mut self, max_length: usize) -> Result<Self, TokenizerError> {
        if max_length < 2 {
            return Err(TokenizerError::MaxLength {
                path: self.path.clone(),
            });
        }
        self.max_length = max_length;
        self.apply()?;
        Ok(self)
    }

    pub fn with_padding(mut self, padding: Padding) -> Result<Self, TokenizerError> {
        if let Padding::Fixed(n) = padding {
            if n < 2 {
                return Err(TokenizerError::MaxLength {
                    path: self.path.clone(),
                });
            }
        }
        self.padding = padding;
        self.apply()?;
        Ok(self)
    }

    /// The length encodings are truncated to (the fixed length, when padding to one is shorter).
    pub fn effective_max_length(&self) -> usize {
        match self.padding {
            Padding::Longest => self.max_length,
            Padding::Fixed(n) => n.min(self.max_length),
        }
    }

    fn apply(&mut self) -> Result<(), TokenizerError> {
        let truncation = TruncationParams {
            direction: TruncationDirection::Right,
            max_length: self.effective_max_length(),
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        };
        self.inner
            .with_truncation(Some(truncation))
            .map_err(|e| TokenizerError::Truncation {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        let strategy = match self.padding {
            Padding::Longest => PaddingStrategy::BatchLongest,
            Padding::Fixed(n) => PaddingStrategy::Fixed(n),
        };
        self.inner.with_padding(Some(PaddingParams {
            strategy,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: self.pad_id,
            pad_type_id: self.pad_type_id,
            pad_token: self.pad_token.clone(),
        }));
        Ok(())
    }

    /// Encodes texts with [CLS]/[SEP], truncated and padded as configured.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<EncodedBatch, TokenizerError> {
        let encodings =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| TokenizerError::Encode {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        let seq_len = match self.padding {
            Padding::Fixed(n) => n,
            Padding::Longest => encodings.iter().map(|e| e.len()).max().unwrap_or(0),
        };
        let mut batch = EncodedBatch {
            batch: encodings.len(),
            seq_len,
            input_ids: Vec::with_capacity(encodings.len() * seq_len),
            attention_mask: Vec::with_capacity(encodings.len() * seq_len),
            token_type_ids: Vec::with_capacity(encodings.len() * seq_len),
        };
        for e in &encodings {
            if e.len() != seq_len {
                return Err(TokenizerError::Encode {
                    path: self.path.clone(),
                    message: format!("an encoding has {} tokens, expected {seq_len}", e.len()),
                });
            }
            batch
                .input_ids
                .extend(e.get_ids().iter().map(|&v| v as i64));
            batch
                .attention_mask
                .extend(e.get_attention_mask().iter().map(|&v| v as i64));
            batch
                .token_type_ids
                .extend(e.get_type_ids().iter().map(|&v| v as i64));
        }
        Ok(batch)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying tokenizer (token/id lookups for augmentation).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minilm_tokenizer() -> BertTokenizer {
        let dir = crate::assets::ensure(crate::assets::Asset::MiniLmL6).unwrap();
        BertTokenizer::from_file(&dir.join("tokenizer.json")).unwrap()
    }

    /// The first `n` sentences of FinancialPhraseBank 50Agree (Latin-1, text before the last '@').
    fn fpb_sentences(n: usize) -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/FinancialPhraseBank/Sentences_50Agree.txt");
        let path = if path.is_file() {
            path
        } else {
            PathBuf::from("/work/shared/data/FinancialPhraseBank/Sentences_50Agree.txt")
        };
        let bytes = std::fs::read(path).unwrap();
        let text: String = bytes.iter().map(|&b| b as char).collect();
        text.split(['\r', '\n'])
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .map(|l| l[..l.rfind('@').unwrap()].to_string())
            .collect()
    }

    #[test]
    fn encodes_fpb_sentences_with_dynamic_padding() {
        let tok = minilm_tokenizer();
        assert_eq!(tok.vocab_size(), 30522);
        // Ids looked up by hand in vocab.txt (line number - 1): every word is a whole token.
        let batch = tok
            .encode_batch(&[
                "Cargo volume grew by 7 % .",
                "Sales of clothing developed best .",
            ])
            .unwrap();
        assert_eq!((batch.batch, batch.seq_len), (2, 9));
        assert_eq!(
            &batch.input_ids[..9],
            &[101, 6636, 3872, 3473, 2011, 1021, 1003, 1012, 102]
        );
        assert_eq!(
            &batch.input_ids[9..],
            &[101, 4341, 1997, 5929, 2764, 2190, 1012, 102, 0]
        );
        assert_eq!(&batch.attention_mask[9..], &[1, 1, 1, 1, 1, 1, 1, 1, 0]);
        assert!(batch.attention_mask[..9].iter().all(|&m| m == 1));
        assert!(batch.token_type_ids.iter().all(|&t| t == 0));

        // Two real sentences from the file: [CLS] first, [SEP] last real token, zeros after.
        let sentences = fpb_sentences(2);
        let refs: Vec<&str> = sentences.iter().map(|s| s.as_str()).collect();
        let batch = tok.encode_batch(&refs).unwrap();
        assert!(
            batch.seq_len < DEFAULT_MAX_LENGTH,
            "padded to {}",
            batch.seq_len
        );
        for row in 0..2 {
            let ids = &batch.input_ids[row * batch.seq_len..(row + 1) * batch.seq_len];
            let mask = &batch.attention_mask[row * batch.seq_len..(row + 1) * batch.seq_len];
            let real = mask.iter().filter(|&&m| m == 1).count();
            assert!(mask[..real].iter().all(|&m| m == 1));
            assert_eq!(ids[0], 101);
            assert_eq!(ids[real - 1], 102);
            assert!(ids[real..].iter().all(|&i| i == 0));
        }
        let longest = (0..2)
            .map(|r| {
                batch.attention_mask[r * batch.seq_len..(r + 1) * batch.seq_len]
                    .iter()
                    .sum::<i64>() as usize
            })
            .max()
            .unwrap();
        assert_eq!(longest, batch.seq_len);
    }

    #[test]
    fn truncates_and_pads_to_fixed_length() {
        let sentence = fpb_sentences(1).remove(0);
        let tok = minilm_tokenizer().with_max_length(8).unwrap();
        let batch = tok.encode_batch(&[&sentence, "Sales"]).unwrap();
        assert_eq!(batch.seq_len, 8);
        assert_eq!(batch.input_ids[0], 101);
        assert_eq!(batch.input_ids[7], 102);
        assert!(batch.attention_mask[..8].iter().all(|&m| m == 1));

        let tok = minilm_tokenizer().with_padding(Padding::Fixed(16)).unwrap();
        let batch = tok
            .encode_batch(&["Sales of clothing developed best ."])
            .unwrap();
        assert_eq!(batch.seq_len, 16);
        assert_eq!(batch.attention_mask.iter().sum::<i64>(), 8);
        assert!(batch.input_ids[8..].iter().all(|&i| i == 0));
        let long = tok.encode_batch(&[&sentence]).unwrap();
        assert_eq!(long.seq_len, 16);
        assert_eq!(long.input_ids[15], 102);
    }

    #[test]
    fn unreadable_tokenizer_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, "{}").unwrap();
        let err = BertTokenizer::from_file(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let missing = dir.path().join("nope.json");
        let err = BertTokenizer::from_file(&missing)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nope.json"), "{err}");
    }
}
