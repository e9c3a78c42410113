//! A simulated run next to a live run of the same scenario: per strategy and metric the two
//! values, their relative error, and whether both executors rank the strategies the same way.
//!
//! Metrics: `success_rate`, `goodput_per_s`, `latency_p50_ms`, `latency_p95_ms` and
//! `same_zone_offload_share` from summary.csv; `recovery_s` and `unrecovered_faults` from
//! events.csv and the client windows ([`recovery`]); `detection_mean_s` from
//! failure_detection.csv ([`detection_mean_s`]).
//!
//! Two strategies tie on a metric in one executor when their values differ by at most the
//! tolerance relative to the larger one, or by at most the metric's absolute floor
//! ([`metric_floor`]: 50 ms for latencies, one 5 s window for recovery, 1 s for detection). A
//! ranking disagrees only when a pair is strictly ordered one way simulated and strictly the
//! other way live. The verdict ([`Comparison::verdict_ok`]) gates on the success-rate and
//! goodput rankings and on each strategy's goodput error; everything else is reported.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use crate::charts::{
    client_series, event_markers, render_figure, strategy_color, ChartOptions, LegendEntry,
    LegendMark, SeriesStyle, XyFigure, XyPanel,
};
use crate::csvio::{f3, opt_f3, write_csv};
use crate::error::{Error, Result};
use crate::records::{
    ClientWindowRow, EventKind, EventRow, FailureDetectionRow, Outcome, RequestRow, ScenarioData,
    SummaryRow,
};

/// The client windows' length when a run has too few windows to tell (docs/metrics.md).
const DEFAULT_WINDOW_S: u64 = 5;

/// How far (percentage points) below its pre-fault baseline the client's success may stay and
/// still count as recovered: windows jitter by a few points without any fault.
pub const RECOVERY_MARGIN_PCT: f64 = 5.0;

/// What one executor measured for one strategy, from every file of its folder.
struct StrategyMetrics {
    summary: Option<SummaryRow>,
    /// `None` when the folder has no events.csv, or neither client_windows.csv nor requests.csv.
    recovery: Option<Recovery>,
    detection_mean_s: Option<f64>,
}

impl StrategyMetrics {
    fn of(data: &ScenarioData, windows: Option<&[ClientWindowRow]>, strategy: &str) -> Self {
        StrategyMetrics {
            summary: data
                .summary
                .iter()
                .flatten()
                .find(|r| r.strategy == strategy)
                .cloned(),
            recovery: match (data.events.as_deref(), windows) {
                (Some(events), Some(windows)) => Some(recovery(windows, events, strategy)),
                _ => None,
            },
            detection_mean_s: data
                .failure_detection
                .as_deref()
                .and_then(|rows| detection_mean_s(rows, strategy)),
        }
    }
}

/// A compared metric: name, how to read it, whether higher is better (for rankings), and the
/// absolute gap below which two values are the same whatever the tolerance says.
struct Compared {
    name: &'static str,
    get: fn(&StrategyMetrics) -> Option<f64>,
    higher_is_better: bool,
    floor: f64,
}

/// Latencies closer than this (ms) are equal: scheduling and timer noise on a shared host
/// alone moves a percentile by tens of milliseconds.
pub const LATENCY_FLOOR_MS: f64 = 50.0;
/// Recovery times closer than one client window (s) are equal: a window is the resolution of
/// the measurement, and a fault landing just either side of a window boundary moves it by one.
pub const RECOVERY_FLOOR_S: f64 = DEFAULT_WINDOW_S as f64;
/// Detection delays closer than this (s) are equal: the live run sees a node's view of its
/// peers through a once-a-second /status poll, and SWIM probes once a second.
pub const DETECTION_FLOOR_S: f64 = 1.0;

/// The metrics whose strategy rankings decide [`Comparison::verdict_ok`]; the other rankings
/// are reported only (latency, offload share, recovery and detection depend on the host far more
/// than which strategy serves more requests).
pub const GATED_RANKINGS: &[&str] = &["success_rate", "goodput_per_s"];
/// The metric whose per-strategy relative error must be within the tolerance for
/// [`Comparison::verdict_ok`].
pub const GATED_VALUE: &str = "goodput_per_s";

const COMPARED: &[Compared] = &[
    Compared {
        name: "success_rate",
        get: |m| m.summary.as_ref().map(|r| r.success_rate),
        higher_is_better: true,
        floor: 0.0,
    },
    Compared {
        name: "goodput_per_s",
        get: |m| m.summary.as_ref().map(|r| r.goodput_per_s),
        higher_is_better: true,
        floor: 0.0,
    },
    Compared {
        name: "latency_p50_ms",
        get: |m| m.summary.as_ref()?.latency_p50_ms,
        higher_is_better: false,
        floor: LATENCY_FLOOR_MS,
    },
    Compared {
        name: "latency_p95_ms",
        get: |m| m.summary.as_ref()?.latency_p95_ms,
        higher_is_better: false,
        floor: LATENCY_FLOOR_MS,
    },
    Compared {
        name: "same_zone_offload_share",
        get: |m| m.summary.as_ref()?.same_zone_offload_share(),
        higher_is_better: true,
        floor: 0.0,
    },
    Compared {
        name: "recovery_s",
        get: |m| m.recovery.as_ref()?.mean_s(),
        higher_is_better: false,
        floor: RECOVERY_FLOOR_S,
    },
    Compared {
        // Says why recovery_s is empty when a fault was never recovered from.
        name: "unrecovered_faults",
        get: |m| {
            let r = m.recovery.as_ref()?;
            (r.faults() > 0).then(|| r.unrecovered() as f64)
        },
        higher_is_better: false,
        floor: 0.0,
    },
    Compared {
        name: "detection_mean_s",
        get: |m| m.detection_mean_s,
        higher_is_better: false,
        floor: DETECTION_FLOOR_S,
    },
];

