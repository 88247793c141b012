//! The BERT ONNX writer: fp32, opset 17, standard operators only, inputs `input_ids` and
//! `attention_mask` (int64, `[batch, sequence]`, both dynamic), output `logits` `[batch, num_labels]`.
//!
//! It follows the numerics contract of the candle model: token type 0 everywhere, exact erf GELU,
//! LayerNorm epsilon from the config, scores divided by sqrt(head_dim), additive mask
//! `(1 - mask) * f32::MIN`, classifier on tanh(pooler(hidden[:, 0])). Per-layer head counts and
//! FFN widths come from the config, so pruned models export with their real, smaller matrices.
//!
//! Initialisers carry the Hugging Face names. Encoder linear weights are stored `[in, out]` for
//! MatMul; the pooler and classifier use Gemm with transB=1 and keep PyTorch's `[out, in]`. The
//! importer reads the layout off each weight's use, so export then import is bit-exact.

use std::path::Path;

use crate::model::{BertConfig, Weights};
use crate::onnx::builder::{Builder, WeightSource};
use crate::onnx::error::OnnxError;
use crate::onnx::names::{check_layer_lists, param_shapes};
use crate::onnx::proto::{
    data_type, AttributeProto, GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto,
    ValueInfoProto,
};
use crate::onnx::CONFIG_METADATA_KEY;

pub const OPSET: i64 = 17;
/// IR version 8 is the one that goes with opset 17.
pub const IR_VERSION: i64 = 8;

/// Graph outputs a writer call asks for.
#[derive(Clone, Copy)]
struct Outputs {
    logits: bool,
    hidden: bool,
}

/// The classifier as ONNX bytes: output `logits` only.
pub fn write_bert_onnx(config: &BertConfig, weights: &Weights) -> Result<Vec<u8>, OnnxError> {
    build_model(
        config,
        weights,
        Outputs {
            logits: true,
            hidden: false,
        },
    )
}

/// Output `last_hidden_state` `[batch, sequence, hidden]`, and `logits` too when the weights have a
/// classifier (for comparing encoders layer by layer with other implementations).
pub fn write_bert_encoder_onnx(
    config: &BertConfig,
    weights: &Weights,
) -> Result<Vec<u8>, OnnxError> {
    let logits = weights.contains_key("classifier.weight");
    build_model(
        config,
        weights,
        Outputs {
            logits,
            hidden: true,
        },
    )
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a model.
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "model.onnx".to_string());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// [`write_bert_onnx`] then [`save`].
pub fn save_bert_onnx(
    path: &Path,
    config: &BertConfig,
    weights: &Weights,
) -> Result<(), OnnxError> {
    let bytes = write_bert_onnx(config, weights)?;
    save(path, &bytes)
}

