//! Routing strategies: given a job and what this node knows of its peers, run it here or send it
//! to one peer.
//!
//! Strategies are configured values ([`StrategyConfig`]); each sees the job's predicted cost,
//! its own local state, every alive peer with its RTT, its latest load report and that report's
//! age, and how many jobs this node sent it since. New strategies are new variants.
//!
//! The report's three (`random`, `round_robin`, `score`) mix units; the others reason in jobs
//! per worker (`least_loaded`, `p2c`) or in milliseconds until the job is done (`ect`,
//! `p2c_ect`, `prequal`, `oracle`), through one estimate ([`ClusterView::peer_eta`]) that the
//! node's deadline admission uses too.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::load::KnownReport;
use crate::peer::{NodeId, PeerId};
use crate::time::Millis;
use crate::zone::{ZoneId, ZoneTable};

/// A strategy as named in a scenario or on a command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategyConfig {
    /// Uniform over this node and every alive peer (the report's "random offloading").
    Random {},
    /// Cycles over this node and every alive peer in id order.
    RoundRobin {},
    /// The report's score: `w_load·load/max_load + w_rtt·(rtt − min_rtt)/(max_rtt − min_rtt)`,
    /// lowest wins, this node is a candidate (at RTT 0).
    Score {
        #[serde(default = "default_w_load")]
        w_load: f64,
        #[serde(default = "default_w_rtt")]
        w_rtt: f64,
        #[serde(default = "default_min_rtt")]
        min_rtt_ms: f64,
        #[serde(default = "default_max_rtt")]
        max_rtt_ms: f64,
        /// Normaliser of load; absent = 200 + the candidate's queue cap, as in the report.
        #[serde(default)]
        max_load: Option<f64>,
    },
    /// The candidate (this node included) with the fewest queued + running jobs per worker, by
    /// the latest reports as they are: every node sees the same lightest peer, so they herd.
    LeastLoaded {},
    /// Power of d choices: this node and `d − 1` peers drawn uniformly, the least loaded per
    /// worker wins, counting the jobs this node sent each since its last report.
    P2c {
        #[serde(default = "default_d")]
        d: u32,
    },
    /// Expected completion time in ms, lowest wins: network (RTT, upload, result) + wait for a
    /// worker (the report's backlog, aged, plus jobs sent since) + this job's service there.
    Ect {},
    /// `ect` over this node and `d` peers drawn uniformly (randomness against herding).
    P2cEct {
        #[serde(default = "default_d")]
        d: u32,
    },
    /// Prequal's hot-cold lexicographic rule over a pool of asynchronous probes: peers answer
    /// with their requests in flight and their wait; among candidates whose requests in flight
    /// are at most the `q_rif` quantile of the pool ("cold"), the lowest expected latency wins;
    /// if none is cold, the fewest in flight.
    Prequal {
        /// Probes sent per routing decision (a fraction sends one with that probability).
        #[serde(default = "default_probes_per_job")]
        probes_per_job: f64,
        /// Probes kept; the oldest goes first.
        #[serde(default = "default_pool")]
        pool: u32,
        /// A probe older than this is dropped, in ms.
        #[serde(default = "default_max_age_ms")]
        max_age_ms: u64,
        /// How often one probe's answer may be used before it is dropped.
        #[serde(default = "default_reuse")]
        reuse: u32,
        /// The quantile of requests in flight below which a candidate is cold.
        #[serde(default = "default_q_rif")]
        q_rif: f64,
    },
    /// `ect` on every node's true current state with no staleness and no cost: a bound on what
    /// better information could buy. The simulator alone can provide it.
    Oracle {},
}

fn default_w_load() -> f64 {
    0.3
}
fn default_w_rtt() -> f64 {
    0.7
}
fn default_min_rtt() -> f64 {
    10.0
}
fn default_max_rtt() -> f64 {
    250.0
}
fn default_d() -> u32 {
    2
}
fn default_probes_per_job() -> f64 {
    3.0
}
fn default_pool() -> u32 {
    16
}
fn default_max_age_ms() -> u64 {
    5_000
}
fn default_reuse() -> u32 {
    3
}
fn default_q_rif() -> f64 {
    0.75
}

impl Default for StrategyConfig {
    fn default() -> Self {
        StrategyConfig::Score {
            w_load: default_w_load(),
            w_rtt: default_w_rtt(),
            min_rtt_ms: default_min_rtt(),
            max_rtt_ms: default_max_rtt(),
            max_load: None,
        }
    }
}

/// A strategy parameter a user got wrong; the message names it and the value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StrategyError {
    #[error("{name} must be a finite number ≥ 0, got {value}")]
    Weight { name: &'static str, value: f64 },
    #[error("max_rtt_ms ({max}) must be greater than min_rtt_ms ({min})")]
    RttRange { min: f64, max: f64 },
    #[error("max_load must be a finite number > 0, got {0}")]
    MaxLoad(f64),
    #[error("d must be at least 1 (peers sampled), got {0}")]
    Sample(u32),
    #[error("probes_per_job must be between 0 and 64, got {0}")]
    ProbesPerJob(f64),
    #[error("pool must be between 1 and 1024, got {0}")]
    Pool(u32),
    #[error("max_age_ms must be above 0")]
    MaxAge,
    #[error("reuse must be at least 1")]
    Reuse,
    #[error("q_rif must be a quantile in [0, 1], got {0}")]
    Quantile(f64),
}

