//! Tests of the candle BERT on tiny random models: shapes, padding invariance, dropout modes,
//! finite-difference gradients and pruned shapes.

use candle_core::{DType, Device, Tensor};

use crate::model::init::{random_weights, tiny_config, tiny_random_bert};
use crate::model::shapes::{param_kind, ParamKind};
use crate::model::{EncodedBatch, Mode, TrainableBert, Weights};

/// Builds a right-padded batch from token id rows (type ids all 0).
fn batch_of(rows: &[&[i64]], seq_len: usize) -> EncodedBatch {
    let mut b = EncodedBatch {
        batch: rows.len(),
        seq_len,
        input_ids: Vec::new(),
        attention_mask: Vec::new(),
        token_type_ids: Vec::new(),
    };
    for row in rows {
        assert!(row.len() <= seq_len);
        b.input_ids.extend_from_slice(row);
        b.input_ids
            .extend(std::iter::repeat_n(0, seq_len - row.len()));
        b.attention_mask.extend(std::iter::repeat_n(1, row.len()));
        b.attention_mask
            .extend(std::iter::repeat_n(0, seq_len - row.len()));
        b.token_type_ids.extend(std::iter::repeat_n(0, seq_len));
    }
    b
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

const SHORT: &[i64] = &[1, 17, 42, 8, 2];
const LONG: &[i64] = &[1, 5, 99, 23, 64, 3, 11, 70, 2];

#[test]
fn output_shapes() {
    let (config, weights) = tiny_random_bert(7, 3);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let batch = batch_of(&[SHORT, LONG, &[1, 2]], 9);
    let hidden = model.model().encode(&batch, Mode::Eval).unwrap();
    assert_eq!(hidden.dims(), &[3, 9, 32]);
    let logits = model.forward(&batch, Mode::Eval).unwrap();
    assert_eq!(logits.dims(), &[3, 3]);
    assert_eq!(model.named_vars().len(), 5 + 2 * 16 + 2 + 2);
}

#[test]
fn padding_does_not_change_logits() {
    let (config, weights) = tiny_random_bert(11, 3);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let alone = model
        .forward(&batch_of(&[SHORT], SHORT.len()), Mode::Eval)
        .unwrap();
    let padded = model
        .forward(&batch_of(&[LONG, SHORT], 20), Mode::Eval)
        .unwrap();
    let diff = max_abs_diff(&alone.get(0).unwrap(), &padded.get(1).unwrap());
    assert!(diff < 1e-5, "padding changed logits by {diff}");
    // The logits are not trivially equal across sentences.
    let other = max_abs_diff(&padded.get(0).unwrap(), &padded.get(1).unwrap());
    assert!(other > 1e-6, "different sentences gave equal logits");
}

#[test]
fn dropout_only_in_training_and_seeded() {
    let (config, weights) = tiny_random_bert(3, 3);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let batch = batch_of(&[SHORT, LONG], 9);
    let eval_a = model.forward(&batch, Mode::Eval).unwrap();
    let eval_b = model.forward(&batch, Mode::Eval).unwrap();
    assert_eq!(max_abs_diff(&eval_a, &eval_b), 0.0);
    let train = |seed: u64| {
        model
            .forward(&batch, Mode::Train { dropout_seed: seed })
            .unwrap()
    };
    let (t1, t1_again, t2) = (train(1), train(1), train(2));
    assert_eq!(max_abs_diff(&t1, &t1_again), 0.0);
    assert!(max_abs_diff(&t1, &t2) > 1e-6, "dropout seeds 1 and 2 agree");
    assert!(max_abs_diff(&t1, &eval_a) > 1e-6, "train mode equals eval");
}

#[test]
fn dropout_drops_the_configured_fraction() {
    let drop = crate::model::dropout::Dropout::new(0.1, 4);
    let x = Tensor::ones(200_000, DType::F32, &Device::Cpu).unwrap();
    let y = drop.forward(&x, Mode::Train { dropout_seed: 9 }).unwrap();
    let v: Vec<f32> = y.to_vec1().unwrap();
    let zeros = v.iter().filter(|&&a| a == 0.0).count() as f64 / v.len() as f64;
    assert!((zeros - 0.1).abs() < 0.005, "dropped fraction {zeros}");
    let kept = v.iter().find(|&&a| a != 0.0).copied().unwrap();
    assert!((kept - 1.0 / 0.9).abs() < 1e-6);
}

fn loss_of(model: &TrainableBert, batch: &EncodedBatch, labels: &Tensor) -> Tensor {
    let logits = model.forward(batch, Mode::Eval).unwrap();
    candle_nn::loss::cross_entropy(&logits, labels).unwrap()
}

#[test]
fn backprop_matches_finite_differences() {
    let (config, weights) = tiny_random_bert(5, 3);
    // Larger weights than the 0.02 init, so every gradient is well above rounding noise.
    let weights: Weights = weights
        .into_iter()
        .map(|(k, t)| {
            let t = if param_kind(&k) == ParamKind::Matrix {
                (t * 10.0).unwrap()
            } else {
                t
            };
            (k, t)
        })
        .collect();
    let dev = Device::Cpu;
    let model = TrainableBert::from_weights_dtype(&config, &weights, &dev, DType::F64).unwrap();
    let batch = batch_of(&[SHORT, LONG], 9);
    let labels = Tensor::new(&[0u32, 2], &dev).unwrap();
    let grads = loss_of(&model, &batch, &labels).backward().unwrap();
    let vars = model.named_vars();
    let var = |name: &str| vars.iter().find(|(n, _)| n == name).unwrap().1.clone();
    // (tensor, flat index) pairs; None = the entry with the largest backprop gradient.
    let checks: [(&str, Option<usize>); 5] = [
        ("bert.embeddings.word_embeddings.weight", Some(42 * 32 + 5)),
        ("bert.encoder.layer.0.attention.self.query.weight", None),
        ("bert.encoder.layer.1.intermediate.dense.weight", None),
        ("bert.encoder.layer.0.output.dense.weight", None),
        ("classifier.bias", Some(1)),
    ];
    for (name, index) in checks {
        let v = var(name);
        let g: Vec<f64> = grads
            .get(v.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let idx = index.unwrap_or_else(|| {
            (0..g.len())
                .max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs()))
                .unwrap()
        });
        let original = v.as_tensor().copy().unwrap();
        let flat: Vec<f64> = original.flatten_all().unwrap().to_vec1().unwrap();
        let h = 1e-6;
        let loss_at = |delta: f64| -> f64 {
            let mut p = flat.clone();
            p[idx] += delta;
            v.set(&Tensor::from_vec(p, original.shape(), &dev).unwrap())
                .unwrap();
            loss_of(&model, &batch, &labels).to_scalar::<f64>().unwrap()
        };
        let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
        v.set(&original).unwrap();
        let analytic = g[idx];
        assert!(
            analytic.abs() > 1e-5,
            "{name}[{idx}]: gradient {analytic} too small to check"
        );
        let rel = (analytic - numeric).abs() / analytic.abs().max(numeric.abs());
        assert!(
            rel < 1e-4,
            "{name}[{idx}]: backprop {analytic} vs finite difference {numeric} (rel {rel})"
        );
    }
}

