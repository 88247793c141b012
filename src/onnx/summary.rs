//! What running an ONNX file as it is needs to know, read without importing its weights: the
//! importer maps fp32 BERT weights only, so an INT8 file (whose weights are integer tables with
//! scales) must be recognised before it is handed to it.

use std::path::Path;

use prost::Message;

use crate::model::BertConfig;
use crate::onnx::error::OnnxError;
use crate::onnx::proto::{data_type, type_proto, GraphProto, ModelProto, ValueInfoProto};
use crate::onnx::CONFIG_METADATA_KEY;

/// Operators that only a quantised graph uses (ours and ONNX Runtime's quantiser's).
const QUANTIZED_OPS: [&str; 8] = [
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearMatMul",
    "QLinearConv",
    "DynamicQuantizeMatMul",
];

/// The output names a classifier's logits go by (`logits` from Transformers and our writer).
const LOGITS_NAMES: [&str; 2] = ["logits", "output"];

#[derive(Clone, Debug, PartialEq)]
pub struct OnnxSummary {
    /// The quantisation operators the graph uses, sorted; empty for a float graph.
    pub quantized_ops: Vec<String>,
    /// The classifier's logits output, when the graph has one.
    pub logits: Option<LogitsOutput>,
    /// The config our writer stores in the metadata (labels, vocabulary size), when present.
    pub config: Option<BertConfig>,
    /// Rows of the word-embedding table `input_ids` index, to check a tokenizer against.
    pub vocab_size: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogitsOutput {
    pub name: String,
    /// The number of classes, when the file fixes that dimension.
    pub classes: Option<usize>,
}

impl OnnxSummary {
    pub fn is_quantized(&self) -> bool {
        !self.quantized_ops.is_empty()
    }
}

/// Reads the summary of the ONNX file at `path`; errors name the file.
pub fn summarise(path: &Path) -> Result<OnnxSummary, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    summarise_bytes(&bytes).map_err(|e| e.in_file(path))
}

pub fn summarise_bytes(bytes: &[u8]) -> Result<OnnxSummary, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(OnnxError::Decode)?;
    let graph = model.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    let mut quantized_ops: Vec<String> = graph
        .node
        .iter()
        .map(|n| n.op_type())
        .filter(|op| QUANTIZED_OPS.contains(op))
        .map(str::to_string)
        .collect();
    quantized_ops.sort();
    quantized_ops.dedup();
    let logits = LOGITS_NAMES.iter().find_map(|name| {
        let output = graph.output.iter().find(|o| o.name() == *name)?;
        logits_output(output)
    });
    let config = stored_config(&model)?;
    let vocab_size = config
        .as_ref()
        .map(|c| c.vocab_size)
        .or_else(|| word_embedding_rows(graph));
    Ok(OnnxSummary {
        quantized_ops,
        logits,
        config,
        vocab_size,
    })
}

/// The config our writer stores in the file's metadata, when it has one.
pub(crate) fn stored_config(model: &ModelProto) -> Result<Option<BertConfig>, OnnxError> {
    model
        .metadata_props
        .iter()
        .find(|e| e.key() == CONFIG_METADATA_KEY)
        .map(|e| {
            serde_json::from_str::<BertConfig>(e.value()).map_err(|err| {
                OnnxError::Config(format!(
                    "metadata '{CONFIG_METADATA_KEY}' is not a BERT config: {err}"
                ))
            })
        })
        .transpose()
}

/// The rows of the initialiser a `Gather` indexes with `input_ids` (float or int8 alike), else
/// of the initialiser named like the word embeddings.
fn word_embedding_rows(graph: &GraphProto) -> Option<usize> {
    let rows = |name: &str| {
        graph
            .initializer
            .iter()
            .find(|t| t.name() == name)
            .and_then(|t| t.dims.first().copied())
    };
    let gathered = graph
        .node
        .iter()
        .filter(|n| n.op_type() == "Gather" && n.input.get(1).is_some_and(|i| i == "input_ids"))
        .find_map(|n| n.input.first().and_then(|data| rows(data)));
    let named = || {
        graph
            .initializer
            .iter()
            .find(|t| t.name().contains("word_embeddings"))
            .and_then(|t| t.dims.first().copied())
    };
    gathered.or_else(named).map(|n| n as usize)
}

/// `output` as logits: a float tensor of rank 2 (`[batch, classes]`) where the file says so.
fn logits_output(output: &ValueInfoProto) -> Option<LogitsOutput> {
    if let Some(type_proto::Value::TensorType(t)) =
        output.r#type.as_ref().and_then(|t| t.value.as_ref())
    {
        if t.elem_type.is_some_and(|e| e != data_type::FLOAT) {
            return None;
        }
    }
    let dims = output.dims();
    if dims.as_ref().is_some_and(|d| d.len() != 2) {
        return None;
    }
    Some(LogitsOutput {
        name: output.name().to_string(),
        classes: dims.and_then(|d| d[1]).map(|n| n as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantize::{quantize_model, QuantizeOptions};

    fn fixture(name: &str) -> Vec<u8> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
        std::fs::read(dir.join(name)).unwrap()
    }

    #[test]
    fn a_torch_export_is_a_float_classifier_with_its_vocabulary() {
        let s = summarise_bytes(&fixture("bert_op17_dynamic_logits.onnx")).unwrap();
        assert!(!s.is_quantized(), "{:?}", s.quantized_ops);
        let logits = s.logits.unwrap();
        assert_eq!(logits.name, "logits");
        assert_eq!(s.vocab_size, Some(100));
        assert_eq!(s.config, None);
        // `output` is the other name classifiers use.
        let s = summarise_bytes(&fixture("bert_op14_dynamic_output.onnx")).unwrap();
        assert_eq!(s.logits.unwrap().name, "output");
    }

    #[test]
    fn a_quantized_classifier_is_recognised_with_its_stored_config() {
        let (mut config, weights) = crate::model::tiny_random_bert(11, 3);
        config.vocab_size = weights["bert.embeddings.word_embeddings.weight"].dims()[0];
        let labels: Vec<String> = ["down", "flat", "up"].map(String::from).to_vec();
        config.set_labels(&labels);
        let fp32 = crate::onnx::write_bert_onnx(&config, &weights).unwrap();
        let model = ModelProto::decode(fp32.as_slice()).unwrap();
        let (int8, _) = quantize_model(model, &QuantizeOptions::default()).unwrap();
        let s = summarise_bytes(&int8.encode_to_vec()).unwrap();
        assert_eq!(
            s.quantized_ops,
            ["DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger"]
        );
        assert_eq!(s.logits.unwrap().classes, Some(3));
        assert_eq!(s.vocab_size, Some(config.vocab_size));
        assert_eq!(s.config.unwrap().labels(), labels);
        assert!(!summarise_bytes(&fp32).unwrap().is_quantized());
    }
}
