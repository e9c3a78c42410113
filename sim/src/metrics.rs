//! What a run measured, and the CSV files of docs/metrics.md written from it.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use crate::scenario::Scenario;
use crate::workload::Catalog;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqOutcome {
    Ok,
    Timeout,
    Rejected,
    Error,
    /// Every node tried was down.
    Unavailable,
}

impl ReqOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ReqOutcome::Ok => "ok",
            ReqOutcome::Timeout => "timeout",
            ReqOutcome::Rejected => "rejected",
            ReqOutcome::Error => "error",
            ReqOutcome::Unavailable => "unavailable",
        }
    }
}

/// One logical client request, as it ended.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub batch: Option<u32>,
    pub submit_ms: u64,
    pub end_ms: u64,
    pub attempts: u8,
    pub outcome: ReqOutcome,
    /// Node index of the last attempt.
    pub entry_node: Option<u32>,
    pub exec_node: Option<u32>,
    pub hops: u8,
    pub cache_hit: bool,
    pub offloaded: bool,
    pub fallback: bool,
    pub item: u32,
}

impl RequestRecord {
    pub fn latency_ms(&self) -> u64 {
        self.end_ms - self.submit_ms
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeWindow {
    pub window_start_s: u64,
    pub node: u32,
    pub up: bool,
    pub queue_len: u32,
    pub in_flight: u32,
    pub cpu_pct: f32,
    pub mem_pct: f32,
    pub counts: WindowCounts,
}

/// Per-window increments of a node's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub enqueues: u64,
    pub dequeues: u64,
    pub jobs_done: u64,
    pub cache_hits: u64,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub responses_same_zone: u64,
    pub responses_cross_zone: u64,
}

impl WindowCounts {
    pub fn from_core(c: &vidmesh_core::Counters) -> Self {
        WindowCounts {
            enqueues: c.enqueues,
            dequeues: c.dequeues,
            jobs_done: c.transcodes_ok,
            cache_hits: c.cache_hits,
            offloads_same_zone: c.offloads_same_zone,
            offloads_cross_zone: c.offloads_cross_zone,
            responses_same_zone: c.responses_same_zone,
            responses_cross_zone: c.responses_cross_zone,
        }
    }

    pub fn add(&mut self, o: &WindowCounts) {
        self.enqueues += o.enqueues;
        self.dequeues += o.dequeues;
        self.jobs_done += o.jobs_done;
        self.cache_hits += o.cache_hits;
        self.offloads_same_zone += o.offloads_same_zone;
        self.offloads_cross_zone += o.offloads_cross_zone;
        self.responses_same_zone += o.responses_same_zone;
        self.responses_cross_zone += o.responses_cross_zone;
    }

