//! Samples fixed and broken on the sealed test split: for every `TestEvaluated` pair, how many
//! test samples the candidate fixed, broke, and still gets wrong compared with its baseline.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{box_key, DrawResult, Plot, PlotInfo};
use crate::report::project::Projection;

pub struct SamplesFixedBroken {
    /// (pair label, [fixed, broken, still wrong]).
    pairs: Vec<(String, [usize; 3])>,
}

impl SamplesFixedBroken {
    pub fn new(p: &Projection) -> Self {
        SamplesFixedBroken {
            pairs: p
                .state
                .tests
                .iter()
                .map(|t| {
                    (
                        format!("{} -> {}", t.baseline.model, t.candidate.model),
                        [t.flips.fixed, t.flips.broken, t.flips.still_wrong],
                    )
                })
                .collect(),
        }
    }
}

const KINDS: [(&str, RGBColor); 3] = [
    ("fixed", RGBColor(44, 160, 44)),
    ("broken", RGBColor(214, 39, 40)),
    ("still wrong", RGBColor(150, 150, 150)),
];

impl Plot for SamplesFixedBroken {
    fn info(&self) -> PlotInfo {
        PlotInfo {
            stem: "samples_fixed_broken",
            title: "Samples fixed and broken".to_string(),
            caption: "Sealed test split: samples the candidate fixed (wrong before, right after), broke (right before, wrong after) and still gets wrong, for each evaluated pair.".to_string(),
            no_data: self
                .pairs
                .is_empty()
                .then(|| "no TestEvaluated events yet".to_string()),
        }
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let k = self.pairs.len();
        let top = self
            .pairs
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .max()
            .unwrap_or(1) as f64;
        let names: Vec<String> = self.pairs.iter().map(|(n, _)| n.clone()).collect();
        let mut chart = ChartBuilder::on(area)
            .caption("sealed test: samples fixed / broken", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5_f64..(k as f64 - 0.5), 0.0_f64..(top * 1.15).max(1.0))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&move |x| super::category_label(&names, *x))
            .y_desc("test samples")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        let width = 0.8 / KINDS.len() as f64;
        for (s, (name, c)) in KINDS.iter().enumerate() {
            let c = *c;
            let x0 = -0.4 + s as f64 * width;
            chart
                .draw_series(self.pairs.iter().enumerate().map(|(i, (_, v))| {
                    let left = i as f64 + x0;
                    Rectangle::new(
                        [(left, 0.0), (left + width * 0.95, v[s] as f64)],
                        c.filled(),
                    )
                }))?
                .label(name.to_string())
                .legend(box_key(c));
            chart.draw_series(self.pairs.iter().enumerate().map(|(i, (_, v))| {
                Text::new(
                    v[s].to_string(),
                    (i as f64 + x0 + width * 0.3, v[s] as f64 + top * 0.04),
                    ("sans-serif", 15).into_font(),
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
