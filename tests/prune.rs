//! `exp prune` on a tiny trained experiment: steps are events, matrices shrink, the pruned ONNX
//! runs in ONNX Runtime like the candle model, a killed run resumes without redoing steps.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::tiny::{small_fpb, tiny_encoder_dir};
use common::*;

/// One trained tiny experiment `t`, shared by the tests (each prunes a copy of its database).
fn trained() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let db = dir.join("exp.db");
        let model = tiny_encoder_dir(&dir, 3);
        let data = small_fpb(&dir, 300);
        new_experiment(&db, "t", &model, &data);
        let out = exp(&db, &["train", "t", "--quiet", "--stages", "train"]);
        assert!(out.status.success(), "{}", stderr(&out));
        dir
    })
}

/// A copy of the trained experiment's directory (database and artifacts, which its events name
/// relative to it) in a fresh directory.
fn copy_of_trained() -> (tempfile::TempDir, PathBuf) {
    let source = trained();
    let dir = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let from = source.join(format!("exp.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, dir.path().join(format!("exp.db{suffix}"))).unwrap();
        }
    }
    copy_dir(&source.join("artifacts"), &dir.path().join("artifacts"));
    let db = dir.path().join("exp.db");
    (dir, db)
}

fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn prune_needs_a_trained_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("exp.db");
    let model = tiny_encoder_dir(dir.path(), 3);
    let data = small_fpb(dir.path(), 60);
    new_experiment(&db, "u", &model, &data);
    let before = event_count(&db);
    let out = exp(&db, &["prune", "u"]);
    assert_fails_with(&out, &["'u' has no fine-tuned model yet", "exp train u"]);
    assert_eq!(event_count(&db), before);
    let out = exp(&db, &["prune", "u", "--method", "lottery"]);
    assert_fails_with(&out, &["unknown pruning method 'lottery'"]);
}

