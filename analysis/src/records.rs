//! The rows of the CSV files `sim run` and `sim live` write (docs/metrics.md), and a scenario
//! output folder read as a whole.

use std::path::{Path, PathBuf};

use crate::csvio::{read_csv, Fields, Record, Row, WriteRecord};
use crate::error::{Error, Result};

/// `summary.csv`: one row per strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub strategy: String,
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub rejected: u64,
    /// succeeded / requests, 0..1.
    pub success_rate: f64,
    pub goodput_per_s: f64,
    /// Over successful requests; empty when none succeeded.
    pub latency_mean_ms: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub cache_hits: u64,
    pub duration_s: f64,
    /// Client attempts (a request makes one or more); empty in files written before the column.
    pub attempts: Option<u64>,
    /// 100 · successful attempts / attempts (the report's "throughput %"); empty without
    /// attempts, and in files written before the column.
    pub attempt_success_pct: Option<f64>,
}

impl SummaryRow {
    /// Share of offloads that stayed in the entry node's zone, 0..1; `None` without offloads.
    pub fn same_zone_offload_share(&self) -> Option<f64> {
        let total = self.offloads_same_zone + self.offloads_cross_zone;
        (total > 0).then(|| self.offloads_same_zone as f64 / total as f64)
    }
}

impl Record for SummaryRow {
    const FILE: &'static str = "summary.csv";
    const COLUMNS: &'static [&'static str] = &[
        "strategy",
        "requests",
        "succeeded",
        "failed",
        "timeouts",
        "rejected",
        "success_rate",
        "goodput_per_s",
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "offloads_same_zone",
        "offloads_cross_zone",
        "cache_hits",
        "duration_s",
    ];
    const OPTIONAL_COLUMNS: &'static [&'static str] = &["attempts", "attempt_success_pct"];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let success_rate = r.f64("success_rate")?;
        if !(0.0..=1.0).contains(&success_rate) {
            return Err(r.error(
                "success_rate",
                format!("expected a fraction in 0..1, found {success_rate}"),
            ));
        }
        Ok(SummaryRow {
            strategy: r.string("strategy")?,
            requests: r.u64("requests")?,
            succeeded: r.u64("succeeded")?,
            failed: r.u64("failed")?,
            timeouts: r.u64("timeouts")?,
            rejected: r.u64("rejected")?,
            success_rate,
            goodput_per_s: r.f64("goodput_per_s")?,
            latency_mean_ms: r.opt_f64("latency_mean_ms")?,
            latency_p50_ms: r.opt_f64("latency_p50_ms")?,
            latency_p95_ms: r.opt_f64("latency_p95_ms")?,
            latency_p99_ms: r.opt_f64("latency_p99_ms")?,
            offloads_same_zone: r.u64("offloads_same_zone")?,
            offloads_cross_zone: r.u64("offloads_cross_zone")?,
            cache_hits: r.u64("cache_hits")?,
            duration_s: r.f64("duration_s")?,
            attempts: r.opt_u64("attempts")?,
            attempt_success_pct: r.opt_f64("attempt_success_pct")?,
        })
    }
}

/// How a logical request ended: the load client's outcome.
pub use vidmesh_loadgen::record::Outcome;

/// `requests.csv` as read back: one row per logical request (written from the load client's
/// records by `vidmesh_loadgen::record`).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRow {
    pub strategy: String,
    pub request_id: String,
    pub batch: Option<u64>,
    pub submit_ms: u64,
    pub end_ms: u64,
    pub latency_ms: f64,
    pub attempts: u64,
    pub outcome: Outcome,
    pub entry_node: Option<String>,
    pub entry_zone: Option<String>,
    pub exec_node: Option<String>,
    pub exec_zone: Option<String>,
    /// Empty (not applicable) for requests that did not succeed.
    pub hops: Option<u64>,
    pub cache_hit: Option<bool>,
    pub offloaded: Option<bool>,
    pub fallback: Option<bool>,
    pub size_bytes: Option<u64>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub frames: Option<u64>,
}

