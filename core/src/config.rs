//! Configuration of one node's core, as drivers build it from a scenario or from flags.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

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
        }
    }
}

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
        }
    }
}
