use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::importance::{taylor_batch_scores, unit_tensor_names};
use super::*;
use crate::model::init::{random_weights, tiny_config};
use crate::model::{BertClassifier, BertConfig, EncodedBatch, Mode, TrainableBert, Weights};

fn batch() -> EncodedBatch {
    let rows: [&[i64]; 3] = [&[1, 17, 42, 9, 33, 2], &[1, 5, 2], &[1, 64, 70, 88, 2]];
    let s = 6;
    let mut b = EncodedBatch {
        batch: rows.len(),
        seq_len: s,
        input_ids: Vec::new(),
        attention_mask: Vec::new(),
        token_type_ids: Vec::new(),
    };
    for r in rows {
        for j in 0..s {
            b.input_ids.push(r.get(j).copied().unwrap_or(0));
            b.attention_mask.push(i64::from(j < r.len()));
            b.token_type_ids.push(0);
        }
    }
    b
}

/// A tiny random BERT whose matrices are scaled up (std 0.5 instead of 0.02) so that every
/// head and neuron visibly moves the logits.
fn tiny(seed: u64) -> (BertConfig, Weights) {
    let config = tiny_config(3);
    let weights = random_weights(&config, seed)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let matrix = name.ends_with(".weight") && !name.contains("LayerNorm");
            let t = if matrix { (t * 25.0).unwrap() } else { t };
            (name, t)
        })
        .collect();
    (config, weights)
}