impl StrategyConfig {
    /// The name used in scenarios and on `--strategy`.
    pub fn kind(&self) -> &'static str {
        match self {
            StrategyConfig::Random {} => "random",
            StrategyConfig::RoundRobin {} => "round_robin",
            StrategyConfig::Score { .. } => "score",
            StrategyConfig::LeastLoaded {} => "least_loaded",
            StrategyConfig::P2c { .. } => "p2c",
            StrategyConfig::Ect {} => "ect",
            StrategyConfig::P2cEct { .. } => "p2c_ect",
            StrategyConfig::Prequal { .. } => "prequal",
            StrategyConfig::Oracle {} => "oracle",
        }
    }

    /// True for strategies that need knowledge only a simulator has.
    pub fn simulator_only(&self) -> bool {
        matches!(self, StrategyConfig::Oracle {})
    }

    /// Checks the values a user may have got wrong; the message says which and why.
    pub fn validate(&self) -> Result<(), StrategyError> {
        match self {
            StrategyConfig::Score {
                w_load,
                w_rtt,
                min_rtt_ms,
                max_rtt_ms,
                max_load,
            } => {
                for (name, v) in [("w_load", w_load), ("w_rtt", w_rtt)] {
                    if !(v.is_finite() && *v >= 0.0) {
                        return Err(StrategyError::Weight { name, value: *v });
                    }
                }
                if !(min_rtt_ms.is_finite() && max_rtt_ms.is_finite() && max_rtt_ms > min_rtt_ms) {
                    return Err(StrategyError::RttRange {
                        min: *min_rtt_ms,
                        max: *max_rtt_ms,
                    });
                }
                if let Some(m) = max_load {
                    if !(m.is_finite() && *m > 0.0) {
                        return Err(StrategyError::MaxLoad(*m));
                    }
                }
            }
            StrategyConfig::P2c { d } | StrategyConfig::P2cEct { d } => {
                if *d < 1 {
                    return Err(StrategyError::Sample(*d));
                }
            }
            StrategyConfig::Prequal {
                probes_per_job,
                pool,
                max_age_ms,
                reuse,
                q_rif,
            } => {
                if !(probes_per_job.is_finite() && (0.0..=64.0).contains(probes_per_job)) {
                    return Err(StrategyError::ProbesPerJob(*probes_per_job));
                }
                if *pool == 0 || *pool > 1024 {
                    return Err(StrategyError::Pool(*pool));
                }
                if *max_age_ms == 0 {
                    return Err(StrategyError::MaxAge);
                }
                if *reuse == 0 {
                    return Err(StrategyError::Reuse);
                }
                if !(q_rif.is_finite() && (0.0..=1.0).contains(q_rif)) {
                    return Err(StrategyError::Quantile(*q_rif));
                }
            }
            StrategyConfig::Random {}
            | StrategyConfig::RoundRobin {}
            | StrategyConfig::LeastLoaded {}
            | StrategyConfig::Ect {}
            | StrategyConfig::Oracle {} => {}
        }
        Ok(())
    }
}

/// This node as its own candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfView {
    pub id: PeerId,
    pub queue_len: u32,
    pub in_flight: u32,
    pub workers: u32,
    pub queue_cap: u32,
    pub cpu_pct: f32,
    pub mem_pct: f32,
    /// How long a job arriving now waits for a worker here, by the calibrated cost model (ms).
    pub backlog_ms: u64,
}

impl SelfView {
    pub fn load(&self) -> f64 {
        self.cpu_pct as f64 + self.queue_len as f64 + self.mem_pct as f64
    }

    /// Jobs queued and running per worker.
    pub fn jobs_per_worker(&self) -> f64 {
        (self.queue_len + self.in_flight) as f64 / self.workers.max(1) as f64
    }
}

/// An alive peer as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeerView {
    pub id: PeerId,
    pub rtt_ms: f64,
    /// The latest load report known, if any has arrived yet.
    pub report: Option<KnownReport>,
    /// Jobs this node has offloaded to the peer and not yet heard back about.
    pub in_flight_to: u32,
    /// Jobs this node sent the peer since the report it holds arrived: that report cannot
    /// count them yet.
    pub sent_since_report: u32,
    /// Until when the peer takes no offload from this node: it refused one and said when it
    /// expects room (0: it has not refused). Its load report is older than that answer.
    pub refused_until: Millis,
    /// Offloads it refused in a row since it last took one: each doubles the time it is left
    /// alone, as a peer refusing again after the room it expected is busier than it knows.
    pub refusals: u32,
}

impl PeerView {
    /// The peer's latest report says it is draining.
    pub fn is_draining(&self) -> bool {
        self.report.as_ref().is_some_and(|k| k.report.draining)
    }

    /// The peer takes no new work from this node at `now`: it is draining, or it refused an
    /// offload and the room it then expected has not come yet.
    pub fn is_closed(&self, now: Millis) -> bool {
        self.is_draining() || self.refused_until > now
    }

    /// Jobs queued and running per worker by the latest report, plus those sent since when
    /// `correct` (`None` without a report).
    pub fn jobs_per_worker(&self, correct: bool) -> Option<f64> {
        let r = &self.report.as_ref()?.report;
        let extra = if correct { self.sent_since_report } else { 0 };
        Some((r.queue_len + r.in_flight + extra) as f64 / r.workers.max(1) as f64)
    }
}