    pub fn minus(&self, o: &WindowCounts) -> WindowCounts {
        WindowCounts {
            enqueues: self.enqueues.saturating_sub(o.enqueues),
            dequeues: self.dequeues.saturating_sub(o.dequeues),
            jobs_done: self.jobs_done.saturating_sub(o.jobs_done),
            cache_hits: self.cache_hits.saturating_sub(o.cache_hits),
            offloads_same_zone: self.offloads_same_zone.saturating_sub(o.offloads_same_zone),
            offloads_cross_zone: self
                .offloads_cross_zone
                .saturating_sub(o.offloads_cross_zone),
            responses_same_zone: self
                .responses_same_zone
                .saturating_sub(o.responses_same_zone),
            responses_cross_zone: self
                .responses_cross_zone
                .saturating_sub(o.responses_cross_zone),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConvergenceRow {
    pub node: u32,
    pub seeds: Vec<u32>,
    pub start_ms: u64,
    pub full_view_ms: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct DetectionRow {
    pub kind: &'static str,
    pub failed_node: u32,
    pub fault_ms: u64,
    pub observer: u32,
    pub detected_ms: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct FaultEventRow {
    pub time_ms: u64,
    pub kind: &'static str,
    pub node: u32,
}

/// Everything one strategy's run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub strategy: String,
    pub requests: Vec<RequestRecord>,
    /// Requests outstanding at the end of each window, by window index.
    pub in_flight_at_window_end: Vec<u32>,
    pub node_windows: Vec<NodeWindow>,
    pub convergence: Vec<ConvergenceRow>,
    pub detections: Vec<DetectionRow>,
    pub fault_events: Vec<FaultEventRow>,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    /// Every client attempt as it ended: (time ms, succeeded), in time order. Attempts still
    /// open when the run stopped end then, failed.
    pub attempt_ends: Vec<(u64, bool)>,
    /// Virtual time at which the run stopped.
    pub end_ms: u64,
    pub events: u64,
    pub wall_s: f64,
}

/// One row of summary.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub strategy: String,
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub rejected: u64,
    pub success_rate: f64,
    pub goodput_per_s: f64,
    pub latency_mean_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub cache_hits: u64,
    pub duration_s: f64,
    /// Client attempts (each request makes one or more).
    pub attempts: u64,
    /// 100 · successful attempts / attempts: the report's "throughput %".
    pub attempt_success_pct: Option<f64>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1] as f64)
}

fn mean(v: &[u64]) -> Option<f64> {
    if v.is_empty() {
        None
    } else {
        Some(v.iter().sum::<u64>() as f64 / v.len() as f64)
    }
}

impl RunResult {
    pub fn summary(&self) -> Summary {
        let mut lat: Vec<u64> = Vec::new();
        let (mut ok, mut failed, mut timeouts, mut rejected, mut hits) = (0, 0, 0, 0, 0);
        for r in &self.requests {
            match r.outcome {
                ReqOutcome::Ok => {
                    ok += 1;
                    lat.push(r.latency_ms());
                    if r.cache_hit {
                        hits += 1;
                    }
                }
                ReqOutcome::Error => failed += 1,
                ReqOutcome::Timeout => timeouts += 1,
                ReqOutcome::Rejected | ReqOutcome::Unavailable => rejected += 1,
            }
        }
        lat.sort_unstable();
        let n = self.requests.len() as u64;
        let duration_s = self.end_ms as f64 / 1000.0;
        Summary {
            strategy: self.strategy.clone(),
            requests: n,
            succeeded: ok,
            failed,
            timeouts,
            rejected,
            success_rate: if n == 0 { 0.0 } else { ok as f64 / n as f64 },
            goodput_per_s: if duration_s > 0.0 {
                ok as f64 / duration_s
            } else {
                0.0
            },
            latency_mean_ms: mean(&lat),
            latency_p50_ms: percentile(&lat, 50.0),
            latency_p95_ms: percentile(&lat, 95.0),
            latency_p99_ms: percentile(&lat, 99.0),
            offloads_same_zone: self.offloads_same_zone,
            offloads_cross_zone: self.offloads_cross_zone,
            cache_hits: hits,
            duration_s,
            attempts: self.attempt_ends.len() as u64,
            attempt_success_pct: attempt_pct(
                self.attempt_ends.iter().filter(|a| a.1).count() as u64,
                self.attempt_ends.len() as u64,
            ),
        }
    }

