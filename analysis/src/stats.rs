//! Figures derived from the CSVs that charts, reports and comparisons share: the report's
//! dashboard statistics over 5 s windows, per-node totals, percentiles.

use std::collections::BTreeMap;

use crate::records::{natural_cmp, ClientWindowRow, NodeWindowRow, RequestRow};

/// The report's dashboard numbers for one strategy, over `client_windows.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientStats {
    /// Mean of the windows' success % (the report's "Avg Throughput (%)"), over windows in which
    /// a request ended.
    pub avg_window_success_pct: Option<f64>,
    pub max_window_success_pct: Option<f64>,
    pub min_window_success_pct: Option<f64>,
    /// Success % of the last window in which a request ended ("Latest Throughput").
    pub latest_window_success_pct: Option<f64>,
    /// Highest window mean latency of successes ("Max Avg Latency").
    pub max_window_latency_ms: Option<f64>,
    pub latest_window_latency_ms: Option<f64>,
    /// Windows in which requests ended but none succeeded (a total outage of the service).
    pub zero_success_windows: usize,
    pub windows_with_requests: usize,
}

pub fn client_stats(rows: &[ClientWindowRow], strategy: &str) -> ClientStats {
    let mut s = ClientStats::default();
    let mut sum = 0.0;
    for r in rows.iter().filter(|r| r.strategy == strategy) {
        if let Some(p) = r.success_pct.filter(|_| r.ended > 0) {
            s.windows_with_requests += 1;
            sum += p;
            s.max_window_success_pct = Some(s.max_window_success_pct.map_or(p, |m| m.max(p)));
            s.min_window_success_pct = Some(s.min_window_success_pct.map_or(p, |m| m.min(p)));
            s.latest_window_success_pct = Some(p);
            if r.succeeded == 0 {
                s.zero_success_windows += 1;
            }
        }
        if let Some(l) = r.latency_mean_ms {
            s.max_window_latency_ms = Some(s.max_window_latency_ms.map_or(l, |m| m.max(l)));
            s.latest_window_latency_ms = Some(l);
        }
    }
    if s.windows_with_requests > 0 {
        s.avg_window_success_pct = Some(sum / s.windows_with_requests as f64);
    }
    s
}

/// One node's totals over a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeTotals {
    pub node: String,
    pub zone: String,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub responses_same_zone: u64,
    pub responses_cross_zone: u64,
    pub jobs_done: u64,
    pub enqueues: u64,
    pub dequeues: u64,
    pub max_cpu_pct: Option<f64>,
    pub max_queue_len: Option<u64>,
}

/// Per-node totals of one strategy, nodes in natural order.
pub fn node_totals(rows: &[NodeWindowRow], strategy: &str) -> Vec<NodeTotals> {
    let mut by_node: BTreeMap<&str, NodeTotals> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.strategy == strategy) {
        let t = by_node.entry(&r.node).or_insert_with(|| NodeTotals {
            node: r.node.clone(),
            zone: r.zone.clone(),
            ..NodeTotals::default()
        });
        t.offloads_same_zone += r.offloads_same_zone;
        t.offloads_cross_zone += r.offloads_cross_zone;
        t.responses_same_zone += r.responses_same_zone;
        t.responses_cross_zone += r.responses_cross_zone;
        t.jobs_done += r.jobs_done;
        t.enqueues += r.enqueues;
        t.dequeues += r.dequeues;
        if let Some(c) = r.cpu_pct {
            t.max_cpu_pct = Some(t.max_cpu_pct.map_or(c, |m| m.max(c)));
        }
        if let Some(q) = r.queue_len {
            t.max_queue_len = Some(t.max_queue_len.map_or(q, |m| m.max(q)));
        }
    }
    let mut out: Vec<NodeTotals> = by_node.into_values().collect();
    out.sort_by(|a, b| natural_cmp(&a.node, &b.node));
    out
}

/// The `q` quantile (0..1) of sorted values by linear interpolation between closest ranks.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Latencies of one strategy's successful requests, sorted.
pub fn ok_latencies(requests: &[RequestRow], strategy: &str) -> Vec<f64> {
    let mut v: Vec<f64> = requests
        .iter()
        .filter(|r| r.strategy == strategy && r.outcome == crate::records::Outcome::Ok)
        .map(|r| r.latency_ms)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
