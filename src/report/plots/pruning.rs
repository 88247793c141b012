//! The pruning trade-off: parameters against validation accuracy and ONNX Runtime latency
//! (batch 1) for the unpruned model and every pruning step.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

struct Step {
    label: String,
    parameters_m: f64,
    accuracy: f64,
    latency_ms: Option<f64>,
    kept: bool,
}

pub struct PruningTradeoff {
    steps: Vec<Step>,
}

impl PruningTradeoff {
    pub fn new(p: &Projection) -> Self {
        let s = &p.state;
        let mut steps: Vec<Step> = Vec::new();
        if let Some(first) = s.pruning_steps.first() {
            steps.push(Step {
                label: "unpruned".to_string(),
                parameters_m: first.reference_shape.parameters as f64 / 1e6,
                accuracy: first.reference_accuracy,
                latency_ms: None,
                kept: true,
            });
        }
        for st in &s.pruning_steps {
            steps.push(Step {
                label: format!("step {}", st.step),
                parameters_m: st.shape.parameters as f64 / 1e6,
                accuracy: st.validation.accuracy,
                latency_ms: st
                    .latency
                    .iter()
                    .find(|l| l.batch_size == 1)
                    .map(|l| l.mean_ms),
                kept: st.kept,
            });
        }
        PruningTradeoff { steps }
    }
}

impl Plot for PruningTradeoff {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "pruning_tradeoff",
            title: "Pruning trade-off".to_string(),
            caption: "Left: validation accuracy against parameters (filled: step kept, hollow: rejected). Right: ONNX Runtime latency at batch 1 against parameters.".to_string(),
            no_data: self
                .steps
                .is_empty()
                .then(|| "no PruningStep events yet".to_string()),
        }
    }

    fn size(&self) -> (u32, u32) {
        (1200, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (left, right) = area.split_horizontally(600);
        let pmax = self
            .steps
            .iter()
            .map(|s| s.parameters_m)
            .fold(0.0_f64, f64::max)
            * 1.08;
        let pmin = self
            .steps
            .iter()
            .map(|s| s.parameters_m)
            .fold(f64::MAX, f64::min)
            * 0.92;
        let amin = self
            .steps
            .iter()
            .map(|s| s.accuracy)
            .fold(1.0_f64, f64::min);
        let amax = self
            .steps
            .iter()
            .map(|s| s.accuracy)
            .fold(0.0_f64, f64::max);
        let mut acc = ChartBuilder::on(&left)
            .caption("accuracy vs parameters", ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(
                pmin..pmax.max(pmin + 1e-3),
                (amin - 0.03).max(0.0)..(amax + 0.03).min(1.0),
            )?;
        acc.configure_mesh()
            .x_desc("parameters (millions)")
            .y_desc("validation accuracy")
            .draw()?;
        let c = colour(0);
        acc.draw_series(LineSeries::new(
            self.steps.iter().map(|s| (s.parameters_m, s.accuracy)),
            c.stroke_width(1),
        ))?;
        for s in &self.steps {
            let style = if s.kept {
                c.filled()
            } else {
                c.stroke_width(2)
            };
            acc.draw_series(std::iter::once(Circle::new(
                (s.parameters_m, s.accuracy),
                6,
                style,
            )))?;
            acc.draw_series(std::iter::once(Text::new(
                s.label.clone(),
                (s.parameters_m, s.accuracy),
                ("sans-serif", 14).into_font(),
            )))?;
        }
        let lat: Vec<(f64, f64, &str)> = self
            .steps
            .iter()
            .filter_map(|s| s.latency_ms.map(|l| (s.parameters_m, l, s.label.as_str())))
            .collect();
        let lmax = lat.iter().map(|l| l.1).fold(0.0_f64, f64::max) * 1.15;
        let mut latency = ChartBuilder::on(&right)
            .caption("latency (batch 1) vs parameters", ("sans-serif", 22))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(pmin..pmax.max(pmin + 1e-3), 0.0_f64..lmax.max(1e-3))?;
        latency
            .configure_mesh()
            .x_desc("parameters (millions)")
            .y_desc("mean latency (ms)")
            .draw()?;
        let c2 = colour(1);
        latency.draw_series(LineSeries::new(
            lat.iter().map(|l| (l.0, l.1)),
            c2.stroke_width(1),
        ))?;
        latency.draw_series(lat.iter().map(|l| Circle::new((l.0, l.1), 6, c2.filled())))?;
        latency.draw_series(
            lat.iter()
                .map(|l| Text::new(l.2.to_string(), (l.0, l.1), ("sans-serif", 14).into_font())),
        )?;
        Ok(())
    }
}
