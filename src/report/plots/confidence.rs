//! Confidence (max probability) histograms: before/after on the sealed test split, and their
//! evolution over the training epochs on the validation split.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::f1::before_after_missing;
use super::{box_key, colour, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

fn fractions(counts: &[usize]) -> Vec<f64> {
    let total: usize = counts.iter().sum();
    counts
        .iter()
        .map(|&c| {
            if total == 0 {
                0.0
            } else {
                c as f64 / total as f64
            }
        })
        .collect()
}

pub struct ConfidenceHistograms {
    /// (model, fraction of samples per bin).
    series: Vec<(String, Vec<f64>)>,
    missing: Option<String>,
}

impl ConfidenceHistograms {
    pub fn new(p: &Projection) -> Self {
        match (p.before(), p.subject.as_ref()) {
            (Some(b), Some(a)) => ConfidenceHistograms {
                series: vec![
                    (
                        format!("before: {}", b.label),
                        fractions(&b.test.metrics.confidence_histogram.counts),
                    ),
                    (
                        format!("after: {}", a.label),
                        fractions(&a.test.metrics.confidence_histogram.counts),
                    ),
                ],
                missing: None,
            },
            _ => ConfidenceHistograms {
                series: Vec::new(),
                missing: Some(before_after_missing(p)),
            },
        }
    }
}

impl Plot for ConfidenceHistograms {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "confidence_histograms",
            title: "Confidence histograms, before and after".to_string(),
            caption:
                "Share of sealed-test samples per max-probability bin [0, 0.1), ..., [0.9, 1.0]."
                    .to_string(),
            no_data: self.missing.clone(),
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let top = self
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .fold(0.0_f64, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption("confidence on the sealed test split", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0_f64..1.0_f64, 0.0_f64..(top * 1.1).max(0.01))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("max probability")
            .y_desc("share of samples")
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .draw()?;
        let groups = self.series.len() as f64;
        let width = 0.08 / groups;
        for (s, (name, values)) in self.series.iter().enumerate() {
            let c = colour(s);
            let x0 = 0.01 + s as f64 * width;
            chart
                .draw_series(values.iter().enumerate().map(|(i, &v)| {
                    let left = i as f64 * 0.1 + x0;
                    Rectangle::new([(left, 0.0), (left + width * 0.95, v)], c.filled())
                }))?
                .label(name.clone())
                .legend(box_key(c));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        Ok(())
    }
}

/// At most this many epoch rows: one row is 28 pixels high, so a heat map of every epoch of a
/// long log would be an image of millions of pixels that no one can read.
const MAX_EPOCH_ROWS: usize = 60;

/// Which of `n` epochs the heat map shows: all of them, or `MAX_EPOCH_ROWS` spread evenly over
/// the run, the first and the last included.
fn shown_epochs(n: usize) -> Vec<usize> {
    if n <= MAX_EPOCH_ROWS {
        return (0..n).collect();
    }
    (0..MAX_EPOCH_ROWS)
        .map(|j| j * (n - 1) / (MAX_EPOCH_ROWS - 1))
        .collect()
}

/// Per-epoch validation confidence histograms as a heat map (epoch x bin, share of samples).
pub struct ConfidenceEvolution {
    /// (epoch label, fractions per bin).
    rows: Vec<(String, Vec<f64>)>,
    /// Epochs in the log, when only some of them have a row.
    thinned_from: Option<usize>,
}

impl ConfidenceEvolution {
    pub fn new(p: &Projection) -> Self {
        let epochs = &p.state.epochs;
        let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
        if let Some(b) = &p.state.baseline {
            rows.push((
                "baseline".to_string(),
                fractions(&b.validation.confidence_histogram.counts),
            ));
        }
        let shown = shown_epochs(epochs.len());
        let thinned_from = (shown.len() < epochs.len()).then_some(epochs.len());
        for e in shown.into_iter().map(|i| &epochs[i]) {
            rows.push((
                format!("{} {}", e.report.phase.name(), e.report.epoch + 1),
                fractions(&e.report.validation.confidence_histogram),
            ));
        }
        if epochs.is_empty() {
            rows.clear();
        }
        ConfidenceEvolution { rows, thinned_from }
    }
}

impl Plot for ConfidenceEvolution {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "confidence_evolution",
            title: "Confidence histograms per epoch".to_string(),
            caption: match self.thinned_from {
                None => "Validation split: share of samples per max-probability bin (columns) for the baseline and after each epoch (rows, in the order they ran); darker is more.".to_string(),
                Some(total) => format!("Validation split: share of samples per max-probability bin (columns) for the baseline and after {MAX_EPOCH_ROWS} of the {total} epochs, evenly spread from the first to the last (rows, in the order they ran); darker is more."),
            },
            no_data: self
                .rows
                .is_empty()
                .then(|| "no EpochCompleted events yet".to_string()),
        }
    }

    fn size(&self) -> (u32, u32) {
        (960, (200 + 28 * self.rows.len() as u32).max(420))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.rows.len();
        let names: Vec<String> = self.rows.iter().map(|(l, _)| l.clone()).collect();
        let mut chart = ChartBuilder::on(area)
            .caption("validation confidence per epoch", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0_f64..1.0_f64, 0.0_f64..n as f64)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("max probability")
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_labels(2 * n + 1)
            .y_label_formatter(&move |y| {
                let centre = n as f64 - *y - 0.5;
                let i = centre.round();
                if (centre - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()?;
        for (r, (_, values)) in self.rows.iter().enumerate() {
            let top = (n - r) as f64;
            for (b, &v) in values.iter().enumerate() {
                let shade = RGBColor(
                    (255.0 - 215.0 * v) as u8,
                    (255.0 - 150.0 * v) as u8,
                    (255.0 - 60.0 * v) as u8,
                );
                let x = b as f64 * 0.1;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x, top), (x + 0.1, top - 1.0)],
                    shade.filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{:.0}%", v * 100.0),
                    (x + 0.03, top - 0.3),
                    ("sans-serif", 13)
                        .into_font()
                        .color(if v > 0.6 { &WHITE } else { &BLACK }),
                )))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_has_a_row_up_to_the_cap_then_an_even_spread_with_both_ends() {
        assert_eq!(shown_epochs(3), vec![0, 1, 2]);
        assert_eq!(shown_epochs(MAX_EPOCH_ROWS).len(), MAX_EPOCH_ROWS);
        let spread = shown_epochs(250_000);
        assert_eq!(spread.len(), MAX_EPOCH_ROWS);
        assert_eq!((spread[0], *spread.last().unwrap()), (0, 249_999));
        assert!(spread.windows(2).all(|w| w[0] < w[1]));
    }
}
