//! The UI's HTML pages. Everything that comes from the log or the files it names (names, tags,
//! notes, sample texts, payloads, errors) goes through [`escape`]; data for the page's script is
//! embedded as a JSON data block with `<` written as `\u003c`, so no text can close its element.

use std::fmt::Write;

use serde::Serialize;

use crate::report::compare::{html as compare_html, Comparison};
use crate::report::html::{escape, for_people};
use crate::state::{tags_text, Experiment};
use crate::store::StoredEvent;

use super::files;
use super::live::EpochRow;
use super::route::{percent_encode, FileRoot};

fn num(v: f64) -> String {
    for_people(&v.to_string())
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), num)
}

/// `value` as a JSON data block for the page's script (`id` names it).
fn data_block<T: Serialize>(id: &str, value: &T) -> String {
    let json = serde_json::to_string(value)
        .unwrap_or_else(|_| "null".to_string())
        .replace('<', "\\u003c");
    format!("<script type=\"application/json\" id=\"{id}\">{json}</script>\n")
}

/// A whole page: the shared header, `body`, the stylesheet and the script (no inline script:
/// the Content-Security-Policy the server sends allows only the UI's own).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t} - exp ui</title>\n<link rel=\"stylesheet\" href=\"/static/ui.css\">\n<script src=\"/static/ui.js\" defer></script>\n</head>\n<body>\n<nav><a href=\"/\">exp ui</a> <span class=\"muted\">read-only view of the event log</span></nav>\n<main>\n{body}</main>\n</body>\n</html>\n",
        t = escape(title)
    )
}

pub fn error(message: &str) -> String {
    layout(
        "error",
        &format!(
            "<h1>Not shown</h1>\n<p class=\"nodata\">{}</p>\n",
            escape(message)
        ),
    )
}

fn link(name: &str) -> String {
    format!(
        "<a href=\"/x/{}\">{}</a>",
        percent_encode(name),
        escape(name)
    )
}

/// The experiments page: one row each, a filter box and a form to compare those ticked.
pub fn experiments(states: &[Result<Experiment, String>]) -> String {
    let mut out = String::from("<h1>Experiments</h1>\n");
    if states.is_empty() {
        out.push_str("<p class=\"nodata\">The log has no experiments yet (<code>exp new</code> opens one).</p>\n");
        return layout("experiments", &out);
    }
    out.push_str("<p><input id=\"filter\" type=\"search\" placeholder=\"filter: name, status, model, data, tag\" aria-label=\"filter\"></p>\n<form action=\"/compare\" method=\"get\">\n<div class=\"scroll\"><table id=\"experiments\">\n<thead><tr><th></th><th>experiment</th><th>status</th><th>model</th><th>data</th><th>seed</th><th>tags</th><th>test accuracy: baseline</th><th>fine-tuned</th><th>events</th></tr></thead>\n<tbody>\n");
    for state in states {
        match state {
            Ok(s) => {
                let created = s.created.as_ref();
                let model = created.map_or("-", |c| c.model.spec.as_str());
                let data = created.map_or("-", |c| c.data_path.as_str());
                let data_name = std::path::Path::new(data)
                    .file_name()
                    .map_or(data.to_string(), |f| f.to_string_lossy().into_owned());
                let filter = format!(
                    "{} {} {} {} {}",
                    s.name,
                    s.status(),
                    model,
                    data_name,
                    tags_text(&s.tags)
                )
                .to_lowercase();
                let _ = writeln!(
                    out,
                    "<tr data-filter=\"{filter}\"><td><input type=\"checkbox\" name=\"x\" value=\"{value}\" aria-label=\"compare {value}\"></td><td class=\"k\">{name}</td><td class=\"k\">{status}</td><td class=\"k\">{model}</td><td class=\"k\" title=\"{data}\">{data_name}</td><td>{seed}</td><td class=\"k\">{tags}</td><td>{base}</td><td>{tuned}</td><td>{events}</td></tr>",
                    filter = escape(&filter),
                    value = escape(&s.name),
                    name = link(&s.name),
                    status = escape(s.status()),
                    model = escape(model),
                    data = escape(data),
                    data_name = escape(&data_name),
                    seed = created.map_or("-".to_string(), |c| c.seed.to_string()),
                    tags = escape(&tags_text(&s.tags)),
                    base = opt(s.test.as_ref().map(|t| t.baseline.accuracy)),
                    tuned = opt(s.test.as_ref().map(|t| t.candidate.accuracy)),
                    events = s.events,
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "<tr data-filter=\"\"><td></td><td class=\"k nodata\" colspan=\"9\">{}</td></tr>",
                    escape(why)
                );
            }
        }
    }
    out.push_str("</tbody>\n</table></div>\n<p><button type=\"submit\">compare the ticked experiments</button></p>\n</form>\n");
    layout("experiments", &out)
}

