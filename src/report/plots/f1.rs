//! Per-class F1 on the sealed test split: the `--compare` target (before) against the report's
//! model (after), as grouped bars.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{box_key, colour, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

pub struct PerClassF1 {
    labels: Vec<String>,
    /// (model, F1 per class in label order).
    series: Vec<(String, Vec<f64>)>,
    missing: Option<String>,
}

impl PerClassF1 {
    pub fn new(p: &Projection) -> Self {
        let (before, after) = (p.before(), p.subject.as_ref());
        match (before, after) {
            (Some(b), Some(a)) => {
                let labels: Vec<String> = a
                    .test
                    .metrics
                    .per_class
                    .iter()
                    .map(|c| c.label.clone())
                    .collect();
                let f1 = |m: &crate::report::project::ModelResult| -> Vec<f64> {
                    labels
                        .iter()
                        .map(|l| {
                            m.test
                                .metrics
                                .per_class
                                .iter()
                                .find(|c| &c.label == l)
                                .map(|c| c.f1_score)
                                .unwrap_or(0.0)
                        })
                        .collect()
                };
                PerClassF1 {
                    series: vec![
                        (format!("before: {}", b.label), f1(b)),
                        (format!("after: {}", a.label), f1(a)),
                    ],
                    labels,
                    missing: None,
                }
            }
            _ => PerClassF1 {
                labels: Vec::new(),
                series: Vec::new(),
                missing: Some(before_after_missing(p)),
            },
        }
    }
}

/// Why a before/after plot has nothing to show.
pub fn before_after_missing(p: &Projection) -> String {
    if p.state.tests.is_empty() {
        return "no model evaluated on the sealed test split yet (TestEvaluated)".to_string();
    }
    if let Some(t) = p.targets.first() {
        if let Some(note) = &t.note {
            return note.clone();
        }
    }
    "no model other than the --compare target was evaluated on the sealed test split".to_string()
}

impl Plot for PerClassF1 {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "per_class_f1",
            title: "Per-class F1, before and after".to_string(),
            caption: "F1 of each class on the sealed test split: the --compare target (before) and the report's model (after).".to_string(),
            no_data: self.missing.clone(),
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let k = self.labels.len();
        let labels = self.labels.clone();
        let mut chart = ChartBuilder::on(area)
            .caption("per-class F1 on the sealed test split", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5_f64..(k as f64 - 0.5), 0.0_f64..1.05_f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&move |x| super::category_label(&labels, *x))
            .y_desc("F1")
            .draw()?;
        let groups = self.series.len() as f64;
        let width = 0.8 / groups;
        for (s, (name, values)) in self.series.iter().enumerate() {
            let c = colour(s);
            let x0 = -0.4 + s as f64 * width;
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let left = i as f64 + x0;
                    Rectangle::new([(left, 0.0), (left + width * 0.95, v)], c.filled())
                }))?
                .label(name.clone())
                .legend(box_key(c));
            chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
                Text::new(
                    format!("{v:.3}"),
                    (i as f64 + x0 + width * 0.1, v + 0.035),
                    ("sans-serif", 14).into_font(),
                )
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        Ok(())
    }
}
