//! Every member's learning curve on one plot: validation accuracy (thin) and macro-F1 (thick)
//! of each epoch, x counting a member's epochs in the order they ran.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Comparison, CurvePoint};
use crate::report::plots::{colour, line_key, DrawResult, Plot, PlotInfo};

pub struct AllCurves {
    curves: Vec<(String, Vec<CurvePoint>)>,
}

impl AllCurves {
    pub fn new(c: &Comparison) -> Self {
        // In the members' order, not the map's.
        let curves = c
            .members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    c.curves.get(&m.name).cloned().unwrap_or_default(),
                )
            })
            .collect();
        AllCurves { curves }
    }

    fn epochs(&self) -> usize {
        self.curves.iter().map(|(_, c)| c.len()).max().unwrap_or(0)
    }
}

impl Plot for AllCurves {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "compare_learning_curves",
            title: "Learning curves of every member".to_string(),
            caption: "Validation macro-F1 (thick) and accuracy (thin, dots) after each epoch; x counts a member's epochs in the order they ran (all phases, then pruning's recovery epochs). Colours are members.".to_string(),
            no_data: (self.epochs() == 0).then(|| "no member has an EpochCompleted event yet".to_string()),
        }
    }

    fn size(&self) -> (u32, u32) {
        (1000, 560)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let n = self.epochs();
        let lo = self
            .curves
            .iter()
            .flat_map(|(_, c)| c.iter().map(|p| p.val_accuracy.min(p.val_macro_f1)))
            .fold(1.0_f64, f64::min);
        let y0 = ((lo - 0.05).max(0.0) * 20.0).floor() / 20.0;
        let mut chart = ChartBuilder::on(area)
            .caption(
                "validation macro-F1 / accuracy per epoch",
                ("sans-serif", 22),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5_f64..(n as f64 + 0.5), y0..1.0_f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch (all phases)")
            .y_desc("score")
            .x_labels(n.min(12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (i, (name, points)) in self.curves.iter().enumerate() {
            let c = colour(i);
            let line = |y: fn(&CurvePoint) -> f64| {
                points
                    .iter()
                    .map(move |p| (p.epoch as f64, y(p)))
                    .collect::<Vec<_>>()
            };
            chart
                .draw_series(LineSeries::new(line(|p| p.val_macro_f1), c.stroke_width(3)))?
                .label(format!("{name} macro-F1"))
                .legend(line_key(c, 3));
            chart
                .draw_series(LineSeries::new(line(|p| p.val_accuracy), c.stroke_width(1)))?
                .label(format!("{name} accuracy"))
                .legend(line_key(c, 1));
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.epoch as f64, p.val_accuracy), 3, c.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    }
}