const EPOCH_HEAD: &str = "<tr><th>seq</th><th>phase</th><th>index</th><th>epoch</th><th>train loss</th><th>val accuracy</th><th>val macro-F1</th><th>peak LR</th><th>samples/s</th><th>seconds</th></tr>";

fn epoch_row(r: &EpochRow) -> String {
    format!(
        "<tr><td>{}</td><td class=\"k\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2e}</td><td>{}</td><td>{}</td></tr>",
        r.seq,
        escape(&r.phase),
        r.index,
        r.epoch,
        num(r.train_loss),
        num(r.accuracy),
        num(r.macro_f1),
        r.peak_lr,
        num(r.samples_per_sec),
        num(r.duration_s)
    )
}

fn definition(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(key), escape(value));
}

fn plan_section(state: &Experiment, out: &mut String) {
    out.push_str("<h2>Plan</h2>\n");
    let Some(p) = &state.plan else {
        out.push_str("<p class=\"nodata\">No PlanDerived event yet.</p>\n");
        return;
    };
    let plan = &p.plan;
    let _ = writeln!(
        out,
        "<p>recipe {}, health {:?}, batch size {}, LR band {:.1e} to {:.1e} (scaled x{}), pruning {:?}, {} augmentation method(s).</p>",
        escape(&format!("{:?}", plan.recipe).to_lowercase()),
        plan.health,
        plan.batch_size,
        plan.lr_band.low,
        plan.lr_band.high,
        num(plan.lr_scale),
        plan.pruning.level,
        plan.augmentation.len()
    );
    out.push_str("<table>\n<tr><th>phase</th><th>kind</th><th>max epochs</th><th>peak LR</th><th>weighted</th><th>priority samples</th><th>other samples</th></tr>\n");
    for (i, ph) in plan.phases.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td>{i}</td><td class=\"k\">{}</td><td>{}</td><td>{:.2e}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ph.kind.name(),
            ph.epochs,
            ph.learning_rate,
            ph.weighted,
            ph.priority_samples,
            ph.other_samples
        );
    }
    out.push_str("</table>\n");
    if let Some(b) = &p.budget {
        let _ = writeln!(
            out,
            "<p>Time budget {} s ({} s spent before the plan; estimate {} s in all).</p>",
            num(b.budget_s),
            num(b.spent_s),
            num(b.estimate_total_s)
        );
        if !b.left_out.is_empty() {
            out.push_str("<p>Left out by the budget:</p>\n<ul>\n");
            for item in &b.left_out {
                let _ = writeln!(out, "<li>{}</li>", escape(item));
            }
            out.push_str("</ul>\n");
        }
    }
    if !p.overrides.is_empty() {
        out.push_str("<p>Overrides (<code>--set</code>):</p>\n<ul>\n");
        for o in &p.overrides {
            let _ = writeln!(
                out,
                "<li>{} (derived: {})</li>",
                escape(&o.to_string()),
                escape(&o.derived)
            );
        }
        out.push_str("</ul>\n");
    }
}

