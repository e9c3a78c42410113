//! What a run measured, and the CSV files of docs/metrics.md written from it.

use std::io;
use std::path::Path;

use vidmesh_analysis::csvio::{write_records, WriteRecord};
use vidmesh_analysis::records::{
    ClientWindowRow, ConvergenceRow as ConvergenceCsvRow, EventKind, EventRow, FailureDetectionRow,
    NodeWindowRow,
};
use vidmesh_loadgen::record::{self as request_csv, ClipFacts, Lookup};

use crate::scenario::Scenario;
use crate::workload::Catalog;

/// One row of summary.csv.
pub use vidmesh_analysis::records::SummaryRow as Summary;
/// One logical client request as it ended, and how it ended: the client machine's record.
pub use vidmesh_loadgen::record::{Outcome, RequestRecord};

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

/// A node's probe of another went unanswered, so it suspected it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuspicionRow {
    pub time_ms: u64,
    pub observer: u32,
    pub suspected: u32,
    /// The suspected node was up and running then: a false suspicion.
    pub suspected_up: bool,
}

#[derive(Clone, Debug)]
pub struct FaultEventRow {
    pub time_ms: u64,
    pub kind: &'static str,
    pub node: u32,
}

/// Where the transcoding CPU went.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WorkTotals {
    /// CPU-seconds spent in transcodes: finished ones whole, killed or crashed ones in part.
    pub transcode_cpu_s: f64,
    /// Of that, the transcodes whose output reached a waiting client.
    pub delivered_cpu_s: f64,
    pub transcodes_done: u64,
    pub transcodes_aborted: u64,
}

impl WorkTotals {
    /// Share of the transcoding CPU that produced nothing a client received, in %.
    pub fn wasted_pct(&self) -> f64 {
        if self.transcode_cpu_s <= 0.0 {
            return 0.0;
        }
        (100.0 * (1.0 - self.delivered_cpu_s / self.transcode_cpu_s)).max(0.0)
    }
}

/// Everything one strategy's run produced.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub strategy: String,
    pub work: WorkTotals,
    pub requests: Vec<RequestRecord>,
    /// Requests outstanding at the end of each window, by window index.
    pub in_flight_at_window_end: Vec<u32>,
    pub node_windows: Vec<NodeWindow>,
    pub convergence: Vec<ConvergenceRow>,
    pub detections: Vec<DetectionRow>,
    pub fault_events: Vec<FaultEventRow>,
    /// Every suspicion a node raised (SWIM probes that went unanswered), in time order.
    pub suspicions: Vec<SuspicionRow>,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    /// Every client attempt as it ended: (time ms, succeeded), in time order. Attempts still
    /// open when the run stopped end then, failed.
    pub attempt_ends: Vec<(u64, bool)>,
    /// Virtual time at which the run stopped.
    pub end_ms: u64,
    pub events: u64,
    pub wall_s: f64,
    /// Per node (scenario order), what its cost model had learned by the end. Not written to
    /// any CSV; empty for live runs.
    pub calibration: Vec<NodeCalibration>,
    /// What the chaos checker needs besides `requests` (simulated runs only).
    pub chaos: ChaosEnds,
    /// The first rule of the job protocol a node broke, which stopped the run (simulated runs
    /// only; see `Node::check_invariants`).
    pub violation: Option<Violation>,
}

/// A protocol rule broken during a simulated run: where, when, and on which event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub time_ms: u64,
    pub node: Option<String>,
    /// The event being handled when it broke.
    pub event: &'static str,
    pub what: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {:.3} s", self.time_ms as f64 / 1000.0)?;
        if let Some(n) = &self.node {
            write!(f, " on {n}")?;
        }
        write!(f, " ({}): {}", self.event, self.what)
    }
}

/// The end of a simulated run as the chaos checker sees it.
#[derive(Clone, Debug, Default)]
pub struct ChaosEnds {
    /// Indices into `requests` of those still open at the hard stop: they never ended (their
    /// record says timeout, as the CSV must say something).
    pub unended: Vec<usize>,
    /// Per node, scenario order.
    pub nodes: Vec<vidmesh_analysis::chaos::NodeEnd>,
}

