//! The load client's counters (its `GET /metrics`, see `vidmesh_node::client_metrics`) and
//! what the dashboard derives from two scrapes of them: success %, goodput and latency
//! percentiles over a trailing window.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ScrapeError;
use crate::prom::Sample;

/// Outcomes in the order the dashboard lists them.
pub const OUTCOMES: [&str; 5] = ["ok", "timeout", "rejected", "error", "unavailable"];

/// One scrape of the client's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientRaw {
    pub started: u64,
    pub ended: BTreeMap<String, u64>,
    pub in_flight: u64,
    pub attempts: u64,
    pub cache_hits: u64,
    pub offloaded: u64,
    /// Cumulative counts of successful requests by latency upper bound (ms; the last is +Inf).
    pub buckets: Vec<(f64, u64)>,
    pub latency_sum_ms: u64,
}

impl ClientRaw {
    pub fn from_samples(samples: &[Sample]) -> Result<ClientRaw, ScrapeError> {
        let mut r = ClientRaw::default();
        let mut seen = false;
        for s in samples {
            let v = s.value.max(0.0) as u64;
            match s.name.as_str() {
                "vidmesh_client_requests_started_total" => {
                    r.started = v;
                    seen = true;
                }
                "vidmesh_client_requests_total" => {
                    let o = s.labels.get("outcome").cloned().unwrap_or_default();
                    *r.ended.entry(o).or_default() += v;
                }
                "vidmesh_client_in_flight" => r.in_flight = v,
                "vidmesh_client_attempts_total" => r.attempts = v,
                "vidmesh_client_cache_hits_total" => r.cache_hits = v,
                "vidmesh_client_offloaded_total" => r.offloaded = v,
                "vidmesh_client_latency_ms_sum" => r.latency_sum_ms = v,
                "vidmesh_client_latency_ms_bucket" => {
                    let le = match s.labels.get("le").map(String::as_str) {
                        Some("+Inf") => f64::INFINITY,
                        Some(x) => x
                            .parse()
                            .map_err(|_| ScrapeError::BadBucket(x.to_string()))?,
                        None => return Err(ScrapeError::NoBucketBound),
                    };
                    r.buckets.push((le, v));
                }
                _ => {}
            }
        }
        if !seen {
            return Err(ScrapeError::NotAClient);
        }
        r.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(r)
    }

    pub fn ended_total(&self) -> u64 {
        self.ended.values().sum()
    }

    pub fn ok(&self) -> u64 {
        self.ended.get("ok").copied().unwrap_or(0)
    }

    /// True if `later` cannot follow `self` (the client restarted in between).
    pub fn reset_before(&self, later: &ClientRaw) -> bool {
        later.started < self.started || later.ended_total() < self.ended_total()
    }
}

/// Totals since the client started, for the header.
#[derive(Clone, Debug, Serialize)]
pub struct ClientTotals {
    pub started: u64,
    pub ended: u64,
    pub ok: u64,
    /// By outcome, in [`OUTCOMES`] order.
    pub by_outcome: Vec<(String, u64)>,
    pub in_flight: u64,
    pub success_pct: Option<f64>,
    pub mean_latency_ms: Option<f64>,
    pub cache_hits: u64,
    pub offloaded: u64,
}

impl ClientTotals {
    pub fn of(r: &ClientRaw) -> ClientTotals {
        let ended = r.ended_total();
        let ok = r.ok();
        ClientTotals {
            started: r.started,
            ended,
            ok,
            by_outcome: OUTCOMES
                .iter()
                .map(|o| (o.to_string(), r.ended.get(*o).copied().unwrap_or(0)))
                .collect(),
            in_flight: r.in_flight,
            success_pct: (ended > 0).then(|| 100.0 * ok as f64 / ended as f64),
            mean_latency_ms: (ok > 0).then(|| r.latency_sum_ms as f64 / ok as f64),
            cache_hits: r.cache_hits,
            offloaded: r.offloaded,
        }
    }
}

/// What happened between two scrapes `dt_s` apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientWindow {
    pub ended_per_s: f64,
    /// Requests that ended in the window and succeeded, % (none when none ended).
    pub success_pct: Option<f64>,
    pub goodput_per_s: f64,
    pub failed_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

