//! Classifiers exported as `torch.onnx.export` writes a freshly initialised model: equal
//! initialisers (the zero biases) deduplicated, the kept one reaching the others' users through
//! `Identity` nodes named after them (issue 21), some weights in `Constant` nodes or in an
//! external data file, and a MatMul weight left anonymous by constant folding. The importer maps them to the weights they carry;
//! candle agrees with ONNX Runtime on the file, and the model trains.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::tiny::small_fpb;
use common::*;
use exp::assets::{self, Asset};
use exp::onnx::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, StringStringEntryProto};
use prost::Message;

const KEY_WEIGHT: &str = "bert.encoder.layer.0.attention.self.key.weight";
const FFN_OUT_WEIGHT: &str = "bert.encoder.layer.1.output.dense.weight";
const WORD_EMBEDDINGS: &str = "bert.embeddings.word_embeddings.weight";

fn node(op: &str, input: Option<&str>, output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: input.map(str::to_string).into_iter().collect(),
        output: vec![output.to_string()],
        name: Some(format!("/{op}_{output}")),
        op_type: Some(op.to_string()),
        attribute,
        ..Default::default()
    }
}

fn take(graph: &mut GraphProto, name: &str) -> exp::onnx::proto::TensorProto {
    let i = graph
        .initializer
        .iter()
        .position(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no initialiser {name}"));
    graph.initializer.remove(i)
}

/// What torch's exporter does to a fresh model: equal float initialisers are kept once and
/// the others become `Identity` outputs of the kept one (one of them through a chain of two).
/// Returns how many were aliased.
fn deduplicate_like_torch(graph: &mut GraphProto) -> usize {
    let mut kept: HashMap<(Vec<i64>, Vec<u8>), String> = HashMap::new();
    let mut aliases: Vec<NodeProto> = Vec::new();
    let mut keep: Vec<exp::onnx::proto::TensorProto> = Vec::new();
    for t in graph.initializer.drain(..) {
        let bytes = t
            .raw_data
            .clone()
            .unwrap_or_else(|| t.float_data.iter().flat_map(|f| f.to_le_bytes()).collect());
        let key = (t.dims.clone(), bytes);
        match kept.get(&key) {
            Some(first) if t.data_type == Some(1) && t.dims.iter().product::<i64>() > 1 => {
                if aliases.is_empty() {
                    let via = format!("onnx::Identity_{}", aliases.len());
                    aliases.push(node("Identity", Some(first), &via, vec![]));
                    aliases.push(node("Identity", Some(&via), t.name(), vec![]));
                } else {
                    aliases.push(node("Identity", Some(first), t.name(), vec![]));
                }
            }
            _ => {
                kept.entry(key).or_insert_with(|| t.name().to_string());
                keep.push(t);
            }
        }
    }
    graph.initializer = keep;
    let n = aliases.len();
    graph.node.splice(0..0, aliases);
    n
}

/// A tiny classifier with the minilm vocabulary, exported by exp's writer and then rewritten
/// as described above; returns the file and the weights it must import as.
fn torch_like_export(dir: &Path) -> (std::path::PathBuf, exp::model::Weights) {
    let mut config = exp::model::init::tiny_config(3);
    config.vocab_size = 30522;
    config.max_position_embeddings = 128;
    config.set_labels(&["negative".into(), "neutral".into(), "positive".into()]);
    // A fresh model: its biases are all zero, so they are all equal.
    let weights = exp::model::init::random_weights(&config, 5).unwrap();
    let bytes = exp::onnx::write_bert_onnx(&config, &weights).unwrap();
    let mut model = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let aliased = deduplicate_like_torch(graph);
    assert!(aliased >= 10, "zero biases to alias: {aliased}");
    // A MatMul weight whose name constant folding dropped, found through its aliased bias.
    let mut key_weight = take(graph, KEY_WEIGHT);
    key_weight.name = Some("onnx::MatMul_356".into());
    for n in graph.node.iter_mut() {
        for input in n.input.iter_mut().filter(|i| *i == KEY_WEIGHT) {
            *input = "onnx::MatMul_356".into();
        }
    }
    graph.initializer.push(key_weight);
    // A weight stored as a Constant node.
    let ffn_out = take(graph, FFN_OUT_WEIGHT);
    graph.node.insert(
        0,
        node(
            "Constant",
            None,
            FFN_OUT_WEIGHT,
            vec![AttributeProto::tensor("value", ffn_out)],
        ),
    );
    // The largest weights in an external data file, as exporters write models over 2 GB.
    let mut external: Vec<u8> = Vec::new();
    for name in [
        WORD_EMBEDDINGS,
        "bert.encoder.layer.0.intermediate.dense.weight",
    ] {
        let t = graph
            .initializer
            .iter_mut()
            .find(|t| t.name() == name)
            .unwrap_or_else(|| panic!("no initialiser {name}"));
        let bytes = t.raw_data.take().unwrap_or_else(|| {
            std::mem::take(&mut t.float_data)
                .iter()
                .flat_map(|f| f.to_le_bytes())
                .collect()
        });
        let entry = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        t.external_data = vec![
            entry("location", "torch_like.onnx_data".into()),
            entry("offset", external.len().to_string()),
            entry("length", bytes.len().to_string()),
        ];
        t.data_location = Some(exp::onnx::proto::DATA_LOCATION_EXTERNAL);
        external.extend(bytes);
    }
    std::fs::write(dir.join("torch_like.onnx_data"), external).unwrap();
    let path = dir.join("torch_like.onnx");
    std::fs::write(&path, model.encode_to_vec()).unwrap();
    let tokenizer = assets::ensure(Asset::MiniLmL6)
        .unwrap()
        .join("tokenizer.json");
    std::fs::copy(tokenizer, dir.join("tokenizer.json")).unwrap();
    (path, weights)
}

#[test]
fn identity_aliased_and_constant_weights_import_predict_like_ort_and_train() {
    let dir = tempfile::tempdir().unwrap();
    let (onnx, weights) = torch_like_export(dir.path());

    // Every weight imports as it was, by its Hugging Face name.
    let imported = exp::onnx::import_bert(&onnx).unwrap();
    assert_eq!(
        imported.weights.keys().collect::<Vec<_>>(),
        weights.keys().collect::<Vec<_>>()
    );
    for (name, t) in &weights {
        let a = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = imported.weights[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "{name}");
    }
    let sources = &imported.info.weight_sources;
    assert_eq!(sources[KEY_WEIGHT], "onnx::MatMul_356");
    assert_eq!(sources[FFN_OUT_WEIGHT], FFN_OUT_WEIGHT);

    // candle and ONNX Runtime give the same logits on the file.
    let db = dir.path().join("exp.db");
    let predict = |engine: &str| -> serde_json::Value {
        let out = exp(
            &db,
            &[
                "predict",
                onnx.to_str().unwrap(),
                "Operating profit rose to EUR 13.1 mn.",
                "Sales fell sharply in the quarter.",
                "--engine",
                engine,
                "--json",
            ],
        );
        assert!(out.status.success(), "{engine}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (ort, candle) = (predict("ort"), predict("candle"));
    for i in 0..2 {
        for j in 0..3 {
            let x = ort["predictions"][i]["logits"][j].as_f64().unwrap();
            let y = candle["predictions"][i]["logits"][j].as_f64().unwrap();
            assert!((x - y).abs() <= 1e-4, "logit {j} of text {i}: {x} vs {y}");
        }
    }

    // It is an experiment's model like any other: it trains.
    let data = small_fpb(dir.path(), 120);
    new_experiment(&db, "t", &onnx, &data);
    let out = exp(&db, &["train", "t", "--stages", "train", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