impl Record for RequestRow {
    const FILE: &'static str = "requests.csv";
    // The load client's record writes them (vidmesh_loadgen::record::push_row).
    const COLUMNS: &'static [&'static str] = vidmesh_loadgen::record::COLUMNS;
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let raw = r.raw("outcome");
        let outcome = Outcome::parse(raw).ok_or_else(|| {
            r.error(
                "outcome",
                format!("expected one of ok, timeout, rejected, error, unavailable; found {raw:?}"),
            )
        })?;
        let submit_ms = r.u64("submit_ms")?;
        let end_ms = r.u64("end_ms")?;
        if end_ms < submit_ms {
            return Err(r.error(
                "end_ms",
                format!("end_ms {end_ms} is before submit_ms {submit_ms}"),
            ));
        }
        Ok(RequestRow {
            strategy: r.string("strategy")?,
            request_id: r.string("request_id")?,
            batch: r.opt_u64("batch")?,
            submit_ms,
            end_ms,
            latency_ms: r.f64("latency_ms")?,
            attempts: r.u64("attempts")?,
            outcome,
            entry_node: r.opt_string("entry_node"),
            entry_zone: r.opt_string("entry_zone"),
            exec_node: r.opt_string("exec_node"),
            exec_zone: r.opt_string("exec_zone"),
            hops: r.opt_u64("hops")?,
            cache_hit: r.opt_bool("cache_hit")?,
            offloaded: r.opt_bool("offloaded")?,
            fallback: r.opt_bool("fallback")?,
            size_bytes: r.opt_u64("size_bytes")?,
            width: r.opt_u64("width")?,
            height: r.opt_u64("height")?,
            frames: r.opt_u64("frames")?,
        })
    }
}

/// `client_windows.csv`: per strategy, per 5 s window of the client's clock.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientWindowRow {
    pub strategy: String,
    pub window_start_s: u64,
    pub ended: u64,
    pub succeeded: u64,
    /// 100·succeeded/ended (the report's "throughput %"); empty when nothing ended.
    pub success_pct: Option<f64>,
    pub latency_mean_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub in_flight: u64,
    /// Client attempts that ended in the window; empty in files written before the column.
    pub attempts: Option<u64>,
    /// 100 · successful attempts / attempts, cumulative from the start of the run to the window's
    /// end (what the report plotted as "throughput %"); empty until an attempt ends, and in files
    /// written before the column existed.
    pub attempt_success_pct: Option<f64>,
}

impl Record for ClientWindowRow {
    const FILE: &'static str = "client_windows.csv";
    const COLUMNS: &'static [&'static str] = &[
        "strategy",
        "window_start_s",
        "ended",
        "succeeded",
        "success_pct",
        "latency_mean_ms",
        "latency_p95_ms",
        "in_flight",
    ];
    const OPTIONAL_COLUMNS: &'static [&'static str] = &["attempts", "attempt_success_pct"];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let pct = |column: &str| -> Result<Option<f64>> {
            let v = r.opt_f64(column)?;
            match v {
                Some(p) if !(0.0..=100.0).contains(&p) => Err(r.error(
                    column,
                    format!("expected a percentage in 0..100, found {p}"),
                )),
                _ => Ok(v),
            }
        };
        let success_pct = pct("success_pct")?;
        let attempt_success_pct = pct("attempt_success_pct")?;
        Ok(ClientWindowRow {
            strategy: r.string("strategy")?,
            window_start_s: r.u64("window_start_s")?,
            ended: r.u64("ended")?,
            succeeded: r.u64("succeeded")?,
            success_pct,
            latency_mean_ms: r.opt_f64("latency_mean_ms")?,
            latency_p95_ms: r.opt_f64("latency_p95_ms")?,
            in_flight: r.u64("in_flight")?,
            attempts: r.opt_u64("attempts")?,
            attempt_success_pct,
        })
    }
}

