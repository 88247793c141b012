//! Maps the float initialisers of a graph onto Hugging Face parameter names.
//!
//! Named initialisers map by name (exporter prefixes stripped). Anonymous MatMul/Gemm weights
//! (`onnx::MatMul_470`, which torch's constant folding leaves after transposing a Linear weight)
//! take the name of the bias added to their product. The storage layout of a linear weight is read
//! off its use: MatMul's B and Gemm's B without transB hold `[in, out]`, so they are transposed back
//! to PyTorch's `[out, in]`; Gemm with transB=1 and a Transpose in front of MatMul hold `[out, in]`.

use std::collections::BTreeMap;

use crate::onnx::error::OnnxError;
use crate::onnx::graph::{attr, attr_f, attr_i, node_label, GraphIndex};
use crate::onnx::names::{canonical_name, is_linear};
use crate::onnx::proto::{data_type, NodeProto};
use crate::onnx::tensor;

/// One weight, in Hugging Face layout.
#[derive(Clone, Debug)]
pub struct MappedTensor {
    pub dims: Vec<usize>,
    pub values: Vec<f32>,
    /// The initialiser it came from.
    pub source: String,
}

#[derive(Debug, Default)]
pub struct Mapped {
    pub tensors: BTreeMap<String, MappedTensor>,
    /// Linear weight name -> the value holding that layer's output (after its bias).
    pub linear_outputs: BTreeMap<String, String>,
}

/// How one MatMul or Gemm applies an initialiser as its weight.
struct LinearUse<'a> {
    node: &'a NodeProto,
    /// The initialiser holds `[in, out]` (it must be transposed to PyTorch layout).
    stored_in_out: bool,
    /// The named initialiser added to the product, if any.
    bias: Option<&'a str>,
    /// The layer's output: the bias Add's (or Gemm's) output, else the product.
    output: &'a str,
}

pub fn map_initializers(ix: &GraphIndex) -> Result<Mapped, OnnxError> {
    let mut mapped = Mapped::default();
    for (name, init) in ix.weights() {
        // Integer weights are shape constants and index buffers (position_ids); one-element
        // floats are constants of the decomposed ops (eps, sqrt(d), GELU's 0.5).
        if init.data_type() != data_type::FLOAT || tensor::numel(init)? <= 1 {
            continue;
        }
        let uses = linear_uses(ix, name)?;
        let canonical = match canonical_name(name) {
            Some(c) if c.ends_with(".weight") && is_linear(&c) => {
                check_named_linear(name, &c, &uses)?;
                c
            }
            Some(c) => c,
            None => anonymous_role(ix, name, &uses)?,
        };
        // An embedding matrix also used by a MatMul (a tied output layer) keeps its layout.
        let uses = if is_linear(&canonical) {
            uses
        } else {
            Vec::new()
        };
        let stored_in_out = match uses.as_slice() {
            [] => false,
            [first, rest @ ..] => {
                if let Some(other) = rest.iter().find(|u| u.stored_in_out != first.stored_in_out) {
                    return Err(OnnxError::Unmapped {
                        name: name.to_string(),
                        reason: format!(
                            "nodes '{}' and '{}' use it in different layouts",
                            node_label(first.node),
                            node_label(other.node)
                        ),
                    });
                }
                first.stored_in_out
            }
        };
        let mut dims = tensor::dims(init)?;
        let mut values = tensor::read_f32(init, ix.external_dir)?;
        if stored_in_out {
            if dims.len() != 2 {
                return Err(OnnxError::Unmapped {
                    name: name.to_string(),
                    reason: format!("a MatMul weight of rank {}", dims.len()),
                });
            }
            values = tensor::transpose(&values, dims[0], dims[1]);
            dims = vec![dims[1], dims[0]];
        }
        if let Some(u) = uses.first() {
            mapped
                .linear_outputs
                .insert(canonical.clone(), u.output.to_string());
        }
        if let Some(previous) = mapped.tensors.get(&canonical) {
            return Err(OnnxError::Unmapped {
                name: name.to_string(),
                reason: format!(
                    "maps to {canonical}, which initialiser '{}' already provides",
                    previous.source
                ),
            });
        }
        mapped.tensors.insert(
            canonical,
            MappedTensor {
                dims,
                values,
                source: name.to_string(),
            },
        );
    }
    Ok(mapped)
}

/// A named linear weight must be applied by a MatMul or Gemm, with its own bias.
fn check_named_linear(name: &str, canonical: &str, uses: &[LinearUse]) -> Result<(), OnnxError> {
    let Some(first) = uses.first() else {
        return Err(OnnxError::Unmapped {
            name: name.to_string(),
            reason: "a linear weight that no MatMul or Gemm uses".to_string(),
        });
    };
    let expected = canonical.replace(".weight", ".bias");
    for bias in uses.iter().filter_map(|u| u.bias) {
        if canonical_name(bias).as_deref() != Some(expected.as_str()) {
            return Err(OnnxError::Unmapped {
                name: name.to_string(),
                reason: format!(
                    "node '{}' adds '{bias}' to its product, not {expected}",
                    node_label(first.node)
                ),
            });
        }
    }
    Ok(())
}

