//! Training curves as PNG and SVG (plotters), redrawn after every epoch.

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

/// One labelled line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
}

/// Draws `curves.png` and `curves.svg`: losses, accuracies and (when
/// measured) the Hessian trace, against the epoch.
pub fn curves(out: &OutputDir, history: &[EpochRecord]) -> DrawResult {
    let epoch = |r: &EpochRecord| r.epoch as f64;
    let losses = vec![
        Series {
            label: "train loss".into(),
            points: history.iter().map(|r| (epoch(r), r.train_loss)).collect(),
        },
        Series {
            label: "test loss".into(),
            points: history.iter().map(|r| (epoch(r), r.test.loss)).collect(),
        },
    ];
    let accuracies = vec![
        Series {
            label: "train accuracy".into(),
            points: history
                .iter()
                .map(|r| (epoch(r), r.train_accuracy))
                .collect(),
        },
        Series {
            label: "test accuracy".into(),
            points: history
                .iter()
                .map(|r| (epoch(r), r.test.accuracy))
                .collect(),
        },
    ];
    let trace = vec![Series {
        label: "Hessian trace".into(),
        points: history
            .iter()
            .filter_map(|r| r.hessian.map(|h| (epoch(r), h.trace.value)))
            .collect(),
    }];
    let panels = [
        ("loss", losses),
        ("accuracy", accuracies),
        ("Hessian trace", trace),
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
    panels: &[(&str, Vec<Series>)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    register_font();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, (title, series)) in areas.iter().zip(panels) {
        let points = series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points {
            if x.is_finite() && y.is_finite() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            // Nothing measured yet (e.g. no Hessian epochs): leave blank.
            continue;
        }
        if x1 - x0 < 1e-12 {
            // One epoch measured: centre its points.
            x0 -= 1.0;
            x1 += 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .label_style(("sans-serif", 14))
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            // A curve of a few points (Hessian epochs) shows its points: a
            // single one would draw nothing.
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
    }
    root.present()?;
    Ok(())
}
