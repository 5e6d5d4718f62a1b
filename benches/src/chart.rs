//! The SVG chart of a mixed run: latency percentiles over time, and the
//! distribution of fan-out lag (ordinary and celebrity authors).

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// One second of the run: its p50 and p99 latency in ms.
pub struct Second {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn lag_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=100)
        .map(|p| {
            let q = f64::from(p) / 100.0;
            (q * 100.0, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

pub fn render(
    path: &Path,
    title: &str,
    seconds: &[Second],
    lag_ordinary: &Histogram<u64>,
    lag_celebrity: &Histogram<u64>,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let (top, bottom) = root.split_vertically(400);

    let max_ms = seconds.iter().map(|s| s.p99_ms).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption("latency of all operations, per second", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..seconds.len().max(1) as f64, 0f64..max_ms)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the run")
        .y_desc("ms")
        .draw()?;
    for (name, color, pick) in [
        ("p50", BLUE, (|s: &Second| s.p50_ms) as fn(&Second) -> f64),
        ("p99", RED, |s: &Second| s.p99_ms),
    ] {
        chart
            .draw_series(LineSeries::new(
                seconds.iter().enumerate().map(|(i, s)| (i as f64, pick(s))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;

    let ordinary = lag_curve(lag_ordinary);
    let celebrity = lag_curve(lag_celebrity);
    let max_lag = ordinary
        .iter()
        .chain(&celebrity)
        .map(|&(_, ms)| ms)
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "fan-out lag: write answered -> visible in a follower's feed",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..100f64, 0f64..max_lag)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .draw()?;
    for (name, color, curve) in [
        ("ordinary authors", GREEN, ordinary),
        ("celebrities (merged on read)", MAGENTA, celebrity),
    ] {
        chart
            .draw_series(LineSeries::new(curve, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