fn build_model(
    config: &BertConfig,
    weights: &Weights,
    outputs: Outputs,
) -> Result<Vec<u8>, OnnxError> {
    check_config(config)?;
    let has_head = outputs.logits;
    if has_head && config.num_labels() == 0 {
        return Err(OnnxError::Config(
            "a classifier export needs id2label (num_labels is 0)".to_string(),
        ));
    }
    let mut g = Builder::default();
    let params = param_shapes(config, has_head, has_head);
    let mut w = WeightSource {
        weights,
        params: &params,
    };

    let hidden = config.hidden_size;
    let d = config.head_dim();
    let eps = config.layer_norm_eps as f32;

    // Embeddings: word + token type 0, then + positions 0..seq (Hugging Face's order of additions).
    let word = w.plain(&mut g, "bert.embeddings.word_embeddings.weight")?;
    let pos = w.plain(&mut g, "bert.embeddings.position_embeddings.weight")?;
    let tt = w.plain(&mut g, "bert.embeddings.token_type_embeddings.weight")?;
    let zero = g.const_i64("/const/zero", &[], &[0]);
    let word_e = g.op(
        "Gather",
        "/embeddings/word/Gather",
        &[&word, "input_ids"],
        vec![],
    );
    let tt_e = g.op(
        "Gather",
        "/embeddings/token_type/Gather",
        &[&tt, &zero],
        vec![],
    );
    let e = g.op("Add", "/embeddings/Add", &[&word_e, &tt_e], vec![]);
    let seq_len = g.op(
        "Shape",
        "/embeddings/SeqLen",
        &["input_ids"],
        vec![
            AttributeProto::int("start", 1),
            AttributeProto::int("end", 2),
        ],
    );
    let zero_1d = g.const_i64("/const/zero_1d", &[1], &[0]);
    let pos_e = g.op(
        "Slice",
        "/embeddings/position/Slice",
        &[&pos, &zero_1d, &seq_len, &zero_1d],
        vec![],
    );
    let e = g.op("Add", "/embeddings/Add_1", &[&e, &pos_e], vec![]);
    let ln_w = w.plain(&mut g, "bert.embeddings.LayerNorm.weight")?;
    let ln_b = w.plain(&mut g, "bert.embeddings.LayerNorm.bias")?;
    let mut x = g.layer_norm("/embeddings/LayerNorm", &e, &ln_w, &ln_b, eps);

    // Additive mask [batch, 1, 1, seq]: (1 - mask) * f32::MIN.
    let m = g.op(
        "Cast",
        "/mask/Cast",
        &["attention_mask"],
        vec![AttributeProto::int("to", data_type::FLOAT.into())],
    );
    let one = g.const_f32("/const/one", 1.0);
    let inv = g.op("Sub", "/mask/Sub", &[&one, &m], vec![]);
    let min = g.const_f32("/const/f32_min", f32::MIN);
    let add_mask = g.op("Mul", "/mask/Mul", &[&inv, &min], vec![]);
    let axes12 = g.const_i64("/const/axes_1_2", &[2], &[1, 2]);
    let add_mask = g.op(
        "Unsqueeze",
        "/mask/Unsqueeze",
        &[&add_mask, &axes12],
        vec![],
    );

    let sqrt_d = g.const_f32("/const/sqrt_head_dim", (d as f32).sqrt());
    let sqrt2 = g.const_f32("/const/sqrt2", std::f32::consts::SQRT_2);
    let half = g.const_f32("/const/half", 0.5);
    for i in 0..config.num_hidden_layers {
        let n = config.heads_in_layer(i) as i64;
        let p = format!("bert.encoder.layer.{i}.");
        let s = format!("/encoder/layer.{i}");
        let split = g.const_i64(
            &format!("{s}/attention/split_heads"),
            &[4],
            &[0, 0, n, d as i64],
        );
        let merge = g.const_i64(
            &format!("{s}/attention/merge_heads"),
            &[3],
            &[0, 0, n * d as i64],
        );
        let mut heads = Vec::new();
        for (proj, perm) in [
            ("query", [0, 2, 1, 3]),
            ("key", [0, 2, 3, 1]),
            ("value", [0, 2, 1, 3]),
        ] {
            let y = w.linear(
                &mut g,
                &format!("{p}attention.self.{proj}"),
                &x,
                &format!("{s}/attention/self/{proj}"),
            )?;
            let y = g.op(
                "Reshape",
                &format!("{s}/attention/self/{proj}/Reshape"),
                &[&y, &split],
                vec![],
            );
            let y = g.op(
                "Transpose",
                &format!("{s}/attention/self/{proj}/Transpose"),
                &[&y],
                vec![AttributeProto::ints("perm", &perm)],
            );
            heads.push(y);
        }
        let scores = g.op(
            "MatMul",
            &format!("{s}/attention/self/Scores"),
            &[&heads[0], &heads[1]],
            vec![],
        );
        let scores = g.op(
            "Div",
            &format!("{s}/attention/self/Scale"),
            &[&scores, &sqrt_d],
            vec![],
        );
        let scores = g.op(
            "Add",
            &format!("{s}/attention/self/Mask"),
            &[&scores, &add_mask],
            vec![],
        );
        let probs = g.op(
            "Softmax",
            &format!("{s}/attention/self/Softmax"),
            &[&scores],
            vec![AttributeProto::int("axis", -1)],
        );
        let ctx = g.op(
            "MatMul",
            &format!("{s}/attention/self/Context"),
            &[&probs, &heads[2]],
            vec![],
        );
        let ctx = g.op(
            "Transpose",
            &format!("{s}/attention/self/Context/Transpose"),
            &[&ctx],
            vec![AttributeProto::ints("perm", &[0, 2, 1, 3])],
        );
        let ctx = g.op(
            "Reshape",
            &format!("{s}/attention/self/Context/Reshape"),
            &[&ctx, &merge],
            vec![],
        );
        let o = w.linear(
            &mut g,
            &format!("{p}attention.output.dense"),
            &ctx,
            &format!("{s}/attention/output/dense"),
        )?;
        let o = g.op(
            "Add",
            &format!("{s}/attention/output/Residual"),
            &[&o, &x],
            vec![],
        );
        let ln_w = w.plain(&mut g, &format!("{p}attention.output.LayerNorm.weight"))?;
        let ln_b = w.plain(&mut g, &format!("{p}attention.output.LayerNorm.bias"))?;
        let a = g.layer_norm(
            &format!("{s}/attention/output/LayerNorm"),
            &o,
            &ln_w,
            &ln_b,
            eps,
        );

        // Exact GELU: x * (1 + erf(x / sqrt 2)) * 0.5.
        let f = w.linear(
            &mut g,
            &format!("{p}intermediate.dense"),
            &a,
            &format!("{s}/intermediate/dense"),
        )?;
        let gs = format!("{s}/intermediate/gelu");
        let t = g.op("Div", &format!("{gs}/Div"), &[&f, &sqrt2], vec![]);
        let t = g.op("Erf", &format!("{gs}/Erf"), &[&t], vec![]);
        let t = g.op("Add", &format!("{gs}/Add"), &[&t, &one], vec![]);
        let t = g.op("Mul", &format!("{gs}/Mul"), &[&f, &t], vec![]);
        let act = g.op("Mul", &format!("{gs}/Mul_1"), &[&t, &half], vec![]);

        let o = w.linear(
            &mut g,
            &format!("{p}output.dense"),
            &act,
            &format!("{s}/output/dense"),
        )?;
        let o = g.op("Add", &format!("{s}/output/Residual"), &[&o, &a], vec![]);
        let ln_w = w.plain(&mut g, &format!("{p}output.LayerNorm.weight"))?;
        let ln_b = w.plain(&mut g, &format!("{p}output.LayerNorm.bias"))?;
        x = g.layer_norm(&format!("{s}/output/LayerNorm"), &o, &ln_w, &ln_b, eps);
    }

    // Logits first: the benchmark notebook reads outputs[0].
    let mut graph_outputs = Vec::new();
    if outputs.logits {
        let first = g.op(
            "Gather",
            "/pooler/First",
            &[&x, &zero],
            vec![AttributeProto::int("axis", 1)],
        );
        let pooled = w.gemm(
            &mut g,
            "bert.pooler.dense",
            &first,
            "/pooler/dense/Gemm",
            None,
        )?;
        let pooled = g.op("Tanh", "/pooler/Tanh", &[&pooled], vec![]);
        w.gemm(
            &mut g,
            "classifier",
            &pooled,
            "/classifier/Gemm",
            Some("logits"),
        )?;
        graph_outputs.push(ValueInfoProto::tensor(
            "logits",
            data_type::FLOAT,
            &[Err("batch"), Ok(config.num_labels() as i64)],
        ));
    }
    if outputs.hidden {
        g.op_named(
            "Identity",
            "/last_hidden_state/Identity",
            &[&x],
            "last_hidden_state",
            vec![],
        );
        graph_outputs.push(ValueInfoProto::tensor(
            "last_hidden_state",
            data_type::FLOAT,
            &[Err("batch"), Err("sequence"), Ok(hidden as i64)],
        ));
    }
    w.check_all_used(&g)?;

    let ids = |name: &str| {
        ValueInfoProto::tensor(name, data_type::INT64, &[Err("batch"), Err("sequence")])
    };
    let config_json = serde_json::to_string(config)
        .map_err(|e| OnnxError::Config(format!("cannot serialise the config: {e}")))?;
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("exp".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        graph: Some(GraphProto {
            name: Some("bert".to_string()),
            node: g.nodes,
            initializer: g.initializers,
            input: vec![ids("input_ids"), ids("attention_mask")],
            output: graph_outputs,
            ..Default::default()
        }),
        metadata_props: vec![StringStringEntryProto {
            key: Some(CONFIG_METADATA_KEY.to_string()),
            value: Some(config_json),
        }],
        ..Default::default()
    };
    Ok(prost::Message::encode_to_vec(&model))
}

fn check_config(config: &BertConfig) -> Result<(), OnnxError> {
    check_layer_lists(config)?;
    if config.hidden_act != "gelu" {
        return Err(OnnxError::Config(format!(
            "hidden_act '{}': the writer implements exact (erf) GELU only",
            config.hidden_act
        )));
    }
    for i in 0..config.num_hidden_layers {
        // A layer pruned to nothing would need a graph without that attention or FFN block.
        if config.heads_in_layer(i) == 0 || config.intermediate_in_layer(i) == 0 {
            return Err(OnnxError::Config(format!(
                "layer {i} has {} heads and FFN width {}: layers pruned to zero cannot be exported",
                config.heads_in_layer(i),
                config.intermediate_in_layer(i)
            )));
        }
    }
    Ok(())
}