/// How one strategy's clients came back after each fault that took a node out.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// Mean `success_pct` of the windows that ended before the first fault (100 without any).
    pub baseline_pct: f64,
    /// Per crash or pause, in time order: seconds from the fault to the end of the first window
    /// (starting at or after it) whose success is within [`RECOVERY_MARGIN_PCT`] of the
    /// baseline; `None` when no such window came before the run ended.
    pub per_fault_s: Vec<Option<f64>>,
}

impl Recovery {
    pub fn faults(&self) -> usize {
        self.per_fault_s.len()
    }

    pub fn unrecovered(&self) -> usize {
        self.per_fault_s.iter().filter(|r| r.is_none()).count()
    }

    /// Mean over the faults; `None` without faults, or when one was never recovered from (a
    /// mean over the recovered ones alone would flatter the strategy).
    pub fn mean_s(&self) -> Option<f64> {
        if self.per_fault_s.is_empty() {
            return None;
        }
        let v: Option<Vec<f64>> = self.per_fault_s.iter().copied().collect();
        crate::stats::mean(&v?)
    }
}

/// Recovery of `strategy` after each of its crash/pause events, from its client windows.
///
/// A fault's recovery ends with the first window starting at or after the fault whose
/// `success_pct` is at least the baseline minus [`RECOVERY_MARGIN_PCT`]; windows in which no
/// request ended tell nothing and never count as recovered. When success did not dip at all, this
/// still gives the time to the end of the first window after the fault, not 0: a window is the
/// finest thing measured, so "back by the end of the next window" is all either executor can
/// claim, and a dip that healed within that window reads the same as no dip — 0 would claim a
/// precision neither run has, and the fault's offset inside a window would make the two
/// executors differ by up to a whole window for no reason.
pub fn recovery(windows: &[ClientWindowRow], events: &[EventRow], strategy: &str) -> Recovery {
    let mut faults: Vec<u64> = events
        .iter()
        .filter(|e| e.strategy == strategy && matches!(e.kind, EventKind::Crash | EventKind::Pause))
        .map(|e| e.time_ms)
        .collect();
    faults.sort_unstable();
    let mut mine: Vec<&ClientWindowRow> =
        windows.iter().filter(|w| w.strategy == strategy).collect();
    mine.sort_by_key(|w| w.window_start_s);
    let len_s = window_len_s(&mine);
    let end_ms = |w: &ClientWindowRow| (w.window_start_s + len_s) * 1000;
    let baseline_pct = faults
        .first()
        .and_then(|&first| {
            let before: Vec<f64> = mine
                .iter()
                .filter(|w| end_ms(w) <= first)
                .filter_map(|w| w.success_pct)
                .collect();
            crate::stats::mean(&before)
        })
        .unwrap_or(100.0);
    let threshold = baseline_pct - RECOVERY_MARGIN_PCT;
    let per_fault_s = faults
        .iter()
        .map(|&t| {
            mine.iter()
                .filter(|w| w.window_start_s * 1000 >= t)
                .find(|w| w.success_pct.is_some_and(|p| p >= threshold))
                .map(|w| (end_ms(w) - t) as f64 / 1000.0)
        })
        .collect();
    Recovery {
        baseline_pct,
        per_fault_s,
    }
}

/// The smallest gap between consecutive window starts, else [`DEFAULT_WINDOW_S`].
fn window_len_s(sorted: &[&ClientWindowRow]) -> u64 {
    sorted
        .windows(2)
        .map(|p| p[1].window_start_s - p[0].window_start_s)
        .filter(|&d| d > 0)
        .min()
        .unwrap_or(DEFAULT_WINDOW_S)
}

/// Mean seconds from fault to detection over `strategy`'s rows of failure_detection.csv that
/// have a detection; `None` when there are none.
pub fn detection_mean_s(rows: &[FailureDetectionRow], strategy: &str) -> Option<f64> {
    let delays: Vec<f64> = rows
        .iter()
        .filter(|r| r.strategy == strategy)
        .filter_map(|r| Some(r.detected_ms?.saturating_sub(r.fault_ms) as f64 / 1000.0))
        .collect();
    crate::stats::mean(&delays)
}

/// The folder's client windows, or, when it has no client_windows.csv (a live run that kept only
/// the client's requests.csv), the same 5 s windows rebuilt from requests.csv as docs/metrics.md
/// defines them (a request belongs to the window in which it ended). Rebuilt windows lack the
/// attempt columns.
pub fn client_windows(data: &ScenarioData) -> Option<Vec<ClientWindowRow>> {
    if let Some(w) = &data.client_windows {
        return Some(w.clone());
    }
    data.requests
        .as_deref()
        .map(|r| windows_from_requests(r, DEFAULT_WINDOW_S))
}