#[test]
fn structured_steps_shrink_the_model_and_its_onnx_runs_in_ort() {
    let (_dir, db) = copy_of_trained();
    let out = exp(
        &db,
        &[
            "prune",
            "t",
            "--json",
            "--steps",
            "20,45",
            "--tolerance",
            "100",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = payloads(&db, "t", "PruningStep");
    assert_eq!(steps.len(), 2);
    assert_eq!(printed["steps"].as_array().unwrap().len(), 2);
    // Every recovery epoch is an EpochCompleted of its step (2 epochs a step by default).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let recovery: Vec<(i64, i64)> = conn
        .prepare(
            "select pruning_step, epoch from v_epochs
             where experiment = 't' and phase = 'RECOVERY' and not superseded order by seq",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(recovery, [(1, 1), (1, 2), (2, 1), (2, 2)]);
    let phases_epochs: i64 = conn
        .query_row(
            "select count(*) from v_epochs where experiment = 't' and phase_index is not null",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let recorded: i64 = conn
        .query_row(
            "select sum(epochs_recorded) from v_phases where experiment = 't'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        phases_epochs, recorded,
        "recovery epochs are not the phases'"
    );
    let reference = &steps[0]["reference_shape"];
    let ref_heads = usizes(&reference["heads"]);
    let ref_neurons = usizes(&reference["ffn_neurons"]);
    // The tiny model: 2 layers of 4 heads (head_dim 8, hidden 32) and 37 FFN neurons.
    assert_eq!((ref_heads, ref_neurons), (vec![4, 4], vec![37, 37]));
    let ref_encoder = reference["encoder_parameters"].as_u64().unwrap() as f64;
    let mut previous = ref_encoder;
    for (s, target) in steps.iter().zip([0.20, 0.45]) {
        assert_eq!(s["importance"], "gradient");
        assert_eq!(s["kept"], true);
        assert_eq!(s["temperature"], 3.0);
        assert_eq!(s["alpha"], 0.7);
        let heads = usizes(&s["shape"]["heads"]);
        let neurons = usizes(&s["shape"]["ffn_neurons"]);
        assert!(heads.iter().all(|&h| h >= 1) && neurons.iter().all(|&n| n >= 1));
        let encoder = s["shape"]["encoder_parameters"].as_u64().unwrap() as f64;
        // At least the target fraction is gone, and not more than one head's worth beyond it.
        assert!(
            encoder <= (1.0 - target) * ref_encoder,
            "{encoder} vs {ref_encoder}"
        );
        assert!(encoder > (1.0 - target) * ref_encoder - 1048.0 - 65.0);
        let removed_heads: usize = usizes(&s["heads_removed"]).iter().sum();
        let removed_neurons: usize = usizes(&s["neurons_removed"]).iter().sum();
        assert!(removed_heads + removed_neurons > 0);
        assert_eq!(
            previous - encoder,
            (removed_heads * 1048 + removed_neurons * 65) as f64
        );
        previous = encoder;
        let batches: Vec<u64> = s["latency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["batch_size"].as_u64().unwrap())
            .collect();
        assert_eq!(batches, vec![1, 8]);
        let acc = s["validation"]["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
    let done = payloads(&db, "t", "PruningCompleted");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["kept_step"], 2);
    assert_eq!(done[0]["method"], "structured");
    assert!(done[0]["sparsity"].is_null());
    assert_eq!(done[0]["weights"], steps[1]["weights"]);

    // The kept step's files: candle (safetensors + config) and ONNX Runtime agree.
    let weights_path = on_disk(&db, steps[1]["weights"]["path"].as_str().unwrap());
    let step_dir = weights_path.parent().unwrap();
    let config = exp::model::hf_dir::read_config(&step_dir.join("config.json")).unwrap();
    assert_eq!(
        config.layer_num_heads.clone().unwrap(),
        usizes(&steps[1]["shape"]["heads"])
    );
    let weights: exp::model::Weights =
        candle_core::safetensors::load(&weights_path, &candle_core::Device::Cpu)
            .unwrap()
            .into_iter()
            .collect();
    let model =
        exp::model::BertClassifier::from_weights(&config, &weights, &candle_core::Device::Cpu)
            .unwrap();
    let l6 = exp::assets::ensure(exp::assets::Asset::MiniLmL6).unwrap();
    let tokenizer = exp::model::BertTokenizer::from_file(&l6.join("tokenizer.json")).unwrap();
    let batch = tokenizer
        .encode_batch(&[
            "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn.",
            "The company cut 40 jobs.",
        ])
        .unwrap();
    let candle: Vec<f32> = model
        .forward(&batch, exp::model::Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut session = exp::runtime::OnnxSession::open(
        &step_dir.join("model.onnx"),
        &exp::runtime::SessionOptions::default(),
    )
    .unwrap();
    let (rows, classes, ort) = session.logits(&batch).unwrap();
    assert_eq!((rows, classes), (2, 3));
    let diff = ort
        .iter()
        .zip(&candle)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "ORT {ort:?} vs candle {candle:?}");

    // Done is done: another run records nothing; the chain verifies.
    let before = event_count(&db);
    let out = exp(&db, &["prune", "t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("kept step 2"), "{}", stdout(&out));
    assert_eq!(event_count(&db), before);
    assert!(exp(&db, &["verify", "t"]).status.success());
}

#[test]
fn a_step_beyond_the_tolerance_is_not_kept_and_ends_the_schedule() {
    let (_dir, db) = copy_of_trained();
    // A step must gain 100 points to be kept: none can.
    let out = exp(
        &db,
        &[
            "prune",
            "t",
            "--quiet",
            "--importance",
            "magnitude",
            "--steps",
            "10,20,30",
            "--tolerance=-100",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let steps = payloads(&db, "t", "PruningStep");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["kept"], false);
    assert_eq!(steps[0]["importance"], "magnitude");
    let done = payloads(&db, "t", "PruningCompleted");
    assert!(done[0]["kept_step"].is_null());
    let training = payloads(&db, "t", "TrainingCompleted");
    assert_eq!(done[0]["weights"], training[0]["weights"]);
    assert_eq!(done[0]["shape"], steps[0]["reference_shape"]);
    assert_eq!(
        done[0]["validation"]["accuracy"],
        training[0]["validation"]["accuracy"]
    );
}

#[test]
fn magnitude_pruning_reports_sparsity_and_keeps_shapes() {
    let (_dir, db) = copy_of_trained();
    let out = exp(
        &db,
        &[
            "prune",
            "t",
            "--method",
            "magnitude",
            "--steps",
            "30",
            "--tolerance",
            "100",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("a dense runtime is not faster"),
        "{}",
        stdout(&out)
    );
    let steps = payloads(&db, "t", "PruningStep");
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["shape"], steps[0]["reference_shape"]);
    assert_eq!(usizes(&steps[0]["heads_removed"]), vec![0, 0]);
    let done = payloads(&db, "t", "PruningCompleted");
    assert_eq!(done[0]["method"], "magnitude");
    let sparsity = done[0]["sparsity"].as_f64().unwrap();
    // 30% of the encoder matrices' weights, still zero after recovery training.
    assert!((sparsity - 0.3).abs() < 1e-3, "{sparsity}");
}

#[test]
fn a_killed_prune_resumes_after_its_last_recorded_step() {
    let (_dir, db) = copy_of_trained();
    let args = [
        "prune",
        "t",
        "--quiet",
        "--steps",
        "10,20,30,40",
        "--tolerance",
        "100",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("--db")
        .arg(&db)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while payloads(&db, "t", "PruningStep").is_empty() {
        assert!(started.elapsed().as_secs() < 300, "no step recorded");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded = payloads(&db, "t", "PruningStep").len();
    eprintln!("killed after {recorded} recorded step(s)");
    let out = exp(&db, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let steps = payloads(&db, "t", "PruningStep");
    let numbers: Vec<u64> = steps.iter().map(|s| s["step"].as_u64().unwrap()).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    // Each step starts from the previous one's model: encoder parameters only go down.
    let sizes: Vec<u64> = steps
        .iter()
        .map(|s| s["shape"]["encoder_parameters"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[1] < w[0]), "{sizes:?}");
    assert_eq!(payloads(&db, "t", "PruningCompleted").len(), 1);
    assert!(exp(&db, &["verify", "t"]).status.success());
}

/// Loads the exported directory with Transformers (PyTorch) and runs its ONNX file in ONNX
/// Runtime on the same tokens; prints what Transformers reported about the loading.
const TRANSFORMERS_VS_ORT: &str = r#"
import json, sys
import numpy as np, torch, onnxruntime as ort
from transformers import AutoTokenizer, AutoModelForSequenceClassification
d, texts = sys.argv[1], json.load(open(sys.argv[2]))
tok = AutoTokenizer.from_pretrained(d)
model, info = AutoModelForSequenceClassification.from_pretrained(d, output_loading_info=True)
model.eval()
enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="np")
feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
with torch.no_grad():
    pt = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
sess = ort.InferenceSession(d + "/onnx/model.onnx")
onnx_inputs = {i.name for i in sess.get_inputs()}
ox = sess.run(None, {k: v for k, v in feeds.items() if k in onnx_inputs})[0]
print(json.dumps({
    "max_abs_diff": float(np.abs(pt - ox).max()),
    "rows": int(pt.shape[0]),
    "heads": model.config.num_attention_heads,
    "intermediate": model.config.intermediate_size,
    "labels": [model.config.id2label[i] for i in range(pt.shape[1])],
    "loading": {k: [str(x) for x in v] for k, v in info.items()},
}))
"#;

#[test]
fn the_pruned_export_loads_in_transformers_with_the_onnx_files_logits() {
    let (dir, db) = copy_of_trained();
    let out = exp(&db, &["prune", "t", "--steps", "45", "--tolerance", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = exp(&db, &["export", "t", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["export"]["source"], "pruned");
    let export = PathBuf::from(report["export"]["dir"].as_str().unwrap());

    // The safetensors are in the unpruned shapes; config.json keeps the pruned counts.
    let config = exp::model::hf_dir::read_config(&export.join("config.json")).unwrap();
    let heads = config.layer_num_heads.clone().unwrap();
    assert!(heads.iter().sum::<usize>() < 2 * config.num_attention_heads);
    let stored =
        candle_core::safetensors::load(export.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let key = &stored["bert.encoder.layer.0.attention.self.key.bias"];
    assert_eq!(key.dims(), [config.hidden_size]);
    let ffn = &stored["bert.encoder.layer.1.output.dense.weight"];
    assert_eq!(ffn.dims(), [config.hidden_size, config.intermediate_size]);
    // exp reads its own export back in the pruned shapes.
    let (back, weights, loaded) = exp::model::load_hf_dir(&export, &config.labels(), 0).unwrap();
    assert!(loaded.padding_removed);
    assert_eq!(back.layer_num_heads, Some(heads.clone()));
    assert_eq!(
        weights["bert.encoder.layer.0.attention.self.key.bias"].dims(),
        [heads[0] * config.head_dim()]
    );

    let Some((python, path)) = python_with_torch(&["transformers", "onnxruntime", "numpy"]) else {
        return;
    };
    let texts = [
        "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn in the corresponding period in 2007.",
        "The company cut 40 jobs.",
        "Net sales were flat.",
        "Finnish Talentum reports its operating profit fell sharply, to EUR 2.5 mn.",
    ];
    let texts_file = dir.path().join("texts.json");
    std::fs::write(&texts_file, serde_json::to_string(&texts).unwrap()).unwrap();
    let mut cmd = std::process::Command::new(&python);
    cmd.args(["-c", TRANSFORMERS_VS_ORT])
        .arg(&export)
        .arg(&texts_file);
    if let Some(p) = &path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (what, keys) in py["loading"].as_object().unwrap() {
        assert!(
            keys.as_array().unwrap().is_empty(),
            "Transformers' loading reported {what}: {keys}"
        );
    }
    assert_eq!(py["rows"], 4);
    assert_eq!(py["heads"], config.num_attention_heads);
    assert_eq!(py["intermediate"], config.intermediate_size);
    assert_eq!(py["labels"], serde_json::json!(config.labels()));
    let diff = py["max_abs_diff"].as_f64().unwrap();
    eprintln!(
        "Transformers vs ONNX Runtime on the pruned export: max |diff| {diff:e}, heads {heads:?}"
    );
    assert!(diff <= 1e-4, "Transformers vs ONNX Runtime logits: {diff}");
}