    /// Success % per window of requests that ended in it (None when none ended).
    pub fn window_success_pct(&self, window_ms: u64) -> Vec<Option<f64>> {
        let n = self.in_flight_at_window_end.len();
        let mut ended = vec![0u64; n];
        let mut ok = vec![0u64; n];
        for r in &self.requests {
            let w = ((r.end_ms / window_ms) as usize).min(n.saturating_sub(1));
            ended[w] += 1;
            if r.outcome == ReqOutcome::Ok {
                ok[w] += 1;
            }
        }
        (0..n)
            .map(|w| (ended[w] > 0).then(|| 100.0 * ok[w] as f64 / ended[w] as f64))
            .collect()
    }
}

fn attempt_pct(ok: u64, attempts: u64) -> Option<f64> {
    (attempts > 0).then(|| 100.0 * ok as f64 / attempts as f64)
}

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn opt3(v: Option<f64>) -> String {
    v.map(f3).unwrap_or_default()
}

fn b(v: bool) -> &'static str {
    if v {
        "1"
    } else {
        "0"
    }
}

pub const SUMMARY_HEADER: &str = "strategy,requests,succeeded,failed,timeouts,rejected,success_rate,goodput_per_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,offloads_same_zone,offloads_cross_zone,cache_hits,duration_s,attempts,attempt_success_pct";
pub const REQUESTS_HEADER: &str = "strategy,request_id,batch,submit_ms,end_ms,latency_ms,attempts,outcome,entry_node,entry_zone,exec_node,exec_zone,hops,cache_hit,offloaded,fallback,size_bytes,width,height,frames";
pub const CLIENT_WINDOWS_HEADER: &str =
    "strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight,attempts,attempt_success_pct";
pub const NODE_WINDOWS_HEADER: &str = "strategy,window_start_s,node,zone,up,queue_len,in_flight,enqueues,dequeues,cpu_pct,mem_pct,jobs_done,cache_hits,offloads_same_zone,offloads_cross_zone,responses_same_zone,responses_cross_zone";
pub const CONVERGENCE_HEADER: &str =
    "strategy,node,zone,seeds,start_ms,full_view_ms,time_to_full_view_ms,rounds";
pub const FAILURE_HEADER: &str =
    "strategy,fault,failed_node,fault_ms,observer,detected_ms,detection_delay_ms";
pub const EVENTS_HEADER: &str = "strategy,time_ms,kind,node";

/// Writes every CSV of docs/metrics.md for `runs` (in the scenario's strategy order) into `dir`.
pub fn write_all(
    dir: &Path,
    scenario: &Scenario,
    catalog: &Catalog,
    runs: &[RunResult],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let node_name = |i: u32| scenario.nodes[i as usize].name.as_str();
    let zone_of = |i: u32| scenario.network.zones.name(scenario.nodes[i as usize].zone);
    let window_ms = scenario.output.window_ms;

    let mut out = String::new();
    writeln!(out, "{SUMMARY_HEADER}").ok();
    for r in runs {
        let s = r.summary();
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            s.strategy,
            s.requests,
            s.succeeded,
            s.failed,
            s.timeouts,
            s.rejected,
            f3(s.success_rate),
            f3(s.goodput_per_s),
            opt3(s.latency_mean_ms),
            opt3(s.latency_p50_ms),
            opt3(s.latency_p95_ms),
            opt3(s.latency_p99_ms),
            s.offloads_same_zone,
            s.offloads_cross_zone,
            s.cache_hits,
            f3(s.duration_s),
            s.attempts,
            opt3(s.attempt_success_pct)
        )
        .ok();
    }
    std::fs::write(dir.join("summary.csv"), &out)?;

