//! The charts of one scenario output folder (docs/metrics.md files in, PNG + SVG out).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use super::frame::{grid_for, headroom, HLine};
use super::{
    node_color, render_figure, strategy_color, Bar, BarFigure, BarPanel, ChartOptions, LegendEntry,
    LegendMark, Marker, Series, SeriesStyle, XyFigure, XyPanel, CROSS_ZONE, SAME_ZONE,
};
use crate::error::Result;
use crate::records::{
    ClientWindowRow, EventKind, EventRow, NodeWindowRow, Outcome, RequestRow, ScenarioData,
};
use crate::stats::node_totals;

const TIME_DESC: &str = "time since start of run (s)";
const GRAY: RGBColor = RGBColor(0x70, 0x70, 0x70);

/// Reads the CSVs in `dir` and draws every chart whose input is present, as PNG and SVG next to
/// them. Returns the files written, in a fixed order.
///
/// Charts (file stems): `client_success_pct`, `client_attempt_success` (only when
/// client_windows.csv has `attempt_success_pct`), `client_latency`, `offloads_per_node`,
/// `responses_per_node`, `node_queue_len`, `node_cpu_pct`, `latency_cdf`, `gossip_convergence`,
/// `failure_detection`.
pub fn render_all(dir: &Path, opts: &ChartOptions) -> Result<Vec<PathBuf>> {
    let data = ScenarioData::load(dir)?;
    render_scenario(&data, dir, opts)
}

/// Like [`render_all`] for data already read; charts are written to `out`.
pub fn render_scenario(
    data: &ScenarioData,
    out: &Path,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let strategies = data.strategies();
    let all_nodes = data.nodes();
    let events = data.events.as_deref().unwrap_or(&[]);
    let mut written = Vec::new();
    let mut emit = |fig: Option<Figureish>, stem: &str| -> Result<()> {
        match fig {
            Some(Figureish::Xy(f)) => written.extend(render_figure(&f, out, stem, opts)?),
            Some(Figureish::Bars(f)) => written.extend(render_figure(&f, out, stem, opts)?),
            None => tracing::debug!(chart = stem, "skipped: no input data"),
        }
        Ok(())
    };

    if let Some(cw) = data.client_windows.as_deref().filter(|r| !r.is_empty()) {
        emit(
            Some(Figureish::Xy(client_success_figure(
                cw,
                &strategies,
                events,
                opts,
            ))),
            "client_success_pct",
        )?;
        // Older CSVs have no attempt_success_pct column: every value reads as empty.
        emit(
            cw.iter().any(|r| r.attempt_success_pct.is_some()).then(|| {
                Figureish::Xy(client_attempt_success_figure(cw, &strategies, events, opts))
            }),
            "client_attempt_success",
        )?;
        let timeout = opts
            .client_timeout_ms
            .or_else(|| data.requests.as_deref().and_then(infer_timeout_ms));
        emit(
            Some(Figureish::Xy(client_latency_figure(
                cw,
                &strategies,
                events,
                timeout,
                opts,
            ))),
            "client_latency",
        )?;
    }
    if let Some(nw) = data.node_windows.as_deref().filter(|r| !r.is_empty()) {
        emit(
            Some(Figureish::Bars(zone_bars_figure(
                nw,
                &strategies,
                ZoneBars::Offloads,
                opts,
            ))),
            "offloads_per_node",
        )?;
        emit(
            Some(Figureish::Bars(zone_bars_figure(
                nw,
                &strategies,
                ZoneBars::Responses,
                opts,
            ))),
            "responses_per_node",
        )?;
        emit(
            Some(Figureish::Xy(node_time_figure(
                nw,
                &strategies,
                &all_nodes,
                events,
                NodeMetric::Queue,
                opts,
            ))),
            "node_queue_len",
        )?;
        emit(
            Some(Figureish::Xy(node_time_figure(
                nw,
                &strategies,
                &all_nodes,
                events,
                NodeMetric::Cpu,
                opts,
            ))),
            "node_cpu_pct",
        )?;
    }
    if let Some(req) = data.requests.as_deref().filter(|r| !r.is_empty()) {
        let timeout = opts.client_timeout_ms.or_else(|| infer_timeout_ms(req));
        emit(
            Some(Figureish::Xy(latency_cdf_figure(
                req,
                &strategies,
                timeout,
                opts,
            ))),
            "latency_cdf",
        )?;
    }
    if let Some(conv) = data.convergence.as_deref().filter(|r| !r.is_empty()) {
        emit(
            Some(Figureish::Bars(convergence_figure(conv, &strategies, opts))),
            "gossip_convergence",
        )?;
    }
    if let Some(fd) = data.failure_detection.as_deref().filter(|r| !r.is_empty()) {
        emit(
            Some(Figureish::Bars(detection_figure(
                fd,
                &strategies,
                &all_nodes,
                opts,
            ))),
            "failure_detection",
        )?;
    }
    Ok(written)
}

