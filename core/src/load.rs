//! Load reports: what each node tells its peers about how busy it is.

use serde::{Deserialize, Serialize};

use crate::peer::PeerId;
use crate::time::Millis;

/// A node's load as of `version`. CPU and memory are percentages of the node's own allotment
/// (0–100), so several nodes sharing one host do not all look equally loaded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub from: PeerId,
    /// Grows with every report the node issues within one life (`from.gen`).
    pub version: u64,
    pub cpu_pct: f32,
    pub mem_pct: f32,
    pub queue_len: u32,
    pub in_flight: u32,
    pub workers: u32,
    pub queue_cap: u32,
    /// Milliseconds since the origin issued this report, as of when it was sent.
    pub age_ms: u32,
    /// How long a job arriving then would have waited for a worker, in ms (as predicted by the
    /// origin's calibrated cost model).
    pub backlog_ms: u32,
    /// The origin's service time per CPU-second of the cost curve, in ms: its calibrated
    /// speed over the cores one transcode gets there. 0 = not known.
    pub ms_per_cpu_s: f32,
    /// The origin is draining: it takes no new work, so nobody routes to it.
    #[serde(default)]
    pub draining: bool,
}

impl LoadReport {
    /// True if `self` is a later report than `other` of the same node.
    pub fn newer_than(&self, other: &LoadReport) -> bool {
        (self.from.gen, self.version) > (other.from.gen, other.version)
    }

    /// The report's scalar load: cpu % + queue length + memory %.
    pub fn load(&self) -> f64 {
        self.cpu_pct as f64 + self.queue_len as f64 + self.mem_pct as f64
    }
}

/// A report as stored by a receiver: the age it had when it arrived, and when that was.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnownReport {
    pub report: LoadReport,
    pub received_at: Millis,
}

impl KnownReport {
    /// Age of the report at `now`, in milliseconds.
    pub fn age_ms(&self, now: Millis) -> u64 {
        self.report.age_ms as u64 + now.saturating_sub(self.received_at)
    }
}

/// The load gossip message: the sender's own fresh report and a few others it knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadDigest {
    pub sender: PeerId,
    pub reports: Vec<LoadReport>,
}
