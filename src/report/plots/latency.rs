//! Latency by batch size: mean ONNX Runtime latency of every benchmarked model x format (from
//! `BenchmarkMeasured`); before any benchmark, the baseline's latency from `BaselineCaptured`.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, line_key, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

/// (batch size, mean ms, p95 ms).
type Point = (usize, f64, f64);

pub struct LatencyByBatch {
    /// (series name, points).
    series: Vec<(String, Vec<Point>)>,
    from_baseline: bool,
}

impl LatencyByBatch {
    pub fn new(p: &Projection) -> Self {
        let mut series: Vec<(String, Vec<Point>)> = Vec::new();
        for r in &p.benchmarks {
            let name = format!("{} ({})", r.model_name, r.bench.model_type);
            let point = (
                r.bench.latency.batch_size,
                r.bench.latency.mean_ms,
                r.bench.latency.p95_ms,
            );
            match series.iter_mut().find(|(n, _)| n == &name) {
                Some((_, pts)) => pts.push(point),
                None => series.push((name, vec![point])),
            }
        }
        let mut from_baseline = false;
        if series.is_empty() {
            if let Some(b) = &p.state.baseline {
                let pts: Vec<Point> = b
                    .latency
                    .iter()
                    .map(|l| (l.batch_size, l.mean_ms, l.p95_ms))
                    .collect();
                if !pts.is_empty() {
                    series.push(("baseline (BaselineCaptured)".to_string(), pts));
                    from_baseline = true;
                }
            }
        }
        for (_, pts) in series.iter_mut() {
            pts.sort_by_key(|p| p.0);
        }
        LatencyByBatch {
            series,
            from_baseline,
        }
    }
}

impl Plot for LatencyByBatch {
    fn info(&self) -> PlotInfo {
        let caption = if self.from_baseline {
            "Mean ONNX Runtime latency per batch size (dots: p95). No BenchmarkMeasured events yet: only the baseline's latency, measured when it was captured."
        } else {
            "Mean ONNX Runtime latency per batch size for every model and format benchmarked (dots: p95)."
        };
        PlotInfo {
            stem: "latency_by_batch",
            title: "Latency by batch size".to_string(),
            caption: caption.to_string(),
            no_data: self
                .series
                .is_empty()
                .then(|| "no BenchmarkMeasured events and no baseline latency yet".to_string()),
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let pts = self.series.iter().flat_map(|(_, p)| p.iter());
        let bmax = pts.clone().map(|p| p.0).max().unwrap_or(1) as f64;
        let lmax = pts.map(|p| p.2.max(p.1)).fold(0.0_f64, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption("latency by batch size", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0_f64..(bmax * 1.05 + 0.5), 0.0_f64..lmax.max(1e-3))?;
        chart
            .configure_mesh()
            .x_desc("batch size")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (i, (name, points)) in self.series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|p| (p.0 as f64, p.1)),
                    c.stroke_width(2),
                ))?
                .label(name.clone())
                .legend(line_key(c, 2));
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0 as f64, p.1), 4, c.filled())),
            )?;
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0 as f64, p.2), 3, c.stroke_width(1))),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    }
}
