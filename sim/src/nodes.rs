//! The simulated node processes: the configuration each core starts with under the run's
//! strategy (its seeds included), and the process around the core: its life, whether it is up,
//! paused or down, and the inputs a pause holds back.

use std::sync::Arc;

use vidmesh_core::{Input, Millis, Node, NodeConfig, NodeId, PeerAddr, StrategyConfig, ZoneTable};

use crate::rng::{self, stream, unit};
use crate::scenario::{Scenario, SeedMode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Up,
    Paused,
    Down,
}

pub(crate) struct SimNode {
    pub id: NodeId,
    pub core: Option<Node>,
    pub life: u32,
    pub status: Status,
    /// Inputs that reached the node while it was paused and are not lost by a pause (its own
    /// timers, finished transcodes, offload answers on open connections), in arrival order.
    pub deferred: Vec<Input>,
}

impl SimNode {
    /// Node `i`, not yet started.
    pub fn new(i: usize) -> SimNode {
        SimNode {
            id: NodeId(i as u32 + 1),
            core: None,
            life: 0,
            status: Status::Down,
            deferred: Vec::new(),
        }
    }
}

/// Seed lists of every node, as node indices (generated topologies resolved).
pub fn resolve_seeds(s: &Scenario) -> Vec<Vec<usize>> {
    let n = s.nodes.len();
    let mut seeds: Vec<Vec<usize>> = s.nodes.iter().map(|x| x.seeds.clone()).collect();
    if let Some((mode, count)) = s.generated_seeds {
        let first = n - seeds.iter().rev().take_while(|v| v.is_empty()).count();
        let mut r = rng::stream_rng(s.seed, stream::TOPOLOGY);
        for (i, v) in seeds.iter_mut().enumerate().skip(first) {
            match mode {
                SeedMode::Ring => {
                    if n > 1 {
                        v.push((i + 1) % n);
                    }
                }
                SeedMode::Random => {
                    let want = (count as usize).min(n - 1);
                    while v.len() < want {
                        let j = (unit(&mut r) * n as f64) as usize % n;
                        if j != i && !v.contains(&j) {
                            v.push(j);
                        }
                    }
                }
            }
        }
    }
    seeds
}

/// One strategy's settings over the scenario's nodes: what every core starts with.
pub(crate) struct Setup<'a> {
    s: &'a Scenario,
    pub strategy: String,
    strategy_cfg: StrategyConfig,
    hop_limit: u8,
    zones: Arc<ZoneTable>,
    pub seeds: Vec<Vec<usize>>,
}

impl<'a> Setup<'a> {
    pub fn new(s: &'a Scenario, strategy_index: usize) -> Setup<'a> {
        let (strategy, strategy_cfg) = s.strategies[strategy_index].clone();
        Setup {
            s,
            hop_limit: s.hop_limit_of(&strategy),
            strategy,
            strategy_cfg,
            zones: s.network.zones.clone(),
            seeds: resolve_seeds(s),
        }
    }

    /// `oracle`: the cores are told every node's true state.
    pub fn oracle(&self) -> bool {
        self.strategy_cfg.simulator_only()
    }

    fn config(&self, i: usize, life: u32) -> NodeConfig {
        let s = self.s;
        let spec = &s.nodes[i];
        let id = NodeId(i as u32 + 1);
        let mut c = NodeConfig::new(id, spec.zone, PeerAddr::sim(id), self.zones.clone());
        c.gen = life;
        c.workers = s.workers_of(&self.strategy, i);
        c.cores = spec.cores;
        c.job_threads = s.cost.job_threads;
        c.cost = s.cost.prior_curve();
        c.admission = s.admission_of(&self.strategy);
        c.queue_cap = spec.queue_cap;
        c.cache_bytes = spec.cache_bytes;
        c.hop_limit = self.hop_limit;
        c.strategy = self.strategy_cfg.clone();
        c.gossip = s.gossip_of(&self.strategy);
        c.seeds = self.seeds[i]
            .iter()
            .map(|&j| PeerAddr::sim(NodeId(j as u32 + 1)))
            .collect();
        c
    }

    /// Node `i`'s core in life `life`, started at `now`.
    pub fn start(&self, i: usize, life: u32, now: Millis) -> Node {
        // The scenario was validated when it was read, node settings included.
        let mut core = match Node::new(self.config(i, life), rng::node_rng(self.s.seed, i, life)) {
            Ok(core) => core,
            Err(e) => panic!("node {}: {e}", self.s.nodes[i].name),
        };
        core.start(now);
        core
    }
}
