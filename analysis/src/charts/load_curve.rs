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

/// A mean with its 95 % confidence interval (low = high = mean when there is one sample).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// One strategy at one offered load over several seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadCiPoint {
    pub strategy: String,
    /// Offered load, % of the cluster's capacity.
    pub offered_pct: f64,
    /// Goodput, % of the cluster's capacity.
    pub goodput_pct: Option<MeanCi>,
    /// Latency percentiles of successful requests, in ms.
    pub p50_ms: Option<MeanCi>,
    pub p95_ms: Option<MeanCi>,
    pub p99_ms: Option<MeanCi>,
}

/// Draws `load_curve_ci.png`/`.svg` into `dir`: goodput (% of capacity) and p50/p95/p99
/// latency against offered load, one line per strategy (the mean over seeds) with its 95 %
/// confidence intervals as error bars. Strategies are nudged apart along x so their bars do
/// not hide each other.
pub fn render_load_curve_ci(
    dir: &Path,
    points: &[LoadCiPoint],
    seeds: usize,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let mut strategies: Vec<&str> = Vec::new();
    for p in points {
        if !strategies.contains(&p.strategy.as_str()) {
            strategies.push(&p.strategy);
        }
    }
    let x_min = points
        .iter()
        .map(|p| p.offered_pct)
        .fold(f64::INFINITY, f64::min);
    let x_max = points.iter().map(|p| p.offered_pct).fold(0.0, f64::max);
    let (x_min, x_max) = if x_min.is_finite() {
        (x_min, x_max)
    } else {
        (0.0, 100.0)
    };
    let pad = ((x_max - x_min) * 0.06).max(5.0);
    let x_range = (x_min - pad).max(0.0)..x_max + pad;
    let nudge = |i: usize| (i as f64 - (strategies.len() as f64 - 1.0) / 2.0) * pad * 0.12;
    type Get = fn(&LoadCiPoint) -> Option<MeanCi>;
    let panel = |caption: &str, y_desc: &str, get: Get, scale: f64, capacity_line: bool| {
        let mut series = Vec::new();
        let mut y_max: f64 = if capacity_line { 100.0 } else { 0.0 };
        for (i, s) in strategies.iter().enumerate() {
            let mine: Vec<&LoadCiPoint> = points.iter().filter(|p| p.strategy == *s).collect();
            let dx = nudge(i);
            let mut line = Vec::new();
            let mut bars = Vec::new();
            for p in &mine {
                let v = get(p).map(|c| (c.low * scale, c.mean * scale, c.high * scale));
                line.push(v.map(|(_, m, _)| (p.offered_pct + dx, m)));
                if let Some((lo, m, hi)) = v {
                    y_max = y_max.max(hi);
                    let x = p.offered_pct + dx;
                    bars.extend([Some((x, lo)), Some((x, m)), Some((x, hi))]);
                }
            }
            series.push(Series {
                color: strategy_color(i),
                style: SeriesStyle::Line,
                points: line,
            });
            series.push(Series {
                color: strategy_color(i),
                style: SeriesStyle::ErrorBars,
                points: bars,
            });
        }
        XyPanel {
            caption: Some(caption.into()),
            x_desc: "offered load (% of the cluster's capacity)".into(),
            y_desc: y_desc.into(),
            x_range: x_range.clone(),
            y_range: 0.0..headroom(y_max),
            series,
            markers: Vec::new(),
            hlines: if capacity_line {
                vec![HLine {
                    y: 100.0,
                    label: "capacity".into(),
                    color: plotters::style::RGBColor(0x70, 0x70, 0x70),
                }]
            } else {
                Vec::new()
            },
            empty_note: None,
        }
    };
    let legend = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry::new(*s, LegendMark::Line(strategy_color(i))))
        .collect();
    let figure = XyFigure {
        title: opts.title(&format!(
            "Goodput and latency against offered load (mean and 95 % CI over {seeds} seeds)"
        )),
        panels: vec![
            panel(
                "goodput",
                "successful requests (% of capacity)",
                |p| p.goodput_pct,
                1.0,
                true,
            ),
            panel(
                "p50 latency of successful requests",
                "p50 latency (s)",
                |p| p.p50_ms,
                1e-3,
                false,
            ),
            panel(
                "p95 latency of successful requests",
                "p95 latency (s)",
                |p| p.p95_ms,
                1e-3,
                false,
            ),
            panel(
                "p99 latency of successful requests",
                "p99 latency (s)",
                |p| p.p99_ms,
                1e-3,
                false,
            ),
        ],
        grid: (2, 2),
        legend,
    };
    render_figure(&figure, dir, "load_curve_ci", opts)
}
