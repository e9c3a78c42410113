//! The network between the nodes and their client: one-way delays from the zone table's model
//! (drawn from the network stream, so their order is the run's), offloaded jobs on their way to a
//! peer, the offload connections whose answers are awaited, and how many offloads stayed within
//! a zone.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use vidmesh_core::{Job, JobId, Millis, OffloadError, Outcome, PeerAddr, ZoneId, ZoneTable};

use super::round_ms;
use crate::engine::Ev;
use crate::queue::EventQueue;
use crate::rng::{self, stream};
use crate::routes::{Route, RouteKind};
use crate::scenario::{self, NetFault, NetFaultKind, OffloadLatency, Scenario};
use vidmesh_loadgen::AttemptEnd;

/// A multiplicative hasher for the u64 job ids: only used for lookups, never iterated into
/// anything that reaches an output without sorting first.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

pub(crate) struct Network<'a> {
    spec: &'a scenario::Network,
    /// The scenario's network faults, and the stream their loss and duplication draws come
    /// from (its own, so a fault never moves the delays every other message draws).
    faults: &'a [NetFault],
    fault_rng: ChaCha8Rng,
    zones: Arc<ZoneTable>,
    /// Each node's zone.
    zone_of: Vec<ZoneId>,
    rng: ChaCha8Rng,
    /// Jobs on their way to a peer (see [`Ev::OffloadArrive`]), and the free places.
    in_transit: Vec<Job>,
    in_transit_free: Vec<u32>,
    /// Offloads awaiting an answer: origin job id → (origin node, life).
    offloads: IdMap<(u32, u32)>,
    /// Offloaded jobs being worked on at their peer: origin job id → the peer's job id.
    remote_jobs: IdMap<u64>,
    /// `oracle` only: offloads on their way, per (from × nodes + to).
    oracle_transit: Option<Vec<u32>>,
    pub same_zone: u64,
    pub cross_zone: u64,
}