/// `node_windows.csv`: per strategy, per 5 s window, per node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeWindowRow {
    pub strategy: String,
    pub window_start_s: u64,
    pub node: String,
    pub zone: String,
    pub up: bool,
    /// Sampled at the window's end; empty when unknown (e.g. the node was down).
    pub queue_len: Option<u64>,
    pub in_flight: Option<u64>,
    pub enqueues: u64,
    pub dequeues: u64,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    pub jobs_done: u64,
    pub cache_hits: u64,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub responses_same_zone: u64,
    pub responses_cross_zone: u64,
}

impl Record for NodeWindowRow {
    const FILE: &'static str = "node_windows.csv";
    const COLUMNS: &'static [&'static str] = &[
        "strategy",
        "window_start_s",
        "node",
        "zone",
        "up",
        "queue_len",
        "in_flight",
        "enqueues",
        "dequeues",
        "cpu_pct",
        "mem_pct",
        "jobs_done",
        "cache_hits",
        "offloads_same_zone",
        "offloads_cross_zone",
        "responses_same_zone",
        "responses_cross_zone",
    ];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        Ok(NodeWindowRow {
            strategy: r.string("strategy")?,
            window_start_s: r.u64("window_start_s")?,
            node: r.string("node")?,
            zone: r.string("zone")?,
            up: r.bool("up")?,
            queue_len: r.opt_u64("queue_len")?,
            in_flight: r.opt_u64("in_flight")?,
            enqueues: r.u64("enqueues")?,
            dequeues: r.u64("dequeues")?,
            cpu_pct: r.opt_f64("cpu_pct")?,
            mem_pct: r.opt_f64("mem_pct")?,
            jobs_done: r.u64("jobs_done")?,
            cache_hits: r.u64("cache_hits")?,
            offloads_same_zone: r.u64("offloads_same_zone")?,
            offloads_cross_zone: r.u64("offloads_cross_zone")?,
            responses_same_zone: r.u64("responses_same_zone")?,
            responses_cross_zone: r.u64("responses_cross_zone")?,
        })
    }
}

/// `convergence.csv`: per strategy, per node.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvergenceRow {
    pub strategy: String,
    pub node: String,
    pub zone: String,
    pub seeds: Option<String>,
    pub start_ms: u64,
    /// Empty when the node never knew every other node as alive.
    pub full_view_ms: Option<u64>,
    pub time_to_full_view_ms: Option<u64>,
    pub rounds: Option<u64>,
}

impl Record for ConvergenceRow {
    const FILE: &'static str = "convergence.csv";
    const COLUMNS: &'static [&'static str] = &[
        "strategy",
        "node",
        "zone",
        "seeds",
        "start_ms",
        "full_view_ms",
        "time_to_full_view_ms",
        "rounds",
    ];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        Ok(ConvergenceRow {
            strategy: r.string("strategy")?,
            node: r.string("node")?,
            zone: r.string("zone")?,
            seeds: r.opt_string("seeds"),
            start_ms: r.u64("start_ms")?,
            full_view_ms: r.opt_u64("full_view_ms")?,
            time_to_full_view_ms: r.opt_u64("time_to_full_view_ms")?,
            rounds: r.opt_u64("rounds")?,
        })
    }
}

/// `failure_detection.csv`: per strategy, per (fault, observer).
#[derive(Clone, Debug, PartialEq)]
pub struct FailureDetectionRow {
    pub strategy: String,
    pub fault: String,
    pub failed_node: String,
    pub fault_ms: u64,
    pub observer: String,
    /// Empty when the observer never declared the node down before it came back.
    pub detected_ms: Option<u64>,
    pub detection_delay_ms: Option<u64>,
}