impl RunResult {
    /// Runs the chaos checker: every request ended exactly once with a definite outcome, no
    /// node answered a job twice, and no node that is up still holds a job.
    pub fn chaos_verdict(&self) -> vidmesh_analysis::chaos::Verdict {
        use vidmesh_analysis::chaos::{check, End, RequestEnd};
        let ends: Vec<RequestEnd> = self
            .requests
            .iter()
            .enumerate()
            .filter(|(k, _)| !self.chaos.unended.contains(k))
            .map(|(k, r)| {
                // The simulator carries no error text: the outcome is the reason.
                let end = match r.outcome {
                    Outcome::Ok => End::Ok,
                    Outcome::Rejected => End::Refused("rejected (503)".into()),
                    Outcome::Error => End::Failed("error".into()),
                    Outcome::Unavailable => End::Failed("every node tried was down".into()),
                    Outcome::Timeout => End::ClientTimeout,
                };
                RequestEnd { id: k as u64, end }
            })
            .collect();
        check(0..self.requests.len() as u64, &ends, &self.chaos.nodes)
    }
}

/// One node's learned cost model at the end of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeCalibration {
    /// Measured ÷ cost curve, as the node's own core learned it (`None`: down at the end).
    pub speed: Option<f64>,
    /// Transcodes it learned from.
    pub observed: u64,
    /// `ms_per_cpu_s` of the newest load report of this node held by any peer.
    pub reported_ms_per_cpu_s: Option<f32>,
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
                Outcome::Ok => {
                    ok += 1;
                    lat.push(r.latency_ms());
                    if r.cache_hit {
                        hits += 1;
                    }
                }
                Outcome::Error => failed += 1,
                Outcome::Timeout => timeouts += 1,
                Outcome::Rejected | Outcome::Unavailable => rejected += 1,
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
            attempts: Some(self.attempt_ends.len() as u64),
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
            if r.outcome == Outcome::Ok {
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

/// Writes `rows` as `R`'s file in `dir`.
fn write_file<R: WriteRecord>(dir: &Path, rows: impl IntoIterator<Item = R>) -> io::Result<()> {
    let f = std::fs::File::create(dir.join(R::FILE))?;
    write_records(io::BufWriter::with_capacity(1 << 20, f), rows)
}

/// What the requests' node and clip indices stand for in a simulated run.
struct RequestNames<'a> {
    scenario: &'a Scenario,
    catalog: &'a Catalog,
}

impl Lookup for RequestNames<'_> {
    fn node_name(&self, node: u32) -> &str {
        &self.scenario.nodes[node as usize].name
    }
    fn node_zone(&self, node: u32) -> &str {
        let zone = self.scenario.nodes[node as usize].zone;
        self.scenario.network.zones.name(zone)
    }
    fn clip(&self, item: u32) -> ClipFacts {
        let v = &self.catalog.videos[item as usize];
        ClipFacts {
            size_bytes: v.size_bytes,
            width: v.width,
            height: v.height,
            frames: v.frames,
        }
    }
}

/// `requests.csv`, a line at a time: the runs can hold millions of requests.
fn write_requests(dir: &Path, names: &RequestNames, runs: &[RunResult]) -> io::Result<()> {
    use io::Write as _;
    let f = std::fs::File::create(dir.join("requests.csv"))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, f);
    let mut line = request_csv::header_line();
    line.push('\n');
    w.write_all(line.as_bytes())?;
    for r in runs {
        for (id, q) in r.requests.iter().enumerate() {
            line.clear();
            request_csv::push_row(&mut line, &r.strategy, id as u64, q, names);
            w.write_all(line.as_bytes())?;
        }
    }
    w.flush()
}

