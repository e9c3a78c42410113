//! Seed sweeps: the same scenario run under several seeds, summarised per strategy and metric as
//! mean, sample standard deviation and a 95 % confidence interval of the mean (Student t).
//!
//! Output does not depend on the order replications finished in: inputs are sorted by seed
//! before any sum, so `sweep.csv` is byte-identical whatever the thread count.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use crate::charts::{
    render_figure, strategy_color, Bar, BarFigure, BarPanel, ChartOptions, LegendEntry,
};
use crate::csvio::{f3, opt_f3, write_csv};
use crate::error::Result;
use crate::records::SummaryRow;

/// A summary metric that a sweep aggregates: its column name and how to read it.
pub type MetricFn = fn(&SummaryRow) -> Option<f64>;

/// Every aggregated metric, in `sweep.csv` order.
pub const SWEEP_METRICS: &[(&str, MetricFn)] = &[
    ("requests", |r| Some(r.requests as f64)),
    ("succeeded", |r| Some(r.succeeded as f64)),
    ("failed", |r| Some(r.failed as f64)),
    ("timeouts", |r| Some(r.timeouts as f64)),
    ("rejected", |r| Some(r.rejected as f64)),
    ("success_rate", |r| Some(r.success_rate)),
    ("goodput_per_s", |r| Some(r.goodput_per_s)),
    ("latency_mean_ms", |r| r.latency_mean_ms),
    ("latency_p50_ms", |r| r.latency_p50_ms),
    ("latency_p95_ms", |r| r.latency_p95_ms),
    ("latency_p99_ms", |r| r.latency_p99_ms),
    ("offloads_same_zone", |r| Some(r.offloads_same_zone as f64)),
    ("offloads_cross_zone", |r| {
        Some(r.offloads_cross_zone as f64)
    }),
    (
        "same_zone_offload_share",
        SummaryRow::same_zone_offload_share,
    ),
    ("cache_hits", |r| Some(r.cache_hits as f64)),
];