/// What this job costs, as the node's cost model predicts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobCost {
    /// CPU-seconds by the cost curve; × a candidate's reported `ms_per_cpu_s` = its service
    /// time there.
    pub cpu_s: f64,
    /// Service time here, in ms, by this node's calibrated model.
    pub here_ms: f64,
    /// Bytes to send a peer (the upload) and to get back (the predicted result).
    pub upload_bytes: u64,
    pub result_bytes: u64,
}

/// Expected completion of a job at one candidate, in ms from now, by term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eta {
    /// One-way delays there (with the upload) and back (with the result).
    pub net_ms: f64,
    /// Waiting for a worker.
    pub wait_ms: f64,
    /// The job's own service time on that candidate.
    pub service_ms: f64,
}

impl Eta {
    pub fn total_ms(&self) -> f64 {
        self.net_ms + self.wait_ms + self.service_ms
    }
}

/// Everything a strategy may look at. `peers` holds alive peers only, sorted by node id.
#[derive(Clone, Copy, Debug)]
pub struct ClusterView<'a> {
    pub now: Millis,
    pub me: SelfView,
    pub peers: &'a [PeerView],
    pub job: JobCost,
    pub zones: &'a ZoneTable,
}

impl ClusterView<'_> {
    fn my_zone(&self) -> ZoneId {
        self.me.id.zone
    }

    /// The job run here: no network, the local backlog, the local model's service time.
    pub fn local_eta(&self) -> Eta {
        Eta {
            net_ms: 0.0,
            wait_ms: self.me.backlog_ms as f64,
            service_ms: self.job.here_ms,
        }
    }

    /// The job sent to peer `i` now, from its last report: `None` when the peer has not
    /// reported its speed yet.
    pub fn peer_eta(&self, i: usize) -> Option<Eta> {
        let p = &self.peers[i];
        let k = p.report.as_ref()?;
        let r = &k.report;
        if p.is_closed(self.now)
            || r.ms_per_cpu_s.is_nan()
            || r.ms_per_cpu_s <= 0.0
            || r.workers == 0
        {
            return None;
        }
        let service = self.job.cpu_s * r.ms_per_cpu_s as f64;
        // The backlog drains while the report travels and waits here.
        let backlog = (r.backlog_ms as u64).saturating_sub(k.age_ms(self.now)) as f64;
        // Jobs sent since the report take its free workers first, then queue.
        let free = r.workers.saturating_sub(r.in_flight + r.queue_len);
        let extra = p.sent_since_report.saturating_sub(free) as f64 * service / r.workers as f64;
        Some(Eta {
            net_ms: self.net_ms(p.id.zone),
            wait_ms: backlog + extra,
            service_ms: service,
        })
    }

    /// Upload there and result back.
    fn net_ms(&self, zone: ZoneId) -> f64 {
        self.zones
            .one_way_ms(self.my_zone(), zone, self.job.upload_bytes)
            + self
                .zones
                .one_way_ms(zone, self.my_zone(), self.job.result_bytes)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Local,
    /// Index into [`ClusterView::peers`].
    Peer(usize),
}

/// One answer to a Prequal probe, as kept in the pool.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probe {
    node: NodeId,
    gen: u32,
    /// Requests in flight there when it answered, plus the jobs sent there on this probe since.
    rif: u32,
    wait_ms: f64,
    ms_per_cpu_s: f64,
    at: Millis,
    uses: u32,
}

/// A peer's answer to a Prequal probe.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeAnswer {
    pub from: PeerId,
    /// Jobs queued and running (requests in flight).
    pub rif: u32,
    /// How long a job arriving then would wait for a worker, in ms.
    pub wait_ms: u32,
    /// As in the load report: service time per CPU-second of the cost curve.
    pub ms_per_cpu_s: f32,
}

/// A strategy with whatever state it keeps between decisions.
#[derive(Clone, Debug)]
pub struct Strategy {
    config: StrategyConfig,
    next: u64,
    pool: Vec<Probe>,
    /// Peers to probe, drained by the node after each decision.
    probes_out: Vec<PeerId>,
    scratch: Vec<usize>,
}

