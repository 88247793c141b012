//! `index.html` of a comparison: the terminal's tables as HTML tables, the plot, links to the
//! JSON and CSV. Everything from the log is escaped.

use std::fmt::Write;

use super::Comparison;
use crate::report::html::{escape, for_people};
use crate::report::pairing::Pairing;
use crate::report::plots::PlotInfo;

const STYLE: &str = "body{font-family:DejaVu Sans,Liberation Sans,Arial,sans-serif;margin:2em auto;max-width:1280px;color:#222}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:12px;margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
th{background:#eee}td.k{text-align:left}figure{margin:2em 0}img{max-width:100%;border:1px solid #ddd}.nodata{color:#a33}";

fn num(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |x| for_people(&x.to_string()))
}

fn interval(v: Option<(f64, f64)>) -> String {
    v.map_or("-".to_string(), |(lo, hi)| {
        format!(
            "[{}, {}]",
            for_people(&lo.to_string()),
            for_people(&hi.to_string())
        )
    })
}

pub fn page(c: &Comparison, plot: &PlotInfo) -> String {
    let mut out = String::new();
    let name = escape(&c.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>exp compare: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>exp compare: {name}</h1>\n<p>Files: <a href=\"compare.json\">compare.json</a>, <a href=\"compare.csv\">compare.csv</a>.</p>\n"
    );
    out.push_str(&tables(c));
    let _ = writeln!(
        out,
        "<figure id=\"{stem}\">\n<h2>{title}</h2>\n<img src=\"{stem}.svg\" alt=\"{title}\">\n<figcaption>{caption} <a href=\"{stem}.png\">PNG</a> · <a href=\"{stem}.svg\">SVG</a></figcaption>\n</figure>",
        stem = plot.stem,
        title = escape(&plot.title),
        caption = escape(&plot.caption)
    );
    if let Some(reason) = &plot.no_data {
        let _ = writeln!(out, "<p class=\"nodata\">No data: {}</p>", escape(reason));
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The comparison's tables as HTML: the settings that differ, the sealed test, the pairs and the
/// benchmarks (the page and `exp ui` put the learning curves after them).
pub fn tables(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<h2>Settings that differ</h2>\n<p>{} shared settings are folded away.</p>",
        c.shared_settings
    );
    out.push_str("<div class=\"scroll\"><table>\n<tr><th></th>");
    for m in &c.members {
        let _ = write!(out, "<th>{}</th>", escape(&m.name));
    }
    out.push_str("</tr>\n");
    for r in &c.differing {
        let _ = write!(out, "<tr><td class=\"k\">{}</td>", escape(&r.key));
        for v in &r.values {
            let _ = write!(out, "<td>{}</td>", escape(v.as_deref().unwrap_or("-")));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n<h2>Sealed test</h2>\n<p>95% intervals: accuracy Wilson, macro-F1 bootstrap over the test samples.</p>\n<table>\n<tr><th>member</th><th>model</th><th>samples</th><th>accuracy</th><th>95%</th><th>macro-F1</th><th>95%</th><th>note</th></tr>\n");
    for m in &c.members {
        let _ = writeln!(
            out,
            "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"k\">{}</td></tr>",
            escape(&m.name),
            escape(m.model.as_deref().unwrap_or("-")),
            m.samples.map_or("-".to_string(), |s| s.to_string()),
            num(m.accuracy),
            interval(m.accuracy_ci95),
            num(m.macro_f1),
            interval(m.macro_f1_ci95),
            escape(m.note.as_deref().unwrap_or(""))
        );
    }
    let labelled = c
        .groups
        .iter()
        .filter_map(|g| g.stats.as_ref().map(|s| (format!("{}: ", g.label), s)));
    for (label, g) in c.group.iter().map(|g| (String::new(), g)).chain(labelled) {
        let _ = writeln!(
            out,
            "<tr><td class=\"k\">{}mean +- std ({} members)</td><td></td><td></td><td>{} +- {}</td><td></td><td>{} +- {}</td><td></td><td></td></tr>",
            escape(&label),
            g.members,
            num(Some(g.accuracy_mean)),
            num(Some(g.accuracy_std)),
            num(Some(g.macro_f1_mean)),
            num(Some(g.macro_f1_std))
        );
    }
    out.push_str("</table>\n<h2>Pairs</h2>\n<ul>\n");
    for p in &c.pairs {
        let text = match &p.pairing {
            Pairing::Paired { flips, mcnemar_p } => format!(
                "{} vs {}: paired on the same test samples; only {} right {}, only {} right {}; McNemar exact p = {:.3e}",
                p.a, p.b, p.a, flips.broken, p.b, flips.fixed, mcnemar_p
            ),
            Pairing::Unpaired { reason } => format!("{} vs {}: unpaired, {reason}", p.a, p.b),
        };
        let _ = writeln!(out, "<li>{}</li>", escape(&text));
    }
    out.push_str("</ul>\n<h2>Benchmarks</h2>\n");
    if c.benchmarks.is_empty() {
        out.push_str("<p class=\"nodata\">No member has BenchmarkMeasured events.</p>\n");
    } else {
        out.push_str("<div class=\"scroll\"><table>\n<tr><th>member</th><th>model</th><th>format</th><th>batch</th><th>mean ms</th><th>p50 ms</th><th>samples/s</th><th>peak MB</th><th>accuracy</th></tr>\n");
        for b in &c.benchmarks {
            let _ = writeln!(
                out,
                "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&b.member),
                escape(&b.model),
                escape(&b.format),
                b.batch_size,
                num(Some(b.mean_ms)),
                num(Some(b.p50_ms)),
                num(Some(b.throughput_samples_per_sec)),
                num(Some(b.peak_memory_mb)),
                num(Some(b.accuracy))
            );
        }
        out.push_str("</table></div>\n");
    }
    out
}