fn windows_from_requests(requests: &[RequestRow], len_s: u64) -> Vec<ClientWindowRow> {
    let len_ms = len_s * 1000;
    let mut strategies: Vec<&str> = Vec::new();
    for r in requests {
        if !strategies.contains(&r.strategy.as_str()) {
            strategies.push(&r.strategy);
        }
    }
    let mut out = Vec::new();
    for s in strategies {
        let mine: Vec<&RequestRow> = requests.iter().filter(|r| r.strategy == s).collect();
        let last = mine.iter().map(|r| r.end_ms / len_ms).max().unwrap_or(0);
        for w in 0..=last {
            let (lo, hi) = (w * len_ms, (w + 1) * len_ms);
            let ended: Vec<&&RequestRow> = mine
                .iter()
                .filter(|r| r.end_ms >= lo && r.end_ms < hi)
                .collect();
            let mut ok: Vec<f64> = ended
                .iter()
                .filter(|r| r.outcome == Outcome::Ok)
                .map(|r| r.latency_ms)
                .collect();
            ok.sort_by(f64::total_cmp);
            let n = ended.len() as u64;
            out.push(ClientWindowRow {
                strategy: s.to_string(),
                window_start_s: w * len_s,
                ended: n,
                succeeded: ok.len() as u64,
                success_pct: (n > 0).then(|| 100.0 * ok.len() as f64 / n as f64),
                latency_mean_ms: crate::stats::mean(&ok),
                // nearest rank, as the executors compute it
                latency_p95_ms: (!ok.is_empty())
                    .then(|| ok[((0.95 * ok.len() as f64).ceil() as usize).clamp(1, ok.len()) - 1]),
                in_flight: mine
                    .iter()
                    .filter(|r| r.submit_ms < hi && r.end_ms >= hi)
                    .count() as u64,
                attempts: None,
                attempt_success_pct: None,
            });
        }
    }
    out
}

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
    /// Whether sim and live are the same value within the tolerance: `rel_error ≤ tolerance`, or
    /// an absolute gap within the metric's floor (see [`metric_floor`]); `None` when either
    /// value is missing.
    pub within_tolerance: Option<bool>,
    /// Whether this row's `within_tolerance` takes part in [`Comparison::verdict_ok`].
    pub gated: bool,
    /// The least and greatest value the simulator gave over several seeds of the same scenario,
    /// when the caller ran them ([`Comparison::widen_to_sim_spread`]). A single simulated run is
    /// one draw of the workload's and the strategy's randomness, and so is the live run; with a
    /// spread, live agrees when it is within the tolerance of any value the simulator produced.
    pub sim_spread: Option<(f64, f64)>,
}

impl CompareRow {
    /// How far the live value lies outside the simulator's values (the single run, or the
    /// spread over seeds), in the metric's own unit; 0 inside the spread.
    fn abs_gap(&self) -> Option<f64> {
        let (sim, live) = (self.sim?, self.live?);
        let (lo, hi) = self.sim_spread.unwrap_or((sim, sim));
        Some((lo - live).max(live - hi).max(0.0))
    }

    /// [`Self::abs_gap`] relative to the live value; `None` when live is 0 and the gap is not.
    pub fn gap(&self) -> Option<f64> {
        let (d, live) = (self.abs_gap()?, self.live?);
        if d == 0.0 {
            Some(0.0)
        } else if live != 0.0 {
            Some(d / live.abs())
        } else {
            None
        }
    }

    fn judge(&mut self, tolerance: f64, floor: f64) {
        self.within_tolerance = self
            .abs_gap()
            .map(|d| d <= floor + 1e-9 || self.gap().is_some_and(|e| e <= tolerance + 1e-12));
    }
}

/// How both executors order the strategies on one metric.
///
/// Two strategies are *tied* in an executor when their values are within the tolerance of the
/// larger one, or within the metric's absolute floor ([`tied`]). The rankings *disagree* only
/// when some pair is strictly ordered one way in the simulation and strictly the other way live;
/// a tie on either side contradicts nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct RankingRow {
    pub metric: String,
    /// Best first (by value, then by name).
    pub sim_order: Vec<String>,
    pub live_order: Vec<String>,
    /// `sim_tied[i]`: `sim_order[i]` and `sim_order[i + 1]` are tied in the simulation.
    pub sim_tied: Vec<bool>,
    pub live_tied: Vec<bool>,
    /// Pairs (a, b) the simulation puts strictly before each other (a better than b) and the
    /// live run strictly the other way round.
    pub conflicts: Vec<(String, String)>,
    pub agrees: bool,
    /// Whether this ranking takes part in [`Comparison::verdict_ok`] ([`GATED_RANKINGS`]).
    pub gated: bool,
}

impl RankingRow {
    /// The simulation's order, best first, `>` between strictly ordered neighbours and `=`
    /// between tied ones: `score > random = round_robin`. Ties need not be transitive, so `=`
    /// only says the two neighbours are within the margin.
    pub fn sim_text(&self) -> String {
        order_text(&self.sim_order, &self.sim_tied)
    }

