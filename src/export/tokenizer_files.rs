//! The tokenizer files `AutoTokenizer.from_pretrained(dir)` reads beside `tokenizer.json`:
//! `tokenizer_config.json`, `special_tokens_map.json` and `vocab.txt`, derived from the
//! experiment's `tokenizer.json` so the directory lower-cases (or not) exactly like it.

use std::path::Path;

use serde_json::{json, Value};

use super::{io, ExportError};

/// What the exported tokenizer files say, read off `tokenizer.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerFiles {
    pub tokenizer_config: String,
    pub special_tokens_map: String,
    pub vocab_txt: String,
    pub lowercase: bool,
}

fn bad(path: &Path, reason: impl Into<String>) -> ExportError {
    ExportError::Tokenizer {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Builds the three files from `tokenizer.json` (WordPiece with a BERT normaliser). `vocab.txt`
/// is the file beside `tokenizer.json` when there is one, else the WordPiece vocabulary in id order.
pub fn tokenizer_files(
    tokenizer_json: &Path,
    model_max_length: usize,
) -> Result<TokenizerFiles, ExportError> {
    let text = std::fs::read_to_string(tokenizer_json)
        .map_err(io(format!("reading {}", tokenizer_json.display())))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| bad(tokenizer_json, e.to_string()))?;
    let model = &value["model"];
    if model["type"].as_str() != Some("WordPiece") {
        return Err(bad(
            tokenizer_json,
            format!(
                "model type {} is not WordPiece; only BERT tokenizers are exported",
                model["type"]
            ),
        ));
    }
    let normalizer = &value["normalizer"];
    let lowercase = normalizer["lowercase"].as_bool().unwrap_or(false);
    // `strip_accents: null` means "follow lowercase", as in Hugging Face's BertNormalizer.
    let strip_accents = normalizer["strip_accents"].clone();
    let chinese = normalizer["handle_chinese_chars"].as_bool().unwrap_or(true);

    let vocab_beside = tokenizer_json.with_file_name("vocab.txt");
    let vocab_txt = if vocab_beside.is_file() {
        std::fs::read_to_string(&vocab_beside)
            .map_err(io(format!("reading {}", vocab_beside.display())))?
    } else {
        let map = model["vocab"]
            .as_object()
            .ok_or_else(|| bad(tokenizer_json, "model.vocab is not a token -> id map"))?;
        let mut tokens: Vec<Option<&str>> = vec![None; map.len()];
        for (token, id) in map {
            let id = id
                .as_u64()
                .filter(|&i| (i as usize) < tokens.len())
                .ok_or_else(|| bad(tokenizer_json, format!("token {token:?} has id {id}")))?;
            tokens[id as usize] = Some(token);
        }
        let mut out = String::new();
        for (id, token) in tokens.iter().enumerate() {
            let token =
                token.ok_or_else(|| bad(tokenizer_json, format!("no token has id {id}")))?;
            out.push_str(token);
            out.push('\n');
        }
        out
    };
    let vocab: std::collections::HashSet<&str> = vocab_txt.lines().collect();
    let specials = [
        ("unk_token", "[UNK]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("cls_token", "[CLS]"),
        ("mask_token", "[MASK]"),
    ];
    for (_, token) in specials {
        if !vocab.contains(token) {
            return Err(bad(
                tokenizer_json,
                format!("the vocabulary has no {token}"),
            ));
        }
    }
    let mut map = serde_json::Map::new();
    for (key, token) in specials {
        map.insert(key.to_string(), json!(token));
    }
    let special_tokens_map = serde_json::to_string_pretty(&Value::Object(map.clone()))
        .expect("a map of strings serialises");
    let mut config = map;
    config.insert("tokenizer_class".into(), json!("BertTokenizer"));
    config.insert("do_lower_case".into(), json!(lowercase));
    config.insert("strip_accents".into(), strip_accents);
    config.insert("tokenize_chinese_chars".into(), json!(chinese));
    config.insert("do_basic_tokenize".into(), json!(true));
    config.insert("model_max_length".into(), json!(model_max_length));
    config.insert("clean_up_tokenization_spaces".into(), json!(true));
    let tokenizer_config =
        serde_json::to_string_pretty(&Value::Object(config)).expect("a JSON map serialises");
    Ok(TokenizerFiles {
        tokenizer_config: tokenizer_config + "\n",
        special_tokens_map: special_tokens_map + "\n",
        vocab_txt,
        lowercase,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_comes_from_wordpiece_in_id_order_and_lowercase_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        let vocab = json!({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "profit": 6, "##s": 5});
        let doc = json!({
            "normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null, "handle_chinese_chars": true},
            "model": {"type": "WordPiece", "vocab": vocab}
        });
        std::fs::write(&path, doc.to_string()).unwrap();
        let files = tokenizer_files(&path, 512).unwrap();
        assert_eq!(
            files.vocab_txt,
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n##s\nprofit\n"
        );
        assert!(files.lowercase);
        let config: Value = serde_json::from_str(&files.tokenizer_config).unwrap();
        assert_eq!(config["do_lower_case"], json!(true));
        assert_eq!(config["model_max_length"], json!(512));
        assert_eq!(config["cls_token"], json!("[CLS]"));

        // A gap in the ids is an error naming the token and its id.
        let doc = json!({
            "normalizer": {"type": "BertNormalizer", "lowercase": false},
            "model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "[UNK]": 2}}
        });
        std::fs::write(&path, doc.to_string()).unwrap();
        let err = tokenizer_files(&path, 512).unwrap_err().to_string();
        assert!(err.contains(r#"token "[UNK]" has id 2"#), "{err}");
    }
}
