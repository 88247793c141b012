//! Loads and saves Hugging Face BERT model directories (`config.json` + `model.safetensors`
//! [+ `tokenizer.json`]). Names with and without the `bert.` prefix are accepted; a missing pooler
//! or classifier is initialised (seeded) and reported, anything else missing or misshapen is an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use super::init::init_tensor;
use super::safetensors_out::write_safetensors;
use super::shapes::{
    classifier_shapes, encoder_shapes, param_shapes, pooler_shapes, validate_config, ConfigError,
};
use super::trainable::{check_weights, ModelError};
use super::uniform::{cut_padding, is_pruned, pad_to_uniform, uniform_config, UnpadError};
use super::{BertConfig, Weights};

#[derive(Debug, thiserror::Error)]
pub enum HfDirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid config: {message}")]
    ConfigJson { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    ConfigField {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("{path}: not a readable safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    #[error("{path}: missing encoder tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has shape {actual:?}, config.json implies {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` has dtype {dtype:?}, not a float type")]
    NotFloat {
        path: PathBuf,
        name: String,
        dtype: DType,
    },
    #[error("{path}: id2label is {found:?} but the labels asked for are {requested:?}")]
    LabelMismatch {
        path: PathBuf,
        found: Vec<String>,
        requested: Vec<String>,
    },
    #[error("{path}: tensor `{name}` has the unpruned shape but config.json prunes it ({shapes}): {source}")]
    Padding {
        path: PathBuf,
        name: String,
        /// `[uniform] in the file, [pruned] in config.json`.
        shapes: String,
        #[source]
        source: Box<UnpadError>,
    },
    #[error("{path}: cannot save: {source}")]
    Weights {
        path: PathBuf,
        #[source]
        source: ModelError,
    },
    #[error("{path}: candle: {source}")]
    Candle {
        path: PathBuf,
        #[source]
        source: candle_core::Error,
    },
}

/// What loading did besides copying tensors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Parameters absent from the file and initialised (seeded): pooler and/or classifier.
    pub initialised: Vec<String>,
    /// Tensors in the file that the model does not use (e.g. `embeddings.position_ids`), as named there.
    pub ignored: Vec<String>,
    /// Whether the file's encoder names carried the `bert.` prefix.
    pub had_bert_prefix: bool,
    /// `tokenizer.json` of the directory, when present.
    pub tokenizer: Option<PathBuf>,
    /// Whether a pruned model's tensors came in the uniform (zero-padded) shapes of an export and
    /// were cut back to the pruned ones (see [`super::uniform`]).
    pub padding_removed: bool,
}

/// Maps a file's tensor name to the `BertForSequenceClassification` name.
fn canonical_name(name: &str) -> String {
    let full = if name.starts_with("bert.") || name.starts_with("classifier.") {
        name.to_string()
    } else {
        format!("bert.{name}")
    };
    // Old checkpoints call the LayerNorm parameters gamma/beta.
    if full.contains("LayerNorm.") {
        if let Some(stem) = full.strip_suffix(".gamma") {
            return format!("{stem}.weight");
        }
        if let Some(stem) = full.strip_suffix(".beta") {
            return format!("{stem}.bias");
        }
    }
    full
}

/// Reads and validates `config.json`.
pub fn read_config(path: &Path) -> Result<BertConfig, HfDirError> {
    let text = std::fs::read_to_string(path).map_err(|source| HfDirError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let raw: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| HfDirError::ConfigJson {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if let Some(kind) = raw.get("position_embedding_type") {
        if kind != "absolute" {
            return Err(HfDirError::ConfigField {
                path: path.to_path_buf(),
                source: ConfigError {
                    field: "position_embedding_type",
                    reason: format!("{kind} is not supported (only \"absolute\")"),
                },
            });
        }
    }
    let config: BertConfig = serde_json::from_value(raw).map_err(|e| HfDirError::ConfigJson {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    validate_config(&config).map_err(|source| HfDirError::ConfigField {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(config)
}

/// Loads `dir` as a classifier for `labels` (class-id order). With `labels` empty, the labels of
/// `config.json` are kept (none: encoder and pooler only). Missing pooler/classifier tensors are
/// initialised from `seed`.
pub fn load_hf_dir(
    dir: &Path,
    labels: &[String],
    seed: u64,
) -> Result<(BertConfig, Weights, LoadReport), HfDirError> {
    let config_path = dir.join("config.json");
    let mut config = read_config(&config_path)?;
    let st_path = dir.join("model.safetensors");
    let raw = candle_core::safetensors::load(&st_path, &Device::Cpu).map_err(|e| {
        HfDirError::Safetensors {
            path: st_path.clone(),
            message: e.to_string(),
        }
    })?;
    let file_has_classifier = raw.keys().any(|k| k.starts_with("classifier."));
    if !labels.is_empty() {
        let found = config.labels();
        if file_has_classifier && !found.is_empty() && found != labels {
            return Err(HfDirError::LabelMismatch {
                path: config_path,
                found,
                requested: labels.to_vec(),
            });
        }
        config.set_labels(labels);
    } else if config.id2label.is_empty() {
        // Like Transformers: a classifier without id2label gets LABEL_0..LABEL_{n-1}.
        if let Some(bias) = raw.get("classifier.bias") {
            let n = bias.dims().first().copied().unwrap_or(0);
            let names: Vec<String> = (0..n).map(|i| format!("LABEL_{i}")).collect();
            config.set_labels(&names);
        }
    }

    let expected: BTreeSet<String> = param_shapes(&config).into_iter().map(|p| p.0).collect();
    let mut report = LoadReport {
        had_bert_prefix: raw.keys().any(|k| k.starts_with("bert.")),
        ..LoadReport::default()
    };
    let mut weights = Weights::new();
    let mut names: Vec<&String> = raw.keys().collect();
    names.sort();
    for file_name in names {
        let name = canonical_name(file_name);
        if !expected.contains(&name) {
            report.ignored.push(file_name.clone());
            continue;
        }
        let tensor = &raw[file_name];
        if !tensor.dtype().is_float() {
            return Err(HfDirError::NotFloat {
                path: st_path,
                name: file_name.clone(),
                dtype: tensor.dtype(),
            });
        }
        let t = tensor
            .to_dtype(DType::F32)
            .map_err(|source| HfDirError::Candle {
                path: st_path.clone(),
                source,
            })?;
        weights.insert(name, t);
    }

    if is_pruned(&config) {
        report.padding_removed = cut_uniform_padding(&config, &mut weights, &st_path)?;
    }
    for (name, shape) in encoder_shapes(&config) {
        match weights.get(&name) {
            None => {
                return Err(HfDirError::MissingTensor {
                    path: st_path,
                    name,
                    expected: shape,
                })
            }
            Some(t) if t.dims() != shape.as_slice() => {
                return Err(HfDirError::ShapeMismatch {
                    path: st_path,
                    actual: t.dims().to_vec(),
                    name,
                    expected: shape,
                })
            }
            Some(_) => {}
        }
    }
    for (name, shape) in pooler_shapes(&config)
        .into_iter()
        .chain(classifier_shapes(&config))
    {
        match weights.get(&name) {
            Some(t) if t.dims() != shape.as_slice() => {
                return Err(HfDirError::ShapeMismatch {
                    path: st_path,
                    actual: t.dims().to_vec(),
                    name,
                    expected: shape,
                })
            }
            Some(_) => {}
            None => {
                let t =
                    init_tensor(&config, &name, &shape, seed, &Device::Cpu).map_err(|source| {
                        HfDirError::Candle {
                            path: st_path.clone(),
                            source,
                        }
                    })?;
                weights.insert(name.clone(), t);
                report.initialised.push(name);
            }
        }
    }
    let tokenizer = dir.join("tokenizer.json");
    report.tokenizer = tokenizer.is_file().then_some(tokenizer);
    Ok((config, weights, report))
}

/// Cuts the zero padding off the tensors of a pruned model that a file holds in the uniform
/// shapes; returns whether any had it. Tensors already in the pruned shapes are left alone.
fn cut_uniform_padding(
    config: &BertConfig,
    weights: &mut Weights,
    st_path: &Path,
) -> Result<bool, HfDirError> {
    let uniform: std::collections::BTreeMap<String, Vec<usize>> =
        encoder_shapes(&uniform_config(config))
            .into_iter()
            .collect();
    let mut any = false;
    for (name, pruned) in encoder_shapes(config) {
        let Some(t) = weights.get(&name) else {
            continue;
        };
        if t.dims() == pruned.as_slice() || Some(&t.dims().to_vec()) != uniform.get(&name) {
            continue;
        }
        let cut = cut_padding(t, &pruned).map_err(|source| HfDirError::Padding {
            path: st_path.to_path_buf(),
            name: name.clone(),
            shapes: format!("{:?} in the file, {pruned:?} in config.json", t.dims()),
            source: Box::new(source),
        })?;
        weights.insert(name, cut);
        any = true;
    }
    Ok(any)
}

/// `config.json` as exp writes it: the config plus the keys Transformers' auto classes read.
pub fn config_json(config: &BertConfig) -> serde_json::Result<serde_json::Value> {
    let mut value = serde_json::to_value(config)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(
            "architectures".into(),
            serde_json::json!(["BertForSequenceClassification"]),
        );
        map.insert("model_type".into(), serde_json::json!("bert"));
        map.insert(
            "position_embedding_type".into(),
            serde_json::json!("absolute"),
        );
    }
    Ok(value)
}

/// How a pruned model's tensors are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// In their pruned shapes, as exp's own files keep them (`layer_num_heads` and
    /// `layer_intermediate_sizes` in `config.json` say how many of each layer are left).
    Pruned,
    /// Zero-padded to the unpruned shapes, so Transformers' `BertConfig` describes them; the
    /// per-layer counts stay in `config.json` for exp to cut the padding off again.
    Uniform,
}

/// Writes `config.json` (with `id2label`/`label2id`) and `model.safetensors` (full HF names) into
/// `dir`, a pruned model's tensors in their pruned shapes.
pub fn save_hf_dir(dir: &Path, config: &BertConfig, weights: &Weights) -> Result<(), HfDirError> {
    save_hf_dir_as(dir, config, weights, Layout::Pruned)
}

/// [`save_hf_dir`] with the layout of a pruned model's tensors chosen.
pub fn save_hf_dir_as(
    dir: &Path,
    config: &BertConfig,
    weights: &Weights,
    layout: Layout,
) -> Result<(), HfDirError> {
    check_weights(config, weights).map_err(|source| HfDirError::Weights {
        path: dir.to_path_buf(),
        source,
    })?;
    std::fs::create_dir_all(dir).map_err(|source| HfDirError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let config_path = dir.join("config.json");
    let value = config_json(config).map_err(|e| HfDirError::ConfigJson {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| HfDirError::ConfigJson {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    write_renamed(&config_path, |tmp| std::fs::write(tmp, text + "\n"))?;
    // Only the model's own parameters, so the file matches the config exactly.
    let model_weights: Weights = param_shapes(config)
        .into_iter()
        .map(|(name, _)| {
            let t = weights[&name].clone();
            (name, t)
        })
        .collect();
    let st_path = dir.join("model.safetensors");
    let model_weights = match layout {
        Layout::Uniform if is_pruned(config) => {
            pad_to_uniform(config, &model_weights).map_err(|source| HfDirError::Candle {
                path: st_path.clone(),
                source,
            })?
        }
        _ => model_weights,
    };
    write_renamed(&st_path, |tmp| write_safetensors(tmp, &model_weights))
}

/// Writes under a temporary name and renames, so a crash never leaves half a file at `path`.
fn write_renamed(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), HfDirError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string());
    let tmp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            HfDirError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::init::tiny_random_bert;
    use crate::model::{EncodedBatch, Mode, TrainableBert};

    fn labels3() -> Vec<String> {
        ["negative", "neutral", "positive"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn a_uniform_save_of_a_pruned_model_loads_back_pruned_and_nonzero_padding_is_refused() {
        let (mut config, mut weights) = tiny_random_bert(4, 3);
        config.set_labels(&labels3());
        config.layer_num_heads = Some(vec![3, 1]);
        config.layer_intermediate_sizes = Some(vec![20, 37]);
        for (name, shape) in param_shapes(&config) {
            let mut t = weights[&name].clone();
            for (dim, &n) in shape.iter().enumerate() {
                t = t.narrow(dim, 0, n).unwrap();
            }
            weights.insert(name, t.contiguous().unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        save_hf_dir_as(dir.path(), &config, &weights, Layout::Uniform).unwrap();
        let (back, loaded, report) = load_hf_dir(dir.path(), &labels3(), 0).unwrap();
        assert!(report.padding_removed);
        assert_eq!(back.layer_num_heads, config.layer_num_heads);
        for (name, t) in &weights {
            assert_eq!(max_abs_diff(t, &loaded[name]), 0.0, "{name}");
        }
        // The padding of layer 0's FFN output made non-zero: no longer the pruned model.
        let name = "bert.encoder.layer.0.output.dense.weight";
        let mut padded = super::super::uniform::pad_to_uniform(&config, &weights).unwrap();
        let changed = (padded[name].clone() + 1e-3).unwrap();
        padded.insert(name.to_string(), changed);
        write_safetensors(&dir.path().join("model.safetensors"), &padded).unwrap();
        let err = load_hf_dir(dir.path(), &labels3(), 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains("[32, 37] in the file, [32, 20] in config.json"),
            "{err}"
        );
        assert!(err.contains("not all zero"), "{err}");
    }

    #[test]
    fn save_then_load_round_trips() {
        let (mut config, weights) = tiny_random_bert(4, 3);
        config.set_labels(&labels3());
        let dir = tempfile::tempdir().unwrap();
        save_hf_dir(dir.path(), &config, &weights).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(json["id2label"]["2"], "positive");
        assert_eq!(json["label2id"]["negative"], 0);
        assert_eq!(json["architectures"][0], "BertForSequenceClassification");
        // Without id2label the classifier's width decides the labels (LABEL_i, as Transformers does).
        let mut bare = json.clone();
        bare.as_object_mut().unwrap().remove("id2label");
        bare.as_object_mut().unwrap().remove("label2id");
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("config.json"), bare.to_string()).unwrap();
        std::fs::copy(
            dir.path().join("model.safetensors"),
            other.path().join("model.safetensors"),
        )
        .unwrap();
        let (unnamed, _, report) = load_hf_dir(other.path(), &[], 0).unwrap();
        assert_eq!(unnamed.labels(), vec!["LABEL_0", "LABEL_1", "LABEL_2"]);
        assert!(report.initialised.is_empty());
        // Asking for other label names than a trained classifier's is an error.
        let wrong: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let err = load_hf_dir(dir.path(), &wrong, 0).unwrap_err();
        assert!(matches!(err, HfDirError::LabelMismatch { .. }), "{err}");

        let (loaded_config, loaded, report) = load_hf_dir(dir.path(), &[], 0).unwrap();
        assert_eq!(loaded_config, config);
        assert!(report.initialised.is_empty());
        assert!(report.ignored.is_empty());
        assert!(report.had_bert_prefix);
        assert_eq!(report.tokenizer, None);
        assert_eq!(loaded.len(), weights.len());
        for (name, t) in &weights {
            assert_eq!(max_abs_diff(t, &loaded[name]), 0.0, "{name}");
        }
    }

    /// Writes an encoder-only directory without the `bert.` prefix, like all-MiniLM-L6-v2.
    fn write_bare_encoder(dir: &Path, drop: Option<&str>, reshape: Option<&str>) {
        let (config, weights) = tiny_random_bert(8, 0);
        let mut bare = Weights::new();
        for (name, shape) in encoder_shapes(&config) {
            if Some(name.as_str()) == drop {
                continue;
            }
            let mut t = weights[&name].clone();
            if Some(name.as_str()) == reshape {
                t = t.narrow(0, 0, shape[0] - 1).unwrap();
            }
            bare.insert(name.strip_prefix("bert.").unwrap().to_string(), t);
        }
        let ids = candle_core::Tensor::zeros((1, 64), DType::I64, &Device::Cpu).unwrap();
        bare.insert(
            "embeddings.position_ids".into(),
            ids.to_dtype(DType::F32).unwrap(),
        );
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string(&config).unwrap(),
        )
        .unwrap();
        write_safetensors(&dir.join("model.safetensors"), &bare).unwrap();
    }

    #[test]
    fn unprefixed_encoder_gets_seeded_pooler_and_classifier() {
        let dir = tempfile::tempdir().unwrap();
        write_bare_encoder(dir.path(), None, None);
        let (config, weights, report) = load_hf_dir(dir.path(), &labels3(), 42).unwrap();
        assert_eq!(config.labels(), labels3());
        assert!(!report.had_bert_prefix);
        assert_eq!(
            report.initialised,
            vec![
                "bert.pooler.dense.weight",
                "bert.pooler.dense.bias",
                "classifier.weight",
                "classifier.bias"
            ]
        );
        assert_eq!(report.ignored, vec!["embeddings.position_ids"]);
        assert_eq!(weights["classifier.weight"].dims(), &[3, 32]);
        let (_, again, _) = load_hf_dir(dir.path(), &labels3(), 42).unwrap();
        let (_, other, _) = load_hf_dir(dir.path(), &labels3(), 43).unwrap();
        assert_eq!(
            max_abs_diff(&weights["classifier.weight"], &again["classifier.weight"]),
            0.0
        );
        assert!(max_abs_diff(&weights["classifier.weight"], &other["classifier.weight"]) > 0.0);
        // Initialised like Hugging Face: std 0.02 matrices, zero biases.
        let w: Vec<f32> = weights["bert.pooler.dense.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let std = (w.iter().map(|v| (v * v) as f64).sum::<f64>() / w.len() as f64).sqrt();
        assert!((std - 0.02).abs() < 0.002, "pooler std {std}");
        let b: Vec<f32> = weights["classifier.bias"].to_vec1().unwrap();
        assert_eq!(b, vec![0.0; 3]);
        // The result is a complete model.
        TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    }

    #[test]
    fn missing_or_misshapen_encoder_tensors_are_named() {
        let dir = tempfile::tempdir().unwrap();
        write_bare_encoder(
            dir.path(),
            Some("bert.encoder.layer.1.intermediate.dense.bias"),
            None,
        );
        let err = load_hf_dir(dir.path(), &labels3(), 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        assert!(
            err.contains("bert.encoder.layer.1.intermediate.dense.bias"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write_bare_encoder(
            dir.path(),
            None,
            Some("bert.encoder.layer.0.attention.self.key.weight"),
        );
        let err = load_hf_dir(dir.path(), &labels3(), 0).unwrap_err();
        assert!(matches!(err, HfDirError::ShapeMismatch { .. }), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("bert.encoder.layer.0.attention.self.key.weight"),
            "{err}"
        );
        assert!(
            err.contains("[31, 32]") && err.contains("[32, 32]"),
            "{err}"
        );
    }

    #[test]
    fn bad_config_names_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write_bare_encoder(dir.path(), None, None);
        let path = dir.path().join("config.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("hidden_size");
        std::fs::write(&path, json.to_string()).unwrap();
        let err = load_hf_dir(dir.path(), &[], 0).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("hidden_size"),
            "{err}"
        );

        json["hidden_size"] = serde_json::json!(32);
        json["num_attention_heads"] = serde_json::json!(5);
        std::fs::write(&path, json.to_string()).unwrap();
        let err = load_hf_dir(dir.path(), &[], 0).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("num_attention_heads"),
            "{err}"
        );

        std::fs::write(&path, "{not json").unwrap();
        let err = load_hf_dir(dir.path(), &[], 0).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }

    #[test]
    fn real_minilm_l6_loads_and_runs() {
        let dir = crate::assets::ensure(crate::assets::Asset::MiniLmL6).unwrap();
        let (config, weights, report) = load_hf_dir(&dir, &labels3(), 42).unwrap();
        assert_eq!(config.num_hidden_layers, 6);
        assert_eq!(config.hidden_size, 384);
        assert_eq!(config.vocab_size, 30522);
        assert!(!report.had_bert_prefix);
        // all-MiniLM-L6-v2 ships a pooler but no classifier.
        assert_eq!(
            report.initialised,
            vec!["classifier.weight", "classifier.bias"]
        );
        assert_eq!(report.ignored, vec!["embeddings.position_ids"]);
        assert_eq!(report.tokenizer, Some(dir.join("tokenizer.json")));
        assert_eq!(weights.len(), 5 + 6 * 16 + 2 + 2);
        let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
        // [CLS] cargo volume grew by 7 % . [SEP]
        let batch = EncodedBatch {
            batch: 1,
            seq_len: 9,
            input_ids: vec![101, 6636, 3872, 3473, 2011, 1021, 1003, 1012, 102],
            attention_mask: vec![1; 9],
            token_type_ids: vec![0; 9],
        };
        let hidden = model.model().encode(&batch, Mode::Eval).unwrap();
        assert_eq!(hidden.dims(), &[1, 9, 384]);
        // Reference values from an independent float64 NumPy implementation of BERT run on the
        // same safetensors file (exact GELU, eps 1e-12): first four features of [CLS], of [SEP]
        // and of the pooled output.
        let close = |got: Vec<f32>, want: [f32; 4], what: &str| {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-4, "{what}: {got:?} vs {want:?}");
            }
        };
        let feats =
            |t: candle_core::Tensor| -> Vec<f32> { t.narrow(0, 0, 4).unwrap().to_vec1().unwrap() };
        let h = hidden.get(0).unwrap();
        close(
            feats(h.get(0).unwrap()),
            [-0.0074472, -0.05074, 0.0285922, 0.5459154],
            "[CLS]",
        );
        close(
            feats(h.get(8).unwrap()),
            [0.5992253, -0.1000109, 0.3174118, 1.2219426],
            "[SEP]",
        );
        let pooled = model.model().pool(&hidden).unwrap().get(0).unwrap();
        close(
            feats(pooled),
            [-0.0343815, 0.0810691, 0.0217658, 0.0971653],
            "pooled",
        );
        let logits = model.forward(&batch, Mode::Eval).unwrap();
        assert_eq!(logits.dims(), &[1, 3]);
    }
}