    /// [`Self::sim_text`] of the live run.
    pub fn live_text(&self) -> String {
        order_text(&self.live_order, &self.live_tied)
    }
}

fn order_text(order: &[String], tied: &[bool]) -> String {
    let mut out = String::new();
    for (i, s) in order.iter().enumerate() {
        if i > 0 {
            out.push_str(if tied.get(i - 1) == Some(&true) {
                " = "
            } else {
                " > "
            });
        }
        out.push_str(s);
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub tolerance: f64,
    pub rows: Vec<CompareRow>,
    pub rankings: Vec<RankingRow>,
}

impl Comparison {
    /// The verdict `compare` exits on: the strategy rankings of success rate and goodput agree
    /// (ties allowed, see [`RankingRow`]) and every strategy's goodput is within the tolerance.
    /// The other metrics are reported, not gated: they depend on the host far more.
    pub fn verdict_ok(&self) -> bool {
        self.failures().is_empty()
    }

    /// Records the simulator's spread `(min, max)` of `metric` for `strategy` over several seeds
    /// (the compared run's own value included) and judges that row against it: live agrees
    /// when it is within the tolerance (or the metric's floor) of some simulated value. Returns
    /// false when there is no such row.
    pub fn widen_to_sim_spread(
        &mut self,
        strategy: &str,
        metric: &str,
        min: f64,
        max: f64,
    ) -> bool {
        let tolerance = self.tolerance;
        let Some(row) = self
            .rows
            .iter_mut()
            .find(|r| r.strategy == strategy && r.metric == metric)
        else {
            return false;
        };
        let (mut lo, mut hi) = (min.min(max), min.max(max));
        if let Some(x) = row.sim {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        row.sim_spread = Some((lo, hi));
        row.judge(tolerance, metric_floor(metric));
        true
    }

    /// Why [`Self::verdict_ok`] is false, one line per reason; empty when it is true.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.rankings.iter().filter(|r| r.gated && !r.agrees) {
            let pairs: Vec<String> = r
                .conflicts
                .iter()
                .map(|(a, b)| format!("sim {a} > {b}, live {b} > {a}"))
                .collect();
            out.push(format!(
                "{} ranking differs: {}",
                r.metric,
                pairs.join("; ")
            ));
        }
        for r in self.rows.iter().filter(|r| r.gated) {
            if r.within_tolerance == Some(false) {
                let by = match (r.sim_spread, r.gap(), r.rel_error) {
                    (Some((lo, hi)), Some(g), _) => format!(
                        "is {:.1} % outside the simulator's {}–{} over seeds",
                        100.0 * g,
                        f3(lo),
                        f3(hi)
                    ),
                    (None, _, Some(e)) => format!("differs by {:.1} %", 100.0 * e),
                    _ => format!("is 0 live but {} simulated", opt_f3(r.sim)),
                };
                out.push(format!(
                    "{} {} {by} (tolerance {:.1} %)",
                    r.strategy,
                    r.metric,
                    100.0 * self.tolerance
                ));
            }
        }
        out
    }

    /// The comparison as a plain-text table: per strategy × metric the sim and live values, the
    /// relative error and whether it is within the tolerance; per metric both rankings and
    /// whether they agree; then the verdict and what the exit status of `compare` means.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let tol = format!("{:.1} %", 100.0 * self.tolerance);
        let v = |x: Option<f64>| x.map_or_else(|| "-".to_string(), f3);
        let sw = self
            .rows
            .iter()
            .map(|r| r.strategy.len())
            .chain(["strategy".len()])
            .max()
            .unwrap_or(8);
        let mw = metric_names().map(str::len).max().unwrap_or(6);
        let _ = writeln!(
            out,
            "{:<sw$}  {:<mw$}  {:>11}  {:>11}  {:>9}  within {tol}",
            "strategy", "metric", "sim", "live", "rel.err"
        );
        for r in &self.rows {
            let within = match r.within_tolerance {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let spread = r.sim_spread.map_or_else(String::new, |(lo, hi)| {
                format!(
                    "  sim over seeds {}–{}, live {}",
                    f3(lo),
                    f3(hi),
                    match r.gap() {
                        Some(g) if g > 0.0 => format!("{:.1} % outside", 100.0 * g),
                        Some(_) => "inside".to_string(),
                        None => "-".to_string(),
                    }
                )
            });
            let _ = writeln!(
                out,
                "{:<sw$}  {:<mw$}  {:>11}  {:>11}  {:>9}  {within}{}{spread}",
                r.strategy,
                r.metric,
                v(r.sim),
                v(r.live),
                r.rel_error
                    .map_or_else(|| "-".to_string(), |e| format!("{:.1} %", 100.0 * e)),
                if r.gated { " (gated)" } else { "" },
            );
        }
        let _ = writeln!(
            out,
            "within: relative error ≤ {tol}, or an absolute gap ≤ {LATENCY_FLOOR_MS} ms \
             (latencies), {RECOVERY_FLOOR_S} s (recovery), {DETECTION_FLOOR_S} s (detection); \
             where the simulator ran several seeds, measured from the nearest simulated value"
        );
        let _ = writeln!(
            out,
            "\nrankings, best first (\"=\": within {tol} or that floor of its neighbour):"
        );
        for r in &self.rankings {
            let state = match (r.agrees, r.gated) {
                (true, true) => "agrees",
                (false, true) => "DIFFERS",
                (true, false) => "agrees (not gated)",
                (false, false) => "differs (not gated)",
            };
            let _ = writeln!(
                out,
                "{:<mw$}  {state:<19}  sim: {}  |  live: {}",
                r.metric,
                r.sim_text(),
                r.live_text()
            );
        }
        let _ = writeln!(
            out,
            "\ngated: the {} rankings and every strategy's {GATED_VALUE} error; the other \
             metrics depend on the host far more and are reported only",
            GATED_RANKINGS.join(" and ")
        );
        let failures = self.failures();
        for f in &failures {
            let _ = writeln!(out, "  - {f}");
        }
        if failures.is_empty() {
            let _ = writeln!(out, "verdict: sim and live agree (exit status 0)");
        } else {
            let _ = writeln!(
                out,
                "verdict: sim and live DISAGREE on {} gated check(s) above (exit status 1)",
                failures.len()
            );
        }
        let _ = writeln!(
            out,
            "exit status: 0 agree, 1 disagree (files written either way), 2 error"
        );
        out
    }

    /// True when every comparable value is within tolerance and every ranking agrees, gated or
    /// not.
    pub fn all_agree(&self) -> bool {
        self.rows.iter().all(|r| r.within_tolerance != Some(false))
            && self.rankings.iter().all(|r| r.agrees)
    }
}