enum Figureish {
    Xy(XyFigure),
    Bars(BarFigure),
}

/// The client timeout, guessed as the smallest latency of a request that timed out.
fn infer_timeout_ms(requests: &[RequestRow]) -> Option<u64> {
    requests
        .iter()
        .filter(|r| r.outcome == Outcome::Timeout)
        .map(|r| r.latency_ms.round() as u64)
        .min()
}

/// Window length in seconds: the smallest step between window starts (5 s by the schema).
fn window_len_s<'a>(starts: impl Iterator<Item = &'a u64>) -> u64 {
    let set: BTreeSet<u64> = starts.copied().collect();
    let v: Vec<u64> = set.into_iter().collect();
    v.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(5).max(1)
}

fn event_color(kind: EventKind) -> RGBColor {
    match kind {
        EventKind::Crash => RGBColor(0xd6, 0x27, 0x28),
        EventKind::Pause => RGBColor(0xc4, 0x6a, 0x00),
        EventKind::Restart => RGBColor(0x2c, 0x8a, 0x2c),
        EventKind::Resume => RGBColor(0x1f, 0x6f, 0xb4),
        EventKind::Drain => RGBColor(0x7f, 0x7f, 0x7f),
        EventKind::Partition => RGBColor(0x94, 0x67, 0xbd),
        EventKind::Heal => RGBColor(0x17, 0xbe, 0xcf),
    }
}

/// Fault instants as vertical markers; `strategy` = `None` merges identical events of every
/// strategy (they share the scenario's fault plan).
pub(crate) fn event_markers(events: &[EventRow], strategy: Option<&str>) -> Vec<Marker> {
    let set: BTreeSet<(u64, &str, EventKind)> = events
        .iter()
        .filter(|e| strategy.is_none_or(|s| e.strategy == s))
        .map(|e| (e.time_ms, e.node.as_str(), e.kind))
        .collect();
    set.into_iter()
        .map(|(t, node, kind)| Marker {
            x: t as f64 / 1000.0,
            label: format!("{node} {}", kind.as_str()),
            color: event_color(kind),
        })
        .collect()
}

/// One series per strategy of a client-window column; x is the window's end in seconds.
pub(crate) fn client_series(
    rows: &[ClientWindowRow],
    strategies: &[String],
    value: impl Fn(&ClientWindowRow) -> Option<f64>,
    style: SeriesStyle,
    color_offset: usize,
) -> Vec<Series> {
    let len = window_len_s(rows.iter().map(|r| &r.window_start_s)) as f64;
    strategies
        .iter()
        .enumerate()
        .map(|(i, s)| Series {
            color: strategy_color(i + color_offset),
            style,
            points: rows
                .iter()
                .filter(|r| &r.strategy == s)
                .map(|r| value(r).map(|v| (r.window_start_s as f64 + len, v)))
                .collect(),
        })
        .collect()
}

fn time_range(max_window_end: f64, markers: &[Marker]) -> std::ops::Range<f64> {
    let m = markers.iter().map(|m| m.x).fold(max_window_end, f64::max);
    0.0..(m.max(1.0) * 1.02)
}

fn client_x_end(rows: &[ClientWindowRow]) -> f64 {
    let len = window_len_s(rows.iter().map(|r| &r.window_start_s));
    rows.iter()
        .map(|r| r.window_start_s + len)
        .max()
        .unwrap_or(len) as f64
}

fn strategy_legend(strategies: &[String], mark: fn(RGBColor) -> LegendMark) -> Vec<LegendEntry> {
    strategies
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry::new(s.clone(), mark(strategy_color(i))))
        .collect()
}

