//! `equity.png`: the run's equity against buying and holding, drawn with
//! plotters into a bitmap. The font is bundled (DejaVu Sans Mono) so a
//! server without fonts draws the same picture.

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {reason}")]
pub struct PlotError {
    pub path: String,
    pub reason: String,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are compiled in; a failure here is a broken build.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws `equity` (time ms, value) over the market's closes: the equity
/// on its own scale above, the price below, on one time axis.
pub fn equity_png(
    path: &Path,
    title: &str,
    equity: &[(i64, f64)],
    closes: &[(i64, f64)],
) -> Result<(), PlotError> {
    let err = |e: &dyn std::fmt::Display| PlotError {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let (Some(first), Some(last)) = (equity.first(), equity.last()) else {
        return Err(err(&"no equity to draw"));
    };
    register_font();
    let x_range = first.0..last.0.max(first.0 + 1);
    let root = BitMapBackend::new(path, (1200, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(title, ("sans-serif", 22))
        .map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(440);
    let panels = [
        (top, equity, "equity", RGBColor(33, 102, 172)),
        (bottom, closes, "close", RGBColor(120, 120, 120)),
    ];
    for (area, points, label, color) in panels {
        let (lo, hi) = points
            .iter()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            continue;
        }
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.001).max(1e-9);
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(80)
            .build_cartesian_2d(x_range.clone(), lo - pad..hi + pad)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|t| {
                chrono::DateTime::from_timestamp_millis(*t)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(label)
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
