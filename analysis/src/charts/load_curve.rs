//! Goodput and latency against offered load: the first chart a user of a load balancer asks for.

use std::path::{Path, PathBuf};

use super::{
    headroom, render_figure, strategy_color, ChartOptions, HLine, LegendEntry, LegendMark, Series,
    SeriesStyle, XyFigure, XyPanel,
};
use crate::error::Result;

/// One strategy at one offered load.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPoint {
    pub strategy: String,
    /// Offered load, % of the cluster's capacity.
    pub offered_pct: f64,
    pub goodput_per_s: f64,
    /// 95th percentile latency of successful requests.
    pub p95_ms: Option<f64>,
}

/// Draws `load_curve.png`/`.svg` into `dir`: goodput (with the capacity line) and p95 latency,
/// one line per strategy in the order they first appear in `points`.
pub fn render_load_curve(
    dir: &Path,
    points: &[LoadPoint],
    capacity_per_s: f64,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let mut strategies: Vec<&str> = Vec::new();
    for p in points {
        if !strategies.contains(&p.strategy.as_str()) {
            strategies.push(&p.strategy);
        }
    }
    let x_end = points.iter().map(|p| p.offered_pct).fold(100.0, f64::max) * 1.05;
    let series = |f: &dyn Fn(&LoadPoint) -> Option<f64>| -> Vec<Series> {
        strategies
            .iter()
            .enumerate()
            .map(|(i, s)| Series {
                color: strategy_color(i),
                style: SeriesStyle::Line,
                points: points
                    .iter()
                    .filter(|p| p.strategy == *s)
                    .map(|p| f(p).map(|y| (p.offered_pct, y)))
                    .collect(),
            })
            .collect()
    };
    let goodput_max = points
        .iter()
        .map(|p| p.goodput_per_s)
        .fold(capacity_per_s, f64::max);
    let p95_max = points.iter().filter_map(|p| p.p95_ms).fold(1.0, f64::max) / 1000.0;
    let legend = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry::new(*s, LegendMark::Line(strategy_color(i))))
        .collect();
    let figure = XyFigure {
        title: opts.title("Goodput and p95 latency against offered load"),
        panels: vec![
            XyPanel {
                caption: Some("goodput".into()),
                x_desc: "offered load (% of the cluster's capacity)".into(),
                y_desc: "successful requests per second".into(),
                x_range: 0.0..x_end,
                y_range: 0.0..headroom(goodput_max),
                series: series(&|p| Some(p.goodput_per_s)),
                markers: Vec::new(),
                hlines: vec![HLine {
                    y: capacity_per_s,
                    label: "capacity".into(),
                    color: plotters::style::RGBColor(0x70, 0x70, 0x70),
                }],
                empty_note: None,
            },
            XyPanel {
                caption: Some("p95 latency of successful requests".into()),
                x_desc: "offered load (% of the cluster's capacity)".into(),
                y_desc: "p95 latency (s)".into(),
                x_range: 0.0..x_end,
                y_range: 0.0..headroom(p95_max),
                series: series(&|p| p.p95_ms.map(|v| v / 1000.0)),
                markers: Vec::new(),
                hlines: Vec::new(),
                empty_note: None,
            },
        ],
        grid: (1, 2),
        legend,
    };
    render_figure(&figure, dir, "load_curve", opts)
}