impl<'a> Network<'a> {
    /// `oracle`: count the offloads on their way between every pair of nodes.
    pub fn new(s: &'a Scenario, oracle: bool) -> Network<'a> {
        let n = s.nodes.len();
        Network {
            spec: &s.network,
            faults: &s.net_faults,
            fault_rng: rng::stream_rng(s.seed, stream::NET_FAULTS),
            zones: s.network.zones.clone(),
            zone_of: s.nodes.iter().map(|x| x.zone).collect(),
            rng: rng::stream_rng(s.seed, stream::NETWORK),
            in_transit: Vec::new(),
            in_transit_free: Vec::new(),
            offloads: IdMap::default(),
            remote_jobs: IdMap::default(),
            oracle_transit: oracle.then(|| vec![0; n * n]),
            same_zone: 0,
            cross_zone: 0,
        }
    }

    /// The node a peer address names, if any.
    pub fn target(&self, addr: PeerAddr) -> Option<usize> {
        let i = (addr.port as usize).checked_sub(1)?;
        (i < self.zone_of.len()).then_some(i)
    }

    /// Whether a partition stands between nodes `a` and `b` at `now`.
    #[inline]
    pub fn cut(&self, now: Millis, a: usize, b: usize) -> bool {
        !self.faults.is_empty()
            && self.faults.iter().any(|f| match &f.kind {
                NetFaultKind::Partition { side } => f.active(now) && side[a] != side[b],
                _ => false,
            })
    }

    /// What the delay faults add to a message between `a` and `b` at `now`, in ms.
    #[inline]
    fn extra_ms(&self, now: Millis, a: usize, b: usize) -> Millis {
        if self.faults.is_empty() {
            return 0;
        }
        self.faults
            .iter()
            .filter(|f| f.active(now))
            .map(|f| match &f.kind {
                NetFaultKind::Delay { extra_ms, side }
                    if side.as_ref().is_none_or(|s| s[a] || s[b]) =>
                {
                    *extra_ms
                }
                _ => 0,
            })
            .sum()
    }

    /// How many copies of a datagram from `a` to `b` sent at `now` arrive: 0 (partitioned or
    /// lost), 1, or 2 (duplicated). Draws only while a loss or duplication fault is on.
    #[inline]
    pub fn datagram_copies(&mut self, now: Millis, a: usize, b: usize) -> u8 {
        if self.faults.is_empty() {
            return 1;
        }
        if self.cut(now, a, b) {
            return 0;
        }
        let mut copies = 1;
        for f in self.faults.iter().filter(|f| f.active(now)) {
            match f.kind {
                NetFaultKind::Loss { p } if self.fault_rng.random_bool(p) => return 0,
                NetFaultKind::Duplicate { p } if self.fault_rng.random_bool(p) => copies = 2,
                _ => {}
            }
        }
        copies
    }

    /// One-way delay of a datagram from node `a` to node `b` sent at `now`, faults included.
    #[inline]
    pub fn datagram_delay(&mut self, now: Millis, a: usize, b: usize, bytes: u64) -> Millis {
        self.delay(a, b, bytes) + self.extra_ms(now, a, b)
    }

    /// One-way delay from zone `a` to zone `b` of `bytes`, with jitter, in whole ms (the zone
    /// table's model, which the live transport applies too).
    #[inline]
    fn zone_delay(&mut self, a: ZoneId, b: ZoneId, bytes: u64) -> Millis {
        round_ms(self.zones.sample_one_way_ms(a, b, bytes, &mut self.rng))
    }

    /// One-way delay from node `a` to node `b` of `bytes`.
    #[inline]
    pub fn delay(&mut self, a: usize, b: usize, bytes: u64) -> Millis {
        self.zone_delay(self.zone_of[a], self.zone_of[b], bytes)
    }

    /// Delay between the client and node `i` for `bytes`.
    pub fn client_delay(&mut self, i: usize, bytes: u64) -> Millis {
        let mut d = match self.spec.client_zone {
            Some(z) => self.zone_delay(z, self.zone_of[i], bytes) as f64,
            None => 0.0,
        };
        if let Some(bw) = self.spec.client_bandwidth_mbps {
            d += bytes as f64 * 8.0 / (bw * 1000.0);
        }
        round_ms(d)
    }

    /// `oracle`: whether it counts transfers, and how many are on their way from `i` to `j`.
    pub fn counts_transit(&self) -> bool {
        self.oracle_transit.is_some()
    }
    pub fn transit(&self, i: usize, j: usize) -> u32 {
        let n = self.zone_of.len();
        self.oracle_transit.as_ref().map_or(0, |t| t[i * n + j])
    }

    /// Node `from` (in `life`) offloads a job to nobody reachable: refused at once.
    pub fn unreachable(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        (from, life): (usize, u32),
        job: JobId,
    ) {
        q.push(
            now,
            Ev::OffloadResult {
                node: from as u32,
                life,
                job,
                result: Err(OffloadError::Unreachable),
            },
        );
        self.offloads.insert(job.0, (from as u32, life));
    }

    /// Node `from` (in `life`) offloads `job` of request `req` to node `to`; `to_down`: nobody
    /// listens there. The answer (or the failure) comes back as [`Ev::OffloadResult`].
    pub fn offload(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        (from, life): (usize, u32),
        job: Job,
        (t, req): (usize, u32),
        to_down: bool,
    ) {
        if self.zone_of[t] == self.zone_of[from] {
            self.same_zone += 1;
        } else {
            self.cross_zone += 1;
        }
        self.offloads.insert(job.id.0, (from as u32, life));
        q.push(
            now + self.spec.offload_timeout_ms,
            Ev::OffloadTimeout {
                node: from as u32,
                life,
                job: job.id,
            },
        );
        if to_down || self.cut(now, from, t) {
            // Connection refused or timed out (a partition: no answer to the SYN).
            q.push(
                now + self.spec.connect_timeout_ms,
                Ev::OffloadResult {
                    node: from as u32,
                    life,
                    job: job.id,
                    result: Err(OffloadError::Unreachable),
                },
            );
            return;
        }
        let (fz, tz) = (self.zone_of[from], self.zone_of[t]);
        let mut d = self.zone_delay(fz, tz, job.features.size_bytes) + self.extra_ms(now, from, t);
        if self.spec.offload_latency == OffloadLatency::FullRtt {
            // The other half of the RTT: the original slept a whole RTT before posting.
            d += round_ms(self.zones.rtt_ms(fz, tz) / 2.0);
        }
        let n = self.zone_of.len();
        if let Some(tr) = self.oracle_transit.as_mut() {
            tr[from * n + t] += 1;
        }
        let slot = match self.in_transit_free.pop() {
            Some(k) => {
                self.in_transit[k as usize] = job;
                k
            }
            None => {
                self.in_transit.push(job);
                (self.in_transit.len() - 1) as u32
            }
        };
        q.push(
            now + d,
            Ev::OffloadArrive {
                to: t as u32,
                origin: from as u32,
                origin_life: life,
                origin_job: job.id,
                job: slot,
                req,
            },
        );
    }

    /// The transfer in place `slot` from `origin` lands at `to`: the job it carried.
    pub fn land(&mut self, slot: u32, origin: u32, to: u32) -> Job {
        self.in_transit_free.push(slot);
        let job = self.in_transit[slot as usize];
        let n = self.zone_of.len();
        if let Some(t) = self.oracle_transit.as_mut() {
            t[origin as usize * n + to as usize] -= 1;
        }
        job
    }

    /// Whether the origin still waits for the answer to its offload of `origin_job`.
    pub fn awaited(&self, origin_job: JobId) -> bool {
        self.offloads.contains_key(&origin_job.0)
    }

    /// The origin stops waiting for `origin_job`: its (origin node, life), if it waited.
    pub fn close(&mut self, origin_job: JobId) -> Option<(u32, u32)> {
        self.offloads.remove(&origin_job.0)
    }

    /// The peer took the offload of `origin_job` in as its job `peer_job`.
    pub fn accepted(&mut self, origin_job: JobId, peer_job: JobId) {
        self.remote_jobs.insert(origin_job.0, peer_job.0);
    }

    /// The peer answered `origin_job` (or dropped it): the peer's job id, if it held it.
    pub fn finished(&mut self, origin_job: JobId) -> Option<u64> {
        self.remote_jobs.remove(&origin_job.0)
    }

    /// The offload of `origin`'s job (in `origin_life`) to node `from` fails: the origin hears
    /// of it one link delay later.
    pub fn refuse(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        from: usize,
        (origin, origin_life, origin_job): (u32, u32, JobId),
    ) {
        if self.cut(now, from, origin as usize) {
            return; // the reset never arrives: the origin's offload timeout fires instead
        }
        let d = self.delay(from, origin as usize, 0) + self.extra_ms(now, from, origin as usize);
        q.push(
            now + d,
            Ev::OffloadResult {
                node: origin,
                life: origin_life,
                job: origin_job,
                result: Err(OffloadError::Unreachable),
            },
        );
    }

    /// Node `i` answers the job that came to it by `route`: the answer travels back to the
    /// client or the origin.
    pub fn answer(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        route: Route,
        outcome: Outcome,
    ) {
        match route.kind {
            RouteKind::Client { attempt } => {
                let d = self.client_delay(i, outcome.output_bytes());
                q.push(
                    now + d,
                    Ev::ClientReply {
                        req: route.req,
                        attempt,
                        outcome,
                    },
                );
            }
            RouteKind::Remote {
                origin,
                origin_life,
                origin_job,
            } => {
                self.finished(origin_job);
                if self.cut(now, i, origin as usize) {
                    // The answer cannot get through: the origin's offload timeout fires.
                    return;
                }
                let bytes = outcome.output_bytes();
                let result = outcome.to_remote();
                let d =
                    self.delay(i, origin as usize, bytes) + self.extra_ms(now, i, origin as usize);
                q.push(
                    now + d,
                    Ev::OffloadResult {
                        node: origin,
                        life: origin_life,
                        job: origin_job,
                        result,
                    },
                );
            }
        }
    }

    /// Node `i`'s process died while it held the job that came by `route`: the connection is
    /// reset, so the client or the origin learns at once.
    pub fn reset(&mut self, now: Millis, q: &mut EventQueue<Ev>, i: usize, route: Route) {
        match route.kind {
            RouteKind::Client { attempt } => {
                let d = self.client_delay(i, 0);
                q.push(
                    now + d,
                    Ev::AttemptFail {
                        req: route.req,
                        attempt,
                        why: AttemptEnd::Error,
                    },
                );
            }
            RouteKind::Remote {
                origin,
                origin_life,
                origin_job,
            } => self.refuse(now, q, i, (origin, origin_life, origin_job)),
        }
    }
}