fn logits(config: &BertConfig, weights: &Weights) -> Vec<f32> {
    BertClassifier::from_weights(config, weights, &Device::Cpu)
        .unwrap()
        .forward(&batch(), Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Multiplies columns `cols` of a `[rows, cols]` tensor (or rows of a matrix/vector) by `factor`.
fn scale(t: &Tensor, dim: usize, indices: &[usize], factor: f64) -> Tensor {
    let dims = t.dims().to_vec();
    let mut v = t
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let cols = if dims.len() == 2 { dims[1] } else { 1 };
    for (k, x) in v.iter_mut().enumerate() {
        let (r, c) = (k / cols, k % cols);
        let at = if dim == 0 { r } else { c };
        if indices.contains(&at) {
            *x *= factor;
        }
    }
    Tensor::from_vec(v, dims, &Device::Cpu)
        .unwrap()
        .to_dtype(t.dtype())
        .unwrap()
}

/// Scales every parameter of head `head` (or, with `neuron`, FFN neuron) of `layer`.
fn scale_unit(
    config: &BertConfig,
    weights: &Weights,
    layer: usize,
    unit: usize,
    neuron: bool,
    factor: f64,
) -> Weights {
    let mut w = weights.clone();
    let p = format!("bert.encoder.layer.{layer}");
    let d = config.head_dim();
    let (rows, row_names, col_name): (Vec<usize>, Vec<String>, String) = if neuron {
        (
            vec![unit],
            vec![
                format!("{p}.intermediate.dense.weight"),
                format!("{p}.intermediate.dense.bias"),
            ],
            format!("{p}.output.dense.weight"),
        )
    } else {
        (
            (unit * d..(unit + 1) * d).collect(),
            ["query", "key", "value"]
                .iter()
                .flat_map(|q| {
                    [
                        format!("{p}.attention.self.{q}.weight"),
                        format!("{p}.attention.self.{q}.bias"),
                    ]
                })
                .collect(),
            format!("{p}.attention.output.dense.weight"),
        )
    };
    for name in row_names {
        let t = scale(&w[&name], 0, &rows, factor);
        w.insert(name, t);
    }
    let t = scale(&w[&col_name], 1, &rows, factor);
    w.insert(col_name, t);
    w
}

/// Zeroes the output contribution of a head (its attention-output columns) or a neuron (its
/// output-dense column): the model computes the same logits with or without it.
fn silence(
    config: &BertConfig,
    weights: &Weights,
    layer: usize,
    unit: usize,
    neuron: bool,
) -> Weights {
    let p = format!("bert.encoder.layer.{layer}");
    let d = config.head_dim();
    let mut w = weights.clone();
    let (name, cols): (String, Vec<usize>) = if neuron {
        (format!("{p}.output.dense.weight"), vec![unit])
    } else {
        (
            format!("{p}.attention.output.dense.weight"),
            (unit * d..(unit + 1) * d).collect(),
        )
    };
    let t = scale(&w[&name], 1, &cols, 0.0);
    w.insert(name, t);
    w
}

#[test]
fn shrinking_silent_heads_and_neurons_keeps_the_logits() {
    let (config, weights) = tiny(11);
    // Layer 0 loses head 1 and neurons 0, 5, 36; layer 1 loses heads 0 and 3 and neuron 2.
    let mut w = weights.clone();
    for (layer, head) in [(0, 1), (1, 0), (1, 3)] {
        w = silence(&config, &w, layer, head, false);
    }
    for (layer, neuron) in [(0, 0), (0, 5), (0, 36), (1, 2)] {
        w = silence(&config, &w, layer, neuron, true);
    }
    let keep = Keep {
        heads: vec![vec![0, 2, 3], vec![1, 2]],
        neurons: vec![
            (0..37).filter(|n| ![0, 5, 36].contains(n)).collect(),
            (0..37).filter(|&n| n != 2).collect(),
        ],
    };
    let (pruned, small) = shrink(&config, &w, &keep).unwrap();
    assert_eq!(pruned.layer_num_heads, Some(vec![3, 2]));
    assert_eq!(pruned.layer_intermediate_sizes, Some(vec![34, 36]));
    assert_eq!(
        small["bert.encoder.layer.1.attention.self.key.weight"].dims(),
        &[16, 32]
    );
    assert_eq!(
        small["bert.encoder.layer.0.attention.output.dense.weight"].dims(),
        &[32, 24]
    );
    assert_eq!(
        small["bert.encoder.layer.0.output.dense.weight"].dims(),
        &[32, 34]
    );
    assert_eq!(
        small["bert.encoder.layer.0.intermediate.dense.bias"].dims(),
        &[34]
    );
    let before = logits(&config, &w);
    let after = logits(&pruned, &small);
    assert!(max_diff(&before, &after) < 1e-5, "{before:?} vs {after:?}");
    // The kept rows are the right ones: the first kept head of layer 1 is head 1.
    let q = |ws: &Weights, name: &str| ws[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let full_q = q(&w, "bert.encoder.layer.1.attention.self.query.weight");
    let small_q = q(&small, "bert.encoder.layer.1.attention.self.query.weight");
    assert_eq!(&small_q[..8 * 32], &full_q[8 * 32..16 * 32]);
    // Removing a head that does contribute changes the logits: the check above can fail.
    let keep_live = Keep {
        heads: vec![vec![0, 1, 3], vec![1, 2]],
        ..keep
    };
    let (p2, s2) = shrink(&config, &w, &keep_live).unwrap();
    let live = max_diff(&before, &logits(&p2, &s2));
    assert!(live > 1e-3, "{live}");
}

#[test]
fn a_shrunk_model_shrinks_again_and_trains() {
    let (config, weights) = tiny(3);
    let keep = Keep {
        heads: vec![vec![1, 2], vec![0, 1, 2, 3]],
        neurons: vec![(0..20).collect(), (10..37).collect()],
    };
    let (c1, w1) = shrink(&config, &weights, &keep).unwrap();
    let keep2 = Keep {
        heads: vec![vec![1], vec![0, 3]],
        neurons: vec![vec![0, 19], (0..27).step_by(2).collect()],
    };
    let (c2, w2) = shrink(&c1, &w1, &keep2).unwrap();
    assert_eq!(model_shape(&c2).heads, vec![1, 2]);
    assert_eq!(model_shape(&c2).ffn_neurons, vec![2, 14]);
    // Head 1 of the once-shrunk layer 0 is head 2 of the original.
    let orig = weights["bert.encoder.layer.0.attention.self.value.bias"]
        .to_vec1::<f32>()
        .unwrap();
    let now = w2["bert.encoder.layer.0.attention.self.value.bias"]
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(now, orig[16..24].to_vec());
    TrainableBert::from_weights(&c2, &w2, &Device::Cpu).unwrap();
    // ONNX export follows the uneven shapes.
    crate::onnx::write_bert_onnx(&c2, &w2).unwrap();
}

#[test]
fn bad_keep_lists_are_refused_with_the_layer() {
    let (config, weights) = tiny(3);
    let mut keep = Keep::all(&config);
    keep.heads[1] = vec![];
    let err = shrink(&config, &weights, &keep).unwrap_err().to_string();
    assert!(err.contains("layer 1") && err.contains("no head"), "{err}");
    let mut keep = Keep::all(&config);
    keep.neurons[0] = vec![3, 2];
    let err = shrink(&config, &weights, &keep).unwrap_err().to_string();
    assert!(
        err.contains("layer 0") && err.contains("ascending"),
        "{err}"
    );
    let mut keep = Keep::all(&config);
    keep.heads[0] = vec![0, 4];
    let err = shrink(&config, &weights, &keep).unwrap_err().to_string();
    assert!(err.contains("head index 4"), "{err}");
}

fn counted_encoder_parameters(config: &BertConfig, weights: &Weights) -> usize {
    let names: Vec<String> = crate::model::shapes::param_shapes(config)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("bert.encoder.layer.") && !n.contains("LayerNorm"))
        .collect();
    names.iter().map(|n| weights[n].elem_count()).sum()
}

#[test]
fn parameter_counts_match_the_tensors() {
    let (config, weights) = tiny(5);
    let shape = model_shape(&config);
    assert_eq!(shape.heads, vec![4, 4]);
    assert_eq!(shape.ffn_neurons, vec![37, 37]);
    assert_eq!(
        shape.encoder_parameters,
        counted_encoder_parameters(&config, &weights)
    );
    let all: usize = weights.values().map(|t| t.elem_count()).sum();
    assert_eq!(shape.parameters, all);
    // hidden 32, head_dim 8: a head is 3 * (8*32 + 8) + 32*8 = 1048, a neuron 65.
    assert_eq!(
        (head_parameters(&config), neuron_parameters(&config)),
        (1048, 65)
    );
    let keep = Keep {
        heads: vec![vec![0], vec![0, 1, 2]],
        neurons: vec![(0..30).collect(), (0..37).collect()],
    };
    let (c, w) = shrink(&config, &weights, &keep).unwrap();
    let s = model_shape(&c);
    assert_eq!(s.encoder_parameters, counted_encoder_parameters(&c, &w));
    assert_eq!(
        shape.encoder_parameters - s.encoder_parameters,
        4 * 1048 + 7 * 65
    );
    assert_eq!(
        s.parameters,
        w.values().map(|t| t.elem_count()).sum::<usize>()
    );
    assert_eq!(keep.removed(&config), (vec![3, 1], vec![7, 0]));
}

#[test]
fn removal_targets_reach_the_fraction_of_encoder_parameters() {
    // all-MiniLM-L6-v2's shape.
    let mut config = tiny_config(3);
    config.hidden_size = 384;
    config.num_attention_heads = 12;
    config.intermediate_size = 1536;
    config.num_hidden_layers = 6;
    let total = encoder_parameters(&config);
    assert_eq!(
        total,
        6 * (4 * 384 * 384 + 4 * 384 + 2 * 384 * 1536 + 1536 + 384)
    );
    for fraction in [0.1, 0.2, 0.25, 0.3, 0.4] {
        let t = removal_targets(&config, fraction);
        assert_eq!(t.heads, (fraction * 72.0_f64).ceil() as usize);
        let removed = t.heads * head_parameters(&config) + t.neurons * neuron_parameters(&config);
        assert!(
            removed as f64 >= fraction * total as f64,
            "{fraction}: {removed}"
        );
        // ... and not much more (at most one head's worth above the target).
        assert!((removed as f64) < fraction * total as f64 + head_parameters(&config) as f64);
    }
    // Every layer keeps a head and a neuron.
    let t = removal_targets(&config, 1.0);
    assert_eq!((t.heads, t.neurons), (72 - 6, 9216 - 6));
}

#[test]
fn magnitude_importance_ranks_a_zeroed_head_last_and_selection_removes_it() {
    let (config, weights) = tiny(7);
    let w = scale_unit(&config, &weights, 1, 2, false, 0.0);
    let w = scale_unit(&config, &w, 0, 9, true, 0.0);
    let imp = magnitude_importance(&config, &w).unwrap();
    assert_eq!(imp.heads[1][2], 0.0);
    assert_eq!(imp.neurons[0][9], 0.0);
    assert!(imp.heads.iter().flatten().filter(|v| **v > 0.0).count() == 7);
    // The norm of head 0 of layer 0 by hand.
    let sq = |name: &str, rows: bool| -> f64 {
        let t = w[name].to_dtype(DType::F64).unwrap();
        let t = if rows {
            t.narrow(0, 0, 8)
        } else {
            t.narrow(1, 0, 8)
        }
        .unwrap();
        t.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let p = "bert.encoder.layer.0.attention";
    let by_hand: f64 = ["query", "key", "value"]
        .iter()
        .map(|q| {
            sq(&format!("{p}.self.{q}.weight"), true) + sq(&format!("{p}.self.{q}.bias"), true)
        })
        .sum::<f64>()
        + sq(&format!("{p}.output.dense.weight"), false);
    assert!((imp.heads[0][0] - by_hand.sqrt()).abs() < 1e-9);

    let keep = select_keep(&config, &imp, 1, 1).unwrap();
    assert_eq!(keep.heads, vec![vec![0, 1, 2, 3], vec![0, 1, 3]]);
    assert_eq!(keep.neurons[0].len(), 36);
    assert!(!keep.neurons[0].contains(&9));
    assert_eq!(keep.neurons[1].len(), 37);
}

#[test]
fn selection_keeps_one_head_per_layer_and_normalises_per_layer() {
    let config = tiny_config(3);
    // Layer 0's scores are tiny in absolute terms but one head dominates within its layer.
    let imp = Importance {
        heads: vec![vec![1e-6, 1e-9, 1e-9, 1e-9], vec![5.0, 4.0, 3.0, 2.0]],
        neurons: vec![vec![1.0; 37], vec![1.0; 37]],
    };
    let keep = select_keep(&config, &imp, 4, 0).unwrap();
    // Normalised, layer 0's weak heads (~1e-3) go before layer 1's (>= 0.27); head 0 stays.
    assert_eq!(keep.heads, vec![vec![0], vec![0, 1, 2]]);
    let keep = select_keep(&config, &imp, 6, 0).unwrap();
    assert_eq!(keep.heads, vec![vec![0], vec![0]]);
    let err = select_keep(&config, &imp, 7, 0).unwrap_err().to_string();
    assert!(err.contains("cannot remove 7 heads"), "{err}");
}

fn mean_loss(config: &BertConfig, weights: &Weights, labels: &[usize]) -> f64 {
    let model =
        TrainableBert::from_weights_dtype(config, weights, &Device::Cpu, DType::F64).unwrap();
    let logits = model.forward(&batch(), Mode::Eval).unwrap();
    let l = crate::train::loss::labels_tensor(labels, &Device::Cpu).unwrap();
    crate::train::loss::cross_entropy_per_sample(&logits, &l)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn taylor_scores_are_the_loss_derivative_of_scaling_each_unit() {
    let (config, weights) = tiny(19);
    // f64 throughout: a 1e-5 relative step is below f32's resolution of the perturbation.
    let weights: Weights = weights
        .into_iter()
        .map(|(k, t)| (k, t.to_dtype(DType::F64).unwrap()))
        .collect();
    let labels = vec![0, 2, 1];
    let model =
        TrainableBert::from_weights_dtype(&config, &weights, &Device::Cpu, DType::F64).unwrap();
    let imp = taylor_importance(&model, &[(batch(), labels.clone())], |_, _| {}).unwrap();
    let eps = 1e-5;
    let mut failures = Vec::new();
    for (layer, unit, neuron) in [(0, 0, false), (1, 3, false), (0, 7, true), (1, 30, true)] {
        let up = mean_loss(
            &config,
            &scale_unit(&config, &weights, layer, unit, neuron, 1.0 + eps),
            &labels,
        );
        let down = mean_loss(
            &config,
            &scale_unit(&config, &weights, layer, unit, neuron, 1.0 - eps),
            &labels,
        );
        let numeric = ((up - down) / (2.0 * eps)).abs();
        let analytic = if neuron {
            imp.neurons[layer][unit]
        } else {
            imp.heads[layer][unit]
        };
        let rel = (analytic - numeric).abs() / numeric.max(analytic);
        eprintln!("({layer}, {unit}, {neuron}): taylor {analytic} vs finite difference {numeric}");
        if analytic < 1e-6 || rel >= 1e-4 {
            failures.push((layer, unit, neuron, analytic, numeric));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn taylor_scores_a_silent_head_zero_and_sums_over_batches() {
    let (config, weights) = tiny(23);
    let w = silence(&config, &weights, 0, 2, false);
    let w = silence(&config, &w, 1, 4, true);
    let model = TrainableBert::from_weights(&config, &w, &Device::Cpu).unwrap();
    let one = taylor_importance(&model, &[(batch(), vec![1, 1, 0])], |_, _| {}).unwrap();
    assert_eq!(one.heads[0][2], 0.0);
    assert_eq!(one.neurons[1][4], 0.0);
    assert!(one.heads[0]
        .iter()
        .enumerate()
        .all(|(h, v)| h == 2 || *v > 0.0));
    let keep = select_keep(&config, &one, 1, 1).unwrap();
    assert_eq!(keep.heads[0], vec![0, 1, 3]);
    assert!(!keep.neurons[1].contains(&4));
    let mut calls = Vec::new();
    let two = taylor_importance(
        &model,
        &[(batch(), vec![1, 1, 0]), (batch(), vec![1, 1, 0])],
        |k, n| calls.push((k, n)),
    )
    .unwrap();
    assert_eq!(calls, vec![(1, 2), (2, 2)]);
    assert!((two.heads[1][1] - 2.0 * one.heads[1][1]).abs() < 1e-6 * two.heads[1][1].max(1.0));
    // The batch scores ignore tensors that are not part of a unit but need every unit tensor.
    let vars: HashMap<String, Tensor> = w.clone().into_iter().collect();
    let mut grads = vars.clone();
    grads.remove(&unit_tensor_names(&config)[0]);
    assert!(taylor_batch_scores(&config, &vars, &grads).is_err());
}

#[test]
fn magnitude_pruning_zeros_the_smallest_encoder_weights_only() {
    let (config, weights) = tiny(29);
    assert_eq!(sparsity(&config, &weights).unwrap(), 0.0);
    let pruned = magnitude_prune(&config, &weights, 0.3).unwrap();
    // 2 layers x (4 x 32x32 + 2 x 32x37) matrix weights.
    let n = 2 * (4 * 32 * 32 + 2 * 32 * 37);
    let s = sparsity(&config, &pruned).unwrap();
    assert!(
        (s - (0.3 * n as f64).round() / n as f64).abs() < 1e-12,
        "{s}"
    );
    // Biases, LayerNorms and embeddings are untouched; every zeroed weight is below every kept one.
    for name in [
        "bert.encoder.layer.0.attention.self.query.bias",
        "classifier.weight",
    ] {
        assert_eq!(
            max_diff(
                &weights[name]
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                &pruned[name]
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            ),
            0.0
        );
    }
    let mut zeroed_max = 0f32;
    let mut kept_min = f32::MAX;
    for name in ["query", "key", "value"]
        .iter()
        .map(|q| format!("bert.encoder.layer.1.attention.self.{q}.weight"))
        .chain(["bert.encoder.layer.0.output.dense.weight".to_string()])
    {
        let a = weights[&name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let b = pruned[&name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (x, y) in a.iter().zip(&b) {
            if *y == 0.0 {
                zeroed_max = zeroed_max.max(x.abs());
            } else {
                assert_eq!(x, y);
                kept_min = kept_min.min(x.abs());
            }
        }
    }
    assert!(zeroed_max <= kept_min, "{zeroed_max} > {kept_min}");
    // Training moves the zeros; re-applying the mask puts them back.
    let moved: Weights = pruned
        .iter()
        .map(|(k, t)| (k.clone(), (t + 0.5).unwrap()))
        .collect();
    assert_eq!(sparsity(&config, &moved).unwrap(), 0.0);
    let again = magnitude::reapply_zeros(&config, &pruned, &moved).unwrap();
    assert!((sparsity(&config, &again).unwrap() - s).abs() < 1e-12);
    assert!(magnitude_prune(&config, &weights, 1.0).is_err());
}
