//! Errors of the ONNX importer and writer; each names the file, node, initialiser or tensor at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a valid ONNX protobuf (truncated or not ONNX): {0}")]
    Decode(#[source] prost::DecodeError),
    #[error("the model has no graph")]
    NoGraph,
    #[error("not a BERT model: {0}")]
    NotBert(String),
    #[error("tensor '{name}': {reason}")]
    Tensor { name: String, reason: String },
    #[error("initialiser '{name}' cannot be mapped to a BERT weight: {reason}")]
    Unmapped { name: String, reason: String },
    #[error("node '{node}' ({op}): {reason}")]
    Node {
        node: String,
        op: String,
        reason: String,
    },
    #[error("weight '{name}' is missing ({reason})")]
    Missing { name: String, reason: String },
    #[error("weight {name} has shape {actual:?}, expected {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("config: {0}")]
    Config(String),
    #[error("tensor '{name}': {source}")]
    Candle {
        name: String,
        #[source]
        source: candle_core::Error,
    },
    /// Any of the above, for a particular file.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<OnnxError>,
    },
}

impl OnnxError {
    /// The error without its file context.
    pub fn root(&self) -> &OnnxError {
        match self {
            OnnxError::InFile { source, .. } => source.root(),
            other => other,
        }
    }

    pub(crate) fn in_file(self, path: &std::path::Path) -> OnnxError {
        match self {
            e @ (OnnxError::Io { .. } | OnnxError::InFile { .. }) => e,
            e => OnnxError::InFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        }
    }

    pub(crate) fn node(node: &crate::onnx::proto::NodeProto, reason: impl Into<String>) -> Self {
        OnnxError::Node {
            node: crate::onnx::graph::node_label(node),
            op: node.op_type().to_string(),
            reason: reason.into(),
        }
    }
}
