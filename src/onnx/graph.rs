//! An index over a `GraphProto`: who produces and who consumes each value, initialisers by name,
//! attributes, and the small integer constants (shapes) that Reshape nodes take.
//!
//! A weight is an initialiser, or a value that carries one: the output of a `Constant` node
//! holding a tensor, or of an `Identity` of a weight. Exporters write both: `torch.onnx.export`
//! keeps one of several equal initialisers (tied weights, the equal zero biases of a fresh model)
//! and hands it to the others' users through `Identity` nodes named after them.

use std::collections::HashMap;
use std::path::Path;

use crate::onnx::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};
use crate::onnx::tensor;

pub struct GraphIndex<'a> {
    pub graph: &'a GraphProto,
    pub external_dir: Option<&'a Path>,
    /// Initialisers, then the values that carry one, by name.
    weights: HashMap<&'a str, &'a TensorProto>,
    /// The same names in graph order: initialisers, then node outputs.
    weight_order: Vec<&'a str>,
    producer: HashMap<&'a str, &'a NodeProto>,
    consumers: HashMap<&'a str, Vec<&'a NodeProto>>,
}

impl<'a> GraphIndex<'a> {
    pub fn new(graph: &'a GraphProto, external_dir: Option<&'a Path>) -> GraphIndex<'a> {
        let mut weights: HashMap<&str, &TensorProto> =
            graph.initializer.iter().map(|t| (t.name(), t)).collect();
        let mut weight_order: Vec<&str> = graph.initializer.iter().map(|t| t.name()).collect();
        // Nodes are in topological order (the ONNX rule), so one pass follows every chain.
        for node in &graph.node {
            let carried = match node.op_type() {
                "Identity" => node
                    .input
                    .first()
                    .and_then(|i| weights.get(i.as_str()).copied()),
                "Constant" => attr(node, "value").and_then(|a| a.t.as_ref()),
                _ => None,
            };
            if let (Some(t), Some(out)) = (carried, node.output.first()) {
                weights.insert(out.as_str(), t);
                weight_order.push(out.as_str());
            }
        }
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for node in &graph.node {
            for out in &node.output {
                producer.insert(out.as_str(), node);
            }
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                let list = consumers.entry(input.as_str()).or_default();
                // A node that reads a value twice is one consumer.
                if !list.iter().any(|n| std::ptr::eq(*n, node)) {
                    list.push(node);
                }
            }
        }
        GraphIndex {
            graph,
            external_dir,
            weights,
            weight_order,
            producer,
            consumers,
        }
    }

    /// The tensor `name` holds when it is a weight (see the module comment).
    pub fn initializer(&self, name: &str) -> Option<&'a TensorProto> {
        self.weights.get(name).copied()
    }

    /// Every weight by the name its users read it under, in graph order, less those only passed
    /// on through `Identity` nodes (their aliases carry their uses).
    pub fn weights(&self) -> Vec<(&'a str, &'a TensorProto)> {
        self.weight_order
            .iter()
            .filter(|name| {
                let users = self.consumers(name);
                users.is_empty() || users.iter().any(|n| n.op_type() != "Identity")
            })
            .map(|name| (*name, self.weights[name]))
            .collect()
    }

    pub fn producer(&self, value: &str) -> Option<&'a NodeProto> {
        self.producer.get(value).copied()
    }

    pub fn consumers(&self, value: &str) -> &[&'a NodeProto] {
        self.consumers.get(value).map_or(&[], |v| v.as_slice())
    }

    /// Follows `Identity` nodes forward: every value that carries `value` unchanged.
    pub fn aliases(&self, value: &'a str) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = Vec::new();
        let mut frontier: Vec<&'a str> = vec![value];
        while let Some(v) = frontier.pop() {
            out.push(v);
            for node in self.consumers(v) {
                if node.op_type() == "Identity" {
                    frontier.extend(node.output.iter().map(|s| s.as_str()));
                }
            }
        }
        out
    }

    /// A constant integer vector: an initialiser, a `Constant` node, or either through `Identity`/`Cast`.
    pub fn const_i64(&self, value: &str) -> Option<Vec<i64>> {
        if let Some(t) = self.initializer(value) {
            return tensor::read_i64(t, self.external_dir).ok();
        }
        let node = self.producer(value)?;
        match node.op_type() {
            "Constant" => {
                let attr = node.attribute.first()?;
                match attr.name() {
                    "value" => tensor::read_i64(attr.t.as_ref()?, self.external_dir).ok(),
                    "value_int" => Some(vec![attr.i()]),
                    "value_ints" => Some(attr.ints.clone()),
                    _ => None,
                }
            }
            "Identity" | "Cast" => self.const_i64(node.input.first()?),
            _ => None,
        }
    }

    /// A constant float scalar (initialiser or `Constant` node with one element).
    pub fn const_f32_scalar(&self, value: &str) -> Option<f32> {
        let values = if let Some(t) = self.initializer(value) {
            tensor::read_f32(t, self.external_dir).ok()?
        } else {
            let node = self.producer(value)?;
            match node.op_type() {
                "Constant" => {
                    let attr = node.attribute.first()?;
                    match attr.name() {
                        "value" => tensor::read_f32(attr.t.as_ref()?, self.external_dir).ok()?,
                        "value_float" => vec![attr.f()],
                        _ => return None,
                    }
                }
                "Identity" => return self.const_f32_scalar(node.input.first()?),
                _ => return None,
            }
        };
        (values.len() == 1).then(|| values[0])
    }

    /// A shape vector as a Reshape node takes it, `None` for the elements computed at run time
    /// (a `Concat` of constants and `Unsqueeze`d scalars, as exporters write for dynamic axes).
    pub fn shape_vector(&self, value: &str) -> Option<Vec<Option<i64>>> {
        if let Some(v) = self.const_i64(value) {
            return Some(v.into_iter().map(Some).collect());
        }
        let node = self.producer(value)?;
        if node.op_type() != "Concat" {
            return None;
        }
        let mut out = Vec::new();
        for part in &node.input {
            if let Some(v) = self.const_i64(part) {
                out.extend(v.into_iter().map(Some));
                continue;
            }
            // An Unsqueezed scalar (a dimension read from a Shape at run time) is one element.
            let p = self.producer(part)?;
            if p.op_type() != "Unsqueeze" {
                return None;
            }
            out.push(None);
        }
        Some(out)
    }
}

pub fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

pub fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

pub fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).and_then(|a| a.f).unwrap_or(default)
}

/// How errors and reports name a node: its name, else its first output.
pub fn node_label(node: &NodeProto) -> String {
    if !node.name().is_empty() {
        node.name().to_string()
    } else {
        format!(
            "<unnamed, output {}>",
            node.output.first().map_or("", |s| s.as_str())
        )
    }
}
