//! `index.html`: every table and plot of the report on one page (plots as SVG, with PNG links).

use std::fmt::Write;

use super::comparison::COLUMNS;
use super::plots::PlotInfo;
use super::project::Projection;
use super::table;

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A table cell as people read it: a number with a fractional part keeps three significant
/// digits below 1, two decimals below 100, one below 1000 and none above; integers and text stay
/// as they are.
pub fn for_people(cell: &str) -> String {
    let Ok(v) = cell.trim().parse::<f64>() else {
        return cell.to_string();
    };
    if !v.is_finite() || !cell.contains('.') {
        return cell.to_string();
    }
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // 0.0123 -> 4 decimals: three significant digits, at most 6 decimals.
        ((2.0 - a.log10().floor()) as usize).min(6)
    };
    format!("{v:.decimals$}")
}

const STYLE: &str = "body{font-family:DejaVu Sans,Liberation Sans,Arial,sans-serif;margin:2em auto;max-width:1280px;color:#222}\
pre{background:#f6f6f6;padding:1em;overflow-x:auto}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}\
th{background:#eee}figure{margin:2em 0}img{max-width:100%;border:1px solid #ddd}\
.nodata{color:#a33}";

pub fn page(p: &Projection, plots: &[PlotInfo], csv_rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>exp report: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>exp report: {name}</h1>\n",
        name = escape(&p.experiment)
    );
    let _ = writeln!(
        out,
        "<p>A projection of the event log of experiment <code>{}</code> through event seq {} (status {}). Files: <a href=\"model_card.md\">model_card.md</a>, <a href=\"comparison.csv\">comparison.csv</a>, <a href=\"comparison.json\">comparison.json</a>, <a href=\"training_summary.json\">training_summary.json</a>.</p>",
        escape(&p.experiment),
        p.through_seq,
        escape(p.state.status())
    );
    let _ = writeln!(
        out,
        "<h2>Summary</h2>\n<pre>{}</pre>",
        escape(&table::render(p))
    );
    let missing = p.missing();
    if !missing.is_empty() {
        out.push_str("<h2>No data yet</h2>\n<ul>\n");
        for m in &missing {
            let _ = writeln!(out, "<li class=\"nodata\">{}</li>", escape(m));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h2>Benchmarks (comparison.csv)</h2>\n");
    if csv_rows.is_empty() {
        out.push_str("<p class=\"nodata\">No BenchmarkMeasured events in the log yet: comparison.csv has its header only.</p>\n");
    } else {
        out.push_str("<div class=\"scroll\"><table>\n<tr>");
        for c in COLUMNS {
            let _ = write!(out, "<th>{}</th>", escape(c));
        }
        out.push_str("</tr>\n");
        for row in csv_rows {
            out.push_str("<tr>");
            for cell in row {
                let shown = for_people(cell);
                if shown == *cell {
                    let _ = write!(out, "<td>{}</td>", escape(cell));
                } else {
                    // The full value stays one hover away (and in comparison.csv).
                    let _ = write!(
                        out,
                        "<td title=\"{}\">{}</td>",
                        escape(cell),
                        escape(&shown)
                    );
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
    }
    out.push_str("<h2>Plots</h2>\n");
    for plot in plots {
        let _ = writeln!(
            out,
            "<figure id=\"{stem}\">\n<h3>{title}</h3>\n<img src=\"{stem}.svg\" alt=\"{title}\">\n<figcaption>{caption} <a href=\"{stem}.png\">PNG</a> · <a href=\"{stem}.svg\">SVG</a></figcaption>",
            stem = plot.stem,
            title = escape(&plot.title),
            caption = escape(&plot.caption)
        );
        if let Some(reason) = &plot.no_data {
            let _ = writeln!(out, "<p class=\"nodata\">No data: {}</p>", escape(reason));
        }
        out.push_str("</figure>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::for_people;

    #[test]
    fn numbers_are_rounded_for_reading_and_the_rest_left_alone() {
        for (cell, shown) in [
            ("9.770813500000003", "9.77"),
            ("106.80000000000001", "106.8"),
            ("4021.5", "4022"),
            ("0.8154269972451791", "0.815"),
            ("0.012345", "0.0123"),
            ("0.0", "0"),
            ("-1.23456", "-1.23"),
            ("32", "32"),
            ("onnx-int8", "onnx-int8"),
            ("", ""),
            ("NaN", "NaN"),
        ] {
            assert_eq!(for_people(cell), shown, "{cell}");
        }
    }
}