#[test]
fn pruned_shapes_run_and_stay_padding_invariant() {
    let mut config = tiny_config(3);
    config.layer_num_heads = Some(vec![2, 3]);
    config.layer_intermediate_sizes = Some(vec![20, 11]);
    let weights = random_weights(&config, 13).unwrap();
    assert_eq!(
        weights["bert.encoder.layer.0.attention.self.query.weight"].dims(),
        &[16, 32]
    );
    assert_eq!(
        weights["bert.encoder.layer.1.attention.output.dense.weight"].dims(),
        &[32, 24]
    );
    assert_eq!(
        weights["bert.encoder.layer.1.output.dense.weight"].dims(),
        &[32, 11]
    );
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let logits = model
        .forward(&batch_of(&[LONG, SHORT], 12), Mode::Eval)
        .unwrap();
    assert_eq!(logits.dims(), &[2, 3]);
    let alone = model
        .forward(&batch_of(&[SHORT], SHORT.len()), Mode::Eval)
        .unwrap();
    assert!(max_abs_diff(&alone.get(0).unwrap(), &logits.get(1).unwrap()) < 1e-5);
    // Unpruned weights do not fit a pruned config.
    let (_, full) = tiny_random_bert(13, 3);
    assert!(TrainableBert::from_weights(&config, &full, &Device::Cpu).is_err());
}

#[test]
fn weights_round_trip_and_are_detached_copies() {
    let (config, weights) = tiny_random_bert(21, 2);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let out = model.weights().unwrap();
    assert_eq!(out.len(), weights.len());
    for (name, t) in &weights {
        assert_eq!(max_abs_diff(t, &out[name]), 0.0, "{name}");
    }
    // Updating a var changes neither the input weights nor an earlier snapshot.
    let (name, var) = &model.named_vars()[0];
    var.set(&var.as_tensor().ones_like().unwrap()).unwrap();
    assert!(max_abs_diff(&weights[name], &out[name]) == 0.0);
    assert!(max_abs_diff(&model.weights().unwrap()[name], &out[name]) > 0.0);
    model.set_weights(&weights).unwrap();
    assert_eq!(
        max_abs_diff(&model.weights().unwrap()[name], &weights[name]),
        0.0
    );
}

#[test]
fn out_of_range_ids_are_errors() {
    let (config, weights) = tiny_random_bert(1, 2);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let err = model
        .forward(&batch_of(&[&[1, 100, 2]], 3), Mode::Eval)
        .unwrap_err();
    assert!(err.to_string().contains("input_ids holds 100"), "{err}");
}

#[test]
fn inference_model_matches_trainable_model() {
    let (config, weights) = tiny_random_bert(17, 3);
    let batch = batch_of(&[LONG, SHORT], 9);
    let trainable = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let plain =
        crate::model::BertClassifier::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let a = trainable.forward(&batch, Mode::Eval).unwrap();
    let b = plain.forward(&batch, Mode::Eval).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    // Per-step training modes are reproducible and differ between steps.
    assert_eq!(Mode::train_step(1, 5), Mode::train_step(1, 5));
    assert_ne!(Mode::train_step(1, 5), Mode::train_step(1, 6));
    assert_ne!(Mode::train_step(1, 5), Mode::train_step(2, 5));
}