/// The absolute gap below which two values of `metric` count as equal (0 for metrics compared
/// only relatively, and for unknown names).
pub fn metric_floor(metric: &str) -> f64 {
    COMPARED
        .iter()
        .find(|m| m.name == metric)
        .map_or(0.0, |m| m.floor)
}

/// Names of the compared metrics, in report order.
pub fn metric_names() -> impl Iterator<Item = &'static str> {
    COMPARED.iter().map(|m| m.name)
}

/// Whether two values of one metric in one executor are too close to order: their gap is at
/// most `tolerance` relative to the larger magnitude, or at most `floor` in absolute terms.
pub fn tied(a: f64, b: f64, tolerance: f64, floor: f64) -> bool {
    let gap = (a - b).abs();
    // floating-point slack: a gap of exactly the margin is a tie
    let slack = 1e-9 * a.abs().max(b.abs()).max(1.0);
    gap <= floor + slack || gap <= tolerance * a.abs().max(b.abs()) + slack
}

/// Ranks `values` (strategy, sim value, live value) on one metric; see [`RankingRow`].
pub fn rank(
    metric: &str,
    higher_is_better: bool,
    values: &[(String, f64, f64)],
    tolerance: f64,
    floor: f64,
) -> RankingRow {
    // strictly better / worse / tied, in one executor
    let cmp = |x: f64, y: f64| {
        if tied(x, y, tolerance, floor) {
            std::cmp::Ordering::Equal
        } else if (x > y) == higher_is_better {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    };
    let order = |pick: fn(&(String, f64, f64)) -> f64| {
        let mut v: Vec<&(String, f64, f64)> = values.iter().collect();
        v.sort_by(|a, b| {
            let (x, y) = (pick(a), pick(b));
            let o = if higher_is_better {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            };
            o.then_with(|| a.0.cmp(&b.0))
        });
        let tied: Vec<bool> = v
            .windows(2)
            .map(|p| cmp(pick(p[0]), pick(p[1])).is_eq())
            .collect();
        (v.into_iter().map(|t| t.0.clone()).collect::<Vec<_>>(), tied)
    };
    let (sim_order, sim_tied) = order(|t| t.1);
    let (live_order, live_tied) = order(|t| t.2);
    let mut conflicts = Vec::new();
    for (i, a) in values.iter().enumerate() {
        for b in &values[i + 1..] {
            let (s, l) = (cmp(a.1, b.1), cmp(a.2, b.2));
            if s.is_ne() && l.is_ne() && s != l {
                // name the pair the simulation's way round: its better one first
                let (first, second) = if s.is_lt() { (a, b) } else { (b, a) };
                conflicts.push((first.0.clone(), second.0.clone()));
            }
        }
    }
    RankingRow {
        metric: metric.to_string(),
        sim_order,
        live_order,
        sim_tied,
        live_tied,
        agrees: conflicts.is_empty(),
        conflicts,
        gated: GATED_RANKINGS.contains(&metric),
    }
}

/// Reads the result folders `sim_dir` and `live_dir` and compares them; `tolerance` is a relative
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
    let (s_windows, l_windows) = (client_windows(sim), client_windows(live));
    let metrics: Vec<(&String, StrategyMetrics, StrategyMetrics)> = strategies
        .iter()
        .map(|s| {
            (
                s,
                StrategyMetrics::of(sim, s_windows.as_deref(), s),
                StrategyMetrics::of(live, l_windows.as_deref(), s),
            )
        })
        .collect();
    let mut rows = Vec::new();
    for (s, a, b) in &metrics {
        for m in COMPARED {
            let sv = (m.get)(a);
            let lv = (m.get)(b);
            let rel = match (sv, lv) {
                (Some(x), Some(y)) if y != 0.0 => Some((x - y).abs() / y.abs()),
                (Some(0.0), Some(_)) => Some(0.0),
                _ => None,
            };
            let mut row = CompareRow {
                strategy: (*s).clone(),
                metric: m.name.to_string(),
                sim: sv,
                live: lv,
                rel_error: rel,
                within_tolerance: None,
                gated: m.name == GATED_VALUE,
                sim_spread: None,
            };
            row.judge(tolerance, m.floor);
            rows.push(row);
        }
    }
    let rankings = COMPARED
        .iter()
        .map(|m| {
            // only strategies with a value in both runs take part
            let both: Vec<(String, f64, f64)> = metrics
                .iter()
                .filter_map(|(s, a, b)| Some(((*s).clone(), (m.get)(a)?, (m.get)(b)?)))
                .collect();
            rank(m.name, m.higher_is_better, &both, tolerance, m.floor)
        })
        .collect();
    Ok(Comparison {
        tolerance,
        rows,
        rankings,
    })
}