    if scenario.output.requests_csv {
        let f = std::fs::File::create(dir.join("requests.csv"))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "{REQUESTS_HEADER}")?;
        for r in runs {
            for (id, q) in r.requests.iter().enumerate() {
                let v = catalog.videos[q.item as usize];
                let ok = q.outcome == ReqOutcome::Ok;
                write!(
                    w,
                    "{},{},{},{},{},{},{},{},",
                    r.strategy,
                    id,
                    q.batch.map(|b| b.to_string()).unwrap_or_default(),
                    q.submit_ms,
                    q.end_ms,
                    q.latency_ms(),
                    q.attempts,
                    q.outcome.as_str()
                )?;
                match q.entry_node {
                    Some(n) => write!(w, "{},{},", node_name(n), zone_of(n))?,
                    None => write!(w, ",,")?,
                }
                match (ok, q.exec_node) {
                    (true, Some(n)) => write!(w, "{},{},", node_name(n), zone_of(n))?,
                    _ => write!(w, ",,")?,
                }
                if ok {
                    write!(
                        w,
                        "{},{},{},{},",
                        q.hops,
                        b(q.cache_hit),
                        b(q.offloaded),
                        b(q.fallback)
                    )?;
                } else {
                    write!(w, ",,,,")?;
                }
                writeln!(w, "{},{},{},{}", v.size_bytes, v.width, v.height, v.frames)?;
            }
        }
        w.flush()?;
    }

    let mut out = String::new();
    writeln!(out, "{CLIENT_WINDOWS_HEADER}").ok();
    for r in runs {
        let n = r.in_flight_at_window_end.len();
        // Attempts that ended in each window, and how many of them succeeded.
        let mut att: Vec<(u64, u64)> = vec![(0, 0); n];
        for &(t, ok) in &r.attempt_ends {
            let w = ((t / window_ms) as usize).min(n.saturating_sub(1));
            att[w].0 += 1;
            att[w].1 += ok as u64;
        }
        let (mut cum_att, mut cum_ok) = (0u64, 0u64);
        let mut per: Vec<(u64, Vec<u64>)> = vec![(0, Vec::new()); n];
        for q in &r.requests {
            let w = ((q.end_ms / window_ms) as usize).min(n.saturating_sub(1));
            per[w].0 += 1;
            if q.outcome == ReqOutcome::Ok {
                per[w].1.push(q.latency_ms());
            }
        }
        for (w, (ended, lat)) in per.iter_mut().enumerate() {
            lat.sort_unstable();
            let pct = (*ended > 0).then(|| 100.0 * lat.len() as f64 / *ended as f64);
            cum_att += att[w].0;
            cum_ok += att[w].1;
            writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                r.strategy,
                w as u64 * window_ms / 1000,
                ended,
                lat.len(),
                opt3(pct),
                opt3(mean(lat)),
                opt3(percentile(lat, 95.0)),
                r.in_flight_at_window_end[w],
                att[w].0,
                opt3(attempt_pct(cum_ok, cum_att))
            )
            .ok();
        }
    }
    std::fs::write(dir.join("client_windows.csv"), &out)?;

    if scenario.output.node_windows_csv {
        let f = std::fs::File::create(dir.join("node_windows.csv"))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "{NODE_WINDOWS_HEADER}")?;
        for r in runs {
            for nw in &r.node_windows {
                let c = &nw.counts;
                write!(
                    w,
                    "{},{},{},{},{},",
                    r.strategy,
                    nw.window_start_s,
                    node_name(nw.node),
                    zone_of(nw.node),
                    b(nw.up)
                )?;
                if nw.up {
                    write!(
                        w,
                        "{},{},{},{},{},{},",
                        nw.queue_len,
                        nw.in_flight,
                        c.enqueues,
                        c.dequeues,
                        f3(nw.cpu_pct as f64),
                        f3(nw.mem_pct as f64)
                    )?;
                } else {
                    write!(w, ",,{},{},,,", c.enqueues, c.dequeues)?;
                }
                writeln!(
                    w,
                    "{},{},{},{},{},{}",
                    c.jobs_done,
                    c.cache_hits,
                    c.offloads_same_zone,
                    c.offloads_cross_zone,
                    c.responses_same_zone,
                    c.responses_cross_zone
                )?;
            }
        }
        w.flush()?;
    }

    let period = scenario.gossip.period_ms.max(1);
    let mut out = String::new();
    writeln!(out, "{CONVERGENCE_HEADER}").ok();
    for r in runs {
        for c in &r.convergence {
            let seeds: Vec<&str> = c.seeds.iter().map(|&s| node_name(s)).collect();
            let (full, ttf, rounds) = match c.full_view_ms {
                Some(t) => {
                    let d = t - c.start_ms;
                    (t.to_string(), d.to_string(), d.div_ceil(period).to_string())
                }
                None => Default::default(),
            };
            writeln!(
                out,
                "{},{},{},{},{},{},{},{}",
                r.strategy,
                node_name(c.node),
                zone_of(c.node),
                seeds.join(";"),
                c.start_ms,
                full,
                ttf,
                rounds
            )
            .ok();
        }
    }
    std::fs::write(dir.join("convergence.csv"), &out)?;

    let mut out = String::new();
    writeln!(out, "{FAILURE_HEADER}").ok();
    for r in runs {
        for d in &r.detections {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.strategy,
                d.kind,
                node_name(d.failed_node),
                d.fault_ms,
                node_name(d.observer),
                d.detected_ms.map(|t| t.to_string()).unwrap_or_default(),
                d.detected_ms
                    .map(|t| (t - d.fault_ms).to_string())
                    .unwrap_or_default()
            )
            .ok();
        }
    }
    std::fs::write(dir.join("failure_detection.csv"), &out)?;

    let mut out = String::new();
    writeln!(out, "{EVENTS_HEADER}").ok();
    for r in runs {
        for e in &r.fault_events {
            writeln!(
                out,
                "{},{},{},{}",
                r.strategy,
                e.time_ms,
                e.kind,
                node_name(e.node)
            )
            .ok();
        }
    }
    std::fs::write(dir.join("events.csv"), &out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
