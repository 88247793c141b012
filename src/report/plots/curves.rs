//! Learning curves: training loss and validation macro-F1 / accuracy of every epoch, coloured by
//! phase (x = epochs in the order they ran, across phases).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

struct Point {
    x: usize,
    phase: String,
    loss: f64,
    macro_f1: f64,
    accuracy: f64,
}

pub struct LearningCurves {
    points: Vec<Point>,
    phases: Vec<String>,
}

impl LearningCurves {
    pub fn new(p: &Projection) -> Self {
        let points: Vec<Point> = p
            .state
            .epochs
            .iter()
            .enumerate()
            .map(|(i, e)| Point {
                x: i + 1,
                phase: format!("{} {}", e.index + 1, e.report.phase.name()),
                loss: e.report.train_loss,
                macro_f1: e.report.validation.macro_f1,
                accuracy: e.report.validation.accuracy,
            })
            .collect();
        let mut phases: Vec<String> = Vec::new();
        for pt in &points {
            if !phases.contains(&pt.phase) {
                phases.push(pt.phase.clone());
            }
        }
        LearningCurves { points, phases }
    }
}

impl Plot for LearningCurves {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "learning_curves",
            title: "Learning curves per phase".to_string(),
            caption: "Left: mean training loss per epoch. Right: validation macro-F1 (thick) and accuracy (thin, dots). Colours are phases; x counts epochs in the order they ran.".to_string(),
            no_data: self
                .points
                .is_empty()
                .then(|| "no EpochCompleted events yet".to_string()),
        }
    }

    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.points.len();
        let (left, right) = area.split_horizontally(600);
        let max_loss = self.points.iter().map(|p| p.loss).fold(0.0_f64, f64::max) * 1.1;
        let mut loss = ChartBuilder::on(&left)
            .caption("training loss", ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5_f64..(n as f64 + 0.5), 0.0_f64..max_loss.max(1e-6))?;
        loss.configure_mesh()
            .x_desc("epoch (all phases)")
            .y_desc("loss")
            .x_labels(n.min(12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        let lo = self
            .points
            .iter()
            .map(|p| p.macro_f1.min(p.accuracy))
            .fold(1.0_f64, f64::min);
        let y0 = ((lo - 0.05).max(0.0) * 20.0).floor() / 20.0;
        let mut val = ChartBuilder::on(&right)
            .caption("validation macro-F1 / accuracy", ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5_f64..(n as f64 + 0.5), y0..1.0_f64)?;
        val.configure_mesh()
            .x_desc("epoch (all phases)")
            .y_desc("score")
            .x_labels(n.min(12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (i, phase) in self.phases.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<&Point> = self.points.iter().filter(|p| &p.phase == phase).collect();
            loss.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x as f64, p.loss)),
                c.stroke_width(2),
            ))?
            .label(phase.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            loss.draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.x as f64, p.loss), 3, c.filled())),
            )?;
            val.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x as f64, p.macro_f1)),
                c.stroke_width(3),
            ))?
            .label(format!("{phase} macro-F1"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
            val.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x as f64, p.accuracy)),
                c.stroke_width(1),
            ))?
            .label(format!("{phase} accuracy"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(1)));
            val.draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.x as f64, p.accuracy), 3, c.filled())),
            )?;
        }
        loss.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        val.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    }
}
