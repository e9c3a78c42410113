//! A simulated run next to a live run of the same scenario: per strategy and metric the two
//! values, their relative error, and whether both executors rank the strategies the same way.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use crate::charts::{
    client_series, event_markers, render_figure, strategy_color, ChartOptions, LegendEntry,
    LegendMark, SeriesStyle, XyFigure, XyPanel,
};
use crate::csvio::{f3, opt_f3, write_csv};
use crate::error::{Error, Result};
use crate::records::{ScenarioData, SummaryRow};

/// A compared metric: name, how to read it, and whether higher is better (for rankings).
struct Compared {
    name: &'static str,
    get: fn(&SummaryRow) -> Option<f64>,
    higher_is_better: bool,
}

const COMPARED: &[Compared] = &[
    Compared {
        name: "success_rate",
        get: |r| Some(r.success_rate),
        higher_is_better: true,
    },
    Compared {
        name: "goodput_per_s",
        get: |r| Some(r.goodput_per_s),
        higher_is_better: true,
    },
    Compared {
        name: "latency_p50_ms",
        get: |r| r.latency_p50_ms,
        higher_is_better: false,
    },
    Compared {
        name: "latency_p95_ms",
        get: |r| r.latency_p95_ms,
        higher_is_better: false,
    },
    Compared {
        name: "same_zone_offload_share",
        get: SummaryRow::same_zone_offload_share,
        higher_is_better: true,
    },
];

/// One strategy × metric in both executors.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    pub strategy: String,
    pub metric: String,
    pub sim: Option<f64>,
    pub live: Option<f64>,
    /// |sim − live| / |live|; 0 when both are 0; `None` when either is missing or live is 0
    /// and sim is not.
    pub rel_error: Option<f64>,
    /// `rel_error ≤ tolerance`; `None` when there is no relative error.
    pub within_tolerance: Option<bool>,
}

/// Whether both executors order the strategies the same way on one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct RankingRow {
    pub metric: String,
    /// Best first.
    pub sim_order: Vec<String>,
    pub live_order: Vec<String>,
    pub agrees: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub tolerance: f64,
    pub rows: Vec<CompareRow>,
    pub rankings: Vec<RankingRow>,
}

impl Comparison {
    /// The verdict `compare` exits on: every strategy ranking agrees and every strategy's
    /// goodput is within the tolerance. Latency and offload-share errors are reported, not gated:
    /// they depend on the host far more than goodput does.
    pub fn verdict_ok(&self) -> bool {
        self.rankings.iter().all(|r| r.agrees)
            && self
                .rows
                .iter()
                .filter(|r| r.metric == "goodput_per_s")
                .all(|r| r.within_tolerance != Some(false))
    }

    /// True when every comparable value is within tolerance and every ranking agrees.
    pub fn all_agree(&self) -> bool {
        self.rows.iter().all(|r| r.within_tolerance != Some(false))
            && self.rankings.iter().all(|r| r.agrees)
    }
}

/// Reads the summaries in `sim_dir` and `live_dir` and compares them; `tolerance` is a relative
/// error (0.2 = 20 %).
pub fn compare(sim_dir: &Path, live_dir: &Path, tolerance: f64) -> Result<Comparison> {
    let sim = ScenarioData::load(sim_dir)?;
    let live = ScenarioData::load(live_dir)?;
    compare_data(&sim, &live, tolerance)
}

/// [`compare`] on data already read.
pub fn compare_data(sim: &ScenarioData, live: &ScenarioData, tolerance: f64) -> Result<Comparison> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(Error::Invalid(format!(
            "tolerance must be a finite number ≥ 0, got {tolerance}"
        )));
    }
    let need = |d: &ScenarioData| -> Result<Vec<SummaryRow>> {
        d.summary
            .clone()
            .ok_or_else(|| Error::Invalid(format!("{}: summary.csv is missing", d.dir.display())))
    };
    let s_rows = need(sim)?;
    let l_rows = need(live)?;
    let mut strategies: Vec<String> = Vec::new();
    for r in s_rows.iter().chain(&l_rows) {
        if !strategies.contains(&r.strategy) {
            strategies.push(r.strategy.clone());
        }
    }
    let find = |rows: &[SummaryRow], s: &str| rows.iter().find(|r| r.strategy == s).cloned();
    let mut rows = Vec::new();
    for s in &strategies {
        let (a, b) = (find(&s_rows, s), find(&l_rows, s));
        for m in COMPARED {
            let sv = a.as_ref().and_then(m.get);
            let lv = b.as_ref().and_then(m.get);
            let rel = match (sv, lv) {
                (Some(x), Some(y)) if y != 0.0 => Some((x - y).abs() / y.abs()),
                (Some(0.0), Some(_)) => Some(0.0),
                _ => None,
            };
            rows.push(CompareRow {
                strategy: s.clone(),
                metric: m.name.to_string(),
                sim: sv,
                live: lv,
                rel_error: rel,
                within_tolerance: rel.map(|e| e <= tolerance + 1e-12),
            });
        }
    }
    let rankings = COMPARED
        .iter()
        .map(|m| {
            // only strategies with a value in both runs take part
            let both: Vec<(&String, f64, f64)> = strategies
                .iter()
                .filter_map(|s| {
                    let x = find(&s_rows, s).as_ref().and_then(m.get)?;
                    let y = find(&l_rows, s).as_ref().and_then(m.get)?;
                    Some((s, x, y))
                })
                .collect();
            let order = |pick: fn(&(&String, f64, f64)) -> f64| {
                let mut v = both.clone();
                v.sort_by(|a, b| {
                    let (x, y) = (pick(a), pick(b));
                    let o = if m.higher_is_better {
                        y.total_cmp(&x)
                    } else {
                        x.total_cmp(&y)
                    };
                    o.then_with(|| a.0.cmp(b.0))
                });
                v.into_iter().map(|t| t.0.clone()).collect::<Vec<String>>()
            };
            let sim_order = order(|t| t.1);
            let live_order = order(|t| t.2);
            RankingRow {
                metric: m.name.to_string(),
                agrees: sim_order == live_order,
                sim_order,
                live_order,
            }
        })
        .collect();
    Ok(Comparison {
        tolerance,
        rows,
        rankings,
    })
}