pub fn window(old: &ClientRaw, new: &ClientRaw, dt_s: f64) -> ClientWindow {
    let dt = dt_s.max(1e-3);
    let ended = new.ended_total().saturating_sub(old.ended_total());
    let ok = new.ok().saturating_sub(old.ok());
    let deltas: Vec<(f64, u64)> = new
        .buckets
        .iter()
        .map(|(le, n)| {
            let before = old
                .buckets
                .iter()
                .find(|(l, _)| l == le)
                .map(|(_, v)| *v)
                .unwrap_or(0);
            (*le, n.saturating_sub(before))
        })
        .collect();
    ClientWindow {
        ended_per_s: ended as f64 / dt,
        success_pct: (ended > 0).then(|| 100.0 * ok as f64 / ended as f64),
        goodput_per_s: ok as f64 / dt,
        failed_per_s: ended.saturating_sub(ok) as f64 / dt,
        p50_ms: quantile(&deltas, 0.50),
        p95_ms: quantile(&deltas, 0.95),
        p99_ms: quantile(&deltas, 0.99),
    }
}

/// The `q` quantile of a cumulative histogram, interpolated linearly inside its bucket; a
/// quantile in the `+Inf` bucket is reported as the last finite bound (a lower bound).
pub fn quantile(cumulative: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total == 0 {
        return None;
    }
    let target = q * total as f64;
    let mut prev_le = 0.0;
    let mut prev_n = 0u64;
    for &(le, n) in cumulative {
        if n as f64 >= target && n > prev_n {
            if le.is_infinite() {
                return Some(prev_le);
            }
            let frac = (target - prev_n as f64) / (n - prev_n) as f64;
            return Some(prev_le + frac.clamp(0.0, 1.0) * (le - prev_le));
        }
        if le.is_finite() {
            prev_le = le;
        }
        prev_n = n;
    }
    Some(prev_le)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        // 10 requests ≤ 100 ms, 10 more ≤ 200 ms.
        let h = [(100.0, 10), (200.0, 20), (f64::INFINITY, 20)];
        assert_eq!(quantile(&h, 0.5), Some(100.0));
        assert_eq!(quantile(&h, 0.25), Some(50.0));
        assert_eq!(quantile(&h, 0.75), Some(150.0));
        assert_eq!(quantile(&[(100.0, 0), (f64::INFINITY, 0)], 0.5), None);
        // Everything beyond the last bound: the bound is all that is known.
        assert_eq!(
            quantile(&[(100.0, 0), (f64::INFINITY, 4)], 0.5),
            Some(100.0)
        );
    }

    #[test]
    fn window_counts_only_what_ended_between_scrapes() {
        let text_a = "vidmesh_client_requests_started_total 10\nvidmesh_client_requests_total{outcome=\"ok\"} 4\nvidmesh_client_requests_total{outcome=\"timeout\"} 1\nvidmesh_client_latency_ms_bucket{le=\"1000\"} 4\nvidmesh_client_latency_ms_bucket{le=\"+Inf\"} 4\n";
        let text_b = "vidmesh_client_requests_started_total 20\nvidmesh_client_requests_total{outcome=\"ok\"} 10\nvidmesh_client_requests_total{outcome=\"timeout\"} 3\nvidmesh_client_latency_ms_bucket{le=\"1000\"} 4\nvidmesh_client_latency_ms_bucket{le=\"+Inf\"} 10\n";
        let a = ClientRaw::from_samples(&crate::prom::parse(text_a).unwrap()).unwrap();
        let b = ClientRaw::from_samples(&crate::prom::parse(text_b).unwrap()).unwrap();
        let w = window(&a, &b, 2.0);
        assert_eq!(w.ended_per_s, 4.0);
        assert_eq!(w.goodput_per_s, 3.0);
        assert_eq!(w.success_pct, Some(75.0));
        // All six new successes took longer than 1 s.
        assert_eq!(w.p50_ms, Some(1000.0));
        assert!(!a.reset_before(&b));
        assert!(b.reset_before(&a));
    }

    #[test]
    fn node_metrics_are_not_mistaken_for_the_client() {
        let s = crate::prom::parse("vidmesh_queue_len{node=\"node1\",zone=\"FRA\"} 0\n").unwrap();
        assert!(ClientRaw::from_samples(&s).is_err());
    }
}
