//! Unit tests of the pure parts: groups, schedule, losses, batching, optimiser stand-in.
//! Phase-level tests of the trainer are in `trainer.rs`.

mod trainer;

use candle_core::{Device, Tensor, Var};

use super::batching::{batches_per_epoch, epoch_batches, pad_batch, EncodedText, CHUNK_BATCHES};
use super::groups::{build_groups, lr_scale};
use super::loss::{
    distillation_loss, labels_tensor, weighted_cross_entropy, weights_tensor, Reduction,
};
use super::optimizer::{clip_grad_norm, AdamW, ParamGroup};
use super::schedule::{linear_warmup_decay, plateau_update, warmup_steps, Plateau};
use super::trainer::reweight_misclassified;
use crate::analysis::plan::LrBand;
use crate::model::{tiny_random_bert, TrainableBert};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn groups_decay_lr_per_layer_and_skip_decay_on_bias_and_norm() {
    let (config, weights) = tiny_random_bert(1, 3);
    let model = TrainableBert::from_weights(&config, &weights, &Device::Cpu).unwrap();
    let vars = model.named_vars();
    let groups = build_groups(&vars, 2, 1e-3, 0.9, 0.01);
    let names: Vec<&str> = groups.iter().map(|g| g.group.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "head/decay",
            "head/no_decay",
            "layer.1/decay",
            "layer.1/no_decay",
            "layer.0/decay",
            "layer.0/no_decay",
            "embeddings/decay",
            "embeddings/no_decay"
        ]
    );
    let find = |param: &str| {
        groups
            .iter()
            .find(|g| g.group.vars.iter().any(|(n, _)| n == param))
            .unwrap_or_else(|| panic!("{param} in no group"))
    };
    let cases: [(&str, f64, f64); 8] = [
        ("classifier.weight", 1e-3, 0.01),
        ("bert.pooler.dense.bias", 1e-3, 0.0),
        ("bert.encoder.layer.1.intermediate.dense.weight", 9e-4, 0.01),
        ("bert.encoder.layer.1.output.LayerNorm.weight", 9e-4, 0.0),
        (
            "bert.encoder.layer.0.attention.self.query.weight",
            8.1e-4,
            0.01,
        ),
        (
            "bert.encoder.layer.0.attention.self.query.bias",
            8.1e-4,
            0.0,
        ),
        ("bert.embeddings.word_embeddings.weight", 8.1e-4, 0.01),
        ("bert.embeddings.LayerNorm.bias", 8.1e-4, 0.0),
    ];
    for (param, lr, wd) in cases {
        let g = find(param);
        assert!(close(g.group.lr, lr, 1e-12), "{param}: lr {}", g.group.lr);
        assert_eq!(g.group.weight_decay, wd, "{param}");
    }
    assert!(close(
        lr_scale("bert.encoder.layer.0.output.dense.bias", 2, 0.9),
        0.81,
        1e-12
    ));
    let total: usize = groups.iter().map(|g| g.group.vars.len()).sum();
    assert_eq!(total, vars.len(), "every parameter in exactly one group");
}

#[test]
fn warmup_then_linear_decay_matches_hugging_face() {
    assert_eq!(warmup_steps(100, 0.1), 10);
    assert_eq!(warmup_steps(9, 0.1), 0);
    let at = |s: usize| linear_warmup_decay(s, 100, 10);
    assert_eq!(at(0), 0.0);
    assert_eq!(at(5), 0.5);
    assert_eq!(at(10), 1.0);
    assert_eq!(at(55), 0.5);
    assert!(close(at(99), 1.0 / 90.0, 1e-12));
    assert_eq!(at(100), 0.0);
    assert_eq!(at(150), 0.0);
    // Without warm-up the first step runs at the peak.
    assert_eq!(linear_warmup_decay(0, 9, 0), 1.0);
}

#[test]
fn plateau_halves_within_the_band_and_resets_on_improvement() {
    let band = LrBand {
        low: 1e-5,
        high: 1e-4,
    };
    let s = Plateau {
        lr: 4e-5,
        bad_epochs: 0,
    };
    let (s, c) = plateau_update(s, false, band, 0.5, 1);
    assert_eq!(c, Some((4e-5, 2e-5)));
    let (s, c) = plateau_update(s, true, band, 0.5, 1);
    assert_eq!((s.lr, s.bad_epochs, c), (2e-5, 0, None));
    let (s, c) = plateau_update(s, false, band, 0.5, 1);
    assert_eq!(c, Some((2e-5, 1e-5)));
    let (s, c) = plateau_update(s, false, band, 0.5, 1);
    assert_eq!((s.lr, c), (1e-5, None), "never below the band's low end");
    // Patience 2: the first bad epoch only counts.
    let (s2, c) = plateau_update(
        Plateau {
            lr: 8e-5,
            bad_epochs: 0,
        },
        false,
        band,
        0.5,
        2,
    );
    assert_eq!((s2.bad_epochs, c), (1, None));
    let (_, c) = plateau_update(s2, false, band, 0.5, 2);
    assert_eq!(c, Some((8e-5, 4e-5)));
}

