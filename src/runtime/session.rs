//! An ONNX Runtime session over a BERT-family export: recognises its inputs, feeds an
//! [`EncodedBatch`] (re-padded when the export fixed its sequence axis) and reads back its float
//! outputs.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use serde::{Deserialize, Serialize};

use crate::model::EncodedBatch;

use super::batch;
use super::env::environment;
use super::error::RuntimeError;

/// ONNX Runtime's graph optimisation levels, named as in its Python API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphOptimization {
    Disable,
    Basic,
    Extended,
    #[default]
    All,
}

impl GraphOptimization {
    pub const ALL: [GraphOptimization; 4] = [
        GraphOptimization::Disable,
        GraphOptimization::Basic,
        GraphOptimization::Extended,
        GraphOptimization::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GraphOptimization::Disable => "disable",
            GraphOptimization::Basic => "basic",
            GraphOptimization::Extended => "extended",
            GraphOptimization::All => "all",
        }
    }

    fn level(self) -> GraphOptimizationLevel {
        match self {
            GraphOptimization::Disable => GraphOptimizationLevel::Disable,
            GraphOptimization::Basic => GraphOptimizationLevel::Level1,
            GraphOptimization::Extended => GraphOptimizationLevel::Level2,
            GraphOptimization::All => GraphOptimizationLevel::All,
        }
    }
}

impl std::str::FromStr for GraphOptimization {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GraphOptimization::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown graph optimisation '{s}': expected disable, basic, extended or all"
                )
            })
    }
}

impl std::fmt::Display for GraphOptimization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a session is built. `intra_op_threads: None` leaves ONNX Runtime's default (one per core).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOptions {
    pub intra_op_threads: Option<usize>,
    pub optimization: GraphOptimization,
    /// Intra-op threads sleep as soon as a run ends instead of spinning for the next one (ONNX
    /// Runtime's default). For sessions timed in turns: a session's spinning threads would take
    /// the cores from the next one's run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_spinning: bool,
}

/// The inputs `exp` knows how to feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputKind {
    InputIds,
    AttentionMask,
    TokenTypeIds,
}

impl InputKind {
    fn from_name(name: &str) -> Option<InputKind> {
        match name {
            "input_ids" => Some(InputKind::InputIds),
            "attention_mask" => Some(InputKind::AttentionMask),
            "token_type_ids" => Some(InputKind::TokenTypeIds),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct ModelInput {
    name: String,
    kind: InputKind,
    /// Some exports take int32 ids; the batch is always int64 and converted on the way in.
    int32: bool,
}

/// One output as the model declares it (`-1` for a dynamic dimension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputInfo {
    pub name: String,
    pub element_type: String,
    pub shape: Vec<i64>,
    pub is_float: bool,
}

/// One float output of a run: row-major `data` of the given `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The float32 outputs of a run, in the model's output order. Outputs of other element types
/// (some exports pass `input_ids` through as an int64 output) are not read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    pub tensors: Vec<OutputTensor>,
}

impl Outputs {
    pub fn get(&self, name: &str) -> Option<&OutputTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    pub fn take(&mut self, name: &str) -> Option<OutputTensor> {
        let index = self.tensors.iter().position(|t| t.name == name)?;
        Some(self.tensors.remove(index))
    }

    pub fn names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }
}

/// Input tensors built once from a batch, so that timing loops measure only inference.
pub struct PreparedInputs {
    batch: usize,
    seq_len: usize,
    values: Vec<(String, DynValue)>,
}

impl PreparedInputs {
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The sequence length actually fed (the model's fixed length where it has one).
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
}

/// An open ONNX model. `run` takes `&mut self` because ONNX Runtime sessions are not re-entrant.
pub struct OnnxSession {
    path: PathBuf,
    options: SessionOptions,
    session: Session,
    inputs: Vec<ModelInput>,
    outputs: Vec<OutputInfo>,
    fixed_sequence_length: Option<usize>,
    fixed_batch_size: Option<usize>,
    classifier_output: Option<String>,
}

impl std::fmt::Debug for OnnxSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxSession")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("inputs", &self.input_names())
            .field("outputs", &self.outputs)
            .field("fixed_sequence_length", &self.fixed_sequence_length)
            .finish()
    }
}