/// The Hugging Face name of an anonymous weight, from the bias its product receives.
fn anonymous_role(ix: &GraphIndex, name: &str, uses: &[LinearUse]) -> Result<String, OnnxError> {
    let unmapped = |reason: String| OnnxError::Unmapped {
        name: name.to_string(),
        reason,
    };
    let use_ = match uses {
        [] => {
            let users: Vec<String> = ix
                .consumers(name)
                .iter()
                .map(|n| format!("'{}' ({})", node_label(n), n.op_type()))
                .collect();
            return Err(unmapped(format!(
                "an anonymous float tensor that is no MatMul or Gemm weight (used by {})",
                if users.is_empty() {
                    "no node".to_string()
                } else {
                    users.join(", ")
                }
            )));
        }
        [one] => one,
        [first, second, ..] => {
            return Err(unmapped(format!(
                "an anonymous weight shared by nodes '{}' and '{}'",
                node_label(first.node),
                node_label(second.node)
            )))
        }
    };
    let Some(bias) = use_.bias else {
        return Err(unmapped(format!(
            "cannot trace {} node '{}': its output feeds no Add with a named bias initialiser",
            use_.node.op_type(),
            node_label(use_.node)
        )));
    };
    match canonical_name(bias) {
        Some(b) if b.ends_with(".bias") && is_linear(&b) => Ok(b.replace(".bias", ".weight")),
        _ => Err(unmapped(format!(
            "cannot trace {} node '{}': the bias added to its output, '{bias}', is not a BERT linear bias",
            use_.node.op_type(),
            node_label(use_.node)
        ))),
    }
}

/// Every MatMul/Gemm that takes the initialiser as its weight (input B), directly or through a
/// 2-D Transpose.
fn linear_uses<'a>(ix: &GraphIndex<'a>, name: &str) -> Result<Vec<LinearUse<'a>>, OnnxError> {
    let mut out = Vec::new();
    for node in ix.consumers(name) {
        match node.op_type() {
            "MatMul" | "Gemm" => {
                if let Some(u) = linear_use(ix, node, name, false)? {
                    out.push(u);
                }
            }
            "Transpose" => {
                let perm = attr(node, "perm")
                    .map(|a| a.ints.clone())
                    .unwrap_or_default();
                if !(perm.is_empty() || perm == [1, 0]) {
                    continue;
                }
                let Some(t_out) = node.output.first() else {
                    continue;
                };
                for user in ix.consumers(t_out) {
                    if matches!(user.op_type(), "MatMul" | "Gemm") {
                        if let Some(u) = linear_use(ix, user, t_out, true)? {
                            out.push(u);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn linear_use<'a>(
    ix: &GraphIndex<'a>,
    node: &'a NodeProto,
    weight: &str,
    transposed_before: bool,
) -> Result<Option<LinearUse<'a>>, OnnxError> {
    if node.input.get(1).map(|s| s.as_str()) != Some(weight) {
        return Ok(None);
    }
    let Some(output) = node.output.first().map(|s| s.as_str()) else {
        return Ok(None);
    };
    if node.op_type() == "Gemm" {
        if attr_i(node, "transA", 0) != 0
            || attr_f(node, "alpha", 1.0) != 1.0
            || attr_f(node, "beta", 1.0) != 1.0
        {
            return Err(OnnxError::node(
                node,
                "Gemm with transA or alpha/beta other than 1 is not a BERT linear layer",
            ));
        }
        let trans_b = attr_i(node, "transB", 0) != 0;
        let bias = node
            .input
            .get(2)
            .map(|s| s.as_str())
            .filter(|b| ix.initializer(b).is_some());
        return Ok(Some(LinearUse {
            node,
            stored_in_out: trans_b == transposed_before,
            bias,
            output,
        }));
    }
    // MatMul: the bias is the initialiser of the one Add that takes the product.
    let mut bias = None;
    let mut layer_output = output;
    for add in ix.consumers(output) {
        if add.op_type() != "Add" || add.input.len() != 2 {
            continue;
        }
        let other = if add.input[0] == output {
            &add.input[1]
        } else {
            &add.input[0]
        };
        if let Some(init) = ix.initializer(other) {
            if init.data_type() == data_type::FLOAT && tensor::numel(init)? > 1 {
                bias = Some(other.as_str());
                layer_output = add.output.first().map_or(output, |s| s.as_str());
            }
        }
    }
    Ok(Some(LinearUse {
        node,
        stored_in_out: !transposed_before,
        bias,
        output: layer_output,
    }))
}
