//! Configuration of one node's core, as drivers build it from a scenario or from flags.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cost::CostCurve;
use crate::peer::{NodeId, PeerAddr};
use crate::strategy::StrategyConfig;
use crate::zone::{ZoneId, ZoneTable};

/// Membership (SWIM, via foca) and load-gossip timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipConfig {
    /// Period of a gossip round: the node pushes its load report (and the freshest others it
    /// knows) to `fanout` random peers, and membership gossips to `fanout` peers. The report's
    /// system polled every 5 s.
    pub period_ms: u64,
    /// Peers contacted per round (the report: 2).
    pub fanout: usize,
    /// Other nodes' reports relayed in each load gossip message, freshest first.
    pub relay_reports: usize,
    /// SWIM probe period.
    pub probe_period_ms: u64,
    /// How long a probe waits for its ack before asking others to probe indirectly.
    pub probe_rtt_ms: u64,
    /// How long a suspected member has to refute before it is declared down.
    pub suspect_to_down_ms: u64,
    /// How long a down member is remembered (so its old life cannot come back).
    pub remove_down_after_ms: u64,
    /// Re-announce to a random member this often, which also heals partitions; 0 = never.
    pub announce_period_ms: u64,
    /// Largest membership datagram.
    pub max_packet_bytes: usize,
    /// How many times each membership update is piggybacked before it is dropped; SWIM wants
    /// about 4·log10(cluster size), and every extra copy costs each receiver a member lookup.
    pub max_transmissions: u8,
    /// Lifeguard's cap on the local health multiplier ([`crate::health`]): a node that finds
    /// itself slow widens its probe interval, probe timeout and suspicion timeout up to
    /// `1 + lifeguard_max` times; 0 turns local health awareness off.
    pub lifeguard_max: u8,
    /// A membership timer delivered this much later than asked counts against local health.
    pub lifeguard_late_ms: u64,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig {
            period_ms: 5_000,
            fanout: 2,
            relay_reports: 8,
            probe_period_ms: 1_000,
            probe_rtt_ms: 600,
            suspect_to_down_ms: 3_000,
            remove_down_after_ms: 60_000,
            announce_period_ms: 5_000,
            max_packet_bytes: 1_400,
            max_transmissions: 10,
            lifeguard_max: 8,
            lifeguard_late_ms: 200,
        }
    }
}

/// How a node guards itself against more work than it can do in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Admit only what is predicted to finish before its deadline: offload the rest to a peer
    /// that can make it, or refuse at once. Off is the report's behaviour: queue until the cap,
    /// and run whatever was queued however late.
    pub deadline_aware: bool,
    /// ffprobe runs at once; further uploads wait for a slot (0 = one per core, at least 1).
    /// Probes share the CPU with transcodes, so they are bounded by the same allotment.
    pub probe_slots: u32,
    /// A cancelled transcode at least this far along (fraction of its predicted time) runs to
    /// the end so its output lands in the cache; above 1 never.
    pub finish_for_cache: f64,
    /// Drop a job whose submitter went away ([`crate::Input::Cancel`]); off, it runs anyway.
    pub cancel_abandoned: bool,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            deadline_aware: true,
            probe_slots: 0,
            finish_for_cache: 0.9,
            cancel_abandoned: true,
        }
    }
}

impl AdmissionConfig {
    /// The report's system: no deadline, unbounded probing, nothing cancelled.
    pub fn off() -> Self {
        AdmissionConfig {
            deadline_aware: false,
            probe_slots: u32::MAX,
            finish_for_cache: 0.0,
            cancel_abandoned: false,
        }
    }
}

/// Transcodes a node runs at once by default: as many as its CPU allotment sustains, each
/// ffmpeg using `job_threads` cores, and at least one.
pub fn capacity_workers(cores: f64, job_threads: f64) -> u32 {
    if !(cores.is_finite() && job_threads.is_finite()) || job_threads <= 0.0 {
        return 1;
    }
    ((cores / job_threads + 1e-9).floor() as u32).max(1)
}

/// A [`NodeConfig`] that cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("node configuration: {0}")]
pub struct ConfigError(pub String);

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    pub zone: ZoneId,
    pub addr: PeerAddr,
    /// Which life of this node: must grow across restarts.
    pub gen: u32,
    pub workers: u32,
    pub queue_cap: u32,
    /// Bound on the transcoded outputs kept in the content cache, in bytes (0 = no cache).
    pub cache_bytes: u64,
    /// How many times a job may be offloaded (the report's system had no limit).
    pub hop_limit: u8,
    pub strategy: StrategyConfig,
    pub gossip: GossipConfig,
    /// Addresses announced to at start.
    pub seeds: Vec<PeerAddr>,
    pub zones: Arc<ZoneTable>,
    /// The CPU allotment, in cores (may be fractional: a share of a machine).
    pub cores: f64,
    /// Cores one transcode keeps busy (ffmpeg's thread count).
    pub job_threads: f64,
    /// The transcode cost curve the node starts from before it has measured itself.
    pub cost: CostCurve,
    pub admission: AdmissionConfig,
}

impl NodeConfig {
    /// The report's defaults: 5 workers, queue cap 20, hop limit 1, score 0.3/0.7.
    pub fn new(id: NodeId, zone: ZoneId, addr: PeerAddr, zones: Arc<ZoneTable>) -> Self {
        NodeConfig {
            id,
            zone,
            addr,
            gen: 0,
            workers: 5,
            queue_cap: 20,
            cache_bytes: 1 << 30,
            hop_limit: 1,
            strategy: StrategyConfig::default(),
            gossip: GossipConfig::default(),
            seeds: Vec::new(),
            zones,
            cores: 2.0,
            job_threads: 2.0,
            cost: CostCurve::default(),
            admission: AdmissionConfig::default(),
        }
    }

    /// Refuses settings the core cannot run with, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError(m));
        if self.workers == 0 {
            return bad("workers must be at least 1".into());
        }
        if !(self.cores.is_finite() && self.cores > 0.0) {
            return bad(format!("cores must be > 0, got {}", self.cores));
        }
        if !(self.job_threads.is_finite() && self.job_threads > 0.0) {
            return bad(format!("job_threads must be > 0, got {}", self.job_threads));
        }
        if !self.admission.finish_for_cache.is_finite() || self.admission.finish_for_cache < 0.0 {
            return bad(format!(
                "admission.finish_for_cache must be ≥ 0, got {}",
                self.admission.finish_for_cache
            ));
        }
        self.cost
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.strategy
            .validate()
            .map_err(|e| ConfigError(format!("strategy: {e}")))?;
        Ok(())
    }

    /// Cores one running transcode gets: its threads, or its share of the allotment when the
    /// workers together ask for more than there is.
    pub fn slot_cores(&self) -> f64 {
        self.job_threads
            .min(self.cores / self.workers.max(1) as f64)
    }

    /// Concurrent probes.
    pub fn probe_slots(&self) -> u32 {
        match self.admission.probe_slots {
            0 => (self.cores.floor() as u32).max(1),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_follow_the_allotment() {
        assert_eq!(capacity_workers(2.0, 1.0), 2);
        assert_eq!(capacity_workers(0.4, 1.0), 1);
        assert_eq!(capacity_workers(4.0, 2.0), 2);
        assert_eq!(capacity_workers(3.0, 2.0), 1);
        assert_eq!(capacity_workers(f64::NAN, 1.0), 1);
    }
}
