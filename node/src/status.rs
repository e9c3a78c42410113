//! What `/status` and `/metrics` report. The types are public so that a driver polling nodes
//! (`sim live`) can read them back.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub name: String,
    pub id: u32,
    pub zone: String,
    pub addr: String,
    pub gen: u32,
    /// `alive`, `suspect` or `down`, as this node's membership sees it; `left` when the peer
    /// went down after saying it drained and left (a departure, not a failure).
    pub state: String,
    /// Wall-clock time (ms since the Unix epoch) this node last saw the peer come up or go
    /// down.
    pub since_unix_ms: u64,
    /// Age of the latest load report, if one has arrived.
    pub report_age_ms: Option<u64>,
    /// The report's scalar load (cpu % + queue + mem %).
    pub load: Option<f64>,
    pub queue_len: Option<u32>,
    pub cpu_pct: Option<f32>,
    pub mem_pct: Option<f32>,
    /// Jobs this node sent there and has not heard back about.
    pub in_flight_to: u32,
}

/// Running totals: the core's counters plus the driver's own. In JSON the core's fields sit next
/// to the driver's, as one flat object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterStatus {
    #[serde(flatten)]
    pub core: vidmesh_core::Counters,
    /// Uploads refused before reaching the core (bad input), by this node's HTTP layer.
    pub bad_requests: u64,
    /// Gossip requests refused (malformed or from an unknown peer).
    pub bad_gossip: u64,
    /// ffprobe runs on uploads (every upload that is neither a cache hit nor an offload that
    /// brought its features).
    #[serde(default)]
    pub probes: u64,
    /// Offloads received with their features in a header, which spared an ffprobe run.
    #[serde(default)]
    pub probes_skipped: u64,
    pub cache_evictions: u64,
    /// Answers the core gave for jobs this node no longer held: a job answered twice. Always
    /// 0 unless something is wrong.
    #[serde(default)]
    pub stray_replies: u64,
    /// Inputs after which the core broke a job-protocol rule (`ProtocolViolation`): a job
    /// answered twice or dropped unanswered, or one past the hop limit. Always 0 unless
    /// something is wrong.
    #[serde(default)]
    pub protocol_violations: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    /// `serving`, `draining` (takes no new work, finishes its own) or `left`.
    #[serde(default)]
    pub state: String,
    pub id: u32,
    pub zone: String,
    pub addr: String,
    pub gen: u32,
    /// The strategy as configured (the scenario's form).
    pub strategy: serde_json::Value,
    pub unix_ms: u64,
    pub uptime_ms: u64,
    pub workers: u32,
    pub queue_cap: u32,
    pub queue_len: u32,
    pub in_flight: u32,
    pub offloads_pending: u32,
    pub cpu_pct: f32,
    pub mem_pct: f32,
    pub cache_entries: usize,
    pub cache_bytes: u64,
    pub alive_peers: usize,
    /// Every peer ever seen, sorted by id.
    pub peers: Vec<PeerStatus>,
    pub counters: CounterStatus,
    /// The CPU allotment, in cores.
    #[serde(default)]
    pub cpus: f64,
    /// How long a job arriving now would wait for a worker, by the cost model (ms).
    #[serde(default)]
    pub backlog_ms: u64,
    /// The transcode cost model: learned speed and the prediction error (MAPE) over the last
    /// finished transcodes.
    #[serde(default)]
    pub cost: vidmesh_core::CostStats,
    /// Local health (Lifeguard): the multiplier this node's membership timeouts are widened by
    /// (1 + multiplier), and what moved it.
    #[serde(default)]
    pub health: vidmesh_core::HealthStats,
}

impl Status {
    /// Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let labels = format!("node=\"{}\",zone=\"{}\"", self.name, self.zone);
        let mut gauge = |name: &str, help: &str, kind: &str, v: String| {
            s.push_str(&format!(
                "# HELP vidmesh_{name} {help}\n# TYPE vidmesh_{name} {kind}\nvidmesh_{name}{{{labels}}} {v}\n"
            ));
        };
        gauge(
            "queue_len",
            "Jobs waiting for a worker.",
            "gauge",
            self.queue_len.to_string(),
        );
        gauge(
            "backlog_ms",
            "Predicted wait for a worker of a job arriving now, in ms.",
            "gauge",
            self.backlog_ms.to_string(),
        );
        gauge(
            "cost_speed",
            "Learned transcode time ÷ the cost curve's (1 = as the curve says).",
            "gauge",
            format!("{:.4}", self.cost.speed),
        );
        gauge(
            "cost_mape_pct",
            "Mean absolute % error of the last (up to 50) service-time predictions.",
            "gauge",
            format!("{:.2}", self.cost.mape_pct),
        );
        gauge(
            "local_health_multiplier",
            "Lifeguard's local health multiplier: membership timeouts are (1 + this) × their base.",
            "gauge",
            self.health.multiplier.to_string(),
        );
        gauge(
            "in_flight",
            "Jobs being transcoded.",
            "gauge",
            self.in_flight.to_string(),
        );
        gauge(
            "offloads_pending",
            "Jobs sent to peers awaiting an answer.",
            "gauge",
            self.offloads_pending.to_string(),
        );
        gauge(
            "cpu_pct",
            "CPU % of this node's allotment.",
            "gauge",
            format!("{:.3}", self.cpu_pct),
        );
        gauge(
            "mem_pct",
            "Memory % of this node's allotment.",
            "gauge",
            format!("{:.3}", self.mem_pct),
        );
        gauge(
            "alive_peers",
            "Peers membership sees alive.",
            "gauge",
            self.alive_peers.to_string(),
        );
        gauge(
            "cache_entries",
            "Outputs in the content cache.",
            "gauge",
            self.cache_entries.to_string(),
        );
        gauge(
            "cache_bytes",
            "Bytes in the content cache.",
            "gauge",
            self.cache_bytes.to_string(),
        );
        let d = &self.counters;
        let c = &d.core;
        for (name, v) in [
            ("uploads", c.uploads),
            ("cache_hits", c.cache_hits),
            ("transcodes_started", c.transcodes_started),
            ("transcodes_ok", c.transcodes_ok),
            ("transcodes_failed", c.transcodes_failed),
            ("offloads_same_zone", c.offloads_same_zone),
            ("offloads_cross_zone", c.offloads_cross_zone),
            ("offloads_failed", c.offloads_failed),
            ("fallbacks", c.fallbacks),
            ("rejected", c.rejected),
            ("responses_same_zone", c.responses_same_zone),
            ("responses_cross_zone", c.responses_cross_zone),
            ("enqueues", c.enqueues),
            ("dequeues", c.dequeues),
            ("messages_in", c.messages_in),
            ("messages_out", c.messages_out),
            ("bad_messages", c.bad_messages),
            ("load_probes_sent", c.load_probes_sent),
            ("load_probe_answers", c.load_probe_answers),
            ("bad_requests", d.bad_requests),
            ("bad_gossip", d.bad_gossip),
            ("probes", d.probes),
            ("probes_skipped", d.probes_skipped),
            ("cache_evictions", d.cache_evictions),
            ("stray_replies", d.stray_replies),
            ("protocol_violations", d.protocol_violations),
            ("late_timers", self.health.late_timers),
            ("refutations", self.health.refutations),
            ("suspicions_raised", self.health.probes_failed),
        ] {
            gauge(
                &format!("{name}_total"),
                &format!("Running total of {}.", name.replace('_', " ")),
                "counter",
                v.to_string(),
            );
        }
        s
    }
}