fn fault_legend(markers: &[Marker]) -> Vec<LegendEntry> {
    if markers.is_empty() {
        Vec::new()
    } else {
        vec![LegendEntry::new(
            "fault / recovery",
            LegendMark::Dashed(GRAY),
        )]
    }
}

fn client_success_figure(
    rows: &[ClientWindowRow],
    strategies: &[String],
    events: &[EventRow],
    opts: &ChartOptions,
) -> XyFigure {
    let markers = event_markers(events, None);
    let mut legend = strategy_legend(strategies, LegendMark::Line);
    legend.extend(fault_legend(&markers));
    XyFigure {
        // Windows where no request ended have no success % and leave a gap in the line.
        title: opts.title("Client success % per 5 s window — requests that ended in the window"),
        panels: vec![XyPanel {
            caption: None,
            x_desc: TIME_DESC.to_string(),
            y_desc: "requests that ended in the window and succeeded (%)".to_string(),
            x_range: time_range(client_x_end(rows), &markers),
            y_range: 0.0..112.0,
            series: client_series(rows, strategies, |r| r.success_pct, SeriesStyle::Line, 0),
            markers,
            hlines: Vec::new(),
            empty_note: None,
        }],
        grid: (1, 1),
        legend,
    }
}

/// Cumulative successful attempts / attempts: what the report plotted as "throughput %".
fn client_attempt_success_figure(
    rows: &[ClientWindowRow],
    strategies: &[String],
    events: &[EventRow],
    opts: &ChartOptions,
) -> XyFigure {
    let markers = event_markers(events, None);
    let mut legend = strategy_legend(strategies, LegendMark::Line);
    legend.extend(fault_legend(&markers));
    XyFigure {
        title: opts
            .title("Successful attempts / attempts, cumulative (the report's \"throughput %\")"),
        panels: vec![XyPanel {
            caption: None,
            x_desc: TIME_DESC.to_string(),
            y_desc: "successful attempts / attempts since the start (%)".to_string(),
            x_range: time_range(client_x_end(rows), &markers),
            y_range: 0.0..112.0,
            series: client_series(
                rows,
                strategies,
                |r| r.attempt_success_pct,
                SeriesStyle::Line,
                0,
            ),
            markers,
            hlines: Vec::new(),
            empty_note: None,
        }],
        grid: (1, 1),
        legend,
    }
}

fn client_latency_figure(
    rows: &[ClientWindowRow],
    strategies: &[String],
    events: &[EventRow],
    timeout_ms: Option<u64>,
    opts: &ChartOptions,
) -> XyFigure {
    let markers = event_markers(events, None);
    let series = client_series(
        rows,
        strategies,
        |r| r.latency_mean_ms.map(|l| l / 1000.0),
        SeriesStyle::Line,
        0,
    );
    let max = rows
        .iter()
        .filter_map(|r| r.latency_mean_ms)
        .fold(0.0, f64::max)
        / 1000.0;
    let timeout_s = timeout_ms.map(|t| t as f64 / 1000.0);
    let top = headroom(max.max(timeout_s.unwrap_or(0.0))).max(1.0);
    let mut legend = strategy_legend(strategies, LegendMark::Line);
    legend.extend(fault_legend(&markers));
    XyFigure {
        title: opts.title("Client mean latency of successful requests per 5 s window"),
        panels: vec![XyPanel {
            caption: None,
            x_desc: TIME_DESC.to_string(),
            y_desc: "mean latency of successes (s)".to_string(),
            x_range: time_range(client_x_end(rows), &markers),
            y_range: 0.0..top,
            series,
            markers,
            hlines: timeout_s
                .map(|t| HLine {
                    y: t,
                    label: format!("client timeout {}", seconds_label(t)),
                    color: RGBColor(0xd6, 0x27, 0x28),
                })
                .into_iter()
                .collect(),
            empty_note: (max == 0.0).then(|| "no successful request".to_string()),
        }],
        grid: (1, 1),
        legend,
    }
}