fn ce_by_hand(row: &[f64], label: usize) -> f64 {
    let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
    lse - row[label]
}

#[test]
fn weighted_cross_entropy_equals_hand_computation() {
    let dev = Device::Cpu;
    let rows = [[1.0, 2.0, 0.5], [0.0, 0.0, 3.0], [-1.0, 0.5, 0.25]];
    let labels = [1usize, 0, 2];
    let w = [2.0f32, 0.5, 1.25];
    let logits = Tensor::new(&rows, &dev).unwrap();
    let lt = labels_tensor(&labels, &dev).unwrap();
    let wt = weights_tensor(&w, candle_core::DType::F64, &dev).unwrap();
    let weighted: f64 = (0..3)
        .map(|i| f64::from(w[i]) * ce_by_hand(&rows[i], labels[i]))
        .sum();
    let count = weighted_cross_entropy(&logits, &lt, &wt, Reduction::Count)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let wsum = weighted_cross_entropy(&logits, &lt, &wt, Reduction::WeightSum)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!(close(count, weighted / 3.0, 1e-12), "{count}");
    assert!(close(wsum, weighted / 3.75, 1e-12), "{wsum}");
}

#[test]
fn distillation_reduces_to_ce_and_to_kl() {
    let dev = Device::Cpu;
    let s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]];
    let t = [[0.5, 0.5, 2.0], [2.0, 1.0, 0.0]];
    let labels = [1usize, 2];
    let student = Tensor::new(&s, &dev).unwrap();
    let teacher = Tensor::new(&t, &dev).unwrap();
    let lt = labels_tensor(&labels, &dev).unwrap();
    let value = |alpha: f64, temp: f64| {
        distillation_loss(&student, &teacher, &lt, alpha, temp)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let ce = (ce_by_hand(&s[0], 1) + ce_by_hand(&s[1], 2)) / 2.0;
    let softmax = |r: &[f64], temp: f64| {
        let e: Vec<f64> = r.iter().map(|v| (v / temp).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|v| v / z).collect::<Vec<f64>>()
    };
    let kl = |temp: f64| {
        (0..2)
            .map(|i| {
                let p = softmax(&t[i], temp);
                let q = softmax(&s[i], temp);
                p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum::<f64>()
            })
            .sum::<f64>()
            / 2.0
    };
    assert!(close(value(0.0, 3.0), ce, 1e-12));
    assert!(close(value(1.0, 1.0), kl(1.0), 1e-12));
    assert!(close(
        value(0.5, 2.0),
        0.5 * 4.0 * kl(2.0) + 0.5 * ce,
        1e-12
    ));
}

fn lengths(n: usize) -> Vec<usize> {
    (0..n).map(|i| 3 + (i * 37 + i / 7) % 40).collect()
}

