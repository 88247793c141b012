//! `exp compare A B C ...`: experiments side by side. The settings that differ (shared ones
//! folded away), each member's sealed-test accuracy and macro-F1 with 95% intervals, the mean and
//! standard deviation over the members, McNemar's test between members that share a split (the
//! others labelled unpaired, never tested as if paired), benchmarks side by side, and every
//! member's learning curve on one plot. Written to `reports/compare-NAME/` and printed.

pub mod html;
pub mod interval;
mod members;
mod plot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::events::ArtifactFile;
use crate::store::Store;

use super::files::{write, write_json};
use super::pairing::{pair, Pairing};
use super::{io_err, out_dir, plots, reports_dir, ReportError};

pub use members::CurvePoint;
use members::{differing, Member};

#[derive(Clone, Debug, Default)]
pub struct CompareOptions {
    pub members: Vec<String>,
    /// The model compared in each member (`baseline`, `fine-tuned`, `pruned`, `int8` or a model
    /// name); default: each member's fine-tuned model, else the first it tested.
    pub model: Option<String>,
    /// Default `reports/compare-NAME/` beside the database.
    pub out: Option<PathBuf>,
    /// Default: the members' names joined by `-`.
    pub name: Option<String>,
    /// Groups of members to summarise apart (a sweep's members with the same grid values),
    /// each with its label.
    pub groups: Vec<(String, Vec<String>)>,
}

/// One member's row.
#[derive(Clone, Debug, Serialize)]
pub struct MemberRow {
    pub name: String,
    pub status: String,
    pub model: Option<String>,
    pub samples: Option<usize>,
    pub accuracy: Option<f64>,
    /// Wilson interval, as recorded with the result.
    pub accuracy_ci95: Option<(f64, f64)>,
    pub macro_f1: Option<f64>,
    /// Bootstrap over the test samples (from the confusion matrix; 2000 resamples, seeded).
    pub macro_f1_ci95: Option<(f64, f64)>,
    pub split_digest: Option<String>,
    /// Why there is no result.
    pub note: Option<String>,
}

/// A setting that differs, with each member's value (`None`: the member has no such setting).
#[derive(Clone, Debug, Serialize)]
pub struct SettingRow {
    pub key: String,
    pub values: Vec<Option<String>>,
}

/// Mean and sample standard deviation over the members with a result.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStats {
    pub members: usize,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub macro_f1_mean: f64,
    pub macro_f1_std: f64,
}

/// A group's label (its grid values) and statistics.
#[derive(Clone, Debug, Serialize)]
pub struct NamedGroup {
    pub label: String,
    pub names: Vec<String>,
    #[serde(flatten)]
    pub stats: Option<GroupStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    /// `paired`: flips counted from A to B (`fixed`: only B right, `broken`: only A right).
    #[serde(flatten)]
    pub pairing: Pairing,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub member: String,
    pub model: String,
    pub format: String,
    pub batch_size: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub throughput_samples_per_sec: f64,
    pub peak_memory_mb: f64,
    pub accuracy: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub name: String,
    pub model: Option<String>,
    pub members: Vec<MemberRow>,
    pub differing: Vec<SettingRow>,
    pub shared_settings: usize,
    /// The environment fields (`env.*` settings) that differ between members.
    pub environment_differs: Vec<String>,
    pub group: Option<GroupStats>,
    /// Per group, when groups were given.
    pub groups: Vec<NamedGroup>,
    pub pairs: Vec<PairRow>,
    pub benchmarks: Vec<BenchRow>,
    pub curves: BTreeMap<String, Vec<CurvePoint>>,
}

/// What `exp compare` wrote.
pub struct CompareOutput {
    pub comparison: Comparison,
    pub dir: PathBuf,
    pub files: Vec<ArtifactFile>,
}

