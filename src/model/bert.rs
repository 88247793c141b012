//! BERT for sequence classification in candle, with Hugging Face parameter names and per-layer
//! head counts and FFN widths (structured pruning). Numerics follow the contract shared with the
//! ONNX writer: exact erf GELU, LayerNorm eps from the config, scores scaled by 1/sqrt(head_dim),
//! additive mask `(1 - mask) * f32::MIN`, classifier = Linear(dropout(tanh(pooler(hidden[:, 0])))).

use candle_core::{bail, DType, Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::dropout::{Dropout, Mode};
use super::layers::{gelu_erf, masked_softmax, use_fused, LayerNorm, Linear};
use super::{BertConfig, EncodedBatch};

/// The three `[batch, seq_len]` inputs as tensors, plus the additive attention mask `[b, 1, 1, s]`.
struct Inputs {
    input_ids: Tensor,
    token_type_ids: Tensor,
    position_ids: Tensor,
    additive_mask: Tensor,
}

fn to_u32(name: &str, values: &[i64], limit: usize) -> Result<Vec<u32>> {
    values
        .iter()
        .map(|&v| {
            if v < 0 || v as usize >= limit {
                bail!("{name} holds {v}, outside [0, {limit})")
            }
            Ok(v as u32)
        })
        .collect()
}

fn batch_inputs(
    config: &BertConfig,
    batch: &EncodedBatch,
    dtype: DType,
    device: &Device,
) -> Result<Inputs> {
    let (b, s) = (batch.batch, batch.seq_len);
    let n = b * s;
    for (name, len) in [
        ("input_ids", batch.input_ids.len()),
        ("attention_mask", batch.attention_mask.len()),
        ("token_type_ids", batch.token_type_ids.len()),
    ] {
        if len != n {
            bail!("EncodedBatch.{name} has {len} values for batch {b} x seq_len {s}")
        }
    }
    if s > config.max_position_embeddings {
        bail!(
            "seq_len {s} exceeds max_position_embeddings {}",
            config.max_position_embeddings
        )
    }
    let ids = to_u32("input_ids", &batch.input_ids, config.vocab_size)?;
    let types = to_u32(
        "token_type_ids",
        &batch.token_type_ids,
        config.type_vocab_size,
    )?;
    let positions: Vec<u32> = (0..b).flat_map(|_| 0..s as u32).collect();
    // Hugging Face: (1 - mask) * finfo(dtype).min; we use f32::MIN for every dtype (the contract).
    let mask: Vec<f64> = batch
        .attention_mask
        .iter()
        .map(|&m| (1.0 - m as f64) * f32::MIN as f64)
        .collect();
    Ok(Inputs {
        input_ids: Tensor::from_vec(ids, n, device)?,
        token_type_ids: Tensor::from_vec(types, n, device)?,
        position_ids: Tensor::from_vec(positions, n, device)?,
        additive_mask: Tensor::from_vec(mask, (b, 1, 1, s), device)?.to_dtype(dtype)?,
    })
}

#[derive(Clone, Debug)]
struct Embeddings {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: LayerNorm,
    dropout: Dropout,
}

impl Embeddings {
    fn new(config: &BertConfig, vb: VarBuilder) -> Result<Self> {
        let h = config.hidden_size;
        Ok(Self {
            word: vb.get((config.vocab_size, h), "word_embeddings.weight")?,
            position: vb.get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?,
            token_type: vb.get((config.type_vocab_size, h), "token_type_embeddings.weight")?,
            norm: LayerNorm::new(h, config.layer_norm_eps, vb.pp("LayerNorm"))?,
            dropout: Dropout::new(config.hidden_dropout_prob, 0),
        })
    }

    fn forward(&self, inputs: &Inputs, b: usize, s: usize, mode: Mode) -> Result<Tensor> {
        let words = self.word.index_select(&inputs.input_ids, 0)?;
        let positions = self.position.index_select(&inputs.position_ids, 0)?;
        let types = self.token_type.index_select(&inputs.token_type_ids, 0)?;
        let sum = ((words + positions)? + types)?;
        let h = sum.dim(1)?;
        let normed = self.norm.forward(&sum.reshape((b, s, h))?)?;
        self.dropout.forward(&normed, mode)
    }
}

#[derive(Clone, Debug)]
struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    norm: LayerNorm,
    probs_dropout: Dropout,
    output_dropout: Dropout,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(config: &BertConfig, layer: usize, vb: VarBuilder) -> Result<Self> {
        let h = config.hidden_size;
        let heads = config.heads_in_layer(layer);
        let head_dim = config.head_dim();
        let all = heads * head_dim;
        let sv = vb.pp("self");
        let ov = vb.pp("output");
        Ok(Self {
            query: Linear::new(h, all, sv.pp("query"))?,
            key: Linear::new(h, all, sv.pp("key"))?,
            value: Linear::new(h, all, sv.pp("value"))?,
            output: Linear::new(all, h, ov.pp("dense"))?,
            norm: LayerNorm::new(h, config.layer_norm_eps, ov.pp("LayerNorm"))?,
            probs_dropout: Dropout::new(config.attention_probs_dropout_prob, 1 + 3 * layer as u64),
            output_dropout: Dropout::new(config.hidden_dropout_prob, 2 + 3 * layer as u64),
            heads,
            head_dim,
        })
    }

    /// `[b, s, heads*head_dim]` -> `[b, heads, s, head_dim]`.
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, s, _) = xs.dims3()?;
        xs.reshape((b, s, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: Mode) -> Result<Tensor> {
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let context = if use_fused(hidden) {
            // One node for scores, softmax, dropout and context, in [b, s, H*d] layout throughout.
            super::fused_attention::attention(
                &self.query.forward(hidden)?,
                &self.key.forward(hidden)?,
                &self.value.forward(hidden)?,
                mask,
                self.heads,
                scale,
                self.probs_dropout.mask(mode),
            )?
        } else {
            self.context_composite(hidden, mask, scale, mode)?
        };
        if use_fused(hidden) {
            let n = &self.norm;
            return super::fused_norm::dropout_add_layer_norm(
                &self.output.forward(&context)?,
                hidden,
                &n.weight,
                &n.bias,
                n.eps,
                self.output_dropout.mask(mode),
            );
        }
        let out = self
            .output_dropout
            .forward(&self.output.forward(&context)?, mode)?;
        self.norm.forward(&(out + hidden)?)
    }

    /// Scores, softmax, dropout and context from basic ops (the reference path).
    fn context_composite(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        scale: f64,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, s, _) = hidden.dims3()?;
        let q = self.split_heads(&self.query.forward(hidden)?)?;
        let k = self.split_heads(&self.key.forward(hidden)?)?;
        let v = self.split_heads(&self.value.forward(hidden)?)?;
        let scores = q.matmul(&k.t()?.contiguous()?)?;
        let probs = self
            .probs_dropout
            .forward(&masked_softmax(&scores, mask, scale)?, mode)?;
        probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, s, self.heads * self.head_dim))
    }
}