/// Writes every CSV of docs/metrics.md for `runs` (in the scenario's strategy order) into `dir`,
/// through the row types of `vidmesh_analysis::records`.
pub fn write_all(
    dir: &Path,
    scenario: &Scenario,
    catalog: &Catalog,
    runs: &[RunResult],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let node_name = |i: u32| scenario.nodes[i as usize].name.clone();
    let zone_of = |i: u32| {
        scenario
            .network
            .zones
            .name(scenario.nodes[i as usize].zone)
            .to_string()
    };
    let window_ms = scenario.output.window_ms;

    write_file(dir, runs.iter().map(RunResult::summary))?;

    if scenario.output.requests_csv {
        write_requests(dir, &RequestNames { scenario, catalog }, runs)?;
    }

    let mut client_rows = Vec::new();
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
            if q.outcome == Outcome::Ok {
                per[w].1.push(q.latency_ms());
            }
        }
        for (w, (ended, lat)) in per.iter_mut().enumerate() {
            lat.sort_unstable();
            cum_att += att[w].0;
            cum_ok += att[w].1;
            client_rows.push(ClientWindowRow {
                strategy: r.strategy.clone(),
                window_start_s: w as u64 * window_ms / 1000,
                ended: *ended,
                succeeded: lat.len() as u64,
                success_pct: (*ended > 0).then(|| 100.0 * lat.len() as f64 / *ended as f64),
                latency_mean_ms: mean(lat),
                latency_p95_ms: percentile(lat, 95.0),
                in_flight: r.in_flight_at_window_end[w].into(),
                attempts: Some(att[w].0),
                attempt_success_pct: attempt_pct(cum_ok, cum_att),
            });
        }
    }
    write_file(dir, client_rows)?;

    if scenario.output.node_windows_csv {
        let rows = runs.iter().flat_map(|r| {
            r.node_windows.iter().map(|nw| {
                let c = &nw.counts;
                let up = nw.up.then_some(());
                NodeWindowRow {
                    strategy: r.strategy.clone(),
                    window_start_s: nw.window_start_s,
                    node: node_name(nw.node),
                    zone: zone_of(nw.node),
                    up: nw.up,
                    // Unknown while the node is down.
                    queue_len: up.map(|_| nw.queue_len.into()),
                    in_flight: up.map(|_| nw.in_flight.into()),
                    enqueues: c.enqueues,
                    dequeues: c.dequeues,
                    cpu_pct: up.map(|_| nw.cpu_pct.into()),
                    mem_pct: up.map(|_| nw.mem_pct.into()),
                    jobs_done: c.jobs_done,
                    cache_hits: c.cache_hits,
                    offloads_same_zone: c.offloads_same_zone,
                    offloads_cross_zone: c.offloads_cross_zone,
                    responses_same_zone: c.responses_same_zone,
                    responses_cross_zone: c.responses_cross_zone,
                }
            })
        });
        write_file(dir, rows)?;
    }

    let rows = runs.iter().flat_map(|r| {
        let period = scenario.gossip_of(&r.strategy).period_ms.max(1);
        r.convergence.iter().map(move |c| {
            let seeds: Vec<String> = c.seeds.iter().map(|&s| node_name(s)).collect();
            let to_full = c.full_view_ms.map(|t| t - c.start_ms);
            ConvergenceCsvRow {
                strategy: r.strategy.clone(),
                node: node_name(c.node),
                zone: zone_of(c.node),
                seeds: (!seeds.is_empty()).then(|| seeds.join(";")),
                start_ms: c.start_ms,
                full_view_ms: c.full_view_ms,
                time_to_full_view_ms: to_full,
                rounds: to_full.map(|d| d.div_ceil(period)),
            }
        })
    });
    write_file(dir, rows)?;

    let rows = runs.iter().flat_map(|r| {
        r.detections.iter().map(|d| FailureDetectionRow {
            strategy: r.strategy.clone(),
            fault: d.kind.to_string(),
            failed_node: node_name(d.failed_node),
            fault_ms: d.fault_ms,
            observer: node_name(d.observer),
            detected_ms: d.detected_ms,
            detection_delay_ms: d.detected_ms.map(|t| t - d.fault_ms),
        })
    });
    write_file(dir, rows)?;

    let mut events = Vec::new();
    for r in runs {
        for e in &r.fault_events {
            let kind = EventKind::parse(e.kind).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("fault event of unknown kind {:?}", e.kind),
                )
            })?;
            events.push(EventRow {
                strategy: r.strategy.clone(),
                time_ms: e.time_ms,
                kind,
                node: node_name(e.node),
            });
        }
    }
    write_file(dir, events)?;
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