impl OnnxSession {
    /// Loads the model and checks that it takes `input_ids` and `attention_mask` (and optionally
    /// `token_type_ids`) as rank-2 integer tensors, and nothing else.
    pub fn open(path: &Path, options: &SessionOptions) -> Result<OnnxSession, RuntimeError> {
        let env = environment()?;
        let option_error = |option: &'static str| {
            move |e: ort::Error<SessionBuilder>| RuntimeError::SessionOption {
                path: path.to_path_buf(),
                option,
                source: e.into(),
            }
        };
        let mut builder = Session::builder(&env)
            .map_err(|source| RuntimeError::SessionOption {
                path: path.to_path_buf(),
                option: "builder",
                source,
            })?
            .with_optimization_level(options.optimization.level())
            .map_err(option_error("graph optimisation level"))?;
        if let Some(threads) = options.intra_op_threads {
            builder = builder
                .with_intra_threads(threads)
                .map_err(option_error("intra-op threads"))?;
        }
        if options.no_spinning {
            builder = builder
                .with_intra_op_spinning(false)
                .map_err(option_error("intra-op spinning"))?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|source| RuntimeError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let inputs = inspect_inputs(path, &session)?;
        let (fixed_batch_size, fixed_sequence_length) = fixed_dimensions(path, &session)?;
        let outputs: Vec<OutputInfo> = session.outputs().iter().map(output_info).collect();
        let classifier_output = choose_classifier_output(&outputs);
        Ok(OnnxSession {
            path: path.to_path_buf(),
            options: options.clone(),
            session,
            inputs,
            outputs,
            fixed_sequence_length,
            fixed_batch_size,
            classifier_output,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    pub fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    pub fn has_token_type_ids(&self) -> bool {
        self.inputs
            .iter()
            .any(|i| i.kind == InputKind::TokenTypeIds)
    }

    pub fn outputs(&self) -> &[OutputInfo] {
        &self.outputs
    }

    /// The sequence length the export fixed (e.g. 128), if any: batches are re-padded to it.
    pub fn fixed_sequence_length(&self) -> Option<usize> {
        self.fixed_sequence_length
    }

    /// The batch size the export fixed, if any: other batch sizes are refused.
    pub fn fixed_batch_size(&self) -> Option<usize> {
        self.fixed_batch_size
    }

    /// The output [`OnnxSession::logits`] reads: `logits`, else `output`, else the first float output.
    pub fn classifier_output(&self) -> Option<&str> {
        self.classifier_output.as_deref()
    }

    /// Builds the input tensors for `batch`, re-padded to the model's fixed sequence length if it has one.
    pub fn prepare(&self, batch: &EncodedBatch) -> Result<PreparedInputs, RuntimeError> {
        batch::validate(batch)?;
        if batch.batch == 0 {
            return Err(RuntimeError::EmptyBatch("no rows to run"));
        }
        if let Some(fixed) = self.fixed_batch_size {
            if fixed != batch.batch {
                return Err(RuntimeError::BadInput {
                    path: self.path.clone(),
                    input: self.inputs[0].name.clone(),
                    detail: format!(
                        "the model fixes the batch size at {fixed}, the batch has {} rows",
                        batch.batch
                    ),
                });
            }
        }
        let batch: Cow<'_, EncodedBatch> = match self.fixed_sequence_length {
            Some(fixed) if fixed != batch.seq_len => Cow::Owned(batch::repad(batch, fixed)?),
            _ => Cow::Borrowed(batch),
        };
        let mut values = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let data: Cow<'_, [i64]> = match input.kind {
                InputKind::InputIds => Cow::Borrowed(&batch.input_ids),
                InputKind::AttentionMask => Cow::Borrowed(&batch.attention_mask),
                // Single-sentence classification: all zeros unless the batch carries real segment ids.
                InputKind::TokenTypeIds if batch.token_type_ids.is_empty() => {
                    Cow::Owned(vec![0; batch.batch * batch.seq_len])
                }
                InputKind::TokenTypeIds => Cow::Borrowed(&batch.token_type_ids),
            };
            let shape = [batch.batch, batch.seq_len];
            let value = if input.int32 {
                let narrowed: Vec<i32> = data.iter().map(|&v| v as i32).collect();
                Tensor::from_array((shape, narrowed)).map(Tensor::into_dyn)
            } else {
                Tensor::from_array((shape, data.into_owned())).map(Tensor::into_dyn)
            };
            let value = value.map_err(|e| RuntimeError::BadInput {
                path: self.path.clone(),
                input: input.name.clone(),
                detail: format!("cannot build the tensor: {e}"),
            })?;
            values.push((input.name.clone(), value));
        }
        Ok(PreparedInputs {
            batch: batch.batch,
            seq_len: batch.seq_len,
            values,
        })
    }

