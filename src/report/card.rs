//! `model_card.md`: intended use, data and licence, split and the sealed test, baseline, analysis
//! findings, plan, phases, augmentation, compression, every metric with its split, limitations
//! and file hashes, all taken from the event log (file hashes re-checked on disk).

use std::fmt::Write;
use std::io::Read;

use sha2::{Digest, Sha256};

use crate::events::Metrics;

use super::project::Projection;

/// A learning rate as people write it: 3.0e-4, not 3.0000000000000003e-4.
fn lr(v: f64) -> String {
    format!("{v:.1e}")
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn metric_row(out: &mut String, model: &str, split: &str, m: &Metrics, note: &str) {
    let _ = writeln!(
        out,
        "| {model} | {split} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {note} |",
        m.sample_count, m.accuracy, m.macro_f1, m.weighted_f1, m.avg_confidence
    );
}

/// The FinancialPhraseBank licence, or a reminder that the licence is not recorded.
fn licence(path: &str, format: &str) -> String {
    if path.contains("FinancialPhraseBank") || path.contains("Sentences_") {
        "FinancialPhraseBank (Malo, Sinha, Korhonen, Wallenius, Takala: \"Good debt or bad debt: \
         Detecting semantic orientations in economic texts\", JASIST 2014), licensed CC BY-NC-SA 3.0: \
         non-commercial use, attribution, share-alike. A model trained on it inherits these terms."
            .to_string()
    } else if format == "fpb" {
        format!(
            "The licence of `{path}` is not recorded in the log. It is in the FinancialPhraseBank format: if it is \
             (derived from) the FinancialPhraseBank (Malo et al., 2014), CC BY-NC-SA 3.0 applies (non-commercial use)."
        )
    } else {
        format!(
            "The licence of `{path}` is not recorded in the log; check it before using this model."
        )
    }
}

fn sha256_file(path: &std::path::Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

fn header(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "# Model card: {}\n", p.experiment);
    let model = s
        .created
        .as_ref()
        .map(|c| c.model.spec.clone())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Projected from the event log of experiment `{}` through event seq {} (status: {}). Every number below names the split it was measured on.\n",
        p.experiment,
        p.through_seq,
        s.status()
    );
    let _ = writeln!(out, "## Intended use\n");
    let labels = s
        .dataset
        .as_ref()
        .map(|d| d.labels.join(", "))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Sentence-level sentiment classification of English financial news text into {{{labels}}}, fine-tuned from `{model}`. \
         Intended for research and for ranking or triaging financial headlines where an error is cheap; not for automated \
         trading or investment decisions, and not for text outside financial news (social media, other languages, long documents).\n"
    );
}

fn data(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Data and licence\n");
    match &s.dataset {
        Some(d) => {
            let counts: Vec<String> = d
                .label_counts
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "- file `{}` (sha256 `{}`, {}, {} format)\n- {} rows read, {} samples kept after collapsing {} exact duplicates and excluding {} texts with conflicting labels\n- labels (class ids in this order): {}; counts: {}\n\n{}\n",
                d.path, d.sha256, d.encoding, d.format, d.rows_read, d.samples, d.duplicates,
                d.conflicts.len(), d.labels.join(", "), counts.join(", "), licence(&d.path, d.read.format.as_str())
            );
        }
        None => out.push_str("No dataset recorded yet.\n\n"),
    }
    let _ = writeln!(out, "## Split and the sealed test\n");
    match &s.split {
        Some(sp) => {
            let _ = writeln!(
                out,
                "Stratified by label, seed {}, {}/{}/{}: train {}, validation {}, test {} samples (split digest `{}`). \
                 The test split is sealed: it was read only for the final evaluation of each model (TestEvaluated), never \
                 for analysis, sample selection, early stopping, pruning decisions or calibration.\n",
                sp.seed, sp.percentages[0], sp.percentages[1], sp.percentages[2],
                sp.counts.train, sp.counts.validation, sp.counts.test, sp.digest
            );
        }
        None => out.push_str("No split recorded yet.\n\n"),
    }
}