/// `a-b-c`, or `a-and-N-more` when that is long; characters other than letters, digits, `.`,
/// `_` and `-` become `_`.
fn default_name(members: &[String]) -> String {
    let joined = members.join("-");
    let name = if joined.len() <= 60 {
        joined
    } else {
        format!("{}-and-{}-more", members[0], members.len() - 1)
    };
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Mean and standard deviation over the rows with a result (at least two).
fn stats<'a>(rows: impl Iterator<Item = &'a MemberRow>) -> Option<GroupStats> {
    let with_results: Vec<&MemberRow> = rows.filter(|r| r.accuracy.is_some()).collect();
    (with_results.len() >= 2).then(|| {
        let (accuracy_mean, accuracy_std) = mean_std(
            &with_results
                .iter()
                .filter_map(|r| r.accuracy)
                .collect::<Vec<_>>(),
        );
        let (macro_f1_mean, macro_f1_std) = mean_std(
            &with_results
                .iter()
                .filter_map(|r| r.macro_f1)
                .collect::<Vec<_>>(),
        );
        GroupStats {
            members: with_results.len(),
            accuracy_mean,
            accuracy_std,
            macro_f1_mean,
            macro_f1_std,
        }
    })
}

fn row(m: &Member) -> MemberRow {
    let r = m.result.as_ref();
    MemberRow {
        name: m.name.clone(),
        status: m.state.status().to_string(),
        model: r.map(|r| r.model.clone()),
        samples: r.map(|r| r.samples),
        accuracy: r.map(|r| r.accuracy),
        accuracy_ci95: r.map(|r| r.accuracy_ci95),
        macro_f1: r.map(|r| r.metrics.macro_f1),
        macro_f1_ci95: r.and_then(|r| interval::macro_f1_ci95(&r.metrics.confusion_matrix)),
        split_digest: m.state.split.as_ref().map(|s| s.digest.clone()),
        note: m.no_result.clone(),
    }
}

/// Compares the members of `options` from the log at `db` (read-only).
pub fn compare(db: &Path, options: &CompareOptions) -> Result<Comparison, ReportError> {
    if options.members.len() < 2 {
        return Err(ReportError::Members(format!(
            "needs at least two experiments, got {}",
            options.members.len()
        )));
    }
    for (i, name) in options.members.iter().enumerate() {
        if options.members[..i].contains(name) {
            return Err(ReportError::Members(format!("'{name}' is named twice")));
        }
    }
    let store = Store::open_read_only(db)?;
    let members: Vec<Member> = options
        .members
        .iter()
        .map(|name| Member::load(&store, name, options.model.as_deref()))
        .collect::<Result<_, _>>()?;
    drop(store);
    let (keys, shared_settings) = differing(&members);
    let environment_differs = keys
        .iter()
        .filter(|k| k.starts_with("env."))
        .cloned()
        .collect();
    let differing = keys
        .into_iter()
        .map(|key| SettingRow {
            values: members
                .iter()
                .map(|m| m.settings.get(&key).cloned())
                .collect(),
            key,
        })
        .collect();
    let rows: Vec<MemberRow> = members.iter().map(row).collect();
    let group = stats(rows.iter());
    let groups = options
        .groups
        .iter()
        .map(|(label, names)| NamedGroup {
            label: label.clone(),
            names: names.clone(),
            stats: stats(rows.iter().filter(|r| names.contains(&r.name))),
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            if let (Some(ra), Some(rb)) = (&a.result, &b.result) {
                pairs.push(PairRow {
                    a: a.name.clone(),
                    b: b.name.clone(),
                    pairing: pair(&b.state, rb, &a.state, ra),
                });
            }
        }
    }
    let mut benchmarks = Vec::new();
    for m in &members {
        for b in m.benchmarks() {
            benchmarks.push(BenchRow {
                member: m.name.clone(),
                model: b.model.clone(),
                format: b.model_type.to_string(),
                batch_size: b.latency.batch_size,
                mean_ms: b.latency.mean_ms,
                p50_ms: b.latency.p50_ms,
                throughput_samples_per_sec: b.latency.throughput_samples_per_sec,
                peak_memory_mb: b.peak_memory_mb,
                accuracy: b.accuracy,
            });
        }
    }
    let curves = members
        .iter()
        .map(|m| (m.name.clone(), m.curve()))
        .collect();
    Ok(Comparison {
        name: options
            .name
            .clone()
            .unwrap_or_else(|| default_name(&options.members)),
        model: options.model.clone(),
        members: rows,
        differing,
        shared_settings,
        environment_differs,
        group,
        groups,
        pairs,
        benchmarks,
        curves,
    })
}