impl Strategy {
    pub fn new(config: StrategyConfig) -> Self {
        Strategy {
            config,
            next: 0,
            pool: Vec::new(),
            probes_out: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &StrategyConfig {
        &self.config
    }

    /// Peers the last decisions want probed (Prequal); the caller sends the probes.
    pub fn take_probes(&mut self) -> impl Iterator<Item = PeerId> + '_ {
        self.probes_out.drain(..)
    }

    /// Probe answers held now.
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// A probe answer arrived. Kept only by Prequal, newest replacing older ones of that peer.
    pub fn on_probe_answer(&mut self, now: Millis, a: &ProbeAnswer) {
        let StrategyConfig::Prequal { pool, .. } = &self.config else {
            return;
        };
        self.pool
            .retain(|p| !(p.node == a.from.node && p.gen == a.from.gen));
        if self.pool.len() >= *pool as usize {
            // Oldest first out: entries are appended in arrival order.
            self.pool.remove(0);
        }
        self.pool.push(Probe {
            node: a.from.node,
            gen: a.from.gen,
            rif: a.rif,
            wait_ms: a.wait_ms as f64,
            ms_per_cpu_s: a.ms_per_cpu_s as f64,
            at: now,
            uses: 0,
        });
    }

    pub fn choose(&mut self, job: &Job, view: &ClusterView<'_>, rng: &mut ChaCha8Rng) -> Choice {
        let _ = job; // strategies see the job through `view.job`
        match &self.config {
            StrategyConfig::Random {} => {
                let k = rng.random_range(0..=view.peers.len());
                index_to_choice(k)
            }
            StrategyConfig::RoundRobin {} => {
                // Candidates in id order with this node slotted in at its place.
                let n = view.peers.len() as u64 + 1;
                let k = (self.next % n) as usize;
                self.next = self.next.wrapping_add(1);
                let self_pos = view.peers.partition_point(|p| p.id.node < view.me.id.node);
                match k.cmp(&self_pos) {
                    std::cmp::Ordering::Less => Choice::Peer(k),
                    std::cmp::Ordering::Equal => Choice::Local,
                    std::cmp::Ordering::Greater => Choice::Peer(k - 1),
                }
            }
            StrategyConfig::Score {
                w_load,
                w_rtt,
                min_rtt_ms,
                max_rtt_ms,
                max_load,
            } => {
                let span = max_rtt_ms - min_rtt_ms;
                let norm_rtt = |rtt: f64| ((rtt - min_rtt_ms) / span).clamp(0.0, 1.0);
                let norm_load = |load: f64, cap: u32| {
                    let m = max_load.unwrap_or(200.0 + cap as f64);
                    load / m
                };
                let mut best = Choice::Local;
                let mut best_score =
                    w_load * norm_load(view.me.load(), view.me.queue_cap) + w_rtt * norm_rtt(0.0);
                for (i, p) in view.peers.iter().enumerate() {
                    let Some(known) = &p.report else { continue };
                    let r = &known.report;
                    let s = w_load * norm_load(r.load(), r.queue_cap) + w_rtt * norm_rtt(p.rtt_ms);
                    if s < best_score {
                        best_score = s;
                        best = Choice::Peer(i);
                    }
                }
                best
            }
            StrategyConfig::LeastLoaded {} => lowest(
                0..view.peers.len(),
                |i| view.peers[i].jobs_per_worker(false),
                view.me.jobs_per_worker(),
            ),
            StrategyConfig::P2c { d } => {
                let d = *d as usize;
                let sample = self.sample(view, d - 1, rng);
                let c = lowest(
                    sample.iter().copied(),
                    |i| view.peers[i].jobs_per_worker(true),
                    view.me.jobs_per_worker(),
                );
                self.scratch = sample;
                c
            }
            StrategyConfig::Ect {} | StrategyConfig::Oracle {} => lowest(
                0..view.peers.len(),
                |i| view.peer_eta(i).map(|e| e.total_ms()),
                view.local_eta().total_ms(),
            ),
            StrategyConfig::P2cEct { d } => {
                let d = *d as usize;
                let sample = self.sample(view, d, rng);
                let c = lowest(
                    sample.iter().copied(),
                    |i| view.peer_eta(i).map(|e| e.total_ms()),
                    view.local_eta().total_ms(),
                );
                self.scratch = sample;
                c
            }
            StrategyConfig::Prequal {
                probes_per_job,
                max_age_ms,
                reuse,
                q_rif,
                ..
            } => {
                let (probes_per_job, max_age_ms, reuse, q_rif) =
                    (*probes_per_job, *max_age_ms, *reuse, *q_rif);
                self.request_probes(view, probes_per_job, rng);
                self.prequal(view, max_age_ms, reuse, q_rif)
                    .unwrap_or_else(|| {
                        // No answer yet (a burst before the first probes return): as Prequal,
                        // a uniform pick rather than piling everything on one node.
                        index_to_choice(rng.random_range(0..=view.peers.len()))
                    })
            }
        }
    }

    /// `k` distinct peer indices drawn uniformly (all of them when there are no more), sorted so
    /// ties break by node id. The vector is `self.scratch`; the caller gives it back.
    fn sample(&mut self, view: &ClusterView<'_>, k: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let n = view.peers.len();
        let mut chosen = std::mem::take(&mut self.scratch);
        chosen.clear();
        if k >= n {
            chosen.extend(0..n);
        } else if k * 2 >= n {
            chosen.extend(0..n);
            for j in 0..k {
                let r = rng.random_range(j..n);
                chosen.swap(j, r);
            }
            chosen.truncate(k);
        } else {
            // Many peers: draw until `k` distinct ones without touching all of them.
            while chosen.len() < k {
                let r = rng.random_range(0..n);
                if !chosen.contains(&r) {
                    chosen.push(r);
                }
            }
        }
        chosen.sort_unstable();
        chosen
    }

    fn request_probes(&mut self, view: &ClusterView<'_>, per_job: f64, rng: &mut ChaCha8Rng) {
        if view.peers.is_empty() {
            return;
        }
        let whole = per_job.floor();
        let mut k = whole as usize;
        if per_job > whole && crate::zone::unit(rng) < per_job - whole {
            k += 1;
        }
        let sample = self.sample(view, k, rng);
        self.probes_out
            .extend(sample.iter().map(|&i| view.peers[i].id));
        self.scratch = sample;
    }

    /// Prequal's hot-cold lexicographic rule over this node and the pool.
    /// `None` when the pool holds no usable answer.
    fn prequal(
        &mut self,
        view: &ClusterView<'_>,
        max_age_ms: u64,
        reuse: u32,
        q: f64,
    ) -> Option<Choice> {
        let now = view.now;
        // Answers that are too old, or from peers no longer alive in this life, are dropped.
        self.pool.retain(|p| {
            now.saturating_sub(p.at) <= max_age_ms
                && peer_index(view.peers, p.node).is_some_and(|i| view.peers[i].id.gen == p.gen)
        });
        let me_rif = view.me.queue_len + view.me.in_flight;
        let me_latency = view.local_eta().total_ms();
        if self.pool.is_empty() {
            return None;
        }
        let mut rifs: Vec<u32> = self.pool.iter().map(|p| p.rif).collect();
        rifs.push(me_rif);
        rifs.sort_unstable();
        let threshold = rifs[((rifs.len() - 1) as f64 * q).floor() as usize];
        // (hot, key, pool index or None for here): cold before hot, then by latency if cold
        // and by requests in flight if hot.
        let key = |rif: u32, latency: f64| {
            if rif <= threshold {
                (0u8, latency)
            } else {
                (1u8, rif as f64)
            }
        };
        let mut best: (u8, f64, Option<usize>) = {
            let (h, k) = key(me_rif, me_latency);
            (h, k, None)
        };
        for (j, p) in self.pool.iter().enumerate() {
            let i = peer_index(view.peers, p.node).expect("kept above");
            let service = view.job.cpu_s * p.ms_per_cpu_s;
            let latency = view.net_ms(view.peers[i].id.zone) + p.wait_ms + service;
            let (h, k) = key(p.rif, latency);
            if (h, k) < (best.0, best.1) {
                best = (h, k, Some(j));
            }
        }
        Some(match best.2 {
            None => Choice::Local,
            Some(j) => {
                let p = &mut self.pool[j];
                p.uses += 1;
                p.rif += 1;
                // The job now waits behind the others there too.
                p.wait_ms += view.job.cpu_s * p.ms_per_cpu_s;
                let i = peer_index(view.peers, p.node).expect("kept above");
                if p.uses >= reuse {
                    self.pool.remove(j);
                }
                Choice::Peer(i)
            }
        })
    }
}

fn peer_index(peers: &[PeerView], node: NodeId) -> Option<usize> {
    peers.binary_search_by_key(&node, |p| p.id.node).ok()
}

/// The candidate with the lowest `value` among this node (`mine`) and the peers `among`;
/// peers without a value are skipped, ties go to this node, then to the lower node id.
fn lowest(
    among: impl IntoIterator<Item = usize>,
    value: impl Fn(usize) -> Option<f64>,
    mine: f64,
) -> Choice {
    let mut best = (mine, Choice::Local);
    for i in among {
        if let Some(v) = value(i) {
            if v < best.0 {
                best = (v, Choice::Peer(i));
            }
        }
    }
    best.1
}

fn index_to_choice(k: usize) -> Choice {
    if k == 0 {
        Choice::Local
    } else {
        Choice::Peer(k - 1)
    }
}

/// Score of one candidate under the report's formula, for tests and tables.
pub fn report_score(w_load: f64, w_rtt: f64, load: f64, queue_cap: u32, rtt_ms: f64) -> f64 {
    w_load * load / (200.0 + queue_cap as f64) + w_rtt * ((rtt_ms - 10.0) / 240.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{ContentHash, JobFeatures, JobId};
    use crate::load::LoadReport;
    use crate::peer::{NodeId, PeerAddr};
    use crate::zone::ZoneId;
    use rand::SeedableRng;

    fn pid(n: u32, zone: u16) -> PeerId {
        PeerId {
            node: NodeId(n),
            zone: ZoneId(zone),
            addr: PeerAddr::sim(NodeId(n)),
            gen: 0,
        }
    }

    fn me(cpu: f32, queue: u32) -> SelfView {
        SelfView {
            id: pid(1, 0),
            queue_len: queue,
            in_flight: 5,
            workers: 5,
            queue_cap: 20,
            cpu_pct: cpu,
            mem_pct: 10.0,
            backlog_ms: 0,
        }
    }

    fn peer(n: u32, zone: u16, rtt: f64, cpu: f32, queue: u32) -> PeerView {
        PeerView {
            id: pid(n, zone),
            rtt_ms: rtt,
            report: Some(KnownReport {
                report: LoadReport {
                    from: pid(n, zone),
                    version: 1,
                    cpu_pct: cpu,
                    mem_pct: 10.0,
                    queue_len: queue,
                    in_flight: 0,
                    workers: 5,
                    queue_cap: 20,
                    age_ms: 0,
                    backlog_ms: 0,
                    ms_per_cpu_s: 1000.0,
                    draining: false,
                },
                received_at: 0,
            }),
            in_flight_to: 0,
            sent_since_report: 0,
            refused_until: 0,
            refusals: 0,
        }
    }

    fn zones() -> &'static ZoneTable {
        static Z: std::sync::OnceLock<ZoneTable> = std::sync::OnceLock::new();
        Z.get_or_init(ZoneTable::report_default)
    }

    /// A 4 CPU-s job of 2 MB that takes 4 s here.
    fn cost() -> JobCost {
        JobCost {
            cpu_s: 4.0,
            here_ms: 4_000.0,
            upload_bytes: 2_000_000,
            result_bytes: 200_000,
        }
    }

    fn view<'a>(me: SelfView, peers: &'a [PeerView]) -> ClusterView<'a> {
        ClusterView {
            now: 0,
            me,
            peers,
            job: cost(),
            zones: zones(),
        }
    }

    fn job() -> Job {
        Job {
            id: JobId(1),
            content: ContentHash([0; 32]),
            features: JobFeatures::default(),
            hops: 0,
            origin: NodeId(1),
            deadline: crate::job::NO_DEADLINE,
            probed: true,
        }
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn score(w_load: f64, w_rtt: f64) -> Strategy {
        Strategy::new(StrategyConfig::Score {
            w_load,
            w_rtt,
            min_rtt_ms: 10.0,
            max_rtt_ms: 250.0,
            max_load: None,
        })
    }

    #[test]
    fn normalisation_follows_the_report() {
        // load 100 of max 220 at weight 0.3; RTT 90 → (90−10)/240 at weight 0.7.
        let s = report_score(0.3, 0.7, 100.0, 20, 90.0);
        let expected = 0.3 * 100.0 / 220.0 + 0.7 * 80.0 / 240.0;
        assert!((s - expected).abs() < 1e-12);
        // RTT below the minimum and above the maximum clamp to 0 and 1.
        assert_eq!(report_score(0.0, 1.0, 0.0, 20, 5.0), 0.0);
        assert_eq!(report_score(0.0, 1.0, 0.0, 20, 400.0), 1.0);
    }

    #[test]
    fn score_keeps_a_lightly_loaded_node_local() {
        let peers = [peer(2, 0, 10.0, 0.0, 0), peer(3, 1, 90.0, 0.0, 0)];
        let view = view(me(5.0, 0), &peers);
        // Self: 0.3·15/220 ≈ 0.020; same-zone idle peer: 0.3·10/220 ≈ 0.014 → the peer wins
        // only because it is lighter; make self lighter than it and self wins.
        let view_light = ClusterView {
            me: me(0.0, 0),
            ..view
        };
        assert_eq!(
            score(0.3, 0.7).choose(&job(), &view_light, &mut rng()),
            Choice::Local
        );
        assert_eq!(
            score(0.3, 0.7).choose(&job(), &view, &mut rng()),
            Choice::Peer(0)
        );
    }

    #[test]
    fn rtt_bias_prefers_a_busy_neighbour_and_load_bias_a_far_idle_node() {
        // A saturated FRA node; its FRA neighbour is busy too, IAD is idle.
        let peers = [peer(2, 1, 90.0, 5.0, 0), peer(4, 0, 10.0, 70.0, 10)];
        let view = view(me(100.0, 20), &peers);
        assert_eq!(
            score(0.3, 0.7).choose(&job(), &view, &mut rng()),
            Choice::Peer(1)
        );
        assert_eq!(
            score(0.8, 0.2).choose(&job(), &view, &mut rng()),
            Choice::Peer(0)
        );
    }

    #[test]
    fn score_skips_peers_without_a_load_report() {
        let mut p = peer(2, 0, 10.0, 0.0, 0);
        p.report = None;
        let peers = [p];
        let view = view(me(100.0, 20), &peers);
        assert_eq!(
            score(0.3, 0.7).choose(&job(), &view, &mut rng()),
            Choice::Local
        );
    }

    #[test]
    fn round_robin_cycles_over_every_node_including_itself_in_id_order() {
        let peers = [
            peer(0, 0, 10.0, 0.0, 0),
            peer(2, 0, 10.0, 0.0, 0),
            peer(3, 1, 90.0, 0.0, 0),
        ];
        let view = view(me(0.0, 0), &peers);
        let mut rr = Strategy::new(StrategyConfig::RoundRobin {});
        let picks: Vec<Choice> = (0..5)
            .map(|_| rr.choose(&job(), &view, &mut rng()))
            .collect();
        use Choice::*;
        assert_eq!(picks, vec![Peer(0), Local, Peer(1), Peer(2), Peer(0)]);
    }

    #[test]
    fn random_covers_every_candidate_roughly_evenly() {
        let peers = [peer(2, 0, 10.0, 0.0, 0), peer(3, 1, 90.0, 0.0, 0)];
        let view = view(me(0.0, 0), &peers);
        let mut s = Strategy::new(StrategyConfig::Random {});
        let mut r = rng();
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            match s.choose(&job(), &view, &mut r) {
                Choice::Local => counts[0] += 1,
                Choice::Peer(i) => counts[i + 1] += 1,
            }
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn bad_weights_are_refused_with_the_offending_value() {
        let bad = StrategyConfig::Score {
            w_load: -1.0,
            w_rtt: 0.7,
            min_rtt_ms: 10.0,
            max_rtt_ms: 250.0,
            max_load: None,
        };
        assert!(bad.validate().unwrap_err().to_string().contains("w_load"));
        let parsed: StrategyConfig =
            toml::from_str("kind = \"score\"\nw_load = 0.8\nw_rtt = 0.2").unwrap();
        assert!(matches!(parsed, StrategyConfig::Score { w_load, .. } if w_load == 0.8));
        assert!(toml::from_str::<StrategyConfig>("kind = \"score\"\nwload = 0.8").is_err());
    }

    /// A peer whose report says `queued` jobs wait, `backlog_ms` of waiting, and a service
    /// speed of `ms_per_cpu_s`.
    fn busy(n: u32, zone: u16, queued: u32, backlog_ms: u32, ms_per_cpu_s: f32) -> PeerView {
        let mut p = peer(n, zone, 0.0, 50.0, queued);
        let r = &mut p.report.as_mut().unwrap().report;
        r.in_flight = r.workers.min(queued + r.workers);
        r.backlog_ms = backlog_ms;
        r.ms_per_cpu_s = ms_per_cpu_s;
        p
    }

    fn run(cfg: StrategyConfig, view: &ClusterView<'_>) -> Choice {
        Strategy::new(cfg).choose(&job(), view, &mut rng())
    }

    #[test]
    fn least_loaded_takes_the_fewest_jobs_per_worker_and_ignores_what_it_sent() {
        let mut a = busy(2, 0, 4, 0, 1000.0);
        a.report.as_mut().unwrap().report.workers = 10; // 14 jobs on 10 workers = 1.4
        let b = busy(3, 0, 3, 0, 1000.0); // 8 jobs on 5 workers = 1.6
        let mut peers = [a, b];
        let me = SelfView {
            queue_len: 4,
            in_flight: 5,
            ..me(0.0, 0)
        }; // 9 on 5 = 1.8
        assert_eq!(
            run(StrategyConfig::LeastLoaded {}, &view(me, &peers)),
            Choice::Peer(0)
        );
        // Ten jobs sent to the lightest since its report do not move the herd...
        peers[0].sent_since_report = 10;
        assert_eq!(
            run(StrategyConfig::LeastLoaded {}, &view(me, &peers)),
            Choice::Peer(0)
        );
        // ...but they do move p2c, which counts them (d covers every peer here).
        assert_eq!(
            run(StrategyConfig::P2c { d: 3 }, &view(me, &peers)),
            Choice::Peer(1)
        );
    }

    #[test]
    fn p2c_samples_d_minus_one_peers_plus_itself() {
        // Twenty idle peers, this node loaded: p2c with d = 2 sees one peer each time, and
        // over many draws it reaches all of them.
        let peers: Vec<PeerView> = (2..22).map(|n| busy(n, 0, 0, 0, 1000.0)).collect();
        let me = SelfView {
            queue_len: 3,
            ..me(0.0, 0)
        };
        let v = view(me, &peers);
        let mut s = Strategy::new(StrategyConfig::P2c { d: 2 });
        let mut r = rng();
        let mut seen = [false; 20];
        for _ in 0..400 {
            match s.choose(&job(), &v, &mut r) {
                Choice::Peer(i) => seen[i] = true,
                Choice::Local => panic!("an idle peer always beats this node"),
            }
        }
        assert!(seen.iter().all(|&x| x), "{seen:?}");
    }

    #[test]
    fn ect_weighs_speed_backlog_and_network_in_milliseconds() {
        // The job is 4 CPU-s; here it takes 4 s after 6 s of backlog = 10 s.
        let me = SelfView {
            backlog_ms: 6_000,
            ..me(0.0, 0)
        };
        // A twice-as-fast idle peer across the ocean (FRA→BOM, 200 ms RTT, no bandwidth cap in
        // the default table): 2 s of service + 200 ms of network.
        let fast_far = busy(2, 2, 0, 0, 500.0);
        // A same-zone peer as slow as this node with 3 s of backlog: 7 s + 10 ms.
        let slow_near = busy(3, 0, 2, 3_000, 1000.0);
        let peers = [fast_far, slow_near];
        let v = view(me, &peers);
        let far = v.peer_eta(0).unwrap();
        assert_eq!(far.service_ms, 2_000.0);
        assert_eq!(far.wait_ms, 0.0);
        assert!((far.net_ms - 200.0).abs() < 1e-9, "{far:?}");
        assert_eq!(run(StrategyConfig::Ect {}, &v), Choice::Peer(0));
        // The report's age drains the backlog, jobs sent since add to it.
        let mut aged = peers;
        aged[1].report.as_mut().unwrap().report.age_ms = 1_000;
        let e = view(me, &aged).peer_eta(1).unwrap();
        assert_eq!(e.wait_ms, 2_000.0);
        aged[1].sent_since_report = 5; // no free worker there: +5 × 4 s ÷ 5 workers
        assert_eq!(view(me, &aged).peer_eta(1).unwrap().wait_ms, 6_000.0);
        // An idle node still sends the job to a peer that finishes it sooner (2.2 s < 4 s)...
        let idle = me_idle();
        assert_eq!(
            run(StrategyConfig::Ect {}, &view(idle, &peers)),
            Choice::Peer(0)
        );
        // ...but not to one as fast as itself: nothing beats no network and no wait.
        assert_eq!(
            run(StrategyConfig::Ect {}, &view(idle, &peers[1..])),
            Choice::Local
        );
        // Oracle applies the same rule (on fresher data the simulator provides).
        assert_eq!(run(StrategyConfig::Oracle {}, &v), Choice::Peer(0));
    }

    #[test]
    fn a_draining_peer_has_no_completion_estimate() {
        // The fastest peer by far, but it said it is draining: ect must not count on it.
        let mut fast = busy(2, 0, 0, 0, 100.0);
        let slow = busy(3, 0, 0, 0, 1000.0);
        let me = SelfView {
            backlog_ms: 20_000,
            ..me(0.0, 0)
        };
        assert_eq!(
            run(StrategyConfig::Ect {}, &view(me, &[fast, slow])),
            Choice::Peer(0)
        );
        fast.report.as_mut().unwrap().report.draining = true;
        assert!(fast.is_draining());
        let peers = [fast, slow];
        let v = view(me, &peers);
        assert_eq!(v.peer_eta(0), None);
        assert_eq!(run(StrategyConfig::Ect {}, &v), Choice::Peer(1));
    }

    fn me_idle() -> SelfView {
        SelfView {
            queue_len: 0,
            in_flight: 0,
            backlog_ms: 0,
            ..me(0.0, 0)
        }
    }

    #[test]
    fn p2c_ect_only_compares_its_sample() {
        // The only peer faster than here is one of twenty; with d = 1 it is found sometimes,
        // not always; with d = 20 always.
        let mut peers: Vec<PeerView> = (2..22).map(|n| busy(n, 0, 5, 20_000, 1000.0)).collect();
        peers[7] = busy(9, 0, 0, 0, 1000.0);
        let me = SelfView {
            backlog_ms: 8_000,
            ..me(0.0, 0)
        };
        let v = view(me, &peers);
        let mut s = Strategy::new(StrategyConfig::P2cEct { d: 1 });
        let mut r = rng();
        let picks: Vec<Choice> = (0..100).map(|_| s.choose(&job(), &v, &mut r)).collect();
        let found = picks.iter().filter(|&&c| c == Choice::Peer(7)).count();
        assert!((1..30).contains(&found), "{found}");
        assert!(picks
            .iter()
            .all(|&c| c == Choice::Peer(7) || c == Choice::Local));
        assert_eq!(run(StrategyConfig::P2cEct { d: 20 }, &v), Choice::Peer(7));
    }

    fn prequal() -> StrategyConfig {
        toml::from_str("kind = \"prequal\"").unwrap()
    }

    fn answer(n: u32, rif: u32, wait_ms: u32) -> ProbeAnswer {
        ProbeAnswer {
            from: pid(n, 0),
            rif,
            wait_ms,
            ms_per_cpu_s: 1000.0,
        }
    }

    #[test]
    fn prequal_probes_asynchronously_and_prefers_cold_then_fast() {
        let peers: Vec<PeerView> = (2..6).map(|n| busy(n, 0, 0, 0, 1000.0)).collect();
        let me = SelfView {
            queue_len: 6,
            in_flight: 5,
            backlog_ms: 9_000,
            ..me(0.0, 0)
        };
        let v = view(me, &peers);
        let mut s = Strategy::new(prequal());
        let mut r = rng();
        // No answers yet: a uniform pick, and three probes go out.
        s.choose(&job(), &v, &mut r);
        let probed: Vec<PeerId> = s.take_probes().collect();
        assert_eq!(probed.len(), 3);
        // Answers: node 2 is hot (many in flight) but reports a short wait; node 3 is cold
        // with a longer wait; node 4 cold and slowest. Cold beats hot; among cold, faster.
        s.on_probe_answer(0, &answer(2, 12, 100));
        s.on_probe_answer(0, &answer(3, 1, 2_000));
        s.on_probe_answer(0, &answer(4, 2, 3_000));
        assert_eq!(s.choose(&job(), &v, &mut r), Choice::Peer(1));
        // A probe counts the jobs sent on it: node 3 now waits 6 s, so node 4 (3 s) is next,
        // then node 3 again (6 s against node 4's 7 s).
        assert_eq!(s.choose(&job(), &v, &mut r), Choice::Peer(2));
        assert_eq!(s.choose(&job(), &v, &mut r), Choice::Peer(1));
        // Answers age out: after max_age_ms nothing is left.
        let later = ClusterView { now: 10_000, ..v };
        s.choose(&job(), &later, &mut r);
        assert_eq!(s.pool_len(), 0);
    }

    #[test]
    fn prequal_keeps_answers_of_live_members_only() {
        let peers = [busy(2, 0, 0, 0, 1000.0)];
        let me = SelfView {
            queue_len: 6,
            backlog_ms: 9_000,
            ..me(0.0, 0)
        };
        let mut s = Strategy::new(prequal());
        // An answer from a node that is not (or no longer) a member is never chosen.
        s.on_probe_answer(0, &answer(7, 0, 0));
        let mut stale = answer(2, 0, 0);
        stale.from.gen = 1; // another life of node 2
        s.on_probe_answer(0, &stale);
        s.choose(&job(), &view(me, &peers), &mut rng());
        assert_eq!(s.pool_len(), 0);
    }

    #[test]
    fn new_strategies_parse_by_name_with_parameters_and_refuse_bad_ones() {
        for (text, kind) in [
            ("kind = \"least_loaded\"", "least_loaded"),
            ("kind = \"p2c\"\nd = 3", "p2c"),
            ("kind = \"ect\"", "ect"),
            ("kind = \"p2c_ect\"", "p2c_ect"),
            ("kind = \"prequal\"\nq_rif = 0.5\npool = 8", "prequal"),
            ("kind = \"oracle\"", "oracle"),
        ] {
            let c: StrategyConfig = toml::from_str(text).unwrap();
            assert_eq!(c.kind(), kind);
            c.validate().unwrap();
        }
        assert!(toml::from_str::<StrategyConfig>("kind = \"ect\"\nd = 2").is_err());
        let c: StrategyConfig = toml::from_str("kind = \"p2c_ect\"").unwrap();
        assert_eq!(c, StrategyConfig::P2cEct { d: 2 });
        assert!(toml::from_str::<StrategyConfig>("kind = \"p2c\"\nk = 2").is_err());
        let e = StrategyConfig::P2c { d: 0 }.validate().unwrap_err();
        assert_eq!(e, StrategyError::Sample(0));
        assert!(e.to_string().contains("d must be"), "{e}");
        let bad: StrategyConfig = toml::from_str("kind = \"prequal\"\nq_rif = 1.5").unwrap();
        assert!(bad.validate().unwrap_err().to_string().contains("q_rif"));
        assert!(StrategyConfig::Oracle {}.simulator_only());
        assert!(!StrategyConfig::Ect {}.simulator_only());
    }
}
