//! The BERT ONNX importer: weights by Hugging Face name, the config, and what a runtime needs to
//! know about the file's inputs and outputs.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use prost::Message;

use crate::model::{BertConfig, Weights};
use crate::onnx::error::OnnxError;
use crate::onnx::graph::GraphIndex;
use crate::onnx::infer::{check_complete, infer_config, Inferred};
use crate::onnx::names::check_layer_lists;
use crate::onnx::proto::ModelProto;
use crate::onnx::summary::stored_config;
use crate::onnx::trace::{map_initializers, Mapped};
use crate::onnx::CONFIG_METADATA_KEY;

#[derive(Clone, Debug)]
pub struct ImportedModel {
    pub config: BertConfig,
    pub weights: Weights,
    pub info: OnnxInfo,
}

/// What the file says about itself, for the runtime and for events.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxInfo {
    /// Version of the default (`ai.onnx`) operator set.
    pub opset: i64,
    pub ir_version: i64,
    /// `producer_name producer_version`.
    pub producer: String,
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
    /// The graph output holding the classifier's logits `[batch, num_labels]`.
    pub logits_output: Option<String>,
    /// The graph output holding the last hidden state `[batch, seq, hidden]`, if it is one.
    pub hidden_output: Option<String>,
    /// The value (output or internal) that holds the last hidden state.
    pub encoder_output_name: String,
    /// The sequence length the inputs are fixed to, `None` when that axis is dynamic.
    pub fixed_sequence_length: Option<usize>,
    pub has_classifier: bool,
    pub needs_token_type_ids: bool,
    /// Hugging Face name -> the initialiser it was read from.
    pub weight_sources: BTreeMap<String, String>,
}

impl OnnxInfo {
    /// The output a runtime reads: the logits, else the last hidden state.
    pub fn primary_output(&self) -> Option<&str> {
        self.logits_output
            .as_deref()
            .or(self.hidden_output.as_deref())
    }
}

/// Reads a BERT (encoder, or `BertForSequenceClassification`) from an ONNX file.
pub fn import_bert(path: &Path) -> Result<ImportedModel, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    import_bert_bytes(&bytes, path.parent()).map_err(|e| e.in_file(path))
}

/// The external data files (relative to the model's directory) that the model's initialisers
/// name, each once, in order; an absolute location or one with `..` is an error, as in reading.
pub fn external_data_files(bytes: &[u8]) -> Result<Vec<String>, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(OnnxError::Decode)?;
    let mut files: Vec<String> = Vec::new();
    let Some(graph) = model.graph.as_ref() else {
        return Ok(files);
    };
    for t in &graph.initializer {
        let Some(location) = t.external_data.iter().find(|e| e.key() == "location") else {
            continue;
        };
        let location = location.value();
        if Path::new(location).is_absolute() || location.split(['/', '\\']).any(|p| p == "..") {
            return Err(OnnxError::Unmapped {
                name: t.name().to_string(),
                reason: format!("external data location '{location}' leaves the model directory"),
            });
        }
        if !files.iter().any(|f| f == location) {
            files.push(location.to_string());
        }
    }
    Ok(files)
}

/// Reads a BERT from ONNX bytes; external tensor data is looked up in `external_dir`.
pub fn import_bert_bytes(
    bytes: &[u8],
    external_dir: Option<&Path>,
) -> Result<ImportedModel, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(OnnxError::Decode)?;
    let graph = model.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
        .ok_or_else(|| OnnxError::NotBert("no ai.onnx operator set is imported".to_string()))?;
    if let Some(node) = graph
        .node
        .iter()
        .find(|n| !matches!(n.domain(), "" | "ai.onnx"))
    {
        return Err(OnnxError::node(
            node,
            format!(
                "operator of domain '{}': graphs with fused or custom ops are not supported",
                node.domain()
            ),
        ));
    }
    let ix = GraphIndex::new(graph, external_dir);
    let mapped = map_initializers(&ix)?;
    let mut inferred = infer_config(&ix, &mapped)?;
    if let Some(stored) = stored_config(&model)? {
        inferred.config = merge_metadata_config(&inferred.config, stored)?;
    }
    check_complete(&inferred, &mapped)?;
    let info = describe(&model, &ix, &mapped, &inferred, opset)?;
    let weights = to_weights(mapped)?;
    Ok(ImportedModel {
        config: inferred.config,
        weights,
        info,
    })
}

