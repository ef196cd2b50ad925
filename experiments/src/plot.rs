//! Figures as PNG and SVG (plotters): a run's training curves (redrawn
//! after every epoch), the demo's and the reports' comparisons.
//!
//! A panel is either curves against the epoch (integer ticks) or, for a
//! quantity measured once at the end (the Hessian metrics of most runs),
//! one dot per label with its spread over seeds: a curve through one
//! point on a 7.0-9.0 epoch axis says nothing.

use plotters::prelude::*;

use crate::output::OutputDir;
use crate::records::EpochRecord;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVuSans-LICENSE.txt`),
/// bundled so PNG text renders without system fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled bytes are a valid font; failure would only lose text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Tableau's ten colours, strong on white (no pale yellow), in the order
/// labels are drawn: the same label gets the same colour in every panel
/// of a figure.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];

/// The colour of the `i`-th label.
pub fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// One labelled line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// (epoch, y) points.
    pub points: Vec<(f64, f64)>,
}

/// One label's value measured once: a dot with its spread over seeds.
#[derive(Debug, Clone)]
pub struct Dot {
    /// Axis label.
    pub label: String,
    /// Mean over the seeds.
    pub mean: f64,
    /// Standard deviation over the seeds (`None` for one seed: no bar).
    pub spread: Option<f64>,
}

/// What a panel shows.
#[derive(Debug, Clone)]
pub enum Content {
    /// Curves against the epoch.
    Curves(Vec<Series>),
    /// One dot per label (a quantity measured at the end).
    Dots(Vec<Dot>),
}

impl Content {
    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Curves(s) => s.iter().all(|s| s.points.is_empty()),
            Content::Dots(d) => d.is_empty(),
        }
    }
}

/// One panel: a title, the y axis's label with its unit, the content.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption.
    pub title: String,
    /// The y axis's label, unit included.
    pub y_label: String,
    /// Curves or dots.
    pub content: Content,
}

impl Panel {
    /// A panel of curves.
    pub fn curves(title: &str, y_label: &str, series: Vec<Series>) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            content: Content::Curves(series),
        }
    }

    /// A panel of dots.
    pub fn dots(title: &str, y_label: &str, dots: Vec<Dot>) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            content: Content::Dots(dots),
        }
    }
}

/// The mean and sample standard deviation of `values` (no spread for
/// fewer than two); `None` for none.
pub fn dot(label: &str, values: &[f64]) -> Option<Dot> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let spread = (n > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(Dot {
        label: label.into(),
        mean,
        spread,
    })
}

/// Draws `curves.png` and `curves.svg`: losses, accuracies and (when
/// measured) the Hessian trace, against the epoch.
pub fn curves(out: &OutputDir, history: &[EpochRecord]) -> DrawResult {
    let epoch = |r: &EpochRecord| r.epoch as f64;
    let series = |label: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| Series {
        label: label.into(),
        points: history
            .iter()
            .filter_map(|r| f(r).map(|v| (epoch(r), v)))
            .collect(),
    };
    let losses = vec![
        series("train loss", &|r| Some(r.train_loss)),
        series("test loss", &|r| Some(r.test.loss)),
    ];
    let accuracies = vec![
        series("train accuracy", &|r| Some(100.0 * r.train_accuracy)),
        series("test accuracy", &|r| Some(100.0 * r.test.accuracy)),
    ];
    let trace = series("Hessian trace", &|r| r.hessian.map(|h| h.trace.value));
    let trace = if trace.points.len() > 1 {
        Panel::curves("Hessian trace", "trace of H (nats)", vec![trace])
    } else {
        let measured = trace.points.first().map(|&(e, v)| Dot {
            label: format!("epoch {e}"),
            mean: v,
            spread: None,
        });
        Panel::dots(
            "Hessian trace",
            "trace of H (nats)",
            measured.into_iter().collect(),
        )
    };
    let panels = [
        Panel::curves("loss", "cross-entropy (nats)", losses),
        Panel::curves("accuracy", "accuracy (%)", accuracies),
        trace,
    ];
    let png = out.path("curves.png");
    draw(
        BitMapBackend::new(&png, (1500, 450)).into_drawing_area(),
        &panels,
    )?;
    let svg = out.path("curves.svg");
    draw(
        SVGBackend::new(&svg, (1500, 450)).into_drawing_area(),
        &panels,
    )?;
    Ok(())
}

/// Draws panels side by side on any plotters backend.
pub fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    panels: &[Panel],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    register_font();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        match &panel.content {
            Content::Curves(series) => draw_curves(area, panel, series)?,
            Content::Dots(dots) => draw_dots(area, panel, dots)?,
        }
    }
    root.present()?;
    Ok(())
}

/// `lo..hi` padded by 5% (a flat range gets a small fixed pad).
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let pad = ((hi - lo) * 0.05).max(1e-9 + 1e-3 * hi.abs().max(lo.abs()));
    (lo - pad)..(hi + pad)
}

fn draw_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    series: &[Series],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()) {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        // Nothing measured yet: leave blank.
        return Ok(());
    }
    // Whole epochs on the axis, at least one on each side of a lone point.
    let (x0, x1) = (x0.floor().min(x1 - 1.0), x1.ceil().max(x0 + 1.0));
    let epochs = (x1 - x0).round() as usize;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, padded(y0, y1))?;
    let integer = |x: &f64| {
        if (x - x.round()).abs() < 1e-6 {
            format!("{}", x.round() as i64)
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(&panel.y_label)
        .x_labels(epochs.clamp(1, 10) + 1)
        .x_label_formatter(&integer)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = colour(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        // A curve of a few points shows its points.
        if s.points.len() <= 20 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

fn draw_dots<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
    dots: &[Dot],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let finite: Vec<(usize, &Dot)> = dots
        .iter()
        .enumerate()
        .filter(|(_, d)| d.mean.is_finite())
        .collect();
    if finite.is_empty() {
        return Ok(());
    }
    let bar = |d: &Dot| d.spread.filter(|s| s.is_finite()).unwrap_or(0.0);
    let lo = finite
        .iter()
        .map(|(_, d)| d.mean - bar(d))
        .fold(f64::MAX, f64::min);
    let hi = finite
        .iter()
        .map(|(_, d)| d.mean + bar(d))
        .fold(f64::MIN, f64::max);
    let n = dots.len();
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), padded(lo, hi))?;
    let names: Vec<String> = dots.iter().map(|d| d.label.clone()).collect();
    let name = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc(&panel.y_label)
        .x_labels(n + 1)
        .x_label_formatter(&name)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, d) in finite {
        let color = colour(i);
        let x = i as f64;
        if let Some(s) = d.spread.filter(|s| s.is_finite() && *s > 0.0) {
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                x,
                d.mean - s,
                d.mean,
                d.mean + s,
                color.stroke_width(2),
                10,
            )))?;
        }
        chart.draw_series(std::iter::once(Circle::new((x, d.mean), 6, color.filled())))?;
    }
    Ok(())
}