impl Record for FailureDetectionRow {
    const FILE: &'static str = "failure_detection.csv";
    const COLUMNS: &'static [&'static str] = &[
        "strategy",
        "fault",
        "failed_node",
        "fault_ms",
        "observer",
        "detected_ms",
        "detection_delay_ms",
    ];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        Ok(FailureDetectionRow {
            strategy: r.string("strategy")?,
            fault: r.string("fault")?,
            failed_node: r.string("failed_node")?,
            fault_ms: r.u64("fault_ms")?,
            observer: r.string("observer")?,
            detected_ms: r.opt_u64("detected_ms")?,
            detection_delay_ms: r.opt_u64("detection_delay_ms")?,
        })
    }
}

/// What happened to a node in the fault timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    Crash,
    Restart,
    Pause,
    Resume,
    /// An operator drained the node (it finishes its work, leaves, exits).
    Drain,
    /// The node is cut off from the other side of a network partition, until `heal`.
    Partition,
    Heal,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Crash => "crash",
            EventKind::Restart => "restart",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Drain => "drain",
            EventKind::Partition => "partition",
            EventKind::Heal => "heal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "crash" => EventKind::Crash,
            "restart" => EventKind::Restart,
            "pause" => EventKind::Pause,
            "resume" => EventKind::Resume,
            "drain" => EventKind::Drain,
            "partition" => EventKind::Partition,
            "heal" => EventKind::Heal,
            _ => return None,
        })
    }
}

/// `events.csv`: the fault timeline, per strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub strategy: String,
    pub time_ms: u64,
    pub kind: EventKind,
    pub node: String,
}

impl Record for EventRow {
    const FILE: &'static str = "events.csv";
    const COLUMNS: &'static [&'static str] = &["strategy", "time_ms", "kind", "node"];
    fn from_row(r: &Row<'_>) -> Result<Self> {
        let raw = r.raw("kind");
        let kind = EventKind::parse(raw).ok_or_else(|| {
            r.error(
                "kind",
                format!("expected one of crash, restart, pause, resume, drain, partition, heal; found {raw:?}"),
            )
        })?;
        Ok(EventRow {
            strategy: r.string("strategy")?,
            time_ms: r.u64("time_ms")?,
            kind,
            node: r.string("node")?,
        })
    }
}

// Writing: the executors write every file through these (docs/metrics.md gives the formats:
// floats with 3 decimals, booleans 0/1, unknown values empty).

impl WriteRecord for SummaryRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.u64(self.requests);
        f.u64(self.succeeded);
        f.u64(self.failed);
        f.u64(self.timeouts);
        f.u64(self.rejected);
        f.f3(self.success_rate);
        f.f3(self.goodput_per_s);
        f.opt_f3(self.latency_mean_ms);
        f.opt_f3(self.latency_p50_ms);
        f.opt_f3(self.latency_p95_ms);
        f.opt_f3(self.latency_p99_ms);
        f.u64(self.offloads_same_zone);
        f.u64(self.offloads_cross_zone);
        f.u64(self.cache_hits);
        f.f3(self.duration_s);
        f.opt_u64(self.attempts);
        f.opt_f3(self.attempt_success_pct);
    }
}

impl WriteRecord for ClientWindowRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.u64(self.window_start_s);
        f.u64(self.ended);
        f.u64(self.succeeded);
        f.opt_f3(self.success_pct);
        f.opt_f3(self.latency_mean_ms);
        f.opt_f3(self.latency_p95_ms);
        f.u64(self.in_flight);
        f.opt_u64(self.attempts);
        f.opt_f3(self.attempt_success_pct);
    }
}

impl WriteRecord for NodeWindowRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.u64(self.window_start_s);
        f.str(&self.node);
        f.str(&self.zone);
        f.bool(self.up);
        f.opt_u64(self.queue_len);
        f.opt_u64(self.in_flight);
        f.u64(self.enqueues);
        f.u64(self.dequeues);
        f.opt_f3(self.cpu_pct);
        f.opt_f3(self.mem_pct);
        f.u64(self.jobs_done);
        f.u64(self.cache_hits);
        f.u64(self.offloads_same_zone);
        f.u64(self.offloads_cross_zone);
        f.u64(self.responses_same_zone);
        f.u64(self.responses_cross_zone);
    }
}