fn tests_section(state: &Experiment, out: &mut String) {
    out.push_str("<h2>Sealed test</h2>\n");
    if state.tests.is_empty() {
        out.push_str("<p class=\"nodata\">No TestEvaluated event yet: the sealed test split is read once per model, after training.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>model</th><th>samples</th><th>accuracy</th><th>95%</th><th>macro-F1</th><th>baseline accuracy</th><th>fixed</th><th>broken</th><th>McNemar p</th></tr>\n");
    for t in &state.tests {
        let c = &t.candidate;
        let _ = writeln!(
            out,
            "<tr><td class=\"k\">{}</td><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2e}</td></tr>",
            escape(&c.model),
            c.samples,
            num(c.accuracy),
            num(c.accuracy_ci95.0),
            num(c.accuracy_ci95.1),
            num(c.metrics.macro_f1),
            num(t.baseline.accuracy),
            t.flips.fixed,
            t.flips.broken,
            t.mcnemar_p
        );
    }
    out.push_str("</table>\n");
}

fn benchmarks_section(state: &Experiment, out: &mut String) {
    out.push_str("<h2>Benchmarks</h2>\n");
    if state.benchmarks.is_empty() {
        out.push_str("<p class=\"nodata\">No BenchmarkMeasured event yet.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table>\n<tr><th>model</th><th>type</th><th>provider</th><th>batch</th><th>mean ms</th><th>p50 ms</th><th>p95 ms</th><th>samples/s</th><th>peak MB</th><th>val accuracy</th></tr>\n");
    for b in &state.benchmarks {
        let l = &b.latency;
        let _ = writeln!(
            out,
            "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k\">{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.model),
            escape(b.model_type.as_str()),
            escape(b.provider.as_str()),
            l.batch_size,
            l.mean_ms,
            num(l.mean_ms),
            num(l.p50_ms),
            num(l.p95_ms),
            num(l.throughput_samples_per_sec),
            num(b.peak_memory_mb),
            num(b.accuracy)
        );
    }
    out.push_str("</table></div>\n");
}

fn augmentation_section(state: &Experiment, out: &mut String) {
    let Some(a) = &state.augmentation else {
        return;
    };
    let _ = writeln!(
        out,
        "<h2>Augmentation</h2>\n<p>{} samples generated for phase {} from {} priority samples; examples:</p>",
        a.result.samples.len(),
        a.index,
        a.priority_samples
    );
    out.push_str("<div class=\"scroll\"><table id=\"augmentation\">\n<tr><th>method</th><th>source</th><th>original</th><th>augmented</th></tr>\n");
    for e in &a.result.examples {
        let _ = writeln!(
            out,
            "<tr><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k text\">{}</td><td class=\"k text\">{}</td></tr>",
            escape(&format!("{:?}", e.method)),
            escape(&e.source_id),
            escape(&e.original),
            escape(&e.augmented)
        );
    }
    out.push_str("</table></div>\n");
}

fn files_section(state: &Experiment, out: &mut String, card: Option<&str>) {
    let name = percent_encode(&state.name);
    for (root, title, prefix) in [
        (FileRoot::Report, "Report files", "report"),
        (FileRoot::Export, "Exported model directory", "export"),
    ] {
        let listed = files::named(state, root);
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>{title}</h2>\n<ul class=\"files\">");
        for f in listed {
            let href = f
                .path
                .split('/')
                .map(percent_encode)
                .collect::<Vec<_>>()
                .join("/");
            let _ = writeln!(
                out,
                "<li><a href=\"/x/{name}/{prefix}/{href}\">{}</a> <span class=\"muted\">{} bytes</span></li>",
                escape(&f.path),
                f.bytes
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(card) = card {
        let _ = writeln!(
            out,
            "<h2>Model card</h2>\n<pre class=\"card\">{}</pre>",
            escape(card)
        );
    }
}

/// One experiment: what it is, its plan, its epochs (appended live), the sealed test,
/// benchmarks, augmentation examples, its files and its model card.
pub fn experiment(state: &Experiment, epochs: &[EpochRow], card: Option<&str>) -> String {
    let name = percent_encode(&state.name);
    let mut out = format!(
        "<h1>{}</h1>\n<p>status <strong id=\"status\">{}</strong> · last event seq <span id=\"last-seq\">{}</span> · <a href=\"/x/{name}/events\">events</a> <span id=\"live\" class=\"muted\"></span></p>\n<dl>\n",
        escape(&state.name),
        escape(state.status()),
        state.last_seq.map_or("-".to_string(), |s| s.to_string())
    );
    if let Some(c) = &state.created {
        definition(&mut out, "model", &c.model.spec);
        definition(&mut out, "data", &c.data_path);
        definition(&mut out, "seed", &c.seed.to_string());
        if let Some(s) = c.split_seed {
            definition(&mut out, "split seed", &s.to_string());
        }
        definition(
            &mut out,
            "created",
            state.created_at.as_deref().unwrap_or("-"),
        );
    }
    if let Some(s) = &state.split {
        definition(&mut out, "split digest", &s.digest);
    }
    if !state.tags.is_empty() {
        definition(&mut out, "tags", &tags_text(&state.tags));
    }
    for (when, text) in &state.notes {
        definition(&mut out, &format!("note {when}"), text);
    }
    for f in &state.failures {
        definition(
            &mut out,
            "failed",
            &format!("{} ({}): {}", f.command, f.stage, f.error),
        );
    }
    out.push_str("</dl>\n");
    plan_section(state, &mut out);
    let after = epochs.last().map_or(0, |r| r.seq);
    let _ = writeln!(
        out,
        "<h2>Epochs</h2>\n<p class=\"muted\">Each EpochCompleted as recorded (an epoch trained again after a rejected checkpoint appears again); new ones are appended while <code>exp train</code> writes.</p>\n<figure><svg id=\"curve\" viewBox=\"0 0 760 300\" role=\"img\" aria-label=\"validation accuracy and macro-F1 per epoch\"></svg></figure>\n<div class=\"scroll\"><table id=\"epochs\" data-experiment=\"{}\" data-after=\"{after}\">\n<thead>{EPOCH_HEAD}</thead>\n<tbody>",
        escape(&state.name)
    );
    for r in epochs {
        out.push_str(&epoch_row(r));
        out.push('\n');
    }
    out.push_str("</tbody>\n</table></div>\n");
    out.push_str(&data_block("epochs-data", &epochs));
    tests_section(state, &mut out);
    benchmarks_section(state, &mut out);
    augmentation_section(state, &mut out);
    files_section(state, &mut out, card);
    layout(&state.name, &out)
}

/// Events per page of the events view.
pub const EVENTS_PER_PAGE: usize = 50;

/// A page of an experiment's events, each payload pretty-printed.
pub fn events(
    name: &str,
    kinds: &[(String, i64)],
    kind: Option<&str>,
    page: &[StoredEvent],
) -> String {
    let enc = percent_encode(name);
    let mut out = format!(
        "<h1>Events of {}</h1>\n<form method=\"get\" action=\"/x/{enc}/events\"><label>kind <select name=\"kind\"><option value=\"\">all</option>",
        link(name)
    );
    for (k, n) in kinds {
        let selected = if Some(k.as_str()) == kind {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{k}\"{selected}>{k} ({n})</option>",
            k = escape(k)
        );
    }
    out.push_str("</select></label> <button type=\"submit\">show</button></form>\n");
    if page.is_empty() {
        out.push_str("<p class=\"nodata\">No events here.</p>\n");
    }
    out.push_str("<table id=\"events\">\n<tr><th>seq</th><th>time</th><th>run</th><th>kind</th><th>payload</th></tr>\n");
    for e in page {
        let payload = serde_json::to_string_pretty(&e.payload).unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k\">{}</td><td class=\"k\"><details><summary>{} bytes</summary><pre>{}</pre></details></td></tr>",
            e.seq,
            escape(&e.ts),
            escape(&e.run),
            escape(&e.kind),
            payload.len(),
            escape(&payload)
        );
    }
    out.push_str("</table>\n<p>");
    let kind_q = kind.map_or(String::new(), |k| format!("kind={}&", percent_encode(k)));
    let _ = write!(
        out,
        "<a href=\"/x/{enc}/events?{kind_q}after=0\">first page</a>"
    );
    if page.len() == EVENTS_PER_PAGE {
        if let Some(last) = page.last() {
            let _ = write!(
                out,
                " · <a id=\"next\" href=\"/x/{enc}/events?{kind_q}after={}\">next page</a>",
                last.seq
            );
        }
    }
    out.push_str("</p>\n");
    layout(&format!("events of {name}"), &out)
}

/// Two or more experiments side by side: `exp compare`'s tables and all learning curves.
pub fn compare(c: &Comparison) -> String {
    let mut out = format!(
        "<h1>Compare {}</h1>\n<p>{}</p>\n",
        escape(&c.name),
        c.members
            .iter()
            .map(|m| link(&m.name))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    out.push_str(&compare_html::tables(c));
    out.push_str("<h2>Learning curves (validation macro-F1)</h2>\n<figure><svg id=\"compare-curves\" viewBox=\"0 0 760 300\" role=\"img\" aria-label=\"validation macro-F1 per epoch of each member\"></svg></figure>\n");
    out.push_str(&data_block("curves-data", &c.curves));
    layout(&format!("compare {}", c.name), &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_blocks_cannot_close_their_element() {
        let block = data_block("d", &vec!["</script><script>alert(1)</script>"]);
        assert!(!block[..block.len() - 10].contains("</script>"), "{block}");
        let back: Vec<String> = serde_json::from_str(
            block
                .trim_start_matches("<script type=\"application/json\" id=\"d\">")
                .trim_end_matches("</script>\n"),
        )
        .unwrap();
        assert_eq!(back, ["</script><script>alert(1)</script>"]);
    }

    #[test]
    fn names_notes_and_tags_from_the_log_are_escaped() {
        let mut state = Experiment::named("<b>x</b>");
        state
            .tags
            .insert("k".into(), "<img src=x onerror=alert(1)>".into());
        state
            .notes
            .push(("t".into(), "<script>alert(1)</script>".into()));
        let page = experiment(&state, &[], None);
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("<h1>&lt;b&gt;x&lt;/b&gt;</h1>"));
        let list = experiments(&[Ok(state)]);
        assert!(list.contains("href=\"/x/%3Cb%3Ex%3C%2Fb%3E\""), "{list}");
        assert!(!list.contains("<img src=x"));
    }
}
