//! A minimal model card, projected from the experiment's state. `exp report` writes the full one;
//! this function is the one place to replace.

use std::fmt::Write;

use crate::state::Experiment;

/// The card written as `model_card.md` into the exported directory.
pub fn model_card(state: &Experiment) -> String {
    let mut s = String::new();
    let model = state
        .created
        .as_ref()
        .map_or("unknown".to_string(), |c| c.model.spec.clone());
    let source = if state.pruning.is_some() {
        "pruned"
    } else {
        "fine-tuned"
    };
    let _ = writeln!(s, "# {} ({source} from {model})\n", state.name);
    let _ = writeln!(
        s,
        "BERT sequence classifier fine-tuned with `exp` (experiment `{}`). Files: `model.safetensors` \
         (Hugging Face names), `onnx/model.onnx` (fp32, opset 17, inputs `input_ids` and \
         `attention_mask`, output `logits`), `onnx/model.int8.onnx` (dynamic INT8), tokenizer files, \
         `labels.json`, `metadata.json` (sha256 of every file and the event the model came from).\n",
        state.name
    );
    if let Some(d) = &state.dataset {
        let _ = writeln!(s, "## Data\n");
        let _ = writeln!(
            s,
            "{} ({} samples after de-duplication); labels {} (ids in this order).\n",
            d.path,
            d.samples,
            d.labels.join(", ")
        );
    }
    let _ = writeln!(s, "## Validation\n");
    let _ = writeln!(s, "| model | accuracy | macro-F1 |\n|---|---|---|");
    if let Some(b) = &state.baseline {
        let _ = writeln!(
            s,
            "| baseline | {:.4} | {:.4} |",
            b.validation.accuracy, b.validation.macro_f1
        );
    }
    if let Some(t) = &state.training {
        let _ = writeln!(
            s,
            "| fine-tuned | {:.4} | {:.4} |",
            t.validation.accuracy, t.validation.macro_f1
        );
    }
    if let Some(p) = &state.pruning {
        let _ = writeln!(
            s,
            "| pruned ({}) | {:.4} | {:.4} |",
            p.method, p.validation.accuracy, p.validation.macro_f1
        );
    }
    if let Some(t) = &state.test {
        let _ = writeln!(s, "\n## Sealed test split\n");
        for r in [&t.baseline, &t.candidate] {
            let _ = writeln!(
                s,
                "- {}: accuracy {:.4} (95% CI {:.4}..{:.4}), macro-F1 {:.4}, {} samples",
                r.model,
                r.accuracy,
                r.accuracy_ci95.0,
                r.accuracy_ci95.1,
                r.metrics.macro_f1,
                r.samples
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Limitations\n\nTrained on financial news sentences (English); not evaluated outside that domain."
    );
    s
}