/// One row per member, for a notebook.
fn csv(c: &Comparison) -> String {
    let mut out = String::from(
        "member,status,model,samples,accuracy,accuracy_ci95_low,accuracy_ci95_high,macro_f1,macro_f1_ci95_low,macro_f1_ci95_high,split_digest\n",
    );
    let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for r in &c.members {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            quote(&r.name),
            quote(&r.status),
            quote(r.model.as_deref().unwrap_or("")),
            r.samples.map(|s| s.to_string()).unwrap_or_default(),
            num(r.accuracy),
            num(r.accuracy_ci95.map(|c| c.0)),
            num(r.accuracy_ci95.map(|c| c.1)),
            num(r.macro_f1),
            num(r.macro_f1_ci95.map(|c| c.0)),
            num(r.macro_f1_ci95.map(|c| c.1)),
            r.split_digest.as_deref().unwrap_or(""),
        ));
    }
    out
}

/// Writes `compare.json`, `compare.csv`, the learning-curve plot and `index.html` into the
/// comparison's directory (a directory that is missing, empty or an earlier report's: see
/// [`out_dir`]), through a temporary directory.
pub fn write_dir(
    db: &Path,
    c: &Comparison,
    out: Option<&Path>,
) -> Result<CompareOutput, ReportError> {
    let dir = out.map_or_else(
        || reports_dir(db, &format!("compare-{}", c.name)),
        Path::to_path_buf,
    );
    let files = out_dir::Destination::write_whole(&dir, |tmp| {
        plots::ensure_font()?;
        let info = plots::render(&plot::AllCurves::new(c), tmp)?;
        let mut files = vec![
            write_json(tmp, "compare.json", c)?,
            write(tmp, "compare.csv", csv(c).as_bytes())?,
            write(tmp, "index.html", html::page(c, &info).as_bytes())?,
        ];
        for ext in ["png", "svg"] {
            let name = format!("{}.{ext}", info.stem);
            let path = tmp.join(&name);
            let bytes =
                std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
            files.push(write(tmp, &name, &bytes)?);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    })?;
    Ok(CompareOutput {
        comparison: c.clone(),
        dir,
        files,
    })
}

/// The comparison as the terminal shows it.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let names: Vec<&str> = c.members.iter().map(|m| m.name.as_str()).collect();
    out.push_str(&format!(
        "settings that differ ({} shared, folded away):\n",
        c.shared_settings
    ));
    if c.differing.is_empty() {
        out.push_str("  none\n");
    } else {
        let cell = |v: &str| -> String {
            if v.chars().count() > 24 {
                format!("{}...", v.chars().take(21).collect::<String>())
            } else {
                v.to_string()
            }
        };
        let key_w = c.differing.iter().map(|r| r.key.len()).max().unwrap_or(0);
        let widths: Vec<usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                c.differing
                    .iter()
                    .map(|r| cell(r.values[i].as_deref().unwrap_or("-")).chars().count())
                    .chain([n.len()])
                    .max()
                    .unwrap_or(1)
            })
            .collect();
        let line = |first: &str, values: Vec<String>| {
            let mut l = format!("  {first:<key_w$}");
            for (v, w) in values.iter().zip(&widths) {
                l.push_str(&format!("  {v:<w$}"));
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str(&line("", names.iter().map(|n| n.to_string()).collect()));
        for r in &c.differing {
            let values = r
                .values
                .iter()
                .map(|v| cell(v.as_deref().unwrap_or("-")))
                .collect();
            out.push_str(&line(&r.key, values));
        }
        let env: Vec<&str> = c
            .environment_differs
            .iter()
            .map(|k| k.trim_start_matches("env."))
            .collect();
        if !env.is_empty() {
            out.push_str(&format!(
                "  note: the members ran in different environments ({}): numbers and timings may differ for that reason too\n",
                env.join(", ")
            ));
        }
    }
    out.push_str("\nsealed test (95% intervals: accuracy Wilson, macro-F1 bootstrap):\n");
    let name_w = names.iter().map(|n| n.len()).max().unwrap_or(6).max(6);
    for r in &c.members {
        match (r.accuracy, r.macro_f1) {
            (Some(acc), Some(f1)) => {
                let (alo, ahi) = r.accuracy_ci95.unwrap_or((acc, acc));
                let f1_ci = r
                    .macro_f1_ci95
                    .map_or(String::new(), |(lo, hi)| format!(" [{lo:.4}, {hi:.4}]"));
                out.push_str(&format!(
                    "  {:<name_w$}  {:<12} n={:<5} accuracy {acc:.4} [{alo:.4}, {ahi:.4}]  macro-F1 {f1:.4}{f1_ci}\n",
                    r.name,
                    r.model.as_deref().unwrap_or(""),
                    r.samples.unwrap_or(0),
                ));
            }
            _ => out.push_str(&format!(
                "  {:<name_w$}  {}\n",
                r.name,
                r.note.as_deref().unwrap_or("no result")
            )),
        }
    }
    let labelled = c
        .groups
        .iter()
        .filter_map(|g| g.stats.as_ref().map(|s| (g.label.as_str(), s)));
    let label_w = c.groups.iter().map(|g| g.label.len()).max().unwrap_or(0);
    for (label, g) in c.group.iter().map(|g| ("all", g)).chain(labelled) {
        out.push_str(&format!(
            "  {label:<w$}  accuracy {:.4} +- {:.4}, macro-F1 {:.4} +- {:.4} (mean +- sample std over {} members)\n",
            g.accuracy_mean,
            g.accuracy_std,
            g.macro_f1_mean,
            g.macro_f1_std,
            g.members,
            w = name_w.max(label_w)
        ));
    }
    if !c.pairs.is_empty() {
        out.push_str("\npairs:\n");
        let mut unpaired = Vec::new();
        for p in &c.pairs {
            match &p.pairing {
                Pairing::Paired { flips, mcnemar_p } => out.push_str(&format!(
                    "  {} vs {}: paired on the same test samples; only {} right {}, only {} right {}; McNemar exact p = {:.3e}\n",
                    p.a, p.b, p.a, flips.broken, p.b, flips.fixed, mcnemar_p
                )),
                Pairing::Unpaired { .. } => unpaired.push(format!("{} vs {}", p.a, p.b)),
            }
        }
        if !unpaired.is_empty() {
            out.push_str(&format!(
                "  unpaired (different splits or samples; not tested, see compare.json): {}\n",
                unpaired.join(", ")
            ));
        }
    }
    if !c.benchmarks.is_empty() {
        out.push_str("\nbenchmarks (ONNX Runtime; accuracy on the validation split):\n");
        let model_w = c
            .benchmarks
            .iter()
            .map(|b| b.model.len())
            .max()
            .unwrap_or(0);
        let format_w = c
            .benchmarks
            .iter()
            .map(|b| b.format.len())
            .max()
            .unwrap_or(0);
        for b in &c.benchmarks {
            out.push_str(&format!(
                "  {:<name_w$}  {:<model_w$}  {:<format_w$}  batch {:<3} p50 {:>8.2} ms  {:>8.1} samples/s  peak {:>7.1} MB  accuracy {:.4}\n",
                b.member, b.model, b.format, b.batch_size, b.p50_ms, b.throughput_samples_per_sec, b.peak_memory_mb, b.accuracy
            ));
        }
    }
    out
}