fn baseline_analysis_plan(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Baseline\n");
    match &s.baseline {
        Some(b) => {
            let lat: Vec<String> = b
                .latency
                .iter()
                .map(|l| {
                    format!(
                        "batch {}: {:.2} ms mean, {:.2} ms p95",
                        l.batch_size, l.mean_ms, l.p95_ms
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "Origin `{}` (`model`: the given classifier as it is; `fitted`: a plain fine-tune of the encoder). \
                 Validation accuracy {}, macro-F1 {:.4}, mean confidence {:.4}; ONNX file {:.1} MB; ONNX Runtime latency {}.\n",
                b.origin,
                pct(b.validation.accuracy),
                b.validation.macro_f1,
                b.validation.avg_confidence,
                b.onnx.bytes as f64 / 1e6,
                lat.join("; ")
            );
        }
        None => out.push_str("No baseline captured yet.\n\n"),
    }
    let _ = writeln!(out, "## Analysis findings\n");
    match &s.analysis {
        Some((_, a)) => {
            let sm = &a.summary;
            let _ = writeln!(
                out,
                "Source: {} (`{}`), on the validation split ({} samples). Accuracy {}, error rate {}, mean confidence {:.4}; \
                 {} misclassified, {} low-confidence (max probability < 0.6). Problematic classes: {}. \
                 Recommended learning-rate band: {}; pruning: {}. Problematic keywords (TF-IDF, errors vs correct): {}. {}\n",
                a.source, a.path, sm.samples, pct(sm.accuracy), pct(sm.error_rate), sm.avg_confidence,
                sm.misclassified, sm.low_confidence, sm.problematic_classes.join(", "),
                sm.learning_rate, sm.pruning,
                if sm.problematic_keywords.is_empty() { "none".to_string() } else { sm.problematic_keywords.join(", ") },
                a.sample_sets_note
            );
            if let Some(noise) = a
                .train_priorities
                .as_ref()
                .and_then(|t| t.likely_label_noise.as_ref())
            {
                let _ = writeln!(
                    out,
                    "Likely label noise: {} training samples are {}; they are not prioritised and weigh x{} in WEIGHTED.\n",
                    noise.ids.len(),
                    noise.rule,
                    noise.weight
                );
            }
        }
        None => out.push_str("No analysis recorded yet.\n\n"),
    }
    let _ = writeln!(out, "## Plan\n");
    match &s.plan {
        Some(pl) => {
            let plan = &pl.plan;
            let phases: Vec<String> = plan
                .phases
                .iter()
                .map(|ph| {
                    format!(
                        "{} (lr {}, up to {} epochs, {})",
                        ph.kind.name(),
                        lr(ph.learning_rate),
                        ph.epochs,
                        if ph.weighted {
                            "weighted"
                        } else {
                            "unweighted"
                        }
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "Health **{}** (baseline accuracy {:.4}, error rate {:.4}, confidence {:.4}). Up to {} epochs per phase, batch size {}, \
                 weight multiplier {}, learning-rate band {}..{}, target classes {}, {} priority training samples ({:.1}% of the training split). \
                 Phases: {}. Pruning plan: {:?} ({}-{}%).\n",
                plan.health.name(), plan.inputs.accuracy, plan.inputs.error_rate, plan.inputs.avg_confidence,
                plan.epochs, plan.batch_size, plan.weight_multiplier, lr(plan.lr_band.low), lr(plan.lr_band.high),
                plan.target_classes.join(", "), plan.inputs.priority_count, plan.priority_fraction * 100.0,
                phases.join(" -> "), plan.pruning.level, plan.pruning.min_percent, plan.pruning.max_percent
            );
        }
        None => out.push_str("No plan derived yet.\n\n"),
    }
}

fn phases(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Phases\n");
    if s.epochs.is_empty() {
        out.push_str("No epochs recorded yet.\n\n");
        return;
    }
    out.push_str("| phase | epoch | train loss | validation accuracy | validation macro-F1 | peak lr | note |\n|---|---|---|---|---|---|---|\n");
    for e in &s.epochs {
        let r = &e.report;
        let mut notes: Vec<String> = Vec::new();
        if r.improved {
            notes.push("best so far".into());
        }
        if let Some((a, b)) = r.lr_reduced {
            notes.push(format!("lr {} -> {}", lr(a), lr(b)));
        }
        let _ = writeln!(
            out,
            "| {} {} | {} | {:.4} | {:.4} | {:.4} | {} | {} |",
            e.index + 1,
            r.phase.name(),
            r.epoch + 1,
            r.train_loss,
            r.validation.accuracy,
            r.validation.macro_f1,
            lr(r.peak_lr),
            notes.join("; ")
        );
    }
    out.push('\n');
    for c in &s.phases_completed {
        let _ = writeln!(
            out,
            "- phase {} {}: {} epochs run, best epoch {} (validation macro-F1 {}){}",
            c.index + 1,
            c.phase,
            c.epochs_run,
            c.best_epoch
                .map(|b| (b + 1).to_string())
                .unwrap_or_else(|| "-".into()),
            c.best_macro_f1
                .map(|f| format!("{f:.4}"))
                .unwrap_or_else(|| "-".into()),
            if c.early_stopped {
                ", stopped early"
            } else {
                ""
            }
        );
    }
    out.push('\n');
}

fn augmentation(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Augmentation\n");
    match &s.augmentation {
        Some(a) => {
            let counts: Vec<String> = a.result.counts.iter().map(|(m, n)| format!("{m:?} {n}")).collect();
            let _ = writeln!(
                out,
                "{} samples generated from {} priority training samples (training split only; each records its source id and method): {}; {} dropped as duplicates.",
                a.result.samples.len(), a.priority_samples, counts.join(", "), a.result.dropped_duplicates
            );
            for ex in a.result.examples.iter().take(6) {
                let _ = writeln!(out, "- {:?}: \"{}\" -> \"{}\" ({})", ex.method, ex.original, ex.augmented, ex.detail);
            }
            let _ = writeln!(out, "\nNot available: {}\n", a.result.back_translation);
        }
        None => out.push_str("No augmentation recorded (the plan had no FOCUS phase, or training has not reached it).\n\n"),
    }
    if let Some(pl) = &s.plan {
        for m in &pl.plan.augmentation {
            let _ = writeln!(
                out,
                "- {}: {} ({})",
                m.name,
                if m.available {
                    "available"
                } else {
                    "not available"
                },
                m.note
            );
        }
        out.push('\n');
    }
}

fn compression(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Compression\n");
    if s.pruning_steps.is_empty() && s.pruning.is_none() {
        out.push_str("No pruning recorded yet.\n\n");
    } else {
        out.push_str("| step | target fraction | parameters | encoder parameters | validation accuracy | reference accuracy | kept | latency b1 (ms) |\n|---|---|---|---|---|---|---|---|\n");
        for st in &s.pruning_steps {
            let b1 = st
                .latency
                .iter()
                .find(|l| l.batch_size == 1)
                .map(|l| format!("{:.2}", l.mean_ms))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} | {:.4} | {:.4} | {} | {} |",
                st.step,
                st.target_fraction,
                st.shape.parameters,
                st.shape.encoder_parameters,
                st.validation.accuracy,
                st.reference_accuracy,
                if st.kept { "yes" } else { "no" },
                b1
            );
        }
        if let Some(pc) = &s.pruning {
            let _ = writeln!(
                out,
                "\nMethod {}: {} steps run, kept step {}; {} of {} parameters remain.{}",
                pc.method, pc.steps_run,
                pc.kept_step.map(|k| k.to_string()).unwrap_or_else(|| "none (the fine-tuned model goes on)".into()),
                pc.shape.parameters, pc.reference_shape.parameters,
                pc.sparsity.map(|sp| format!(" Sparsity {:.2}% (zeros in dense matrices: no speed-up in a dense runtime).", sp * 100.0)).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    match &s.export {
        Some(e) => {
            let _ = writeln!(
                out,
                "Exported the {} model to `{}` (metadata sha256 `{}`).\n",
                e.source, e.dir, e.metadata_sha256
            );
            for v in &s.export_validations {
                let _ = writeln!(
                    out,
                    "- `{}` ({}, {:.1} MB): validation accuracy {:.4}{}",
                    v.file,
                    v.format,
                    v.size_bytes as f64 / 1e6,
                    v.validation.accuracy,
                    v.max_abs_diff
                        .map(|d| format!(", max |logit diff| vs candle {d:.2e}"))
                        .unwrap_or_default()
                );
            }
            out.push('\n');
        }
        None => out.push_str("No export (ONNX / INT8 model directory) recorded yet.\n\n"),
    }
}

fn metrics(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Metrics\n");
    out.push_str("| model | split | samples | accuracy | macro-F1 | weighted-F1 | mean confidence | note |\n|---|---|---|---|---|---|---|---|\n");
    if let Some(b) = &s.baseline {
        metric_row(out, "baseline", "validation", &b.validation, "");
    }
    if let Some(t) = &s.training {
        metric_row(
            out,
            "fine-tuned",
            "validation",
            &t.validation,
            &format!("ONNX vs candle max diff {:.2e}", t.onnx_max_abs_diff),
        );
    }
    if let Some(pc) = &s.pruning {
        metric_row(out, "pruned", "validation", &pc.validation, "");
    }
    for v in &s.export_validations {
        metric_row(out, &v.file, "validation", &v.validation, v.format.as_str());
    }
    for m in &p.models {
        metric_row(
            out,
            &m.model,
            "test (sealed)",
            &m.metrics,
            &format!("95% CI {:.4}..{:.4}", m.accuracy_ci95.0, m.accuracy_ci95.1),
        );
    }
    out.push('\n');
    for t in &s.tests {
        let _ = writeln!(
            out,
            "- sealed test, {} -> {}: fixed {}, broken {}, still wrong {}; McNemar exact p = {:.3e}",
            t.baseline.model, t.candidate.model, t.flips.fixed, t.flips.broken, t.flips.still_wrong, t.mcnemar_p
        );
    }
    if !p.benchmarks.is_empty() {
        let _ = writeln!(out, "- {} benchmark rows (validation split accuracy, ONNX Runtime latency) in `comparison.csv`.", p.benchmarks.len());
    }
    for t in &p.targets {
        if let (Some(pairing), Some(before), Some(after)) = (p.pairing(t), &t.result, &p.subject) {
            let _ = writeln!(
                out,
                "- --compare {}: {}",
                t.spec,
                pairing.describe(&before.label, &after.label)
            );
        }
        if let Some(note) = &t.note {
            let _ = writeln!(out, "- --compare {}: {note}", t.spec);
        }
    }
    out.push('\n');
}

fn limitations(p: &Projection, out: &mut String) {
    let s = &p.state;
    let _ = writeln!(out, "## Limitations\n");
    if let Some(t) = &s.test {
        let (lo, hi) = t.candidate.accuracy_ci95;
        let _ = writeln!(
            out,
            "- The sealed test split has {} samples: the fine-tuned model's accuracy is known only to within {:.1} points (95% Wilson interval).",
            t.candidate.samples,
            (hi - lo) * 100.0
        );
    }
    out.push_str(
        "- Labels come from annotator agreement thresholds; sentences with low agreement are inherently ambiguous, so part of the remaining error is label noise.\n\
         - English financial news only; three classes; sentence length up to the tokenizer's maximum used in training.\n\
         - Latency and throughput are wall-clock measurements on the machine that ran them; they are not reproducible elsewhere.\n\
         - Magnitude (unstructured) sparsity gives no speed-up in a dense runtime; only structured pruning shrinks the matrices.\n",
    );
    if s.export.is_none() {
        out.push_str(
            "- No exported model directory yet: this card describes the training run only.\n",
        );
    }
    out.push('\n');
}

fn hashes(p: &Projection, out: &mut String) {
    let _ = writeln!(out, "## File hashes\n");
    let files = p.state.artifact_files();
    if files.is_empty() {
        out.push_str("No artifact files recorded yet.\n");
        return;
    }
    out.push_str("| what | path | sha256 (recorded) | on disk |\n|---|---|---|---|\n");
    for (what, f) in files {
        let on_disk = match sha256_file(&p.resolve_path(&f.path)) {
            None => "missing",
            Some(h) if h == f.sha256 => "matches",
            Some(_) => "DIFFERS",
        };
        let _ = writeln!(
            out,
            "| {what} | `{}` | `{}` | {on_disk} |",
            p.display_path(&f.path),
            f.sha256
        );
    }
}

pub fn markdown(p: &Projection) -> String {
    let mut out = String::new();
    header(p, &mut out);
    data(p, &mut out);
    baseline_analysis_plan(p, &mut out);
    phases(p, &mut out);
    if let Some(budget) = super::budget::table(&p.state) {
        out.push_str(&budget.markdown());
    }
    augmentation(p, &mut out);
    compression(p, &mut out);
    metrics(p, &mut out);
    limitations(p, &mut out);
    hashes(p, &mut out);
    out
}