/// One strategy × metric over the seeds of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    pub strategy: String,
    pub metric: String,
    /// Seeds in which the metric had a value (a latency is empty when nothing succeeded).
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` for n < 2.
    pub std_dev: Option<f64>,
    /// Half width of the 95 % CI of the mean: t(0.975, n − 1) · s / √n; `None` for n < 2.
    pub ci95_half_width: Option<f64>,
    pub min: f64,
    pub max: f64,
}

impl SweepRow {
    pub fn ci95(&self) -> Option<(f64, f64)> {
        self.ci95_half_width.map(|h| (self.mean - h, self.mean + h))
    }
}

/// Aggregates per-seed summaries. Strategies keep the order in which they first appear (seeds
/// in ascending order); metrics follow [`SWEEP_METRICS`]. A strategy × metric with no value in
/// any seed is left out.
pub fn aggregate_sweep(per_seed: &[(u64, Vec<SummaryRow>)]) -> Vec<SweepRow> {
    let mut seeds: Vec<&(u64, Vec<SummaryRow>)> = per_seed.iter().collect();
    seeds.sort_by_key(|(seed, _)| *seed);
    let mut strategies: Vec<&str> = Vec::new();
    for (_, rows) in &seeds {
        for r in rows {
            if !strategies.contains(&r.strategy.as_str()) {
                strategies.push(&r.strategy);
            }
        }
    }
    let mut out = Vec::new();
    for s in strategies {
        for (metric, get) in SWEEP_METRICS {
            let values: Vec<f64> = seeds
                .iter()
                .flat_map(|(_, rows)| rows.iter().filter(|r| r.strategy == s))
                .filter_map(get)
                .collect();
            if let Some(row) = describe(s, metric, &values) {
                out.push(row);
            }
        }
    }
    out
}

/// Mean, sample standard deviation and 95 % CI of `values` (`None` when empty).
pub fn describe(strategy: &str, metric: &str, values: &[f64]) -> Option<SweepRow> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let (std_dev, half) = if n >= 2 {
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let t = student_t_quantile(0.975, (n - 1) as f64);
        (Some(sd), Some(t * sd / (n as f64).sqrt()))
    } else {
        (None, None)
    };
    Some(SweepRow {
        strategy: strategy.to_string(),
        metric: metric.to_string(),
        n,
        mean,
        std_dev,
        ci95_half_width: half,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// Columns of `sweep.csv`.
pub const SWEEP_COLUMNS: &[&str] = &[
    "strategy",
    "metric",
    "n",
    "mean",
    "std_dev",
    "ci95_low",
    "ci95_high",
    "ci95_half_width",
    "min",
    "max",
];

/// Writes `rows` as CSV (floats with 3 decimals, empty when undefined).
pub fn write_sweep_csv(path: &Path, rows: &[SweepRow]) -> Result<()> {
    let records: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let ci = r.ci95();
            vec![
                r.strategy.clone(),
                r.metric.clone(),
                r.n.to_string(),
                f3(r.mean),
                opt_f3(r.std_dev),
                opt_f3(ci.map(|c| c.0)),
                opt_f3(ci.map(|c| c.1)),
                opt_f3(r.ci95_half_width),
                f3(r.min),
                f3(r.max),
            ]
        })
        .collect();
    write_csv(path, SWEEP_COLUMNS, &records)
}

/// Aggregates `per_seed`, writes `<dir>/sweep.csv` and the `sweep` chart (PNG/SVG as `opts`
/// asks); returns the files written.
pub fn write_sweep(
    dir: &Path,
    per_seed: &[(u64, Vec<SummaryRow>)],
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
    let rows = aggregate_sweep(per_seed);
    let csv = dir.join("sweep.csv");
    write_sweep_csv(&csv, &rows)?;
    let mut written = vec![csv];
    let seeds = per_seed.len();
    written.extend(render_sweep_chart(dir, &rows, seeds, opts)?);
    Ok(written)
}

/// Bar chart with 95 % CI error bars: success rate, goodput, latency p50 and p95 per strategy.
pub fn render_sweep_chart(
    dir: &Path,
    rows: &[SweepRow],
    seeds: usize,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let mut strategies: Vec<&str> = Vec::new();
    for r in rows {
        if !strategies.contains(&r.strategy.as_str()) {
            strategies.push(&r.strategy);
        }
    }
    if strategies.is_empty() {
        return Ok(Vec::new());
    }
    // (metric, caption, y description, scale to display unit)
    let shown: [(&str, &str, &str, f64); 4] = [
        (
            "success_rate",
            "success rate",
            "requests that succeeded (%)",
            100.0,
        ),
        (
            "goodput_per_s",
            "goodput",
            "successful requests per second",
            1.0,
        ),
        (
            "latency_p50_ms",
            "median latency of successes",
            "latency p50 (s)",
            0.001,
        ),
        (
            "latency_p95_ms",
            "95th percentile latency of successes",
            "latency p95 (s)",
            0.001,
        ),
    ];
    let panels = shown
        .iter()
        .map(|(metric, caption, y_desc, scale)| {
            let mut bars = Vec::new();
            let mut top: f64 = 0.0;
            for (i, s) in strategies.iter().enumerate() {
                let Some(r) = rows
                    .iter()
                    .find(|r| r.strategy == *s && r.metric == *metric)
                else {
                    continue;
                };
                let mean = r.mean * scale;
                let error = r.ci95().map(|(lo, hi)| ((lo * scale).max(0.0), hi * scale));
                top = top.max(error.map_or(mean, |e| e.1)).max(mean);
                bars.push(Bar {
                    category: i,
                    slot: 0,
                    stack: vec![(mean, strategy_color(i))],
                    label: Some(display(mean)),
                    error,
                    missing: None,
                });
            }
            BarPanel {
                caption: Some((*caption).to_string()),
                x_desc: "strategy".to_string(),
                y_desc: (*y_desc).to_string(),
                categories: strategies.iter().map(|s| s.to_string()).collect(),
                slots: 1,
                y_max: crate::charts::headroom(top),
                bars,
                hlines: Vec::new(),
                integer_y: false,
            }
        })
        .collect();
    let n_note = if seeds < 2 {
        format!("{seeds} seed, no interval")
    } else {
        format!("{seeds} seeds")
    };
    let fig = BarFigure {
        title: opts.title(&format!(
            "Seed sweep: mean per strategy with 95% confidence interval ({n_note}, Student t)"
        )),
        panels,
        grid: (2, 2),
        legend: vec![LegendEntry::new(
            "error bar: 95% CI of the mean",
            crate::charts::LegendMark::Line(RGBColor(0, 0, 0)),
        )],
    };
    render_figure(&fig, dir, "sweep", opts)
}

fn display(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The `p` quantile of Student's t distribution with `df` degrees of freedom (p in (0, 1)).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    assert!(
        p > 0.0 && p < 1.0 && df > 0.0,
        "t quantile needs 0<p<1, df>0"
    );
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    if p == 0.5 {
        return 0.0;
    }
    // Bisection on the CDF: monotone, and 200 halvings of [0, 1e7] reach f64 resolution.
    let (mut lo, mut hi) = (0.0f64, 1e7f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// CDF of Student's t via the regularized incomplete beta function.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(0.5 * df, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Regularized incomplete beta I_x(a, b) (continued fraction, modified Lentz).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95 % critical values from standard t tables.
        for (df, want) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (4.0, 2.776),
            (9.0, 2.262),
            (29.0, 2.045),
            (120.0, 1.980),
        ] {
            let got = student_t_quantile(0.975, df);
            assert!((got - want).abs() < 5e-4, "df {df}: {got} vs {want}");
        }
        assert!((student_t_quantile(0.025, 4.0) + 2.776).abs() < 5e-4);
    }
}
