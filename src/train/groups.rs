//! Parameter groups: layer-wise learning-rate decay from the head down, and no weight decay on
//! biases and LayerNorm parameters.

use candle_core::Var;

use super::optimizer::ParamGroup;
use crate::model::shapes::{layer_of, param_kind, ParamKind};

/// Default per-layer LR decay factor.
pub const DEFAULT_LAYER_DECAY: f64 = 0.9;
/// Default AdamW weight decay (matrices only).
pub const DEFAULT_WEIGHT_DECAY: f64 = 0.01;

/// How far below the head a parameter sits: 0 for classifier and pooler, `L - i` for encoder
/// layer `i` of `L` (the top layer is 1), `L` for the embeddings (the same as layer 0).
pub fn depth(name: &str, num_layers: usize) -> usize {
    match layer_of(name) {
        Some(i) => num_layers.saturating_sub(i),
        None if name.starts_with("bert.embeddings.") => num_layers,
        None => 0,
    }
}

/// The factor on the base learning rate: `decay^depth`.
pub fn lr_scale(name: &str, num_layers: usize, decay: f64) -> f64 {
    decay.powi(depth(name, num_layers) as i32)
}

/// Biases and LayerNorm parameters are not decayed.
pub fn decays(name: &str) -> bool {
    param_kind(name) == ParamKind::Matrix
}

/// A group as the trainer sees it: the optimiser group plus its factor on the base LR.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub group: ParamGroup,
    pub lr_scale: f64,
}

/// The unit a parameter belongs to: `head` (classifier and pooler), `layer.{i}` or `embeddings`.
pub fn unit(name: &str) -> String {
    match layer_of(name) {
        Some(i) => format!("layer.{i}"),
        None if name.starts_with("bert.embeddings.") => "embeddings".into(),
        None => "head".into(),
    }
}

/// (sort key, group name, parameter) while grouping.
type Keyed = ((usize, bool, bool), String, (String, Var));

/// Groups `vars` by unit and by decayed or not: head first, then layers top-down, then the
/// embeddings; `/decay` before `/no_decay` within a unit. Group names are `{unit}/decay` or
/// `{unit}/no_decay`; each group's `lr` is `base_lr * lr_scale`, its weight decay
/// `weight_decay` or 0.
pub fn build_groups(
    vars: &[(String, Var)],
    num_layers: usize,
    base_lr: f64,
    layer_decay: f64,
    weight_decay: f64,
) -> Vec<GroupSpec> {
    // (depth, embeddings last at equal depth, no_decay last) orders the groups.
    let mut keyed: Vec<Keyed> = vars
        .iter()
        .map(|(n, v)| {
            let key = (
                depth(n, num_layers),
                n.starts_with("bert.embeddings."),
                !decays(n),
            );
            let name = format!(
                "{}/{}",
                unit(n),
                if decays(n) { "decay" } else { "no_decay" }
            );
            (key, name, (n.clone(), v.clone()))
        })
        .collect();
    // Stable: parameter order within a group is the order of `vars`.
    keyed.sort_by_key(|(key, _, _)| *key);
    let mut out: Vec<GroupSpec> = Vec::new();
    for (key, name, var) in keyed {
        match out.last_mut() {
            Some(g) if g.group.name == name => g.group.vars.push(var),
            _ => {
                let scale = layer_decay.powi(key.0 as i32);
                out.push(GroupSpec {
                    group: ParamGroup {
                        name,
                        vars: vec![var],
                        lr: base_lr * scale,
                        weight_decay: if key.2 { 0.0 } else { weight_decay },
                    },
                    lr_scale: scale,
                });
            }
        }
    }
    out
}