fn seconds_label(s: f64) -> String {
    if (s - s.round()).abs() < 1e-9 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

#[derive(Clone, Copy)]
enum ZoneBars {
    Offloads,
    Responses,
}

fn zone_bars_figure(
    rows: &[NodeWindowRow],
    strategies: &[String],
    kind: ZoneBars,
    opts: &ChartOptions,
) -> BarFigure {
    let shown: Vec<&String> = strategies
        .iter()
        .filter(|s| rows.iter().any(|r| &r.strategy == *s))
        .collect();
    let mut panels = Vec::new();
    let mut y_max: f64 = 0.0;
    for s in &shown {
        let totals = node_totals(rows, s);
        let mut bars = Vec::new();
        for (i, t) in totals.iter().enumerate() {
            let (same, cross) = match kind {
                ZoneBars::Offloads => (t.offloads_same_zone, t.offloads_cross_zone),
                ZoneBars::Responses => (t.responses_same_zone, t.responses_cross_zone),
            };
            let total = same + cross;
            y_max = y_max.max(total as f64);
            let label = total.to_string();
            bars.push(Bar {
                category: i,
                slot: 0,
                stack: vec![(same as f64, SAME_ZONE), (cross as f64, CROSS_ZONE)],
                label: Some(label),
                error: None,
                missing: None,
            });
        }
        panels.push(BarPanel {
            caption: Some(format!("strategy: {s}")),
            x_desc: "node (zone)".to_string(),
            y_desc: match kind {
                ZoneBars::Offloads => "jobs offloaded to a peer".to_string(),
                ZoneBars::Responses => "jobs executed and answered".to_string(),
            },
            categories: totals
                .iter()
                .map(|t| format!("{}\n{}", t.node, t.zone))
                .collect(),
            slots: 1,
            y_max: 0.0,
            bars,
            hlines: Vec::new(),
            integer_y: true,
        });
    }
    for p in &mut panels {
        p.y_max = headroom(y_max);
    }
    let (title, same, cross) = match kind {
        ZoneBars::Offloads => (
            "Offloads per node: same zone vs cross zone (jobs an entry node sent to a peer)",
            "offloaded to a peer in the same zone",
            "offloaded to a peer in another zone",
        ),
        ZoneBars::Responses => (
            "Responses per node: same zone vs cross zone (jobs the node executed)",
            "job entered in this node's zone",
            "job entered in another zone",
        ),
    };
    BarFigure {
        title: opts.title(title),
        grid: grid_for(panels.len()),
        panels,
        legend: vec![
            LegendEntry::new(same, LegendMark::Box(SAME_ZONE)),
            LegendEntry::new(cross, LegendMark::Box(CROSS_ZONE)),
        ],
    }
}

#[derive(Clone, Copy)]
enum NodeMetric {
    Queue,
    Cpu,
}

fn node_time_figure(
    rows: &[NodeWindowRow],
    strategies: &[String],
    all_nodes: &[String],
    events: &[EventRow],
    metric: NodeMetric,
    opts: &ChartOptions,
) -> XyFigure {
    let len = window_len_s(rows.iter().map(|r| &r.window_start_s)) as f64;
    let nodes: Vec<(String, String)> = {
        let mut v: Vec<(String, String)> = Vec::new();
        for r in rows {
            if !v.iter().any(|(n, _)| n == &r.node) {
                v.push((r.node.clone(), r.zone.clone()));
            }
        }
        v.sort_by(|a, b| crate::records::natural_cmp(&a.0, &b.0));
        v
    };
    let value = |r: &NodeWindowRow| -> Option<f64> {
        if !r.up {
            return None;
        }
        match metric {
            NodeMetric::Queue => r.queue_len.map(|q| q as f64),
            NodeMetric::Cpu => r.cpu_pct,
        }
    };
    let y_top = headroom(rows.iter().filter_map(value).fold(0.0, f64::max)).max(1.0);
    let x_end = rows
        .iter()
        .map(|r| r.window_start_s as f64 + len)
        .fold(len, f64::max);
    let shown: Vec<&String> = strategies
        .iter()
        .filter(|s| rows.iter().any(|r| &r.strategy == *s))
        .collect();
    let mut any_markers = false;
    let panels: Vec<XyPanel> = shown
        .iter()
        .map(|s| {
            let markers = event_markers(events, Some(s));
            any_markers |= !markers.is_empty();
            let series = nodes
                .iter()
                .map(|(n, _)| Series {
                    color: node_color(node_index(all_nodes, n)),
                    style: SeriesStyle::Line,
                    points: rows
                        .iter()
                        .filter(|r| &r.strategy == *s && &r.node == n)
                        .map(|r| value(r).map(|v| (r.window_start_s as f64 + len, v)))
                        .collect(),
                })
                .collect();
            XyPanel {
                caption: Some(format!("strategy: {s}")),
                x_desc: TIME_DESC.to_string(),
                y_desc: match metric {
                    NodeMetric::Queue => "jobs waiting in queue".to_string(),
                    NodeMetric::Cpu => "CPU (% of the node's cores)".to_string(),
                },
                x_range: time_range(x_end, &markers),
                y_range: 0.0..y_top,
                series,
                markers,
                hlines: Vec::new(),
                empty_note: None,
            }
        })
        .collect();
    let mut legend: Vec<LegendEntry> = nodes
        .iter()
        .map(|(n, z)| {
            LegendEntry::new(
                format!("{n} ({z})"),
                LegendMark::Line(node_color(node_index(all_nodes, n))),
            )
        })
        .collect();
    if any_markers {
        legend.push(LegendEntry::new(
            "fault / recovery",
            LegendMark::Dashed(GRAY),
        ));
    }
    let title = match metric {
        NodeMetric::Queue => {
            "Queue length per node at the end of each 5 s window (gaps: node down)"
        }
        NodeMetric::Cpu => "CPU use per node at the end of each 5 s window (gaps: node down)",
    };
    XyFigure {
        title: opts.title(title),
        grid: grid_for(panels.len()),
        panels,
        legend,
    }
}

/// Most points a CDF line keeps; more are thinned evenly (keeping the last) to bound SVG size.
const CDF_MAX_POINTS: usize = 1500;

fn latency_cdf_figure(
    requests: &[RequestRow],
    strategies: &[String],
    timeout_ms: Option<u64>,
    opts: &ChartOptions,
) -> XyFigure {
    let timeout_s = timeout_ms.map(|t| t as f64 / 1000.0);
    let max_lat = requests
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .map(|r| r.latency_ms / 1000.0)
        .fold(0.0, f64::max);
    let x_end = (max_lat.max(timeout_s.unwrap_or(0.0)) * 1.08).max(1.0);
    let mut series = Vec::new();
    let mut legend = Vec::new();
    for (i, s) in strategies.iter().enumerate() {
        let mine: Vec<&RequestRow> = requests.iter().filter(|r| &r.strategy == s).collect();
        if mine.is_empty() {
            continue;
        }
        let total = mine.len() as f64;
        let mut ok: Vec<f64> = mine
            .iter()
            .filter(|r| r.outcome == Outcome::Ok)
            .map(|r| r.latency_ms / 1000.0)
            .collect();
        ok.sort_by(f64::total_cmp);
        let color = strategy_color(i);
        let step = ok.len().div_ceil(CDF_MAX_POINTS).max(1);
        let mut pts = vec![Some((0.0, 0.0))];
        for (k, l) in ok.iter().enumerate() {
            if k % step == step - 1 || k + 1 == ok.len() {
                pts.push(Some((*l, 100.0 * (k + 1) as f64 / total)));
            }
        }
        let final_pct = 100.0 * ok.len() as f64 / total;
        let last_x = ok.last().copied().unwrap_or(0.0);
        series.push(Series {
            color,
            style: SeriesStyle::Step,
            points: pts,
        });
        // The plateau: requests that never succeeded keep the curve below 100 %.
        series.push(Series {
            color,
            style: SeriesStyle::Dashed,
            points: vec![Some((last_x, final_pct)), Some((x_end, final_pct))],
        });
        series.push(Series {
            color,
            style: SeriesStyle::Points,
            points: vec![Some((x_end, final_pct))],
        });
        let count = |o: Outcome| mine.iter().filter(|r| r.outcome == o).count() as f64;
        let mut parts = vec![format!("{final_pct:.1}% ok")];
        let timeouts = count(Outcome::Timeout);
        if timeouts > 0.0 {
            parts.push(format!("{:.1}% timeout", 100.0 * timeouts / total));
        }
        let other = total - ok.len() as f64 - timeouts;
        if other > 0.0 {
            parts.push(format!("{:.1}% failed", 100.0 * other / total));
        }
        legend.push(LegendEntry::new(
            format!("{s}: {}", parts.join(", ")),
            LegendMark::Line(color),
        ));
    }
    legend.push(LegendEntry::new(
        "share that never succeeded",
        LegendMark::Dashed(GRAY),
    ));
    let markers: Vec<Marker> = timeout_s
        .map(|t| Marker {
            x: t,
            label: format!("client timeout {}", seconds_label(t)),
            color: RGBColor(0xd6, 0x27, 0x28),
        })
        .into_iter()
        .collect();
    XyFigure {
        title: opts
            .title("Latency CDF over all requests (failures and timeouts keep it below 100%)"),
        panels: vec![XyPanel {
            caption: None,
            x_desc: "latency from submit to answer (s)".to_string(),
            y_desc: "requests answered successfully within x (%)".to_string(),
            x_range: 0.0..x_end,
            y_range: 0.0..108.0,
            series,
            markers,
            hlines: vec![HLine {
                y: 100.0,
                label: "all requests".to_string(),
                color: GRAY,
            }],
            empty_note: None,
        }],
        grid: (1, 1),
        legend,
    }
}

fn convergence_figure(
    rows: &[crate::records::ConvergenceRow],
    strategies: &[String],
    opts: &ChartOptions,
) -> BarFigure {
    let mut nodes: Vec<String> = Vec::new();
    for r in rows {
        if !nodes.contains(&r.node) {
            nodes.push(r.node.clone());
        }
    }
    nodes.sort_by(|a, b| crate::records::natural_cmp(a, b));
    let shown: Vec<&String> = strategies
        .iter()
        .filter(|s| rows.iter().any(|r| &r.strategy == *s))
        .collect();
    let zone_of = |n: &str| {
        rows.iter()
            .find(|r| r.node == n)
            .map(|r| r.zone.clone())
            .unwrap_or_default()
    };
    let categories: Vec<String> = nodes
        .iter()
        .map(|n| format!("{n}\n{}", zone_of(n)))
        .collect();
    let mut time_bars = Vec::new();
    let mut round_bars = Vec::new();
    let mut t_max: f64 = 0.0;
    let mut r_max: f64 = 0.0;
    for (slot, s) in shown.iter().enumerate() {
        let color = strategy_color(strategies.iter().position(|x| x == *s).unwrap_or(slot));
        for (c, n) in nodes.iter().enumerate() {
            let Some(r) = rows.iter().find(|r| &r.strategy == *s && &r.node == n) else {
                continue;
            };
            match r.time_to_full_view_ms {
                Some(t) => {
                    let t = t as f64 / 1000.0;
                    t_max = t_max.max(t);
                    time_bars.push(Bar {
                        category: c,
                        slot,
                        stack: vec![(t, color)],
                        label: Some(format!("{t:.1}")),
                        error: None,
                        missing: None,
                    });
                }
                None => time_bars.push(missing_bar(c, slot, "never")),
            }
            match r.rounds {
                Some(k) => {
                    r_max = r_max.max(k as f64);
                    round_bars.push(Bar {
                        category: c,
                        slot,
                        stack: vec![(k as f64, color)],
                        label: Some(k.to_string()),
                        error: None,
                        missing: None,
                    });
                }
                None => round_bars.push(missing_bar(c, slot, "never")),
            }
        }
    }
    let panels = vec![
        BarPanel {
            caption: Some("time to a full view".to_string()),
            x_desc: "node (zone)".to_string(),
            y_desc: "time from node start (s)".to_string(),
            categories: categories.clone(),
            slots: shown.len(),
            y_max: headroom(t_max),
            bars: time_bars,
            hlines: Vec::new(),
            integer_y: false,
        },
        BarPanel {
            caption: Some("gossip rounds to a full view".to_string()),
            x_desc: "node (zone)".to_string(),
            y_desc: "gossip rounds".to_string(),
            categories,
            slots: shown.len(),
            y_max: headroom(r_max).max(1.0),
            bars: round_bars,
            hlines: Vec::new(),
            integer_y: true,
        },
    ];
    let legend = if shown.len() > 1 {
        shown
            .iter()
            .map(|s| {
                let i = strategies.iter().position(|x| x == *s).unwrap_or(0);
                LegendEntry::new((*s).clone(), LegendMark::Box(strategy_color(i)))
            })
            .collect()
    } else {
        Vec::new()
    };
    BarFigure {
        title: opts.title("Gossip convergence: when each node first knew every other node alive"),
        panels,
        grid: (1, 2),
        legend,
    }
}

fn missing_bar(category: usize, slot: usize, note: &str) -> Bar {
    Bar {
        category,
        slot,
        stack: Vec::new(),
        label: None,
        error: None,
        missing: Some(note.to_string()),
    }
}

fn detection_figure(
    rows: &[crate::records::FailureDetectionRow],
    strategies: &[String],
    all_nodes: &[String],
    opts: &ChartOptions,
) -> BarFigure {
    let mut observers: Vec<String> = Vec::new();
    for r in rows {
        if !observers.contains(&r.observer) {
            observers.push(r.observer.clone());
        }
    }
    observers.sort_by(|a, b| crate::records::natural_cmp(a, b));
    let shown: Vec<&String> = strategies
        .iter()
        .filter(|s| rows.iter().any(|r| &r.strategy == *s))
        .collect();
    let y_max = headroom(
        rows.iter()
            .filter_map(|r| r.detection_delay_ms)
            .fold(0.0, |m, d| m.max(d as f64 / 1000.0)),
    );
    let mut panels = Vec::new();
    for s in &shown {
        let mine: Vec<_> = rows.iter().filter(|r| &r.strategy == *s).collect();
        // Faults in time order; one category each.
        let faults: Vec<(u64, String, String)> = mine
            .iter()
            .map(|r| (r.fault_ms, r.failed_node.clone(), r.fault.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut bars = Vec::new();
        for (c, (t, node, fault)) in faults.iter().enumerate() {
            for (slot, o) in observers.iter().enumerate() {
                let Some(r) = mine.iter().find(|r| {
                    r.fault_ms == *t
                        && &r.failed_node == node
                        && &r.fault == fault
                        && &r.observer == o
                }) else {
                    continue;
                };
                match r.detection_delay_ms {
                    Some(d) => {
                        let d = d as f64 / 1000.0;
                        bars.push(Bar {
                            category: c,
                            slot,
                            stack: vec![(d, node_color(node_index(all_nodes, o)))],
                            label: Some(format!("{d:.1}")),
                            error: None,
                            missing: None,
                        });
                    }
                    None => bars.push(missing_bar(c, slot, "never")),
                }
            }
        }
        panels.push(BarPanel {
            caption: Some(format!("strategy: {s}")),
            x_desc: "fault".to_string(),
            y_desc: "detection delay (s)".to_string(),
            categories: faults
                .iter()
                .map(|(t, node, fault)| fault_label(fault, node, *t))
                .collect(),
            slots: observers.len(),
            y_max,
            bars,
            hlines: Vec::new(),
            integer_y: false,
        });
    }
    let mut legend: Vec<LegendEntry> = observers
        .iter()
        .map(|o| {
            LegendEntry::new(
                format!("observer {o}"),
                LegendMark::Box(node_color(node_index(all_nodes, o))),
            )
        })
        .collect();
    legend.push(LegendEntry::new(
        "never declared down",
        LegendMark::Cross(RGBColor(0xd6, 0x27, 0x28)),
    ));
    BarFigure {
        title: opts
            .title("Failure detection: delay until each live node declared the failed node down"),
        grid: grid_for(panels.len()),
        panels,
        legend,
    }
}

fn fault_label(fault: &str, node: &str, t_ms: u64) -> String {
    let t = seconds_label(t_ms as f64 / 1000.0);
    if fault.chars().all(|c| c.is_ascii_digit()) {
        format!("#{fault}: {node} @ {t}")
    } else {
        format!("{node} {fault} @ {t}")
    }
}

/// A node's position in the scenario's node list, so each node has one colour in every chart.
fn node_index(all_nodes: &[String], node: &str) -> usize {
    all_nodes
        .iter()
        .position(|n| n == node)
        .unwrap_or(all_nodes.len())
}