#[test]
fn bucketing_is_deterministic_complete_and_groups_lengths() {
    let n = 1030;
    let lens = lengths(n);
    let weights: Vec<f64> = (0..n).map(|i| 1.0 + (i % 5) as f64).collect();
    let a = epoch_batches(&lens, &weights, 4, 42, 0);
    assert_eq!(
        a,
        epoch_batches(&lens, &weights, 4, 42, 0),
        "same seed and epoch"
    );
    assert_ne!(a, epoch_batches(&lens, &weights, 4, 42, 1), "another epoch");
    assert_ne!(a, epoch_batches(&lens, &weights, 4, 43, 0), "another seed");
    assert_eq!(a.len(), batches_per_epoch(n, 4));
    assert_eq!(batches_per_epoch(n, 4), 5 * CHUNK_BATCHES + 8);
    let mut seen = vec![0usize; n];
    for b in &a {
        assert!(!b.indices.is_empty() && b.indices.len() <= 4);
        for (&i, &w) in b.indices.iter().zip(&b.weights) {
            seen[i] += 1;
            assert_eq!(f64::from(w), weights[i], "weight travels with its sample");
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "every sample exactly once");
    // Sorted chunks of 200 samples over 40 lengths: a batch spans about one length.
    let spread: f64 = a
        .iter()
        .map(|b| {
            let l: Vec<usize> = b.indices.iter().map(|&i| lens[i]).collect();
            (l.iter().max().unwrap() - l.iter().min().unwrap()) as f64
        })
        .sum::<f64>()
        / a.len() as f64;
    assert!(spread < 1.5, "mean length spread per batch {spread}");
    // The batch order is shuffled: lengths are not monotone along the epoch.
    let firsts: Vec<usize> = a.iter().map(|b| lens[b.indices[0]]).collect();
    assert!(firsts.windows(2).any(|w| w[0] < w[1]) && firsts.windows(2).any(|w| w[0] > w[1]));
}

#[test]
fn pad_batch_pads_to_longest_with_mask() {
    let texts = vec![
        EncodedText {
            ids: vec![2, 7, 3],
            type_ids: vec![0, 0, 0],
        },
        EncodedText {
            ids: vec![2, 8, 9, 10, 3],
            type_ids: vec![0; 5],
        },
    ];
    let b = pad_batch(&texts, &[0, 1], 0);
    assert_eq!((b.batch, b.seq_len), (2, 5));
    assert_eq!(b.input_ids, [2, 7, 3, 0, 0, 2, 8, 9, 10, 3]);
    assert_eq!(b.attention_mask, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    assert_eq!(b.token_type_ids, [0; 10]);
}

#[test]
fn reweighting_multiplies_wrong_samples_and_caps_at_five() {
    let mut w = vec![1.0, 2.0, 4.0, 1.5];
    let raised = reweight_misclassified(&mut w, &[true, false, true, false], 2.0);
    assert_eq!(w, [2.0, 2.0, 5.0, 1.5]);
    assert_eq!(raised, 2);
    let raised = reweight_misclassified(&mut w, &[false, false, true, false], 2.0);
    assert_eq!((raised, w[2]), (0, 5.0), "a capped weight does not rise");
}

#[test]
fn adamw_step_and_clipping_match_hand_values() {
    let dev = Device::Cpu;
    let p = Var::from_tensor(&Tensor::new(&[1.0f64, -2.0], &dev).unwrap()).unwrap();
    let q = Var::from_tensor(&Tensor::new(&[0.5f64], &dev).unwrap()).unwrap();
    // loss = 3 p0 + 4 p1 + 0 q: gradient (3, 4), norm 5.
    let c = Tensor::new(&[3.0f64, 4.0], &dev).unwrap();
    let loss = ((p.as_tensor() * &c).unwrap().sum_all().unwrap()
        + (q.as_tensor() * 0.0).unwrap().sum_all().unwrap())
    .unwrap();
    let mut grads = loss.backward().unwrap();
    let vars = vec![("p".to_string(), p.clone()), ("q".to_string(), q.clone())];
    let norm = clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
    assert!(close(norm, 5.0, 1e-12));
    let g: Vec<f64> = grads.get(p.as_tensor()).unwrap().to_vec1().unwrap();
    assert!(close(g[0], 3.0 / (5.0 + 1e-6), 1e-12) && close(g[1], 4.0 / (5.0 + 1e-6), 1e-12));

    let groups = vec![
        ParamGroup {
            name: "p".into(),
            vars: vec![vars[0].clone()],
            lr: 0.1,
            weight_decay: 0.01,
        },
        ParamGroup {
            name: "q".into(),
            vars: vec![vars[1].clone()],
            lr: 0.1,
            weight_decay: 0.0,
        },
    ];
    let mut opt = AdamW::new(groups, 0.9, 0.999, 1e-8).unwrap();
    opt.step(&grads).unwrap();
    // First step: m_hat = g, v_hat = g^2, update = g / (|g| + eps) = sign(g) (nearly).
    let pv: Vec<f64> = p.as_tensor().to_vec1().unwrap();
    let expect0 = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 * g[0] / (g[0] + 1e-8);
    let expect1 = -2.0 * (1.0 - 0.1 * 0.01) - 0.1 * g[1] / (g[1] + 1e-8);
    assert!(
        close(pv[0], expect0, 1e-9) && close(pv[1], expect1, 1e-9),
        "{pv:?}"
    );
    let qv: Vec<f64> = q.as_tensor().to_vec1().unwrap();
    assert_eq!(qv, [0.5], "zero gradient and no decay leave q");
    let state = opt.state().unwrap();
    assert_eq!(state.step, 1);
    assert_eq!(state.tensors.len(), 4);
    opt.set_lr(1, 0.25);
    assert_eq!((opt.lr(0), opt.lr(1)), (0.1, 0.25));
    let mut other = AdamW::new(
        vec![ParamGroup {
            name: "all".into(),
            vars: vars.clone(),
            lr: 0.1,
            weight_decay: 0.0,
        }],
        0.9,
        0.999,
        1e-8,
    )
    .unwrap();
    other.load_state(&state).unwrap();
    assert_eq!(other.state().unwrap().step, 1);
}
