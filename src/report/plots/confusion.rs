//! Confusion matrices on the sealed test split (rows true class, columns predicted), before and
//! after, as heat maps with counts.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::f1::before_after_missing;
use super::{DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

pub struct ConfusionMatrices {
    labels: Vec<String>,
    /// (title, matrix).
    panels: Vec<(String, Vec<Vec<usize>>)>,
    missing: Option<String>,
}

impl ConfusionMatrices {
    pub fn new(p: &Projection) -> Self {
        match (p.before(), p.subject.as_ref()) {
            (Some(b), Some(a)) => ConfusionMatrices {
                labels: a.test.metrics.labels.clone(),
                panels: vec![
                    (
                        format!("before: {}", b.label),
                        b.test.metrics.confusion_matrix.clone(),
                    ),
                    (
                        format!("after: {}", a.label),
                        a.test.metrics.confusion_matrix.clone(),
                    ),
                ],
                missing: None,
            },
            _ => ConfusionMatrices {
                labels: Vec::new(),
                panels: Vec::new(),
                missing: Some(before_after_missing(p)),
            },
        }
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    matrix: &[Vec<usize>],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let k = labels.len();
    let max = matrix.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let xl = labels.to_vec();
    let yl = labels.to_vec();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0_f64..k as f64, 0.0_f64..k as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(k * 2 + 1)
        .y_labels(k * 2 + 1)
        .x_label_formatter(&move |x| label_at(&xl, *x))
        // Row 0 at the top, as matrices are read.
        .y_label_formatter(&move |y| label_at(&yl, k as f64 - *y))
        .x_desc("predicted")
        .y_desc("true")
        .draw()?;
    for (r, row) in matrix.iter().enumerate() {
        for (c, &count) in row.iter().enumerate() {
            let t = count as f64 / max;
            let shade = RGBColor(
                (255.0 - 224.0 * t) as u8,
                (255.0 - 136.0 * t) as u8,
                (255.0 - 75.0 * t) as u8,
            );
            let y_top = (k - r) as f64;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(c as f64, y_top), (c as f64 + 1.0, y_top - 1.0)],
                shade.filled(),
            )))?;
            let text_colour = if t > 0.55 { WHITE } else { BLACK };
            chart.draw_series(std::iter::once(Text::new(
                count.to_string(),
                (c as f64 + 0.42, y_top - 0.45),
                ("sans-serif", 20).into_font().color(&text_colour),
            )))?;
        }
    }
    Ok(())
}

/// The label of the class whose cell centre is at `v` (labels sit at half-integers).
fn label_at(labels: &[String], v: f64) -> String {
    let centre = v - 0.5;
    let i = centre.round();
    if (centre - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

impl Plot for ConfusionMatrices {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "confusion_matrices",
            title: "Confusion matrices, before and after".to_string(),
            caption: "Sealed test split; rows are true classes, columns predicted classes."
                .to_string(),
            no_data: self.missing.clone(),
        }
    }

    fn size(&self) -> (u32, u32) {
        (1100, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let areas = area.split_evenly((1, self.panels.len().max(1)));
        for (a, (title, m)) in areas.iter().zip(&self.panels) {
            panel(a, title, &self.labels, m)?;
        }
        Ok(())
    }
}
