//! Routing strategies: given a job and what this node knows of its peers, run it here or send it
//! to one peer.
//!
//! Strategies are configured values ([`StrategyConfig`]); each sees the job's features, its own
//! local state, every alive peer with its RTT, its latest load report and that report's age, and
//! how many jobs this node already has in flight to it. New strategies are new variants.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::load::KnownReport;
use crate::peer::PeerId;
use crate::time::Millis;

/// A strategy as named in a scenario or on a command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategyConfig {
    /// Uniform over this node and every alive peer (the report's "random offloading").
    Random,
    /// Cycles over this node and every alive peer in id order.
    RoundRobin,
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

impl StrategyConfig {
    /// Checks the values a user may have got wrong; the message says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if let StrategyConfig::Score {
            w_load,
            w_rtt,
            min_rtt_ms,
            max_rtt_ms,
            max_load,
        } = self
        {
            for (name, v) in [("w_load", w_load), ("w_rtt", w_rtt)] {
                if !(v.is_finite() && *v >= 0.0) {
                    return Err(format!("{name} must be a finite number ≥ 0, got {v}"));
                }
            }
            if !(min_rtt_ms.is_finite() && max_rtt_ms.is_finite() && max_rtt_ms > min_rtt_ms) {
                return Err(format!(
                    "max_rtt_ms ({max_rtt_ms}) must be greater than min_rtt_ms ({min_rtt_ms})"
                ));
            }
            if let Some(m) = max_load {
                if !(m.is_finite() && *m > 0.0) {
                    return Err(format!("max_load must be a finite number > 0, got {m}"));
                }
            }
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
}

impl SelfView {
    pub fn load(&self) -> f64 {
        self.cpu_pct as f64 + self.queue_len as f64 + self.mem_pct as f64
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
}

/// Everything a strategy may look at. `peers` holds alive peers only, sorted by node id.
#[derive(Clone, Copy, Debug)]
pub struct ClusterView<'a> {
    pub now: Millis,
    pub me: SelfView,
    pub peers: &'a [PeerView],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    Local,
    /// Index into [`ClusterView::peers`].
    Peer(usize),
}

/// A strategy with whatever state it keeps between decisions.
#[derive(Clone, Debug)]
pub struct Strategy {
    config: StrategyConfig,
    next: u64,
}

impl Strategy {
    pub fn new(config: StrategyConfig) -> Self {
        Strategy { config, next: 0 }
    }

    pub fn config(&self) -> &StrategyConfig {
        &self.config
    }

    pub fn choose(&mut self, job: &Job, view: &ClusterView<'_>, rng: &mut ChaCha8Rng) -> Choice {
        let _ = job; // the report's strategies ignore the job's features
        match &self.config {
            StrategyConfig::Random => {
                let k = rng.random_range(0..=view.peers.len());
                index_to_choice(k)
            }
            StrategyConfig::RoundRobin => {
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
        }
    }
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
                },
                received_at: 0,
            }),
            in_flight_to: 0,
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
        let view = ClusterView {
            now: 0,
            me: me(5.0, 0),
            peers: &peers,
        };
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
        let view = ClusterView {
            now: 0,
            me: me(100.0, 20),
            peers: &peers,
        };
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
        let view = ClusterView {
            now: 0,
            me: me(100.0, 20),
            peers: &peers,
        };
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
        let view = ClusterView {
            now: 0,
            me: me(0.0, 0),
            peers: &peers,
        };
        let mut rr = Strategy::new(StrategyConfig::RoundRobin);
        let picks: Vec<Choice> = (0..5)
            .map(|_| rr.choose(&job(), &view, &mut rng()))
            .collect();
        use Choice::*;
        assert_eq!(picks, vec![Peer(0), Local, Peer(1), Peer(2), Peer(0)]);
    }

    #[test]
    fn random_covers_every_candidate_roughly_evenly() {
        let peers = [peer(2, 0, 10.0, 0.0, 0), peer(3, 1, 90.0, 0.0, 0)];
        let view = ClusterView {
            now: 0,
            me: me(0.0, 0),
            peers: &peers,
        };
        let mut s = Strategy::new(StrategyConfig::Random);
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
        assert!(bad.validate().unwrap_err().contains("w_load"));
        let parsed: StrategyConfig =
            toml::from_str("kind = \"score\"\nw_load = 0.8\nw_rtt = 0.2").unwrap();
        assert!(matches!(parsed, StrategyConfig::Score { w_load, .. } if w_load == 0.8));
        assert!(toml::from_str::<StrategyConfig>("kind = \"score\"\nwload = 0.8").is_err());
    }
}
