//! Learning curves: training loss and validation macro-F1 / accuracy of every epoch, coloured by
//! phase (x = epochs in the order they ran, across phases, then pruning's recovery epochs).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, line_key, DrawResult, Plot, PlotInfo};
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

/// Above this many epochs a line keeps, per stretch of epochs, only its first, lowest, highest
/// and last points: a panel is 600 pixels wide, so a stretch is a pixel or two and the drawing
/// looks the same, while a long log no longer makes an SVG of millions of elements (and a thick
/// line, drawn as one polygon, no longer takes seconds to fill).
const MAX_LINE_POINTS: usize = 800;
/// Above this many epochs the dots are left out: they would merge into a band anyway.
const MAX_DOTS: usize = 300;

/// The points of one line, thinned to at most about `MAX_LINE_POINTS` as described there.
fn thin(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_LINE_POINTS {
        return points;
    }
    let per_bucket = points.len().div_ceil(MAX_LINE_POINTS / 4);
    let mut out = Vec::with_capacity(MAX_LINE_POINTS);
    for bucket in points.chunks(per_bucket) {
        let by_y = |a: &&(f64, f64), b: &&(f64, f64)| a.1.total_cmp(&b.1);
        let low = bucket.iter().min_by(by_y).expect("chunks are not empty");
        let high = bucket.iter().max_by(by_y).expect("chunks are not empty");
        let (first, last) = (bucket[0], bucket[bucket.len() - 1]);
        let mut kept = vec![first, *low, *high, last];
        kept.sort_by(|a, b| a.0.total_cmp(&b.0));
        kept.dedup();
        out.extend(kept);
    }
    out
}

impl LearningCurves {
    pub fn new(p: &Projection) -> Self {
        // The phases' epochs, then the recovery epochs after pruning steps (their loss is the
        // distillation loss), in the order they ran.
        let phases = p
            .state
            .epochs
            .iter()
            .map(|e| (format!("{} {}", e.index + 1, e.report.phase.name()), e));
        let recovery = p.state.recovery_epochs.iter().map(|e| {
            let step = e.pruning_step.unwrap_or(e.index);
            (format!("recovery, pruning step {step}"), e)
        });
        let points: Vec<Point> = phases
            .chain(recovery)
            .enumerate()
            .map(|(i, (phase, e))| Point {
                x: i + 1,
                phase,
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
            caption: if self.points.len() > MAX_DOTS {
                format!("Left: mean training loss per epoch. Right: validation macro-F1 (thick) and accuracy (thin). Colours are phases; x counts the {} epochs in the order they ran (lines at screen resolution: each stretch of epochs keeps its first, lowest, highest and last value).", self.points.len())
            } else {
                "Left: mean training loss per epoch. Right: validation macro-F1 (thick) and accuracy (thin, dots). Colours are phases; x counts epochs in the order they ran.".to_string()
            },
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
        let dots = n <= MAX_DOTS;
        for (i, phase) in self.phases.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<&Point> = self.points.iter().filter(|p| &p.phase == phase).collect();
            let line =
                |y: fn(&Point) -> f64| thin(pts.iter().map(|p| (p.x as f64, y(p))).collect());
            loss.draw_series(LineSeries::new(line(|p| p.loss), c.stroke_width(2)))?
                .label(phase.clone())
                .legend(line_key(c, 2));
            if dots {
                loss.draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.x as f64, p.loss), 3, c.filled())),
                )?;
            }
            val.draw_series(LineSeries::new(line(|p| p.macro_f1), c.stroke_width(3)))?
                .label(format!("{phase} macro-F1"))
                .legend(line_key(c, 3));
            val.draw_series(LineSeries::new(line(|p| p.accuracy), c.stroke_width(1)))?
                .label(format!("{phase} accuracy"))
                .legend(line_key(c, 1));
            if dots {
                val.draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.x as f64, p.accuracy), 3, c.filled())),
                )?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_kept_whole() {
        let points: Vec<(f64, f64)> = (0..MAX_LINE_POINTS).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(thin(points.clone()), points);
    }

    #[test]
    fn long_lines_keep_their_ends_and_extremes_in_order() {
        let n = 100_000;
        let points: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                (
                    i as f64,
                    if i == 54_321 {
                        9.0
                    } else if i == 777 {
                        -9.0
                    } else {
                        (i % 7) as f64
                    },
                )
            })
            .collect();
        let thinned = thin(points.clone());
        assert!(thinned.len() <= MAX_LINE_POINTS, "{}", thinned.len());
        assert_eq!(thinned.first(), points.first());
        assert_eq!(thinned.last(), points.last());
        assert!(thinned.contains(&(54_321.0, 9.0)) && thinned.contains(&(777.0, -9.0)));
        assert!(thinned.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
