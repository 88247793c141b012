//! Parameter counts of a (possibly pruned) BERT: what a head or a neuron costs, and the
//! `ModelShape` that pruning events record.

use crate::events::ModelShape;
use crate::model::shapes::param_shapes;
use crate::model::BertConfig;

/// Parameters one attention head holds: its rows of Q, K and V (weights and biases) and its
/// columns of the attention output projection.
pub fn head_parameters(config: &BertConfig) -> usize {
    let d = config.head_dim();
    let h = config.hidden_size;
    3 * (d * h + d) + h * d
}

/// Parameters one FFN neuron holds: its row of the intermediate dense layer (with bias) and its
/// column of the output dense layer.
pub fn neuron_parameters(config: &BertConfig) -> usize {
    2 * config.hidden_size + 1
}

/// Attention (Q, K, V, output) plus FFN parameters of all layers, biases included; LayerNorms,
/// embeddings, pooler and classifier are not counted (pruning cannot remove them).
pub fn encoder_parameters(config: &BertConfig) -> usize {
    let h = config.hidden_size;
    (0..config.num_hidden_layers)
        .map(|i| {
            let heads = config.heads_in_layer(i);
            let ffn = config.intermediate_in_layer(i);
            // The two output biases (attention output, FFN output) stay whatever is removed.
            heads * head_parameters(config) + ffn * neuron_parameters(config) + 2 * h
        })
        .sum()
}

/// Heads and FFN neurons per layer and the parameter counts of `config`.
pub fn model_shape(config: &BertConfig) -> ModelShape {
    let layers = 0..config.num_hidden_layers;
    ModelShape {
        heads: layers.clone().map(|i| config.heads_in_layer(i)).collect(),
        ffn_neurons: layers.map(|i| config.intermediate_in_layer(i)).collect(),
        encoder_parameters: encoder_parameters(config),
        parameters: param_shapes(config)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum(),
    }
}