    /// Runs the batch and returns every float output.
    pub fn run(&mut self, batch: &EncodedBatch) -> Result<Outputs, RuntimeError> {
        let prepared = self.prepare(batch)?;
        self.run_prepared(&prepared)
    }

    /// Runs prepared inputs and returns every float output.
    pub fn run_prepared(&mut self, inputs: &PreparedInputs) -> Result<Outputs, RuntimeError> {
        let feed: Vec<(&str, &DynValue)> =
            inputs.values.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let results = self.session.run(feed).map_err(|source| RuntimeError::Run {
            path: self.path.clone(),
            source,
        })?;
        let mut tensors = Vec::new();
        for (name, value) in results.iter() {
            let is_float = matches!(
                value.dtype(),
                ValueType::Tensor {
                    ty: TensorElementType::Float32,
                    ..
                }
            );
            if !is_float {
                continue;
            }
            let (shape, data) =
                value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| RuntimeError::BadOutput {
                        path: self.path.clone(),
                        output: name.to_string(),
                        detail: format!("cannot read it back: {e}"),
                    })?;
            tensors.push(OutputTensor {
                name: name.to_string(),
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(Outputs { tensors })
    }

    /// Runs prepared inputs without reading the outputs back: what latency measurements time
    /// (the benchmark notebook times `session.run` on pre-built arrays the same way).
    pub fn infer(&mut self, inputs: &PreparedInputs) -> Result<(), RuntimeError> {
        let feed: Vec<(&str, &DynValue)> =
            inputs.values.iter().map(|(n, v)| (n.as_str(), v)).collect();
        self.session.run(feed).map_err(|source| RuntimeError::Run {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }

    /// The classifier's logits for `batch`: `(batch, num_labels, row-major values)`.
    pub fn logits(
        &mut self,
        batch: &EncodedBatch,
    ) -> Result<(usize, usize, Vec<f32>), RuntimeError> {
        let name = self
            .classifier_output
            .clone()
            .ok_or_else(|| RuntimeError::NoLogits {
                path: self.path.clone(),
                outputs: self.output_list(),
            })?;
        let mut outputs = self.run(batch)?;
        let tensor = outputs.take(&name).ok_or_else(|| RuntimeError::BadOutput {
            path: self.path.clone(),
            output: name.clone(),
            detail: "missing from the run's results".to_string(),
        })?;
        match tensor.shape[..] {
            [rows, labels] if rows == batch.batch && labels > 0 => Ok((rows, labels, tensor.data)),
            _ => Err(RuntimeError::BadOutput {
                path: self.path.clone(),
                output: name,
                detail: format!(
                    "expected logits of shape [{}, num_labels], found shape {:?} (rank {})",
                    batch.batch,
                    tensor.shape,
                    tensor.shape.len()
                ),
            }),
        }
    }

    fn output_list(&self) -> String {
        describe(
            self.outputs
                .iter()
                .map(|o| (o.name.as_str(), o.element_type.as_str())),
        )
    }
}

fn describe<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let list: Vec<String> = items.map(|(name, ty)| format!("{name} ({ty})")).collect();
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

fn input_type(outlet: &ort::value::Outlet) -> &'static str {
    match tensor_parts(outlet.dtype()) {
        Some((TensorElementType::Int64, _)) => "int64",
        Some((TensorElementType::Int32, _)) => "int32",
        Some((TensorElementType::Float32, _)) => "float32",
        Some(_) => "tensor",
        None => "not a tensor",
    }
}

fn tensor_parts(dtype: &ValueType) -> Option<(TensorElementType, &[i64])> {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, &shape[..])),
        _ => None,
    }
}

fn inspect_inputs(path: &Path, session: &Session) -> Result<Vec<ModelInput>, RuntimeError> {
    // Missing required inputs first: "no input_ids" says more than "unknown input 'tokens'".
    for required in ["input_ids", "attention_mask"] {
        if !session.inputs().iter().any(|o| o.name() == required) {
            return Err(RuntimeError::MissingInput {
                path: path.to_path_buf(),
                input: required,
                inputs: describe(session.inputs().iter().map(|o| (o.name(), input_type(o)))),
            });
        }
    }
    let mut inputs = Vec::new();
    for outlet in session.inputs() {
        let name = outlet.name().to_string();
        let bad = |detail: String| RuntimeError::BadInput {
            path: path.to_path_buf(),
            input: name.clone(),
            detail,
        };
        let kind =
            InputKind::from_name(&name).ok_or_else(|| {
                bad("not an input exp can feed (expected input_ids, attention_mask, token_type_ids)"
                .to_string())
            })?;
        let (ty, shape) = tensor_parts(outlet.dtype())
            .ok_or_else(|| bad(format!("expected a tensor, found {:?}", outlet.dtype())))?;
        let int32 = match ty {
            TensorElementType::Int64 => false,
            TensorElementType::Int32 => true,
            other => {
                return Err(bad(format!(
                    "expected int64 ids, found element type {other:?}"
                )))
            }
        };
        if shape.len() != 2 {
            return Err(bad(format!(
                "expected rank 2 [batch, sequence], found rank {} with shape {shape:?}",
                shape.len()
            )));
        }
        inputs.push(ModelInput { name, kind, int32 });
    }
    Ok(inputs)
}

