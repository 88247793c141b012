//! Writes the model directory: everything into `.NAME.tmp-PID` beside the target, then one
//! rename, so a reader sees the old directory or the new one, never half of one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::hf_dir::{save_hf_dir_as, Layout};
use crate::model::{BertConfig, Weights};

use super::tokenizer_files::tokenizer_files;
use super::{io, ExportError};

/// The exported files, relative to the directory, in the order `metadata.json` lists them.
pub const FILES: [&str; 11] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "labels.json",
    "onnx/model.onnx",
    "onnx/model.int8.onnx",
    "model_card.md",
    "metadata.json",
];

/// What goes into the directory.
pub struct ModelDirSpec<'a> {
    pub dir: &'a Path,
    pub config: &'a BertConfig,
    pub weights: &'a Weights,
    pub tokenizer_json: &'a Path,
    pub onnx_fp32: &'a [u8],
    pub onnx_int8: &'a [u8],
    pub model_card: &'a str,
    /// Provenance for `metadata.json`.
    pub experiment: &'a str,
    /// `fine-tuned` or `pruned`.
    pub source: &'a str,
    pub source_event_kind: &'a str,
    pub source_event_seq: i64,
    pub quantization: &'a str,
}

/// One written file, relative to the directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportedFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    std::fs::write(path, bytes).map_err(io(format!("writing {}", path.display())))
}

/// Writes the directory and returns its files (`metadata.json` last).
/// Removes what a killed export left beside the target: `.NAME.tmp-PID` and `.NAME.old-PID`.
fn remove_leftovers(parent: &Path, name: &str) -> Result<(), ExportError> {
    let entries = std::fs::read_dir(parent).map_err(io(format!("listing {}", parent.display())))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let leftover = [format!(".{name}.tmp-"), format!(".{name}.old-")]
            .iter()
            .any(|prefix| file_name.starts_with(prefix.as_str()));
        if leftover {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(io(format!("removing the leftover {}", path.display())))?;
        }
    }
    Ok(())
}

pub fn write_model_dir(spec: &ModelDirSpec) -> Result<Vec<ExportedFile>, ExportError> {
    let target = spec.dir;
    let parent = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "model".to_string());
    std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    remove_leftovers(parent, &name)?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = fill(&tmp, spec);
    crate::faults::point("export-write");
    let files = match result {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Swap: the old directory (if any) steps aside, the new one takes its name, the old one goes.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if target.exists() {
        std::fs::rename(target, &old).map_err(io(format!(
            "moving the previous {} aside",
            target.display()
        )))?;
    }
    std::fs::rename(&tmp, target).map_err(io(format!(
        "renaming {} to {}",
        tmp.display(),
        target.display()
    )))?;
    if old.exists() {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(files)
}

fn fill(tmp: &Path, spec: &ModelDirSpec) -> Result<Vec<ExportedFile>, ExportError> {
    std::fs::create_dir_all(tmp.join("onnx")).map_err(io(format!("creating {}", tmp.display())))?;
    // Uniform shapes: Transformers' BertConfig has one head count and one FFN width for all layers.
    save_hf_dir_as(tmp, spec.config, spec.weights, Layout::Uniform).map_err(|e| {
        ExportError::Model {
            path: tmp.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    std::fs::copy(spec.tokenizer_json, tmp.join("tokenizer.json"))
        .map_err(io(format!("copying {}", spec.tokenizer_json.display())))?;
    let tok = tokenizer_files(spec.tokenizer_json, spec.config.max_position_embeddings)?;
    write(
        &tmp.join("tokenizer_config.json"),
        tok.tokenizer_config.as_bytes(),
    )?;
    write(
        &tmp.join("special_tokens_map.json"),
        tok.special_tokens_map.as_bytes(),
    )?;
    write(&tmp.join("vocab.txt"), tok.vocab_txt.as_bytes())?;
    let labels = spec.config.labels();
    let labels_json = json!({
        "labels": labels,
        "id2label": spec.config.id2label,
        "label2id": spec.config.label2id,
    });
    write(
        &tmp.join("labels.json"),
        (serde_json::to_string_pretty(&labels_json).expect("labels serialise") + "\n").as_bytes(),
    )?;
    write(&tmp.join("onnx/model.onnx"), spec.onnx_fp32)?;
    write(&tmp.join("onnx/model.int8.onnx"), spec.onnx_int8)?;
    write(&tmp.join("model_card.md"), spec.model_card.as_bytes())?;

    let mut files = Vec::with_capacity(FILES.len());
    for rel in &FILES[..FILES.len() - 1] {
        files.push(describe(tmp, rel)?);
    }
    let listed: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                json!({ "sha256": f.sha256, "bytes": f.bytes }),
            )
        })
        .collect();
    let metadata = json!({
        "experiment": spec.experiment,
        "source": spec.source,
        "source_event": { "kind": spec.source_event_kind, "seq": spec.source_event_seq },
        "exp_version": env!("CARGO_PKG_VERSION"),
        "labels": labels,
        "onnx": { "opset": crate::onnx::export::OPSET, "inputs": ["input_ids", "attention_mask"], "output": "logits" },
        "quantization": spec.quantization,
        "files": listed,
    });
    write(
        &tmp.join("metadata.json"),
        (serde_json::to_string_pretty(&metadata).expect("metadata serialises") + "\n").as_bytes(),
    )?;
    files.push(describe(tmp, "metadata.json")?);
    Ok(files)
}

fn describe(dir: &Path, rel: &str) -> Result<ExportedFile, ExportError> {
    let path: PathBuf = dir.join(rel);
    let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
    Ok(ExportedFile {
        path: rel.to_string(),
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        bytes: bytes.len() as u64,
    })
}
