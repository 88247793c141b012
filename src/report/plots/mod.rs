//! PNG and SVG plots with plotters, one file per plot family. Every plot is written in both
//! formats; a plot whose data is not in the log yet is drawn as a panel that says so.

mod confidence;
mod confusion;
mod curves;
mod f1;
mod flips;
mod font;
mod latency;
mod pruning;

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::project::Projection;
use super::ReportError;

pub use font::ensure_font;

pub type DrawResult = Result<(), Box<dyn Error>>;

/// What `index.html` and the model card say about a plot.
#[derive(Clone, Debug)]
pub struct PlotInfo {
    /// File name without extension; the plot is `STEM.png` and `STEM.svg`.
    pub stem: &'static str,
    pub title: String,
    pub caption: String,
    /// Why the plot shows no data, when it does not.
    pub no_data: Option<String>,
}

/// A plot family: what it shows and how to draw it on any plotters backend.
pub trait Plot {
    fn info(&self) -> PlotInfo;
    fn size(&self) -> (u32, u32) {
        (960, 560)
    }
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Series colours, distinguishable in print.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The label of a category axis at `x`: categories sit at whole numbers 0, 1, ...; other ticks are blank.
pub fn category_label(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A point on the drawing backend, in pixels (plotters' `BackendCoord`).
type Pixel = (i32, i32);

/// A line series' legend key: a short stroke of its colour and width.
pub fn line_key(c: RGBColor, width: u32) -> impl Fn(Pixel) -> PathElement<Pixel> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(width))
}

/// A bar series' legend key: a filled square of its colour.
pub fn box_key(c: RGBColor) -> impl Fn(Pixel) -> Rectangle<Pixel> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled())
}

/// A panel with the plot's title and why it has no data.
fn draw_placeholder<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    reason: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let (w, h) = area.dim_in_pixel();
    let centre = TextStyle::from(("sans-serif", 26).into_font()).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    area.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, h as i32 / 2 - 30),
        centre.clone(),
    ))?;
    let small = centre
        .clone()
        .font
        .resize(18.0)
        .color(&RGBColor(120, 120, 120));
    let small = small.pos(centre.pos);
    area.draw(&Text::new(
        format!("no data: {reason}"),
        (w as i32 / 2, h as i32 / 2 + 10),
        small,
    ))?;
    area.draw(&Rectangle::new(
        [(1, 1), (w as i32 - 2, h as i32 - 2)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))?;
    Ok(())
}

fn draw_any<P: Plot, DB: DrawingBackend>(plot: &P, area: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let info = plot.info();
    match &info.no_data {
        Some(reason) => draw_placeholder(area, &info.title, reason)?,
        None => {
            area.fill(&WHITE)?;
            plot.draw(area)?;
        }
    }
    area.present()?;
    Ok(())
}

/// Writes `STEM.png` and `STEM.svg` into `dir`.
pub fn render<P: Plot>(plot: &P, dir: &Path) -> Result<PlotInfo, ReportError> {
    let info = plot.info();
    let size = plot.size();
    let fail = |file: String| {
        move |e: Box<dyn Error>| ReportError::Plot {
            file,
            message: e.to_string(),
        }
    };
    let png = dir.join(format!("{}.png", info.stem));
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw_any(plot, &root).map_err(fail(png.display().to_string()))?;
    }
    let svg = dir.join(format!("{}.svg", info.stem));
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw_any(plot, &root).map_err(fail(svg.display().to_string()))?;
    }
    Ok(info)
}

/// The stem of every plot [`write_all`] draws (each as `STEM.png` and `STEM.svg`).
pub const STEMS: [&str; 8] = [
    "learning_curves",
    "per_class_f1",
    "confusion_matrices",
    "confidence_histograms",
    "confidence_evolution",
    "pruning_tradeoff",
    "latency_by_batch",
    "samples_fixed_broken",
];

/// Draws every plot family into `dir`, in the order `index.html` shows them.
pub fn write_all(p: &Projection, dir: &Path) -> Result<Vec<PlotInfo>, ReportError> {
    ensure_font()?;
    Ok(vec![
        render(&curves::LearningCurves::new(p), dir)?,
        render(&f1::PerClassF1::new(p), dir)?,
        render(&confusion::ConfusionMatrices::new(p), dir)?,
        render(&confidence::ConfidenceHistograms::new(p), dir)?,
        render(&confidence::ConfidenceEvolution::new(p), dir)?,
        render(&pruning::PruningTradeoff::new(p), dir)?,
        render(&latency::LatencyByBatch::new(p), dir)?,
        render(&flips::SamplesFixedBroken::new(p), dir)?,
    ])
}