#[derive(Clone, Debug)]
struct Layer {
    attention: Attention,
    intermediate: Linear,
    output: Linear,
    norm: LayerNorm,
    dropout: Dropout,
}

impl Layer {
    fn new(config: &BertConfig, layer: usize, vb: VarBuilder) -> Result<Self> {
        let h = config.hidden_size;
        let ffn = config.intermediate_in_layer(layer);
        Ok(Self {
            attention: Attention::new(config, layer, vb.pp("attention"))?,
            intermediate: Linear::new(h, ffn, vb.pp("intermediate").pp("dense"))?,
            output: Linear::new(ffn, h, vb.pp("output").pp("dense"))?,
            norm: LayerNorm::new(h, config.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
            dropout: Dropout::new(config.hidden_dropout_prob, 3 + 3 * layer as u64),
        })
    }

    fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: Mode) -> Result<Tensor> {
        let attended = self.attention.forward(hidden, mask, mode)?;
        let inner = if use_fused(&attended) {
            let dense = &self.intermediate;
            super::fused_linear::linear_gelu(&attended, &dense.weight, &dense.bias)?
        } else {
            gelu_erf(&self.intermediate.forward(&attended)?)?
        };
        if use_fused(&attended) {
            let n = &self.norm;
            return super::fused_norm::dropout_add_layer_norm(
                &self.output.forward(&inner)?,
                &attended,
                &n.weight,
                &n.bias,
                n.eps,
                self.dropout.mask(mode),
            );
        }
        let out = self.dropout.forward(&self.output.forward(&inner)?, mode)?;
        self.norm.forward(&(out + attended)?)
    }
}

/// `BertForSequenceClassification`: encoder, pooler and (when the config has labels) classifier.
#[derive(Clone, Debug)]
pub struct BertClassifier {
    config: BertConfig,
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pooler: Linear,
    classifier: Option<Linear>,
    classifier_dropout: Dropout,
    dtype: DType,
    device: Device,
}

impl BertClassifier {
    /// Builds the model from `vb` at the root of Hugging Face names (`bert.…`, `classifier.…`).
    pub fn new(config: &BertConfig, vb: VarBuilder) -> Result<Self> {
        if let Err(e) = super::shapes::validate_config(config) {
            bail!("{e}")
        }
        let bert = vb.pp("bert");
        let embeddings = Embeddings::new(config, bert.pp("embeddings"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::new(config, i, bert.pp("encoder").pp("layer").pp(i)))
            .collect::<Result<Vec<Layer>>>()?;
        let h = config.hidden_size;
        let pooler = Linear::new(h, h, bert.pp("pooler").pp("dense"))?;
        let n = config.num_labels();
        let classifier = if n > 0 {
            Some(Linear::new(h, n, vb.pp("classifier"))?)
        } else {
            None
        };
        Ok(Self {
            config: config.clone(),
            embeddings,
            layers,
            pooler,
            classifier,
            classifier_dropout: Dropout::new(
                config.hidden_dropout_prob,
                1 + 3 * config.num_hidden_layers as u64,
            ),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Last hidden state `[batch, seq_len, hidden]`.
    pub fn encode(&self, batch: &EncodedBatch, mode: Mode) -> Result<Tensor> {
        let inputs = batch_inputs(&self.config, batch, self.dtype, &self.device)?;
        let mut hidden = self
            .embeddings
            .forward(&inputs, batch.batch, batch.seq_len, mode)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &inputs.additive_mask, mode)?;
        }
        Ok(hidden)
    }

    /// Pooled output `tanh(dense(hidden[:, 0]))`, `[batch, hidden]`.
    pub fn pool(&self, hidden: &Tensor) -> Result<Tensor> {
        let first = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        self.pooler.forward(&first)?.tanh()
    }

    /// Logits `[batch, num_labels]`.
    pub fn forward(&self, batch: &EncodedBatch, mode: Mode) -> Result<Tensor> {
        let Some(classifier) = &self.classifier else {
            bail!("the model has no classifier: its config has no labels (id2label is empty)")
        };
        let pooled = self.pool(&self.encode(batch, mode)?)?;
        classifier.forward(&self.classifier_dropout.forward(&pooled, mode)?)
    }
}