/// Writes `compare.csv`, `compare_ranking.csv` and the `compare_client` overlay chart into
/// `out`; returns the files written.
pub fn write_comparison(
    out: &Path,
    comparison: &Comparison,
    sim: &ScenarioData,
    live: &ScenarioData,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let csv = out.join("compare.csv");
    let records: Vec<Vec<String>> = comparison
        .rows
        .iter()
        .map(|r| {
            vec![
                r.strategy.clone(),
                r.metric.clone(),
                opt_f3(r.sim),
                opt_f3(r.live),
                opt_f3(r.rel_error),
                r.within_tolerance
                    .map(|b| u8::from(b).to_string())
                    .unwrap_or_default(),
                f3(comparison.tolerance),
            ]
        })
        .collect();
    write_csv(
        &csv,
        &[
            "strategy",
            "metric",
            "sim",
            "live",
            "rel_error",
            "within_tolerance",
            "tolerance",
        ],
        &records,
    )?;
    let ranking = out.join("compare_ranking.csv");
    let records: Vec<Vec<String>> = comparison
        .rankings
        .iter()
        .map(|r| {
            vec![
                r.metric.clone(),
                r.sim_order.join(" > "),
                r.live_order.join(" > "),
                u8::from(r.agrees).to_string(),
            ]
        })
        .collect();
    write_csv(
        &ranking,
        &["metric", "sim_order", "live_order", "agrees"],
        &records,
    )?;
    let mut written = vec![csv, ranking];
    written.extend(render_overlay(out, sim, live, opts)?);
    Ok(written)
}

/// Client success % and mean latency over time, sim solid and live dashed, one colour per
/// strategy. Nothing is drawn unless both runs have `client_windows.csv`.
pub fn render_overlay(
    out: &Path,
    sim: &ScenarioData,
    live: &ScenarioData,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let (Some(sw), Some(lw)) = (
        sim.client_windows.as_deref(),
        live.client_windows.as_deref(),
    ) else {
        return Ok(Vec::new());
    };
    let mut strategies = sim.strategies();
    for s in live.strategies() {
        if !strategies.contains(&s) {
            strategies.push(s);
        }
    }
    let x_end = sw
        .iter()
        .chain(lw)
        .map(|r| r.window_start_s + 5)
        .max()
        .unwrap_or(5) as f64;
    let markers = event_markers(sim.events.as_deref().unwrap_or(&[]), None);
    let lat_max = sw
        .iter()
        .chain(lw)
        .filter_map(|r| r.latency_mean_ms)
        .fold(0.0, f64::max)
        / 1000.0;
    let mut success = client_series(sw, &strategies, |r| r.success_pct, SeriesStyle::Line, 0);
    success.extend(client_series(
        lw,
        &strategies,
        |r| r.success_pct,
        SeriesStyle::Dashed,
        0,
    ));
    let lat = |r: &crate::records::ClientWindowRow| r.latency_mean_ms.map(|l| l / 1000.0);
    let mut latency = client_series(sw, &strategies, lat, SeriesStyle::Line, 0);
    latency.extend(client_series(lw, &strategies, lat, SeriesStyle::Dashed, 0));
    let panel = |y_desc: &str, y_range, series, caption: &str| XyPanel {
        caption: Some(caption.to_string()),
        x_desc: "time since start of run (s)".to_string(),
        y_desc: y_desc.to_string(),
        x_range: 0.0..x_end * 1.02,
        y_range,
        series,
        markers: markers.clone(),
        hlines: Vec::new(),
        empty_note: None,
    };
    let mut legend: Vec<LegendEntry> = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry::new(s.clone(), LegendMark::Box(strategy_color(i))))
        .collect();
    let gray = RGBColor(0x50, 0x50, 0x50);
    legend.push(LegendEntry::new("simulated", LegendMark::Line(gray)));
    legend.push(LegendEntry::new("live", LegendMark::Dashed(gray)));
    let fig = XyFigure {
        title: opts.title("Simulated vs live: client success % and mean latency per 5 s window"),
        panels: vec![
            panel(
                "success in window (%)",
                0.0..112.0,
                success,
                "client success %",
            ),
            panel(
                "mean latency of successes (s)",
                0.0..crate::charts::headroom(lat_max).max(1.0),
                latency,
                "client mean latency",
            ),
        ],
        grid: (2, 1),
        legend,
    };
    render_figure(&fig, out, "compare_client", opts)
}
