//! The BERT configuration, as Hugging Face writes it in `config.json`, plus the per-layer
//! shapes that structured pruning needs (heads and FFN width may differ per layer).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    /// Label names by class id (as strings, the way Hugging Face serialises them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id2label: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label2id: BTreeMap<String, usize>,
    /// Attention heads kept in each layer; `None` means `num_attention_heads` everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_num_heads: Option<Vec<usize>>,
    /// FFN width of each layer; `None` means `intermediate_size` everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_intermediate_sizes: Option<Vec<usize>>,
}

fn default_hidden_act() -> String {
    "gelu".to_string()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Size of one attention head; fixed by the unpruned model and kept when heads are removed.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn heads_in_layer(&self, layer: usize) -> usize {
        self.layer_num_heads
            .as_ref()
            .map_or(self.num_attention_heads, |h| h[layer])
    }

    pub fn intermediate_in_layer(&self, layer: usize) -> usize {
        self.layer_intermediate_sizes
            .as_ref()
            .map_or(self.intermediate_size, |s| s[layer])
    }

    /// Number of classes of the classification head (0 for an encoder without labels).
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }

    /// Label names ordered by class id.
    pub fn labels(&self) -> Vec<String> {
        let mut pairs: Vec<(usize, &String)> = self
            .id2label
            .iter()
            .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
            .collect();
        pairs.sort();
        pairs.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// Sets `id2label`/`label2id` from label names in class-id order.
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone()))
            .collect();
        self.label2id = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), i))
            .collect();
    }
}