/// The batch and sequence sizes the inputs fix (a dimension > 0), checked to agree across inputs.
fn fixed_dimensions(
    path: &Path,
    session: &Session,
) -> Result<(Option<usize>, Option<usize>), RuntimeError> {
    let mut fixed: [Option<(usize, String)>; 2] = [None, None];
    for outlet in session.inputs() {
        let Some((_, shape)) = tensor_parts(outlet.dtype()) else {
            continue;
        };
        for (axis, &dim) in shape.iter().enumerate() {
            if dim <= 0 {
                continue;
            }
            let dim = dim as usize;
            match &fixed[axis] {
                Some((seen, first)) if *seen != dim => {
                    return Err(RuntimeError::BadInput {
                        path: path.to_path_buf(),
                        input: outlet.name().to_string(),
                        detail: format!(
                            "axis {axis} is fixed at {dim}, but input '{first}' fixes it at {seen}"
                        ),
                    });
                }
                Some(_) => {}
                None => fixed[axis] = Some((dim, outlet.name().to_string())),
            }
        }
    }
    let [batch, seq] = fixed;
    Ok((batch.map(|(d, _)| d), seq.map(|(d, _)| d)))
}

fn output_info(outlet: &ort::value::Outlet) -> OutputInfo {
    match tensor_parts(outlet.dtype()) {
        Some((ty, shape)) => OutputInfo {
            name: outlet.name().to_string(),
            element_type: format!("{ty:?}"),
            shape: shape.to_vec(),
            is_float: ty == TensorElementType::Float32,
        },
        None => OutputInfo {
            name: outlet.name().to_string(),
            element_type: format!("{:?}", outlet.dtype()),
            shape: Vec::new(),
            is_float: false,
        },
    }
}

fn choose_classifier_output(outputs: &[OutputInfo]) -> Option<String> {
    let float = |name: &str| outputs.iter().any(|o| o.is_float && o.name == name);
    ["logits", "output"]
        .into_iter()
        .find(|name| float(name))
        .map(str::to_string)
        .or_else(|| outputs.iter().find(|o| o.is_float).map(|o| o.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, is_float: bool) -> OutputInfo {
        OutputInfo {
            name: name.to_string(),
            element_type: if is_float { "Float32" } else { "Int64" }.to_string(),
            shape: vec![-1, -1],
            is_float,
        }
    }

    #[test]
    fn classifier_output_prefers_logits_then_output_then_first_float() {
        let outputs = [info("pooled", true), info("logits", true)];
        assert_eq!(
            choose_classifier_output(&outputs).as_deref(),
            Some("logits")
        );
        let outputs = [info("hidden", true), info("output", true)];
        assert_eq!(
            choose_classifier_output(&outputs).as_deref(),
            Some("output")
        );
        // An int64 `output` (an input passed through) is not the classifier's.
        let outputs = [
            info("output", false),
            info("463", false),
            info("hidden", true),
        ];
        assert_eq!(
            choose_classifier_output(&outputs).as_deref(),
            Some("hidden")
        );
        assert_eq!(choose_classifier_output(&[info("output", false)]), None);
    }

    #[test]
    fn sessions_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<OnnxSession>();
        assert_send::<PreparedInputs>();
    }

    #[test]
    fn graph_optimization_parses_its_names() {
        for level in GraphOptimization::ALL {
            assert_eq!(level.as_str().parse::<GraphOptimization>(), Ok(level));
        }
        assert_eq!(
            "ALL".parse::<GraphOptimization>(),
            Ok(GraphOptimization::All)
        );
        assert!("level9".parse::<GraphOptimization>().is_err());
        assert_eq!(
            SessionOptions::default().optimization,
            GraphOptimization::All
        );
        let json = serde_json::to_string(&GraphOptimization::Extended).unwrap();
        assert_eq!(json, "\"extended\"");
    }
}