impl WriteRecord for ConvergenceRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.str(&self.node);
        f.str(&self.zone);
        f.opt_str(self.seeds.as_deref());
        f.u64(self.start_ms);
        f.opt_u64(self.full_view_ms);
        f.opt_u64(self.time_to_full_view_ms);
        f.opt_u64(self.rounds);
    }
}

impl WriteRecord for FailureDetectionRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.str(&self.fault);
        f.str(&self.failed_node);
        f.u64(self.fault_ms);
        f.str(&self.observer);
        f.opt_u64(self.detected_ms);
        f.opt_u64(self.detection_delay_ms);
    }
}

impl WriteRecord for EventRow {
    fn write_fields(&self, f: &mut Fields<'_>) {
        f.str(&self.strategy);
        f.u64(self.time_ms);
        f.str(self.kind.as_str());
        f.str(&self.node);
    }
}

/// Reads `summary.csv` (or any file with its columns).
pub fn read_summary(path: &Path) -> Result<Vec<SummaryRow>> {
    read_csv(path)
}

/// Every CSV of one scenario output folder; a file that is absent is `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScenarioData {
    pub dir: PathBuf,
    pub summary: Option<Vec<SummaryRow>>,
    pub requests: Option<Vec<RequestRow>>,
    pub client_windows: Option<Vec<ClientWindowRow>>,
    pub node_windows: Option<Vec<NodeWindowRow>>,
    pub convergence: Option<Vec<ConvergenceRow>>,
    pub failure_detection: Option<Vec<FailureDetectionRow>>,
    pub events: Option<Vec<EventRow>>,
}

fn read_optional<R: Record>(dir: &Path) -> Result<Option<Vec<R>>> {
    let path = dir.join(R::FILE);
    match std::fs::metadata(&path) {
        Ok(_) => read_csv(&path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl ScenarioData {
    /// Reads every file of docs/metrics.md present in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "{}: not a directory of scenario results",
                dir.display()
            )));
        }
        Ok(ScenarioData {
            dir: dir.to_path_buf(),
            summary: read_optional(dir)?,
            requests: read_optional(dir)?,
            client_windows: read_optional(dir)?,
            node_windows: read_optional(dir)?,
            convergence: read_optional(dir)?,
            failure_detection: read_optional(dir)?,
            events: read_optional(dir)?,
        })
    }

    /// Strategies in the scenario's order: summary.csv's order, then any strategy only other
    /// files mention, in order of first appearance.
    pub fn strategies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        };
        for r in self.summary.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.client_windows.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.requests.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.node_windows.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.convergence.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.failure_detection.iter().flatten() {
            add(&r.strategy);
        }
        for r in self.events.iter().flatten() {
            add(&r.strategy);
        }
        out
    }

    /// Nodes in natural order (`node2` before `node10`), from every file that names nodes.
    pub fn nodes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let names = self
            .node_windows
            .iter()
            .flatten()
            .map(|r| &r.node)
            .chain(self.convergence.iter().flatten().map(|r| &r.node))
            .chain(
                self.failure_detection
                    .iter()
                    .flatten()
                    .flat_map(|r| [&r.observer, &r.failed_node]),
            );
        for n in names {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        out.sort_by(|a, b| natural_cmp(a, b));
        out
    }
}

/// Orders names with embedded numbers by value: `node2` < `node10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> (&str, Option<u64>) {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (head, tail) = s.split_at(s.len() - digits);
        (head, tail.parse().ok())
    }
    let (ha, na) = split(a);
    let (hb, nb) = split(b);
    ha.cmp(hb).then(na.cmp(&nb)).then(a.cmp(b))
}