/// The writer stores the full config as metadata; labels, dropout and the unpruned sizes come from
/// there, but every size the graph fixes must agree with it.
fn merge_metadata_config(
    inferred: &BertConfig,
    stored: BertConfig,
) -> Result<BertConfig, OnnxError> {
    let mismatch = |field: &str, graph: String, meta: String| {
        OnnxError::Config(format!(
            "metadata '{CONFIG_METADATA_KEY}' says {field} = {meta}, the graph has {graph}"
        ))
    };
    macro_rules! same {
        ($($field:ident),*) => {$(
            if stored.$field != inferred.$field {
                return Err(mismatch(stringify!($field), format!("{:?}", inferred.$field), format!("{:?}", stored.$field)));
            }
        )*};
    }
    same!(
        vocab_size,
        hidden_size,
        num_hidden_layers,
        max_position_embeddings,
        type_vocab_size
    );
    check_layer_lists(&stored)
        .map_err(|e| OnnxError::Config(format!("metadata '{CONFIG_METADATA_KEY}': {e}")))?;
    if stored.head_dim() != inferred.head_dim() {
        return Err(mismatch(
            "head size",
            inferred.head_dim().to_string(),
            stored.head_dim().to_string(),
        ));
    }
    for i in 0..inferred.num_hidden_layers {
        if stored.heads_in_layer(i) != inferred.heads_in_layer(i) {
            return Err(mismatch(
                &format!("heads of layer {i}"),
                inferred.heads_in_layer(i).to_string(),
                stored.heads_in_layer(i).to_string(),
            ));
        }
        if stored.intermediate_in_layer(i) != inferred.intermediate_in_layer(i) {
            return Err(mismatch(
                &format!("FFN width of layer {i}"),
                inferred.intermediate_in_layer(i).to_string(),
                stored.intermediate_in_layer(i).to_string(),
            ));
        }
    }
    if stored.num_labels() != inferred.num_labels() {
        return Err(mismatch(
            "num_labels",
            inferred.num_labels().to_string(),
            stored.num_labels().to_string(),
        ));
    }
    if (stored.layer_norm_eps as f32) != (inferred.layer_norm_eps as f32) {
        return Err(mismatch(
            "layer_norm_eps",
            inferred.layer_norm_eps.to_string(),
            stored.layer_norm_eps.to_string(),
        ));
    }
    Ok(stored)
}

fn describe(
    model: &ModelProto,
    ix: &GraphIndex,
    mapped: &Mapped,
    inferred: &Inferred,
    opset: i64,
) -> Result<OnnxInfo, OnnxError> {
    let graph = ix.graph;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name()).collect();
    // Old exporters list initialisers among the inputs too.
    let inputs: Vec<&crate::onnx::proto::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name()))
        .collect();
    let input_names: Vec<String> = inputs.iter().map(|i| i.name().to_string()).collect();
    let output_names: Vec<String> = graph.output.iter().map(|o| o.name().to_string()).collect();
    let is_output = |value: &str| -> Option<String> {
        ix.aliases(value)
            .into_iter()
            .find(|v| output_names.iter().any(|o| o == v))
            .map(str::to_string)
    };

    let last = inferred.config.num_hidden_layers - 1;
    let ln_bias = format!("bert.encoder.layer.{last}.output.LayerNorm.bias");
    let source = &mapped.tensors[&ln_bias].source;
    let ln_node = ix
        .consumers(source)
        .iter()
        .find(|n| matches!(n.op_type(), "LayerNormalization" | "Add"))
        .copied()
        .ok_or_else(|| OnnxError::Unmapped {
            name: source.clone(),
            reason: "no LayerNormalization or Add uses the last layer's LayerNorm bias".to_string(),
        })?;
    let encoder_output_name = ln_node
        .output
        .first()
        .cloned()
        .ok_or_else(|| OnnxError::node(ln_node, "has no output"))?;

    let logits_output = if inferred.has_classifier {
        let value = mapped
            .linear_outputs
            .get("classifier.weight")
            .cloned()
            .unwrap_or_default();
        is_output(&value)
    } else {
        None
    };

    let ids = inputs
        .iter()
        .find(|i| i.name() == "input_ids")
        .or(inputs.first());
    let fixed_sequence_length = ids
        .and_then(|i| i.dims())
        .and_then(|d| d.get(1).copied().flatten())
        .map(|v| v as usize);
    Ok(OnnxInfo {
        opset,
        ir_version: model.ir_version(),
        producer: format!("{} {}", model.producer_name(), model.producer_version())
            .trim()
            .to_string(),
        needs_token_type_ids: input_names.iter().any(|n| n == "token_type_ids"),
        input_names,
        logits_output,
        hidden_output: is_output(&encoder_output_name),
        encoder_output_name,
        fixed_sequence_length,
        has_classifier: inferred.has_classifier,
        weight_sources: mapped
            .tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.source.clone()))
            .collect(),
        output_names,
    })
}

fn to_weights(mapped: Mapped) -> Result<Weights, OnnxError> {
    let mut weights = Weights::new();
    for (name, t) in mapped.tensors {
        let tensor =
            Tensor::from_vec(t.values, t.dims.as_slice(), &Device::Cpu).map_err(|source| {
                OnnxError::Candle {
                    name: name.clone(),
                    source,
                }
            })?;
        weights.insert(name, tensor);
    }
    Ok(weights)
}