/// Writes `compare.csv`, `compare_ranking.csv` and the `compare_client` overlay chart into
/// `out`; returns the files written. In compare_ranking.csv the orders are best first with `=`
/// between tied neighbours, and `conflicts` lists the pairs ordered oppositely as
/// `sim_better/live_better`, space-separated.
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
                u8::from(r.gated).to_string(),
                opt_f3(r.sim_spread.map(|(lo, _)| lo)),
                opt_f3(r.sim_spread.map(|(_, hi)| hi)),
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
            "gated",
            "sim_min",
            "sim_max",
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
                r.sim_text(),
                r.live_text(),
                u8::from(r.agrees).to_string(),
                u8::from(r.gated).to_string(),
                r.conflicts
                    .iter()
                    .map(|(a, b)| format!("{a}/{b}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    write_csv(
        &ranking,
        &[
            "metric",
            "sim_order",
            "live_order",
            "agrees",
            "gated",
            "conflicts",
        ],
        &records,
    )?;
    let mut written = vec![csv, ranking];
    written.extend(render_overlay(out, sim, live, opts)?);
    Ok(written)
}

/// Client success % and mean latency over time, sim solid and live dashed, one colour per
/// strategy. Nothing is drawn unless both runs have `client_windows.csv` or `requests.csv`.
pub fn render_overlay(
    out: &Path,
    sim: &ScenarioData,
    live: &ScenarioData,
    opts: &ChartOptions,
) -> Result<Vec<PathBuf>> {
    let (Some(sw), Some(lw)) = (client_windows(sim), client_windows(live)) else {
        return Ok(Vec::new());
    };
    let (sw, lw) = (sw.as_slice(), lw.as_slice());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 5 s windows of strategy "s" with the given success percentages (`None`: nothing ended).
    fn windows(pcts: &[Option<f64>]) -> Vec<ClientWindowRow> {
        pcts.iter()
            .enumerate()
            .map(|(i, &p)| ClientWindowRow {
                strategy: "s".into(),
                window_start_s: 5 * i as u64,
                ended: u64::from(p.is_some()) * 10,
                succeeded: p.map_or(0, |p| (p / 10.0) as u64),
                success_pct: p,
                latency_mean_ms: None,
                latency_p95_ms: None,
                in_flight: 0,
                attempts: None,
                attempt_success_pct: None,
            })
            .collect()
    }

    fn event(time_ms: u64, kind: EventKind) -> EventRow {
        EventRow {
            strategy: "s".into(),
            time_ms,
            kind,
            node: "node2".into(),
        }
    }

    #[test]
    fn no_fault_no_recovery() {
        let w = windows(&[Some(100.0); 6]);
        let r = recovery(&w, &[], "s");
        assert_eq!(r.faults(), 0);
        assert_eq!(r.mean_s(), None);
        // restarts and resumes take no node out
        let r = recovery(&w, &[event(10_000, EventKind::Restart)], "s");
        assert_eq!(r.faults(), 0);
    }

    #[test]
    fn a_dip_recovers_at_the_end_of_the_first_good_window() {
        // baseline (windows ending by 15 s) = 90; threshold 85
        let w = windows(&[
            Some(90.0),
            Some(92.0),
            Some(88.0),
            Some(40.0),
            Some(80.0),
            Some(86.0),
            Some(95.0),
        ]);
        let r = recovery(&w, &[event(15_000, EventKind::Crash)], "s");
        assert_eq!(r.baseline_pct, 90.0);
        // windows 15-20 and 20-25 are below 85; 25-30 is back
        assert_eq!(r.per_fault_s, [Some(15.0)]);
        assert_eq!(r.mean_s(), Some(15.0));
        assert_eq!(r.unrecovered(), 0);
    }

    #[test]
    fn no_dip_counts_up_to_the_end_of_the_first_window_after_the_fault() {
        let w = windows(&[Some(100.0); 6]);
        // the fault falls inside window 10-15, so the first window starting after it is 15-20
        let r = recovery(&w, &[event(12_000, EventKind::Pause)], "s");
        assert_eq!(r.per_fault_s, [Some(8.0)]);
    }

    #[test]
    fn never_recovered_is_none_and_counted() {
        let w = windows(&[Some(100.0), Some(100.0), Some(50.0), Some(60.0)]);
        let r = recovery(
            &w,
            &[
                event(10_000, EventKind::Crash),
                event(12_000, EventKind::Restart),
            ],
            "s",
        );
        assert_eq!(r.per_fault_s, [None]);
        assert_eq!(r.unrecovered(), 1);
        assert_eq!(r.mean_s(), None);
        // a fault after the last window cannot be recovered from either
        let r = recovery(&w, &[event(60_000, EventKind::Crash)], "s");
        assert_eq!(r.per_fault_s, [None]);
    }

    #[test]
    fn empty_windows_are_not_a_recovery() {
        let w = windows(&[Some(100.0), Some(100.0), None, None, Some(30.0), Some(99.0)]);
        let r = recovery(&w, &[event(10_000, EventKind::Crash)], "s");
        assert_eq!(r.per_fault_s, [Some(20.0)]);
        // no window before the first fault: the baseline is 100
        let w = windows(&[None, Some(96.0)]);
        let r = recovery(&w, &[event(0, EventKind::Crash)], "s");
        assert_eq!(r.baseline_pct, 100.0);
        assert_eq!(r.per_fault_s, [Some(10.0)]);
    }

    #[test]
    fn recovery_is_the_mean_over_faults_of_this_strategy() {
        let w = windows(&[
            Some(100.0),
            Some(100.0),
            Some(10.0),
            Some(100.0),
            Some(20.0),
            Some(30.0),
            Some(100.0),
        ]);
        let mut other = event(0, EventKind::Crash);
        other.strategy = "t".into();
        let r = recovery(
            &w,
            &[
                event(10_000, EventKind::Crash),
                other,
                event(20_000, EventKind::Pause),
            ],
            "s",
        );
        assert_eq!(r.per_fault_s, [Some(10.0), Some(15.0)]);
        assert_eq!(r.mean_s(), Some(12.5));
    }

    #[test]
    fn detection_is_the_mean_delay_of_detected_rows() {
        let row = |strategy: &str, fault_ms, detected_ms| FailureDetectionRow {
            strategy: strategy.into(),
            fault: "1".into(),
            failed_node: "node2".into(),
            fault_ms,
            observer: "node1".into(),
            detected_ms,
            detection_delay_ms: detected_ms.map(|d: u64| d - fault_ms),
        };
        let rows = [
            row("s", 10_000, Some(12_000)),
            row("s", 10_000, Some(15_000)),
            row("s", 10_000, None),
            row("t", 10_000, Some(30_000)),
        ];
        assert_eq!(detection_mean_s(&rows, "s"), Some(3.5));
        assert_eq!(detection_mean_s(&rows[2..3], "s"), None);
        assert_eq!(detection_mean_s(&rows, "u"), None);
    }

    #[test]
    fn windows_rebuilt_from_requests_follow_the_metrics_definition() {
        let req = |id: &str, submit_ms, end_ms, outcome| RequestRow {
            strategy: "s".into(),
            request_id: id.into(),
            batch: None,
            submit_ms,
            end_ms,
            latency_ms: (end_ms - submit_ms) as f64,
            attempts: 1,
            outcome,
            entry_node: None,
            entry_zone: None,
            exec_node: None,
            exec_zone: None,
            hops: None,
            cache_hit: None,
            offloaded: None,
            fallback: None,
            size_bytes: None,
            width: None,
            height: None,
            frames: None,
        };
        let w = windows_from_requests(
            &[
                req("a", 0, 1_000, Outcome::Ok),
                req("b", 0, 4_000, Outcome::Timeout),
                req("c", 1_000, 12_000, Outcome::Ok),
            ],
            5,
        );
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].success_pct, Some(50.0));
        assert_eq!(w[0].latency_mean_ms, Some(1_000.0));
        assert_eq!(w[0].in_flight, 1);
        assert_eq!(w[1].success_pct, None);
        assert_eq!(w[2].window_start_s, 10);
        assert_eq!(w[2].latency_p95_ms, Some(11_000.0));
    }

    fn vals(v: &[(&str, f64, f64)]) -> Vec<(String, f64, f64)> {
        v.iter().map(|&(s, x, y)| (s.to_string(), x, y)).collect()
    }

    #[test]
    fn identical_values_are_tied_and_agree() {
        let r = rank(
            "goodput_per_s",
            true,
            &vals(&[("a", 2.0, 3.0), ("b", 2.0, 3.0)]),
            0.0,
            0.0,
        );
        assert!(r.agrees);
        assert_eq!(r.sim_tied, [true]);
        assert_eq!(r.sim_text(), "a = b");
        assert!(r.gated);
    }

    #[test]
    fn values_within_the_margin_may_swap() {
        // 5 % apart, swapped between the executors: noise at a 15 % tolerance
        let v = vals(&[("a", 1.00, 0.95), ("b", 0.95, 1.00)]);
        let r = rank("success_rate", true, &v, 0.15, 0.0);
        assert!(r.agrees, "{r:?}");
        assert_eq!(r.sim_order, ["a", "b"]);
        assert_eq!(r.live_order, ["b", "a"]);
        assert_eq!(r.live_text(), "b = a");
        // the same swap with no tolerance is a contradiction
        let r = rank("success_rate", true, &v, 0.0, 0.0);
        assert!(!r.agrees);
        assert_eq!(r.conflicts, [("a".to_string(), "b".to_string())]);
    }

    #[test]
    fn a_swap_beyond_the_margin_disagrees() {
        let v = vals(&[
            ("score", 0.9, 0.9),
            ("random", 0.5, 0.8),
            ("round_robin", 0.7, 0.5),
        ]);
        let r = rank("success_rate", true, &v, 0.15, 0.0);
        assert!(!r.agrees);
        assert_eq!(r.sim_text(), "score > round_robin > random");
        assert_eq!(r.live_text(), "score = random > round_robin");
        assert_eq!(
            r.conflicts,
            [("round_robin".to_string(), "random".to_string())]
        );
    }

    #[test]
    fn a_tie_on_one_side_contradicts_nothing() {
        // sim: a clearly ahead; live: a and b within 10 %
        let v = vals(&[("a", 10.0, 10.0), ("b", 5.0, 10.5)]);
        let r = rank("goodput_per_s", true, &v, 0.15, 0.0);
        assert!(r.agrees, "{r:?}");
        assert_eq!(r.sim_text(), "a > b");
        assert_eq!(r.live_text(), "b = a");
    }

    #[test]
    fn lower_is_better_and_the_absolute_floor() {
        // 40 ms apart on 1 s: tied by the floor even with no relative tolerance
        let v = vals(&[("a", 1_000.0, 1_040.0), ("b", 1_040.0, 1_000.0)]);
        let r = rank("latency_p95_ms", false, &v, 0.0, LATENCY_FLOOR_MS);
        assert!(r.agrees);
        assert!(!r.gated);
        assert_eq!(r.sim_order, ["a", "b"]);
        // 400 ms apart on 1.4 s is 29 %: beyond a 15 % margin
        let v = vals(&[("a", 1_000.0, 1_400.0), ("b", 1_400.0, 1_000.0)]);
        let r = rank("latency_p95_ms", false, &v, 0.15, LATENCY_FLOOR_MS);
        assert!(!r.agrees);
        assert_eq!(r.conflicts, [("a".to_string(), "b".to_string())]);
    }

    #[test]
    fn ties_use_the_larger_magnitude() {
        assert!(tied(1.0, 1.15, 0.15, 0.0));
        assert!(!tied(1.0, 1.2, 0.15, 0.0));
        assert!(tied(0.0, 0.0, 0.0, 0.0));
        assert!(tied(10.0, 15.0, 0.0, RECOVERY_FLOOR_S));
        assert!(!tied(10.0, 15.001, 0.0, RECOVERY_FLOOR_S));
    }

    fn goodput_row(sim: f64, live: f64) -> Comparison {
        let mut row = CompareRow {
            strategy: "random".into(),
            metric: GATED_VALUE.into(),
            sim: Some(sim),
            live: Some(live),
            rel_error: Some((sim - live).abs() / live),
            within_tolerance: None,
            gated: true,
            sim_spread: None,
        };
        row.judge(0.35, 0.0);
        Comparison {
            tolerance: 0.35,
            rows: vec![row],
            rankings: Vec::new(),
        }
    }

    #[test]
    fn a_live_value_is_judged_against_the_nearest_simulated_seed() {
        // one simulated seed at 1.29/s, live 0.933/s: 38 % apart, a disagreement
        let mut c = goodput_row(1.29, 0.933);
        assert!(!c.verdict_ok());
        assert!(
            c.failures()[0].contains("differs by 38.3 %"),
            "{:?}",
            c.failures()
        );
        // the simulator's other seeds reach down to 1.10/s: 17.9 % above live, within 35 %
        assert!(c.widen_to_sim_spread("random", GATED_VALUE, 1.10, 1.31));
        assert_eq!(c.rows[0].sim_spread, Some((1.10, 1.31)));
        assert!((c.rows[0].gap().unwrap() - 0.179).abs() < 1e-3);
        assert!(c.verdict_ok());
        // inside the spread the gap is 0, and the point error is still reported as it was
        let mut c = goodput_row(1.29, 1.2);
        c.widen_to_sim_spread("random", GATED_VALUE, 1.1, 1.3);
        assert_eq!(c.rows[0].gap(), Some(0.0));
        assert!((c.rows[0].rel_error.unwrap() - 0.075).abs() < 1e-9);
        // a spread still bites: every seed above 1.6/s is more than 35 % from 0.933/s
        let mut c = goodput_row(1.8, 0.933);
        c.widen_to_sim_spread("random", GATED_VALUE, 1.6, 2.0);
        assert!(!c.verdict_ok());
        assert!(
            c.failures()[0].contains("outside the simulator's 1.600–2.000"),
            "{:?}",
            c.failures()
        );
        // the compared run's own value always belongs to the spread
        let mut c = goodput_row(0.9, 0.933);
        c.widen_to_sim_spread("random", GATED_VALUE, 1.6, 2.0);
        assert_eq!(c.rows[0].sim_spread, Some((0.9, 2.0)));
        assert!(c.verdict_ok());
        // an unknown row is reported, not invented
        assert!(!c.widen_to_sim_spread("nope", GATED_VALUE, 1.0, 2.0));
    }
}
