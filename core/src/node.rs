//! One node's whole decision logic as a sans-IO state machine.
//!
//! Drivers feed [`Input`]s stamped with the current time and carry out the [`Output`]s: the
//! simulator in virtual time, a live node with sockets, ffmpeg and tokio timers. Nothing here
//! reads a clock or an OS random source.

use std::collections::{BTreeMap, VecDeque};
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::{Foca, NoCustomBroadcast, Notification, Runtime};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::cache::CacheIndex;
use crate::config::{ConfigError, NodeConfig};
use crate::cost::{CostModel, CostStats};
use crate::health::{HealthStats, LocalHealth};
use crate::job::{
    ContentHash, FailKind, Job, JobFeatures, JobId, OffloadError, Outcome, RejectReason,
    RemoteDone, NO_DEADLINE,
};
use crate::load::{KnownReport, LoadDigest, LoadReport};
use crate::peer::{NodeId, PeerAddr, PeerId};
use crate::strategy::{Choice, ClusterView, JobCost, PeerView, ProbeAnswer, SelfView, Strategy};
use crate::swim_codec::SwimCodec;
use crate::time::Millis;
use crate::wire::Message;
use crate::zone::ZoneId;

mod invariants;
mod lifecycle;

pub use invariants::ProtocolViolation;

/// A timer the core asked for; drivers hand it back unchanged when it fires.
#[derive(Clone, Debug, PartialEq)]
pub struct Timer(TimerKind);

#[derive(Clone, Debug, PartialEq)]
enum TimerKind {
    /// A membership timer, with when it fell due and the delay foca asked for (before local
    /// health widened it), so lateness can be measured and a probe window given again.
    Swim {
        timer: foca::Timer<PeerId>,
        due: Millis,
        base_ms: Millis,
        rearmed: bool,
    },
    GossipRound,
    /// A job's deadline.
    Deadline(JobId),
}

/// The shortest Retry-After a refusal names: clients that come back sooner find the same.
const MIN_RETRY_MS: u64 = 1_000;
/// A peer refusing offloads in a row is left alone for at most 2⁴ × the time it asked for.
const MAX_BACKOFF_DOUBLINGS: u32 = 4;

/// Where an upload goes before its probe ([`Node::place_unprobed`]).
enum Unprobed {
    Here,
    Peer(usize),
    Refuse(RejectReason),
}

/// The driver could not read the upload as a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFailed;

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A job from a client (`hops == 0`) or from an offloading peer.
    Upload(Job),
    /// The answer to [`Output::Probe`]: the upload's features, or that it is no video.
    Probed {
        job: JobId,
        result: Result<JobFeatures, ProbeFailed>,
    },
    /// Whoever submitted the job has gone (the client disconnected, or the peer that offloaded
    /// it dropped the transfer): stop spending anything on it.
    Cancel(JobId),
    /// A message that arrived from another node.
    Message(Message),
    /// A transcode this node started has ended (output size in bytes, or why it failed).
    TranscodeDone {
        job: JobId,
        result: Result<u64, FailKind>,
    },
    /// An offload this node started has ended.
    OffloadDone {
        job: JobId,
        result: Result<RemoteDone, OffloadError>,
    },
    Timer(Timer),
    /// The driver's latest measurement of this node's CPU and memory use (% of its allotment).
    Stats {
        cpu_pct: f32,
        mem_pct: f32,
    },
    /// An output found in the disk cache at start (feed oldest first).
    CacheRecovered {
        content: ContentHash,
        bytes: u64,
    },
    /// Drain: take no new work (offload new uploads to peers or refuse them), finish what is
    /// here, then leave the membership ([`Event::Left`]).
    Drain,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Deliver `msg` to the node listening at `to.addr`.
    Send {
        to: PeerId,
        msg: Message,
    },
    /// Read the upload's features (ffprobe); answer with [`Input::Probed`].
    Probe(Job),
    /// Run the transcode; answer with [`Input::TranscodeDone`].
    StartTranscode(Job),
    /// Stop the probe or transcode of this job now (kill the process). No answer is expected;
    /// one that still arrives is ignored.
    Abort(JobId),
    /// Drop the transfer of an offloaded job (close the connection, or tell the peer), so the
    /// peer cancels it too. No answer is expected.
    CancelOffload {
        job: JobId,
        to: PeerId,
    },
    /// Transfer the job to `to` (its `hops` already counts this hop); answer with
    /// [`Input::OffloadDone`].
    Offload {
        job: Job,
        to: PeerId,
    },
    /// The job is finished; answer whoever submitted it. Every job gets exactly one reply.
    Reply {
        job: JobId,
        outcome: Outcome,
    },
    /// Deliver `Input::Timer(timer)` at time `at`.
    SetTimer {
        at: Millis,
        timer: Timer,
    },
    /// The cache dropped this output; a live node deletes its file.
    CacheEvict(ContentHash),
    Event(Event),
}

/// Things worth logging or counting that need no action from the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// This node now sees `PeerId` as an alive member.
    MemberUp(PeerId),
    /// This node's membership declared the peer down.
    MemberDown(PeerId),
    /// This node joined a cluster (has at least one member).
    Joined,
    /// This node has no members left.
    Isolated,
    /// The rest of the cluster had declared this node down; it rejoined as a new life.
    Rejoined(PeerId),
    /// A job entered the wait queue.
    Enqueued(JobId),
    /// A job left the wait queue for a worker.
    Dequeued(JobId),
    /// A message could not be processed (malformed membership data, unknown sender).
    BadMessage(String),
    /// This node's probe of the peer went unanswered: it now suspects it, and declares it down
    /// unless the peer refutes in time.
    Suspected(PeerId),
    /// Draining has finished every job: this node told the cluster it leaves. The driver may
    /// stop once the messages went out.
    Left,
}

/// A member's state in this node's SWIM view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    Alive,
    /// Missed probes; declared down unless it refutes in time.
    Suspect,
    Down,
}

/// Running totals, for metrics endpoints and simulator windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub uploads: u64,
    /// Answers this node gave to whoever submitted a job (client or peer), one per upload.
    #[serde(default)]
    pub replies: u64,
    pub cache_hits: u64,
    pub transcodes_started: u64,
    pub transcodes_ok: u64,
    pub transcodes_failed: u64,
    pub offloads_same_zone: u64,
    pub offloads_cross_zone: u64,
    pub offloads_failed: u64,
    pub fallbacks: u64,
    pub rejected: u64,
    /// Of `rejected`: refused because no candidate could finish before the deadline.
    pub rejected_deadline: u64,
    /// Uploads sent to the driver's probe (ffprobe).
    pub probes_run: u64,
    /// Uploads the probe found to be no video.
    pub not_a_video: u64,
    /// Jobs whose submitter went away before the answer.
    pub cancelled: u64,
    /// Jobs whose deadline passed before they were done.
    pub deadline_missed: u64,
    /// Transcodes killed because nobody would collect them.
    pub transcodes_aborted: u64,
    /// Transcodes killed for making no progress (ffmpeg stalled).
    #[serde(default)]
    pub transcodes_stalled: u64,
    /// Of those, jobs given their one retry (on a peer when one could make the deadline).
    #[serde(default)]
    pub stall_retries: u64,
    /// Uploads sent on to a peer, or refused, because this node was draining.
    #[serde(default)]
    pub drain_diverted: u64,
    /// Cancelled transcodes left to finish for the cache, being nearly done.
    pub kept_for_cache: u64,
    /// Prequal: load probes this node sent, and the answers it received from members.
    #[serde(default)]
    pub load_probes_sent: u64,
    #[serde(default)]
    pub load_probe_answers: u64,
    /// Jobs this node executed (or answered from cache) whose entry node is in this zone.
    pub responses_same_zone: u64,
    pub responses_cross_zone: u64,
    pub enqueues: u64,
    pub dequeues: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bad_messages: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    /// Waiting for a probe slot.
    AwaitProbe,
    Probing,
    /// Features known, being placed (transient).
    Routing,
    Queued,
    Running,
    Offloaded(PeerId),
}

#[derive(Clone, Copy, Debug)]
struct Tracked {
    job: Job,
    state: JobState,
    fallback: bool,
    /// Predicted time in a worker slot (queued or running jobs).
    predicted_ms: u64,
    /// When it started running (or was queued).
    started_at: Millis,
    /// Already answered (cancelled, but finishing for the cache).
    answered: bool,
    /// Already given its one retry after a stalled transcode.
    retried: bool,
}

/// How many received message buffers of each kind a node keeps for reuse: it sends about as
/// many as it receives, so a few are enough to stop allocating.
const SPARE_BUFS: usize = 4;

type Swim = Foca<PeerId, SwimCodec, ChaCha8Rng, NoCustomBroadcast>;

/// Membership notifications collected during one foca call.
enum Note {
    Up(PeerId),
    Down(PeerId),
    Rename(PeerId, PeerId),
    Active,
    Idle,
    Rejoin(PeerId),
    ProbeFailed(PeerId),
    /// A probe's ping went out (a probe cycle started).
    PingSent,
}

/// Adapter that turns foca's callbacks into core outputs.
struct SwimRuntime<'a> {
    now: Millis,
    out: &'a mut VecDeque<Output>,
    notes: &'a mut Vec<Note>,
    sent: &'a mut u64,
    spare: &'a mut Vec<Vec<u8>>,
    health: &'a mut LocalHealth,
}

impl Runtime<PeerId> for SwimRuntime<'_> {
    fn notify(&mut self, notification: Notification<'_, PeerId>) {
        let note = match notification {
            Notification::MemberUp(id) => Note::Up(*id),
            Notification::MemberDown(id) => Note::Down(*id),
            Notification::Rename(old, new) => Note::Rename(*old, *new),
            Notification::Active => Note::Active,
            Notification::Idle => Note::Idle,
            Notification::Rejoin(id) => {
                self.health.reset_incarnation();
                Note::Rejoin(*id)
            }
            Notification::ProbeFailed(_, id) => Note::ProbeFailed(*id),
            Notification::DataSent(h) => {
                self.health.own_incarnation(h.src_incarnation);
                if !matches!(h.message, foca::Message::Ping(_)) {
                    return;
                }
                Note::PingSent
            }
            _ => return,
        };
        self.notes.push(note);
    }

    fn send_to(&mut self, to: PeerId, data: &[u8]) {
        *self.sent += 1;
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.extend_from_slice(data);
        self.out.push_back(Output::Send {
            to,
            msg: Message::Swim(buf),
        });
    }

    fn submit_after(&mut self, event: foca::Timer<PeerId>, after: Duration) {
        // foca refuses a new probe period or probe timeout through `set_config`, so local
        // health widens those two timers here; the suspicion timeout goes through the config.
        let wait = if is_probe_timer(&event) {
            self.health.scale(after)
        } else {
            after
        };
        let due = self.now + wait.as_millis() as Millis;
        self.out.push_back(Output::SetTimer {
            at: due,
            timer: Timer(TimerKind::Swim {
                timer: event,
                due,
                base_ms: after.as_millis() as Millis,
                rearmed: false,
            }),
        });
    }
}

pub struct Node {
    cfg: NodeConfig,
    me: PeerId,
    swim: Swim,
    rng: ChaCha8Rng,
    strategy: Strategy,
    /// Alive peers, sorted by node id.
    peers: Vec<PeerView>,
    /// The same peers' ids: a dense array that binary search can walk without cache misses.
    peer_ids: Vec<NodeId>,
    cache: CacheIndex,
    jobs: BTreeMap<JobId, Tracked>,
    /// Of `jobs`, those already answered (finishing for the cache): kept so the protocol
    /// check costs nothing per input.
    answered_held: u64,
    /// The first job-protocol rule found broken where it happened (a job past the hop limit).
    broken: Option<ProtocolViolation>,
    queue: VecDeque<JobId>,
    /// Sum of the predicted service times of the queued jobs.
    queued_ms: u64,
    running: u32,
    running_ids: Vec<JobId>,
    probe_queue: VecDeque<JobId>,
    probing: u32,
    /// Exponential average of probe durations, in ms.
    probe_ms: f64,
    /// The time of the input being handled (for bookkeeping in helpers that take no `now`).
    now_hint: Millis,
    cost: CostModel,
    cpu_pct: f32,
    mem_pct: f32,
    report_version: u64,
    counters: Counters,
    out: VecDeque<Output>,
    notes: Vec<Note>,
    evicted: Vec<ContentHash>,
    scratch: Vec<usize>,
    /// Emptied buffers of received membership datagrams, reused for the next ones sent.
    spare_bufs: Vec<Vec<u8>>,
    /// The same for the report lists of received load digests.
    spare_reports: Vec<Vec<LoadReport>>,
    started: bool,
    health: LocalHealth,
    drain: lifecycle::Drain,
    /// The multiplier foca's suspicion timeout was last set for.
    applied_lhm: u8,
    /// A probe's ping is out and its cycle not judged yet.
    probe_open: bool,
}

impl Node {
    /// A node for `cfg`, which is checked first. Drawing from `rng` only, never the OS.
    pub fn new(cfg: NodeConfig, mut rng: ChaCha8Rng) -> Result<Node, ConfigError> {
        cfg.validate()?;
        let me = PeerId {
            node: cfg.id,
            zone: cfg.zone,
            addr: cfg.addr,
            gen: cfg.gen,
        };
        // foca gets its own stream so membership randomness does not shift routing draws.
        let mut swim_rng = rng.clone();
        swim_rng.set_stream(rng.get_stream().wrapping_add(1 << 32));
        let _ = rng.random::<u32>();
        let swim = Foca::new(me, swim_config(&cfg), swim_rng, SwimCodec);
        Ok(Node {
            cost: CostModel::new(cfg.cost, cfg.slot_cores()),
            queued_ms: 0,
            running_ids: Vec::new(),
            probe_queue: VecDeque::new(),
            probing: 0,
            probe_ms: 200.0,
            now_hint: 0,
            strategy: Strategy::new(cfg.strategy.clone()),
            cache: CacheIndex::new(cfg.cache_bytes),
            me,
            swim,
            rng,
            peers: Vec::new(),
            peer_ids: Vec::new(),
            jobs: BTreeMap::new(),
            answered_held: 0,
            broken: None,
            queue: VecDeque::new(),
            running: 0,
            cpu_pct: 0.0,
            mem_pct: 0.0,
            report_version: 0,
            counters: Counters::default(),
            out: VecDeque::new(),
            notes: Vec::new(),
            evicted: Vec::new(),
            scratch: Vec::new(),
            spare_bufs: Vec::new(),
            spare_reports: Vec::new(),
            started: false,
            health: LocalHealth::new(cfg.gossip.lifeguard_max, cfg.gossip.lifeguard_late_ms),
            applied_lhm: 0,
            drain: lifecycle::Drain::default(),
            probe_open: false,
            cfg,
        })
    }

    /// Joins through the configured seeds and starts the gossip rounds.
    pub fn start(&mut self, now: Millis) {
        if self.started {
            return;
        }
        self.started = true;
        self.announce_to_seeds(now);
        // The first round comes after one period: reports need a membership to go to.
        self.out.push_back(Output::SetTimer {
            at: now + self.cfg.gossip.period_ms,
            timer: Timer(TimerKind::GossipRound),
        });
    }

    pub fn handle_input(&mut self, now: Millis, input: Input) {
        self.now_hint = now;
        match input {
            Input::Upload(job) => self.on_upload(now, job),
            Input::Probed { job, result } => self.on_probed(now, job, result),
            Input::Cancel(job) => {
                let live = self.jobs.get(&job).is_some_and(|t| !t.answered);
                if live && self.cfg.admission.cancel_abandoned {
                    self.counters.cancelled += 1;
                    self.drop_job(now, job, FailKind::Cancelled);
                }
            }
            Input::Message(msg) => self.on_message(now, msg),
            Input::TranscodeDone { job, result } => self.on_transcode_done(now, job, result),
            Input::OffloadDone { job, result } => self.on_offload_done(now, job, result),
            Input::Timer(Timer(TimerKind::GossipRound)) => self.gossip_round(now),
            Input::Timer(Timer(TimerKind::Deadline(job))) => {
                if self.jobs.get(&job).is_some_and(|t| !t.answered) {
                    self.counters.deadline_missed += 1;
                    self.drop_job(now, job, FailKind::DeadlinePassed);
                }
            }
            Input::Timer(Timer(TimerKind::Swim {
                timer: t,
                due,
                base_ms,
                rearmed,
            })) => {
                let late = self.health.timer_fired(due, now);
                if is_probe_timer(&t) && self.health.should_rearm(late, rearmed) {
                    let wait = self.health.scale(Duration::from_millis(base_ms));
                    let due = now + wait.as_millis() as Millis;
                    self.out.push_back(Output::SetTimer {
                        at: due,
                        timer: Timer(TimerKind::Swim {
                            timer: t,
                            due,
                            base_ms,
                            rearmed: true,
                        }),
                    });
                    self.apply_health();
                    return;
                }
                let cycle = matches!(t, foca::Timer::ProbeRandomMember(_));
                let mut rt = SwimRuntime {
                    now,
                    out: &mut self.out,
                    notes: &mut self.notes,
                    sent: &mut self.counters.messages_out,
                    spare: &mut self.spare_bufs,
                    health: &mut self.health,
                };
                if let Err(e) = self.swim.handle_timer(t, &mut rt) {
                    self.out.push_back(Output::Event(Event::BadMessage(format!(
                        "membership timer: {e}"
                    ))));
                }
                if cycle {
                    // A new cycle judges the previous one (foca reports only failures).
                    let failed = self.notes.iter().any(|n| matches!(n, Note::ProbeFailed(_)));
                    if self.probe_open {
                        self.health.probe_ended(failed);
                    }
                    self.probe_open = self.notes.iter().any(|n| matches!(n, Note::PingSent));
                }
                self.apply_notes();
            }
            Input::Stats { cpu_pct, mem_pct } => {
                self.cpu_pct = sanitize_pct(cpu_pct);
                self.mem_pct = sanitize_pct(mem_pct);
            }
            Input::CacheRecovered { content, bytes } => {
                self.cache.insert(content, bytes, &mut self.evicted);
                self.flush_evictions();
            }
            Input::Drain => {
                self.start_drain();
                self.announce_drain(now);
            }
        }
        self.apply_health();
        self.leave_when_drained(now);
    }

    /// Widens (or narrows back) foca's suspicion timeout when the local health multiplier
    /// changed; the probe timers follow it as they are set ([`SwimRuntime::submit_after`]).
    fn apply_health(&mut self) {
        let lhm = self.health.multiplier();
        if lhm == self.applied_lhm {
            return;
        }
        let mut c = swim_config(&self.cfg);
        c.suspect_to_down_after = self.health.scale(c.suspect_to_down_after);
        match self.swim.set_config(c) {
            Ok(()) => self.applied_lhm = lhm,
            // Only the probe timings are refused, and they are the same as at start.
            Err(e) => self.out.push_back(Output::Event(Event::BadMessage(format!(
                "membership config: {e}"
            )))),
        }
    }

    /// This node's local health (Lifeguard's multiplier and what moved it).
    pub fn health(&self) -> HealthStats {
        self.health.stats()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    // ---- read access for drivers -------------------------------------------------------

    pub fn id(&self) -> PeerId {
        self.me
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// Jobs waiting for a worker.
    pub fn queue_len(&self) -> u32 {
        self.queue.len() as u32
    }

    /// Jobs being transcoded here now.
    pub fn in_flight(&self) -> u32 {
        self.running
    }

    /// Jobs sent to peers and not yet answered.
    pub fn offloads_pending(&self) -> u32 {
        self.peers.iter().map(|p| p.in_flight_to).sum()
    }

    /// Alive peers as this node sees them, sorted by node id.
    pub fn peers(&self) -> &[PeerView] {
        &self.peers
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn cache(&self) -> &CacheIndex {
        &self.cache
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// How well the cost model predicts this node's transcodes.
    pub fn cost_stats(&self) -> CostStats {
        self.cost.stats()
    }

    /// Predicted service time of `features` here, in ms.
    pub fn predict_service_ms(&self, features: &JobFeatures) -> u64 {
        self.cost.service_ms(features)
    }

    /// Uploads waiting for or in a probe.
    pub fn probes_pending(&self) -> u32 {
        self.probing + self.probe_queue.len() as u32
    }

    /// How long a job arriving now would wait for a worker, by the cost model: the queued and
    /// running jobs, and the uploads still to be probed.
    pub fn backlog_ms(&self, now: Millis) -> u64 {
        self.local_wait_ms(now) + self.unprobed_backlog_ms()
    }

    pub fn self_view(&self) -> SelfView {
        SelfView {
            id: self.me,
            queue_len: self.queue.len() as u32,
            in_flight: self.running,
            workers: self.cfg.workers,
            queue_cap: self.cfg.queue_cap,
            cpu_pct: self.cpu_pct,
            mem_pct: self.mem_pct,
            backlog_ms: self.local_wait_ms(self.now_hint),
        }
    }

    /// What `job` costs by this node's model, as strategies see it.
    fn job_cost(&self, now: Millis, job: &Job) -> JobCost {
        let here_ms = if job.probed {
            self.cost.service_ms(&job.features) as f64
        } else {
            self.cost.unprobed_ms(&job.features)
        };
        JobCost {
            cpu_s: self.cost.curve_cpu_s(&job.features, job.probed),
            here_ms: here_ms * self.overdue(now),
            upload_bytes: job.features.size_bytes,
            result_bytes: job.features.expected_output_bytes(),
        }
    }

    /// This node as a candidate at `now`.
    fn me_at(&self, now: Millis) -> SelfView {
        SelfView {
            backlog_ms: self.local_wait_ms(now),
            ..self.self_view()
        }
    }

    fn view(&self, now: Millis, job: &Job) -> ClusterView<'_> {
        ClusterView {
            now,
            me: self.me_at(now),
            peers: &self.peers,
            job: self.job_cost(now, job),
            zones: &self.cfg.zones,
        }
    }

    /// Asks the strategy where `job` would go now, and sends the probes it wants (Prequal).
    pub fn route(&mut self, now: Millis, job: &Job) -> Choice {
        // Built from fields, not `self.view`, so the strategy and rng can be borrowed mutably.
        let (me, cost) = (self.me_at(now), self.job_cost(now, job));
        // A peer that is draining, or refused this node's last offload, takes no new work: the
        // strategy chooses among the others (a copy only while some peer is closed).
        let open: Option<(Vec<usize>, Vec<PeerView>)> =
            self.peers.iter().any(|p| p.is_closed(now)).then(|| {
                let idx: Vec<usize> = (0..self.peers.len())
                    .filter(|&i| !self.peers[i].is_closed(now))
                    .collect();
                let views = idx.iter().map(|&i| self.peers[i]).collect();
                (idx, views)
            });
        let view = ClusterView {
            now,
            me,
            peers: open.as_ref().map_or(&self.peers[..], |(_, v)| &v[..]),
            job: cost,
            zones: &self.cfg.zones,
        };
        let mut choice = self.strategy.choose(job, &view, &mut self.rng);
        if let (Choice::Peer(j), Some((idx, _))) = (choice, &open) {
            choice = Choice::Peer(idx[j]);
        }
        for to in self.strategy.take_probes() {
            self.counters.messages_out += 1;
            self.counters.load_probes_sent += 1;
            self.out.push_back(Output::Send {
                to,
                msg: Message::LoadProbe { from: self.me },
            });
        }
        choice
    }

    // ---- jobs ----------------------------------------------------------------------------

    fn reply(&mut self, job: JobId, outcome: Outcome) {
        self.counters.replies += 1;
        self.out.push_back(Output::Reply { job, outcome });
    }

    fn refuse(&mut self, job: JobId, reason: RejectReason) {
        self.counters.rejected += 1;
        if matches!(reason, RejectReason::Deadline { .. }) {
            self.counters.rejected_deadline += 1;
        }
        self.reply(job, Outcome::Rejected(reason));
    }

    /// Stops tracking a job, keeping the count of answered ones right.
    fn untrack(&mut self, id: &JobId) -> Option<Tracked> {
        let t = self.jobs.remove(id)?;
        if t.answered {
            self.answered_held -= 1;
        }
        Some(t)
    }

    /// Starts tracking (or re-tracks) a job; one that has travelled past the hop limit breaks
    /// the protocol ([`Node::check_invariants`] reports it).
    fn hold(&mut self, t: Tracked) {
        if t.job.hops > self.cfg.hop_limit && self.broken.is_none() {
            self.broken = Some(ProtocolViolation::HopLimit {
                job: t.job.id.0,
                hops: t.job.hops,
                limit: self.cfg.hop_limit,
            });
        }
        if let Some(old) = self.jobs.insert(t.job.id, t) {
            if old.answered {
                self.answered_held -= 1;
            }
        }
    }

    fn track(&mut self, now: Millis, job: Job, state: JobState) {
        if job.deadline != NO_DEADLINE && !self.jobs.contains_key(&job.id) {
            // The transcode time limit is the deadline: nobody collects a result after it.
            self.out.push_back(Output::SetTimer {
                at: job.deadline.max(now),
                timer: Timer(TimerKind::Deadline(job.id)),
            });
        }
        self.hold(Tracked {
            job,
            state,
            fallback: false,
            predicted_ms: 0,
            started_at: now,
            answered: false,
            retried: false,
        });
    }

    fn on_upload(&mut self, now: Millis, mut job: Job) {
        self.counters.uploads += 1;
        if let Some(bytes) = self.cache.touch(&job.content) {
            self.counters.cache_hits += 1;
            self.count_response(&job);
            self.reply(
                job.id,
                Outcome::Done {
                    executed_by: self.me.node,
                    cache_hit: true,
                    hops: job.hops,
                    output_bytes: bytes,
                    offloaded: false,
                    fallback: false,
                },
            );
            return;
        }
        // A cached answer costs nothing, so a draining node still gives it.
        if self.drain.active && self.divert_while_draining(now, job) {
            return;
        }
        if !self.cfg.admission.deadline_aware {
            job.deadline = NO_DEADLINE; // the report's system knew no deadlines
        }
        if job.deadline <= now {
            self.counters.deadline_missed += 1;
            self.reply(job.id, Outcome::Failed(FailKind::DeadlinePassed));
            return;
        }
        if job.probed {
            self.track(now, job, JobState::Routing);
            self.route_job(now, job);
            return;
        }
        // Before spending a probe: if this node cannot even start the job in time, send it on
        // unprobed to a peer that can, or refuse it now.
        match self.place_unprobed(now, &job) {
            Unprobed::Here => {}
            Unprobed::Peer(i) => {
                self.track(now, job, JobState::Routing);
                self.offload_to(i, job);
                return;
            }
            Unprobed::Refuse(reason) => {
                self.refuse(job.id, reason);
                return;
            }
        }
        self.track(now, job, JobState::AwaitProbe);
        self.probe_queue.push_back(job.id);
        self.pump_probes();
    }

    /// How long a new unprobed upload is expected to take here: until its probe has ended and
    /// the work ahead of it is done (queued and running jobs, and the uploads still waiting for
    /// or in their probe, each charged its size-based estimate), with the margin admission
    /// applies after the probe, then its own expected time. Counting the unprobed uploads keeps
    /// a burst from passing this check all at once, each to be probed and then refused; the
    /// job itself gets no margin, as one clip's cost per byte strays too far to refuse it on
    /// (its probe decides).
    fn unprobed_eta_ms(&self, now: Millis, job: &Job) -> u64 {
        let ahead = self.local_wait_ms(now) + self.unprobed_backlog_ms();
        let ahead = ahead.max(self.probe_wait_ms()) as f64;
        let own = self.cost.unprobed_ms(&job.features) * self.overdue(now);
        (ahead * self.cost.safety() + own).ceil() as u64
    }

    /// What the uploads waiting for or in their probe will ask of the workers, per worker, in
    /// ms, by their sizes; those that will find a worker free wait for nothing.
    fn unprobed_backlog_ms(&self) -> u64 {
        if self.probing == 0 && self.probe_queue.is_empty() {
            return 0;
        }
        let (mut n, mut total) = (0u32, 0.0);
        for t in self.jobs.values() {
            if matches!(t.state, JobState::AwaitProbe | JobState::Probing) {
                n += 1;
                total += self.cost.unprobed_ms(&t.job.features);
            }
        }
        let workers = self.cfg.workers.max(1);
        let busy = self.running + self.queue.len() as u32;
        let free = workers.saturating_sub(busy);
        let waiting = n.saturating_sub(free) as f64 / n as f64;
        (total * waiting / workers as f64).ceil() as u64
    }

    /// Whether an upload of `size_bytes` that must be done by `deadline` has any chance, asked
    /// before its body is read: `Some(reason)` when neither this node nor (if it may still be
    /// offloaded, `hops` below the limit) any peer could finish it in time, so the driver can
    /// refuse at once instead of receiving, hashing and probing bytes it would refuse anyway.
    pub fn refuse_early(
        &self,
        now: Millis,
        deadline: Millis,
        size_bytes: u64,
        hops: u8,
    ) -> Option<RejectReason> {
        if let Some(r) = self.drain_refusal(now, hops) {
            return Some(r);
        }
        if !self.cfg.admission.deadline_aware {
            return None;
        }
        let upload = Job {
            id: JobId(0),
            content: ContentHash::default(),
            features: JobFeatures {
                size_bytes,
                ..JobFeatures::default()
            },
            hops,
            origin: self.me.node,
            deadline,
            probed: false,
        };
        match self.place_unprobed(now, &upload) {
            Unprobed::Refuse(reason) => Some(reason),
            Unprobed::Here | Unprobed::Peer(_) => None,
        }
    }

    /// Where an upload whose features are not known yet can go: here (to be probed), to the
    /// peer predicted to finish it first, or nowhere in time.
    fn place_unprobed(&self, now: Millis, job: &Job) -> Unprobed {
        if job.deadline == NO_DEADLINE {
            return Unprobed::Here;
        }
        let wait = self.unprobed_eta_ms(now, job);
        if now + wait <= job.deadline {
            return Unprobed::Here;
        }
        if job.hops < self.cfg.hop_limit {
            if let Some((i, eta)) = self.earliest_peer(now, job) {
                if eta <= job.deadline {
                    return Unprobed::Peer(i);
                }
            }
        }
        Unprobed::Refuse(RejectReason::Deadline {
            retry_after_ms: (now + wait - job.deadline).max(MIN_RETRY_MS),
        })
    }

    /// How long a new upload would wait for its probe to end.
    fn probe_wait_ms(&self) -> u64 {
        let ahead = (self.probe_queue.len() as u64 + self.probing as u64 + 1)
            .div_ceil(self.cfg.probe_slots() as u64);
        ahead * self.probe_ms.round() as u64
    }

    /// Starts waiting probes while there are free probe slots.
    fn pump_probes(&mut self) {
        let slots = self.cfg.probe_slots();
        while self.probing < slots {
            let Some(id) = self.probe_queue.pop_front() else {
                break;
            };
            let Some(t) = self.jobs.get_mut(&id) else {
                continue; // cancelled while waiting
            };
            if t.state != JobState::AwaitProbe {
                continue;
            }
            t.state = JobState::Probing;
            t.started_at = self.now_hint;
            let job = t.job;
            self.probing += 1;
            self.counters.probes_run += 1;
            self.out.push_back(Output::Probe(job));
        }
    }

    fn on_probed(&mut self, now: Millis, id: JobId, result: Result<JobFeatures, ProbeFailed>) {
        let Some(t) = self.jobs.get_mut(&id) else {
            return;
        };
        if t.state != JobState::Probing {
            return;
        }
        self.probing -= 1;
        let took = now.saturating_sub(t.started_at) as f64;
        self.probe_ms += 0.1 * (took - self.probe_ms);
        match result {
            Ok(f) => {
                t.job.features = JobFeatures {
                    size_bytes: t.job.features.size_bytes,
                    output: t.job.features.output,
                    ..f
                };
                t.job.probed = true;
                t.state = JobState::Routing;
                let job = t.job;
                self.route_job(now, job);
            }
            Err(ProbeFailed) => {
                self.untrack(&id);
                self.counters.not_a_video += 1;
                self.reply(id, Outcome::Failed(FailKind::NotAVideo));
            }
        }
        self.pump_probes();
    }

    /// Decides where a tracked job with known features runs: the strategy's choice when it can
    /// make the deadline, else the candidate predicted to finish first, else nowhere.
    fn route_job(&mut self, now: Millis, job: Job) {
        let may_offload = job.hops < self.cfg.hop_limit;
        let choice = if may_offload {
            self.route(now, &job)
        } else {
            Choice::Local
        };
        if job.deadline == NO_DEADLINE {
            match choice {
                Choice::Peer(i) => self.offload_to(i, job),
                Choice::Local => self.run_locally(now, job, false),
            }
            return;
        }
        let local_eta = now + self.local_eta_ms(now, &job);
        // A peer that has not reported yet is the strategy's call: the peer's own admission
        // refuses the job if it cannot make the deadline, and the job falls back here.
        let chosen_ok = match choice {
            Choice::Local => local_eta <= job.deadline,
            Choice::Peer(i) => self
                .peer_eta(now, i, &job)
                .is_none_or(|e| e <= job.deadline),
        };
        let pick = if chosen_ok {
            Some(choice)
        } else {
            let mut best = (local_eta, Choice::Local);
            if may_offload {
                if let Some((i, eta)) = self.earliest_peer(now, &job) {
                    if eta < best.0 {
                        best = (eta, Choice::Peer(i));
                    }
                }
            }
            (best.0 <= job.deadline).then_some(best.1)
        };
        match pick {
            Some(Choice::Peer(i)) => self.offload_to(i, job),
            Some(Choice::Local) => self.run_locally(now, job, false),
            None => {
                self.untrack(&job.id);
                let retry_after_ms = local_eta.saturating_sub(job.deadline).max(MIN_RETRY_MS);
                self.refuse(job.id, RejectReason::Deadline { retry_after_ms });
            }
        }
    }

    /// When `job` would be done if sent to peer `i` now, from its last report, with the cost
    /// model's safety margin on the peer's work; `None` when the peer has not reported its
    /// speed. The same estimate as the `ect` strategy's.
    fn peer_eta(&self, now: Millis, i: usize, job: &Job) -> Option<Millis> {
        let e = self.view(now, job).peer_eta(i)?;
        let safety = self.cost.safety();
        Some(now + (e.net_ms + (e.wait_ms + e.service_ms) * safety).ceil() as Millis)
    }

    /// The peer predicted to finish `job` first, with that time.
    fn earliest_peer(&self, now: Millis, job: &Job) -> Option<(usize, Millis)> {
        let mut best: Option<(usize, Millis)> = None;
        for i in 0..self.peers.len() {
            if let Some(eta) = self.peer_eta(now, i, job) {
                if best.is_none_or(|(_, b)| eta < b) {
                    best = Some((i, eta));
                }
            }
        }
        best
    }

    /// How long `job` would take here from now (waiting and running), with the model's safety
    /// margin for jobs that run slower than predicted.
    fn local_eta_ms(&self, now: Millis, job: &Job) -> u64 {
        let service = self.cost.service_ms(&job.features) as f64 * self.overdue(now);
        let raw = self.local_wait_ms(now) as f64 + service;
        (raw * self.cost.safety()).ceil() as u64
    }

    /// How far the slowest running transcode has overrun its prediction (1 when none has): a
    /// machine slowing down (a neighbour taking the CPU) shows here before any job finishes,
    /// so the model's speed is not trusted beyond what running jobs already prove.
    fn overdue(&self, now: Millis) -> f64 {
        let mut worst: f64 = 1.0;
        for id in &self.running_ids {
            if let Some(t) = self.jobs.get(id) {
                let ran = now.saturating_sub(t.started_at) as f64;
                worst = worst.max(ran / t.predicted_ms.max(1) as f64);
            }
        }
        worst
    }

    /// How long a job arriving now would wait for a worker here, by the cost model.
    pub(crate) fn local_wait_ms(&self, now: Millis) -> u64 {
        let workers = self.cfg.workers.max(1) as u64;
        if (self.running as u64) < workers && self.queue.is_empty() {
            return 0;
        }
        let overdue = self.overdue(now);
        let mut left = self.queued_ms as f64 * overdue;
        for id in &self.running_ids {
            if let Some(t) = self.jobs.get(id) {
                let total = t.predicted_ms as f64 * overdue;
                left += (t.started_at as f64 + total - now as f64).max(0.0);
            }
        }
        (left / workers as f64).ceil() as u64
    }

    fn offload_to(&mut self, i: usize, job: Job) {
        let peer = &mut self.peers[i];
        peer.in_flight_to += 1;
        peer.sent_since_report += 1;
        let to = peer.id;
        if to.zone == self.me.zone {
            self.counters.offloads_same_zone += 1;
        } else {
            self.counters.offloads_cross_zone += 1;
        }
        if let Some(t) = self.jobs.get_mut(&job.id) {
            t.state = JobState::Offloaded(to);
        } else {
            self.hold(Tracked {
                job,
                state: JobState::Offloaded(to),
                fallback: false,
                predicted_ms: 0,
                started_at: 0,
                answered: false,
                retried: false,
            });
        }
        let sent = Job {
            hops: job.hops + 1,
            ..job
        };
        self.out.push_back(Output::Offload { job: sent, to });
    }

    fn run_locally(&mut self, now: Millis, job: Job, fallback: bool) {
        let predicted_ms = self.cost.service_ms(&job.features);
        let state = if self.running < self.cfg.workers {
            self.running += 1;
            self.running_ids.push(job.id);
            self.counters.transcodes_started += 1;
            self.out.push_back(Output::StartTranscode(job));
            JobState::Running
        } else if (self.queue.len() as u32) < self.cfg.queue_cap {
            self.queue.push_back(job.id);
            self.queued_ms += predicted_ms;
            self.counters.enqueues += 1;
            self.out.push_back(Output::Event(Event::Enqueued(job.id)));
            JobState::Queued
        } else {
            self.untrack(&job.id);
            self.refuse(job.id, RejectReason::QueueFull);
            return;
        };
        if !self.jobs.contains_key(&job.id) {
            self.track(now, job, state);
        }
        let t = self.jobs.get_mut(&job.id).expect("tracked above");
        t.job = job;
        t.state = state;
        t.fallback = fallback;
        t.predicted_ms = predicted_ms;
        t.started_at = now;
    }

    fn on_transcode_done(&mut self, now: Millis, id: JobId, result: Result<u64, FailKind>) {
        let Some(t) = self.jobs.get(&id).copied() else {
            return; // not ours, or already answered: drivers may race a timeout
        };
        if t.state != JobState::Running {
            return;
        }
        if result == Err(FailKind::Stalled) && self.retry_stalled(now, t) {
            return;
        }
        self.untrack(&id);
        self.finish_running(id);
        let outcome = match result {
            Ok(bytes) => {
                self.counters.transcodes_ok += 1;
                self.cost
                    .observe(&t.job.features, t.predicted_ms, now - t.started_at.min(now));
                self.cache.insert(t.job.content, bytes, &mut self.evicted);
                self.flush_evictions();
                if !t.answered {
                    self.count_response(&t.job);
                }
                Outcome::Done {
                    executed_by: self.me.node,
                    cache_hit: false,
                    hops: t.job.hops,
                    output_bytes: bytes,
                    offloaded: false,
                    fallback: t.fallback,
                }
            }
            Err(kind) => {
                self.counters.transcodes_failed += 1;
                Outcome::Failed(kind)
            }
        };
        if !t.answered {
            self.reply(id, outcome);
        }
        self.start_queued(now);
    }

    fn finish_running(&mut self, id: JobId) {
        self.running -= 1;
        if let Some(k) = self.running_ids.iter().position(|j| *j == id) {
            self.running_ids.swap_remove(k);
        }
    }

    fn start_queued(&mut self, now: Millis) {
        while self.running < self.cfg.workers {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let Some(t) = self.jobs.get_mut(&id) else {
                continue;
            };
            self.queued_ms = self.queued_ms.saturating_sub(t.predicted_ms);
            t.state = JobState::Running;
            // Predicted again at start: the model may have learned since it was queued.
            t.predicted_ms = self.cost.service_ms(&t.job.features);
            t.started_at = now;
            let job = t.job;
            self.running += 1;
            self.running_ids.push(id);
            self.counters.dequeues += 1;
            self.counters.transcodes_started += 1;
            self.out.push_back(Output::Event(Event::Dequeued(id)));
            self.out.push_back(Output::StartTranscode(job));
        }
    }

    /// Drops a job nobody will collect: its submitter left (`Cancelled`) or its deadline passed.
    /// Whatever it was doing stops, except a transcode nearly done, which finishes for the
    /// cache. The submitter still gets exactly one answer.
    fn drop_job(&mut self, now: Millis, id: JobId, why: FailKind) {
        let Some(t) = self.jobs.get(&id).copied() else {
            return;
        };
        if t.answered {
            return;
        }
        match t.state {
            JobState::AwaitProbe | JobState::Routing => {}
            JobState::Probing => {
                self.probing -= 1;
                self.out.push_back(Output::Abort(id));
            }
            JobState::Queued => {
                if let Some(k) = self.queue.iter().position(|j| *j == id) {
                    self.queue.remove(k);
                }
                self.queued_ms = self.queued_ms.saturating_sub(t.predicted_ms);
                self.counters.dequeues += 1;
            }
            JobState::Running => {
                let done = now.saturating_sub(t.started_at) as f64;
                if done >= self.cfg.admission.finish_for_cache * t.predicted_ms as f64 {
                    self.counters.kept_for_cache += 1;
                    if let Some(t) = self.jobs.get_mut(&id) {
                        t.answered = true;
                        self.answered_held += 1;
                    }
                    self.reply(id, Outcome::Failed(why));
                    return;
                }
                self.finish_running(id);
                self.counters.transcodes_aborted += 1;
                self.out.push_back(Output::Abort(id));
            }
            JobState::Offloaded(to) => {
                if let Ok(i) = self.peer_index(to.node) {
                    let p = &mut self.peers[i];
                    p.in_flight_to = p.in_flight_to.saturating_sub(1);
                }
                self.out.push_back(Output::CancelOffload { job: id, to });
            }
        }
        self.untrack(&id);
        self.reply(id, Outcome::Failed(why));
        self.start_queued(now);
        self.pump_probes();
    }

    fn on_offload_done(
        &mut self,
        now: Millis,
        id: JobId,
        result: Result<RemoteDone, OffloadError>,
    ) {
        let Some(t) = self.jobs.get(&id).copied() else {
            return;
        };
        let JobState::Offloaded(to) = t.state else {
            return;
        };
        if let Ok(i) = self.peer_index(to.node) {
            let p = &mut self.peers[i];
            p.in_flight_to = p.in_flight_to.saturating_sub(1);
            let aware = self.cfg.admission.deadline_aware;
            match result {
                // Fresher than its load report: send it nothing until it expects room, longer
                // each time it refuses again (the report's system, without admission, kept no
                // such note).
                Err(OffloadError::Rejected { retry_after_ms }) if aware => {
                    let wait = retry_after_ms.unwrap_or(MIN_RETRY_MS).max(MIN_RETRY_MS);
                    let wait = wait.saturating_mul(1 << p.refusals.min(MAX_BACKOFF_DOUBLINGS));
                    p.refused_until = p.refused_until.max(now + wait);
                    p.refusals = p.refusals.saturating_add(1);
                }
                Ok(_) => p.refusals = 0,
                Err(_) => {}
            }
        }
        match result {
            Ok(done) => {
                self.untrack(&id);
                // The result passed through here, so keep it: the next upload of the same
                // content is answered without another round trip.
                self.cache
                    .insert(t.job.content, done.output_bytes, &mut self.evicted);
                self.flush_evictions();
                self.reply(
                    id,
                    Outcome::Done {
                        executed_by: done.executed_by,
                        cache_hit: done.cache_hit,
                        hops: done.hops,
                        output_bytes: done.output_bytes,
                        offloaded: true,
                        fallback: false,
                    },
                );
            }
            Err(OffloadError::Failed(kind)) => {
                // The input itself failed to transcode; running it again here would too.
                self.untrack(&id);
                self.reply(id, Outcome::Failed(kind));
            }
            Err(OffloadError::Unreachable | OffloadError::Rejected { .. }) => {
                self.counters.offloads_failed += 1;
                self.counters.fallbacks += 1;
                let job = t.job;
                if job.deadline != NO_DEADLINE {
                    if !job.probed {
                        // Sent on before its probe, as this node had no room then: placed
                        // again as a new upload would be (the refusing peer is now closed).
                        match self.place_unprobed(now, &job) {
                            Unprobed::Here => {
                                if let Some(t) = self.jobs.get_mut(&id) {
                                    t.state = JobState::AwaitProbe;
                                }
                                self.probe_queue.push_back(id);
                                self.pump_probes();
                            }
                            Unprobed::Peer(i) => self.offload_to(i, job),
                            Unprobed::Refuse(reason) => {
                                self.untrack(&id);
                                self.refuse(id, reason);
                            }
                        }
                        return;
                    }
                    let eta = now + self.local_eta_ms(now, &job);
                    if eta > job.deadline {
                        self.untrack(&id);
                        let retry_after_ms = (eta - job.deadline).max(MIN_RETRY_MS);
                        self.refuse(id, RejectReason::Deadline { retry_after_ms });
                        return;
                    }
                }
                self.run_locally(now, job, true);
            }
        }
    }

    fn count_response(&mut self, job: &Job) {
        let origin_zone = if job.origin == self.me.node {
            Some(self.me.zone)
        } else {
            self.peer_index(job.origin)
                .ok()
                .map(|i| self.peers[i].id.zone)
        };
        if origin_zone == Some(self.me.zone) {
            self.counters.responses_same_zone += 1;
        } else {
            self.counters.responses_cross_zone += 1;
        }
    }

    fn flush_evictions(&mut self) {
        for c in self.evicted.drain(..) {
            self.out.push_back(Output::CacheEvict(c));
        }
    }

    // ---- membership and load gossip ------------------------------------------------------

    fn announce_to_seeds(&mut self, now: Millis) {
        let seeds: Vec<PeerAddr> = self
            .cfg
            .seeds
            .iter()
            .copied()
            .filter(|a| *a != self.me.addr && !self.peers.iter().any(|p| p.id.addr == *a))
            .collect();
        for addr in seeds {
            let mut rt = SwimRuntime {
                now,
                out: &mut self.out,
                notes: &mut self.notes,
                sent: &mut self.counters.messages_out,
                spare: &mut self.spare_bufs,
                health: &mut self.health,
            };
            // Announcing only fails if encoding fails, which plain identities cannot.
            let _ = self.swim.announce(PeerId::seed(addr), &mut rt);
        }
        self.apply_notes();
    }

    fn on_message(&mut self, now: Millis, msg: Message) {
        self.counters.messages_in += 1;
        match msg {
            Message::Swim(bytes) => {
                let mut rt = SwimRuntime {
                    now,
                    out: &mut self.out,
                    notes: &mut self.notes,
                    sent: &mut self.counters.messages_out,
                    spare: &mut self.spare_bufs,
                    health: &mut self.health,
                };
                if let Err(e) = self.swim.handle_data(&bytes, &mut rt) {
                    self.counters.bad_messages += 1;
                    self.out
                        .push_back(Output::Event(Event::BadMessage(format!("membership: {e}"))));
                }
                self.apply_notes();
                if self.spare_bufs.len() < SPARE_BUFS {
                    let mut bytes = bytes;
                    bytes.clear();
                    self.spare_bufs.push(bytes);
                }
            }
            Message::Load(digest) => self.on_load_digest(now, digest),
            Message::LoadProbe { from } => self.on_load_probe(now, from),
            Message::ProbeAnswer(a) => {
                if self.peer_index(a.from.node).is_ok() {
                    self.counters.load_probe_answers += 1;
                    self.strategy.on_probe_answer(now, &a);
                } else {
                    self.counters.bad_messages += 1;
                }
            }
        }
    }

    /// A peer asks how busy this node is now (Prequal's probe); every node answers, whatever
    /// its own strategy, members only.
    fn on_load_probe(&mut self, now: Millis, from: PeerId) {
        let Ok(i) = self.peer_index(from.node) else {
            self.counters.bad_messages += 1;
            return;
        };
        let to = self.peers[i].id;
        self.counters.messages_out += 1;
        self.out.push_back(Output::Send {
            to,
            msg: Message::ProbeAnswer(ProbeAnswer {
                from: self.me,
                rif: self.queue.len() as u32 + self.running + self.probes_pending(),
                wait_ms: self.local_wait_ms(now).min(u32::MAX as u64) as u32,
                ms_per_cpu_s: self.ms_per_cpu_s(),
            }),
        });
    }

    fn on_load_digest(&mut self, now: Millis, digest: LoadDigest) {
        if self.peer_index(digest.sender.node).is_err() {
            // Not (yet) a member here: membership decides who belongs, not load gossip.
            self.counters.bad_messages += 1;
            self.out.push_back(Output::Event(Event::BadMessage(format!(
                "load report from unknown peer {:?}",
                digest.sender.node
            ))));
            return;
        }
        for &r in &digest.reports {
            if r.from.node == self.me.node {
                continue;
            }
            let Ok(i) = self.peer_index(r.from.node) else {
                continue;
            };
            let peer = &mut self.peers[i];
            if peer.id.gen != r.from.gen {
                continue; // a report from another life of this node
            }
            let fresher = match &peer.report {
                None => true,
                Some(k) => r.newer_than(&k.report),
            };
            if fresher {
                peer.report = Some(KnownReport {
                    report: r,
                    received_at: now,
                });
                peer.sent_since_report = 0;
            }
        }
        if self.spare_reports.len() < SPARE_BUFS {
            let mut reports = digest.reports;
            reports.clear();
            self.spare_reports.push(reports);
        }
    }

    /// This node's load as its next gossip round would report it.
    pub fn own_report(&self, now: Millis) -> LoadReport {
        LoadReport {
            from: self.me,
            version: self.report_version,
            cpu_pct: self.cpu_pct,
            mem_pct: self.mem_pct,
            queue_len: self.queue.len() as u32,
            in_flight: self.running,
            workers: self.cfg.workers,
            queue_cap: self.cfg.queue_cap,
            age_ms: 0,
            backlog_ms: self.backlog_ms(now).min(u32::MAX as u64) as u32,
            ms_per_cpu_s: self.ms_per_cpu_s(),
            draining: self.draining(),
        }
    }

    /// The simulator's `oracle`: replaces what this node knows of a member with that member's
    /// true state now, `in_transit` being the jobs this node sent it that have not arrived.
    /// A live node never calls this.
    pub fn observe_true_state(&mut self, now: Millis, report: LoadReport, in_transit: u32) {
        if let Ok(i) = self.peer_index(report.from.node) {
            let p = &mut self.peers[i];
            if p.id.gen == report.from.gen {
                p.report = Some(KnownReport {
                    report,
                    received_at: now,
                });
                p.sent_since_report = in_transit;
            }
        }
    }

    /// Tells every member at once that this node is draining (a load report saying so), so all
    /// of them stop routing to it now rather than as gossip spreads it.
    fn announce_drain(&mut self, now: Millis) {
        self.report_version += 1;
        let own = self.own_report(now);
        for i in 0..self.peers.len() {
            let to = self.peers[i].id;
            self.counters.messages_out += 1;
            self.out.push_back(Output::Send {
                to,
                msg: Message::Load(LoadDigest {
                    sender: self.me,
                    reports: vec![own],
                }),
            });
        }
    }

    /// This node's service time per CPU-second of the cost curve, as peers are told.
    fn ms_per_cpu_s(&self) -> f32 {
        (self.cost.speed() / self.cfg.slot_cores() * 1000.0) as f32
    }

    fn gossip_round(&mut self, now: Millis) {
        self.out.push_back(Output::SetTimer {
            at: now + self.cfg.gossip.period_ms,
            timer: Timer(TimerKind::GossipRound),
        });
        // A seed that was not up when we started (or that we lost) is tried again every round
        // until it is a member: otherwise nodes that start together can settle into separate
        // clusters that never hear of each other.
        self.announce_to_seeds(now);
        if self.peers.is_empty() {
            return;
        }
        self.report_version += 1;
        let own = self.own_report(now);
        let relayed = self.freshest_reports(now, self.cfg.gossip.relay_reports);
        let fanout = self.cfg.gossip.fanout.min(self.peers.len());
        let mut chosen = std::mem::take(&mut self.scratch);
        chosen.clear();
        if fanout * 2 >= self.peers.len() {
            // Few peers: partial Fisher–Yates over all indices.
            chosen.extend(0..self.peers.len());
            for k in 0..fanout {
                let j = self.rng.random_range(k..chosen.len());
                chosen.swap(k, j);
            }
            chosen.truncate(fanout);
        } else {
            // Many peers: draw until `fanout` distinct ones, without touching all of them.
            while chosen.len() < fanout {
                let j = self.rng.random_range(0..self.peers.len());
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
        }
        for &i in &chosen {
            let to = self.peers[i].id;
            let mut reports = self.spare_reports.pop().unwrap_or_default();
            reports.reserve(relayed.len() + 1);
            reports.push(own);
            reports.extend(relayed.iter().filter(|r| r.from.node != to.node).copied());
            self.counters.messages_out += 1;
            self.out.push_back(Output::Send {
                to,
                msg: Message::Load(LoadDigest {
                    sender: self.me,
                    reports,
                }),
            });
        }
        self.scratch = chosen;
    }

    /// The `n` freshest peer reports known (ties by node id), with their ages brought up to
    /// `now`. A bounded insertion keeps this one pass over the peers with no large copies.
    fn freshest_reports(&self, now: Millis, n: usize) -> Vec<LoadReport> {
        let mut best: Vec<(u64, NodeId, usize)> = Vec::with_capacity(n + 1);
        if n == 0 {
            return Vec::new();
        }
        for (i, p) in self.peers.iter().enumerate() {
            let Some(k) = &p.report else { continue };
            let key = (k.age_ms(now), p.id.node);
            if best.len() == n && key >= (best[n - 1].0, best[n - 1].1) {
                continue;
            }
            let pos = best.partition_point(|(a, id, _)| (*a, *id) < key);
            best.insert(pos, (key.0, key.1, i));
            best.truncate(n);
        }
        best.into_iter()
            .map(|(age, _, i)| {
                let mut r = self.peers[i].report.expect("chosen for its report").report;
                r.age_ms = age.min(u32::MAX as u64) as u32;
                r
            })
            .collect()
    }

    fn apply_notes(&mut self) {
        if self.notes.is_empty() {
            return;
        }
        let notes = std::mem::take(&mut self.notes);
        for note in &notes {
            match *note {
                Note::Up(id) => self.member_up(id),
                Note::Down(id) => self.member_down(id),
                Note::Rename(old, new) => {
                    // Same address, newer life. If the old one was alive here the new one takes
                    // its place; otherwise a MemberUp follows when the new one is active.
                    if let Ok(i) = self.peer_index(old.node) {
                        if self.peers[i].id == old {
                            self.member_down(old);
                            self.member_up(new);
                        }
                    }
                }
                Note::Active => self.out.push_back(Output::Event(Event::Joined)),
                Note::Idle => self.out.push_back(Output::Event(Event::Isolated)),
                Note::Rejoin(id) => {
                    self.me = id;
                    self.out.push_back(Output::Event(Event::Rejoined(id)));
                }
                Note::ProbeFailed(id) => {
                    // A probe sent just before the member's goodbye arrived fails too: that
                    // is no suspicion of a node already known to be down (or gone).
                    let down = self
                        .swim
                        .iter_membership_state()
                        .any(|m| *m.id() == id && m.state() == foca::State::Down);
                    if !down {
                        self.out.push_back(Output::Event(Event::Suspected(id)));
                    }
                }
                Note::PingSent => {}
            }
        }
        self.notes = notes;
        self.notes.clear();
    }

    fn member_up(&mut self, id: PeerId) {
        if id.node == self.me.node {
            return;
        }
        let rtt_ms = self.cfg.zones.rtt_ms(self.me.zone, id.zone);
        let view = PeerView {
            id,
            rtt_ms,
            report: None,
            in_flight_to: 0,
            sent_since_report: 0,
            refused_until: 0,
            refusals: 0,
        };
        match self.peer_index(id.node) {
            Ok(i) => {
                if self.peers[i].id == id {
                    return; // already known alive
                }
                self.peers[i] = view; // a new life: forget the old one's load
            }
            Err(i) => {
                self.peers.insert(i, view);
                self.peer_ids.insert(i, id.node);
            }
        }
        self.out.push_back(Output::Event(Event::MemberUp(id)));
    }

    fn member_down(&mut self, id: PeerId) {
        if let Ok(i) = self.peer_index(id.node) {
            if self.peers[i].id == id {
                self.peers.remove(i);
                self.peer_ids.remove(i);
                self.out.push_back(Output::Event(Event::MemberDown(id)));
            }
        }
    }

    /// Every member SWIM knows, with its state as this node sees it, sorted by node id.
    pub fn membership(&self) -> Vec<(PeerId, MemberState)> {
        let mut all: Vec<(PeerId, MemberState)> = self
            .swim
            .iter_membership_state()
            .map(|m| {
                let state = match m.state() {
                    foca::State::Alive => MemberState::Alive,
                    foca::State::Suspect => MemberState::Suspect,
                    foca::State::Down => MemberState::Down,
                };
                (*m.id(), state)
            })
            .collect();
        all.sort_by_key(|(id, _)| (id.node, id.gen));
        all
    }

    fn peer_index(&self, node: NodeId) -> Result<usize, usize> {
        self.peer_ids.binary_search(&node)
    }

    /// Members this node currently believes alive.
    pub fn alive_members(&self) -> usize {
        self.peers.len()
    }

    /// The zone this node is in.
    pub fn zone(&self) -> ZoneId {
        self.me.zone
    }
}

/// The timers of a probe cycle: the interval between probes, and the wait for a direct answer
/// before asking others to probe.
fn is_probe_timer(t: &foca::Timer<PeerId>) -> bool {
    matches!(
        t,
        foca::Timer::ProbeRandomMember(_) | foca::Timer::SendIndirectProbe { .. }
    )
}

fn sanitize_pct(v: f32) -> f32 {
    if v.is_finite() {
        v.clamp(0.0, 1000.0)
    } else {
        0.0
    }
}

fn swim_config(cfg: &NodeConfig) -> foca::Config {
    let g = &cfg.gossip;
    let mut c = foca::Config::simple();
    c.probe_period = Duration::from_millis(g.probe_period_ms.max(2));
    c.probe_rtt = Duration::from_millis(g.probe_rtt_ms.clamp(1, g.probe_period_ms.max(2) - 1));
    c.suspect_to_down_after = Duration::from_millis(g.suspect_to_down_ms.max(1));
    c.remove_down_after = Some(Duration::from_millis(g.remove_down_after_ms.max(1)));
    c.max_packet_size = NonZeroUsize::new(g.max_packet_bytes.max(256)).expect("> 0");
    c.max_transmissions = NonZeroU8::new(g.max_transmissions.max(1)).expect("> 0");
    c.notify_down_members = true;
    let fanout = NonZeroUsize::new(g.fanout.max(1)).expect("> 0");
    c.periodic_gossip = Some(foca::PeriodicParams {
        frequency: Duration::from_millis(g.period_ms.max(1)),
        num_members: fanout,
    });
    if g.announce_period_ms > 0 {
        c.periodic_announce = Some(foca::PeriodicParams {
            frequency: Duration::from_millis(g.announce_period_ms),
            num_members: NonZeroUsize::new(1).expect("> 0"),
        });
        c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
            frequency: Duration::from_millis(g.announce_period_ms * 2),
            num_members: NonZeroUsize::new(1).expect("> 0"),
        });
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AdmissionConfig;
    use crate::zone::ZoneTable;
    use rand::SeedableRng;
    use std::sync::Arc;

    /// One node alone: one worker on one core, one single-threaded ffmpeg.
    pub(super) fn lone(workers: u32) -> Node {
        let zones = Arc::new(ZoneTable::report_default());
        let fra = zones.zone("FRA").unwrap();
        let mut cfg = NodeConfig::new(NodeId(1), fra, PeerAddr::sim(NodeId(1)), zones);
        cfg.workers = workers;
        cfg.cores = workers as f64;
        cfg.job_threads = 1.0;
        Node::new(cfg, ChaCha8Rng::seed_from_u64(1)).unwrap()
    }

    /// A 720p 10 s clip: about 2.08 CPU-s by the default curve.
    pub(super) fn job(id: u64, deadline: Millis, probed: bool) -> Job {
        Job {
            id: JobId(id),
            content: ContentHash([id as u8; 32]),
            features: JobFeatures {
                size_bytes: 2_000_000,
                width: 1280,
                height: 720,
                frames: 300,
                duration_ms: 10_000,
                ..Default::default()
            },
            hops: 0,
            origin: NodeId(1),
            deadline,
            probed,
        }
    }

    /// Drains the outputs, and checks the node still keeps the job protocol's rules.
    fn outputs(n: &mut Node) -> Vec<Output> {
        let out = std::iter::from_fn(|| n.poll_output()).collect();
        if let Err(v) = n.check_invariants() {
            panic!("{v}");
        }
        out
    }

    fn replies(out: &[Output]) -> Vec<(JobId, Outcome)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Reply { job, outcome } => Some((*job, *outcome)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn admits_what_finishes_in_time_and_refuses_the_rest_at_once_with_a_retry_time() {
        let mut n = lone(1);
        // Each job holds the worker ~2.1 s; with the untrained model's safety margin (×1.47) a
        // 7 s deadline fits the first two (3.1 s, 6.1 s), not the third (9.2 s).
        for id in 1..=3 {
            n.handle_input(0, Input::Upload(job(id, 7_000, true)));
        }
        let out = outputs(&mut n);
        let starts = out
            .iter()
            .filter(|o| matches!(o, Output::StartTranscode(_)))
            .count();
        assert_eq!(starts, 1);
        assert_eq!(n.queue_len(), 1);
        let r = replies(&out);
        assert_eq!(r.len(), 1, "{out:?}");
        let (id, outcome) = r[0];
        assert_eq!(id, JobId(3));
        let Outcome::Rejected(RejectReason::Deadline { retry_after_ms }) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            (1_000..10_000).contains(&retry_after_ms),
            "{retry_after_ms}"
        );
        assert_eq!(n.counters().rejected_deadline, 1);
    }

    #[test]
    fn without_deadline_admission_everything_queues_as_in_the_report() {
        let zones = Arc::new(ZoneTable::report_default());
        let mut cfg = NodeConfig::new(NodeId(1), ZoneId(0), PeerAddr::sim(NodeId(1)), zones);
        cfg.workers = 1;
        cfg.admission = AdmissionConfig::off();
        let mut n = Node::new(cfg, ChaCha8Rng::seed_from_u64(1)).unwrap();
        for id in 1..=5 {
            n.handle_input(0, Input::Upload(job(id, 6_000, true)));
        }
        assert!(replies(&outputs(&mut n)).is_empty());
        assert_eq!(n.queue_len(), 4);
    }

    #[test]
    fn a_cancelled_transcode_is_killed_answered_once_and_the_next_job_starts() {
        let mut n = lone(1);
        n.handle_input(0, Input::Upload(job(1, 60_000, true)));
        n.handle_input(0, Input::Upload(job(2, 60_000, true)));
        outputs(&mut n);
        n.handle_input(100, Input::Cancel(JobId(1)));
        let out = outputs(&mut n);
        assert!(out.contains(&Output::Abort(JobId(1))), "{out:?}");
        assert_eq!(
            replies(&out),
            vec![(JobId(1), Outcome::Failed(FailKind::Cancelled))]
        );
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::StartTranscode(j) if j.id == JobId(2))));
        // A late answer for the killed transcode changes nothing.
        n.handle_input(
            200,
            Input::TranscodeDone {
                job: JobId(1),
                result: Ok(1),
            },
        );
        assert!(replies(&outputs(&mut n)).is_empty());
        assert_eq!(n.counters().transcodes_aborted, 1);
        assert_eq!(n.counters().cancelled, 1);
    }

    #[test]
    fn a_nearly_done_transcode_finishes_for_the_cache_after_its_client_left() {
        let mut n = lone(1);
        n.handle_input(0, Input::Upload(job(1, 60_000, true)));
        outputs(&mut n);
        let predicted = n.predict_service_ms(&job(1, 0, true).features);
        n.handle_input(predicted * 95 / 100, Input::Cancel(JobId(1)));
        let out = outputs(&mut n);
        assert!(!out.contains(&Output::Abort(JobId(1))));
        assert_eq!(replies(&out).len(), 1);
        n.handle_input(
            predicted,
            Input::TranscodeDone {
                job: JobId(1),
                result: Ok(1_000),
            },
        );
        assert!(replies(&outputs(&mut n)).is_empty(), "answered once only");
        // The next upload of the same content is a cache hit.
        n.handle_input(predicted + 1, Input::Upload(job(1, 60_000, true)));
        let r = replies(&outputs(&mut n));
        assert!(
            matches!(
                r[0].1,
                Outcome::Done {
                    cache_hit: true,
                    ..
                }
            ),
            "{r:?}"
        );
    }

    #[test]
    fn a_queued_job_whose_deadline_passes_is_dropped_before_it_runs() {
        let mut n = lone(1);
        n.handle_input(0, Input::Upload(job(1, 60_000, true)));
        n.handle_input(0, Input::Upload(job(2, 7_000, true)));
        let timers: Vec<(Millis, Timer)> = outputs(&mut n)
            .into_iter()
            .filter_map(|o| match o {
                Output::SetTimer { at, timer } if at == 7_000 => Some((at, timer)),
                _ => None,
            })
            .collect();
        assert_eq!(timers.len(), 1);
        assert_eq!(n.queue_len(), 1);
        n.handle_input(7_000, Input::Timer(timers[0].1.clone()));
        let r = replies(&outputs(&mut n));
        assert_eq!(
            r,
            vec![(JobId(2), Outcome::Failed(FailKind::DeadlinePassed))]
        );
        assert_eq!(n.queue_len(), 0);
    }

    #[test]
    fn probes_wait_for_a_slot_and_a_hopeless_upload_is_refused_before_its_probe() {
        let mut n = lone(1); // one core: one probe at a time
        for id in 1..=3 {
            n.handle_input(0, Input::Upload(job(id, 60_000, false)));
        }
        let probes = outputs(&mut n)
            .iter()
            .filter(|o| matches!(o, Output::Probe(_)))
            .count();
        assert_eq!(probes, 1);
        assert_eq!(n.probes_pending(), 3);
        // Features arrive; the job runs.
        n.handle_input(
            150,
            Input::Probed {
                job: JobId(1),
                result: Ok(job(1, 0, true).features),
            },
        );
        let out = outputs(&mut n);
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::StartTranscode(j) if j.id == JobId(1))));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::Probe(j) if j.id == JobId(2))));
        // An upload that could not even start before its deadline gets no probe.
        n.handle_input(200, Input::Upload(job(9, 300, false)));
        let r = replies(&outputs(&mut n));
        assert!(matches!(
            r[0].1,
            Outcome::Rejected(RejectReason::Deadline { .. })
        ));
    }

    #[test]
    fn an_upload_nobody_could_finish_is_refused_before_its_body_is_read() {
        let mut n = lone(1);
        assert_eq!(n.refuse_early(0, 5_000, 2_000_000, 0), None);
        for id in 1..=2 {
            n.handle_input(0, Input::Upload(job(id, 60_000, true)));
        }
        outputs(&mut n);
        // ~2.1 s of work ahead (×1.47): a 1 s deadline cannot be met, a 60 s one can.
        let r = n.refuse_early(0, 1_000, 2_000_000, 0);
        assert!(matches!(r, Some(RejectReason::Deadline { .. })), "{r:?}");
        assert_eq!(n.refuse_early(0, 60_000, 2_000_000, 0), None);
        assert_eq!(
            n.refuse_early(0, 1_000, 2_000_000, 0),
            r,
            "asking changes nothing"
        );
    }

    #[test]
    fn the_cost_model_learns_a_slower_machine_and_admits_accordingly() {
        let mut n = lone(1);
        let f = job(1, 0, true).features;
        let first = n.predict_service_ms(&f);
        let mut t = 0;
        for id in 1..=20 {
            n.handle_input(t, Input::Upload(job(id, NO_DEADLINE, true)));
            outputs(&mut n);
            t += first * 5;
            n.handle_input(
                t,
                Input::TranscodeDone {
                    job: JobId(id),
                    result: Ok(1),
                },
            );
            outputs(&mut n);
        }
        let learned = n.predict_service_ms(&f);
        assert!(
            (4.5..5.5).contains(&(learned as f64 / first as f64)),
            "{learned} vs {first}"
        );
        assert!(n.cost_stats().mape_pct < 60.0, "{:?}", n.cost_stats());
        // Now a 6 s deadline fits no job of ~10 s here.
        n.handle_input(t, Input::Upload(job(99, t + 6_000, true)));
        let r = replies(&outputs(&mut n));
        assert!(matches!(r[0].1, Outcome::Rejected(_)), "{r:?}");
    }

    #[test]
    fn a_burst_is_probed_only_as_far_as_the_deadline_reaches_the_rest_refused_unread() {
        // A node that has learned its 2 MB uploads hold the worker ~10 s.
        let mut n = lone(1);
        let first = n.predict_service_ms(&job(1, 0, true).features);
        let mut t = 0;
        for id in 1..=20 {
            n.handle_input(t, Input::Upload(job(id, NO_DEADLINE, true)));
            outputs(&mut n);
            t += first * 5;
            let done = Input::TranscodeDone {
                job: JobId(id),
                result: Ok(1),
            };
            n.handle_input(t, done);
            outputs(&mut n);
        }
        let unprobed = n.cost.unprobed_ms(&job(1, 0, false).features);
        assert!(
            (0.9..1.1).contains(&(unprobed / (first * 5) as f64)),
            "size-based estimate {unprobed} ms vs {} ms measured",
            first * 5
        );
        // The report's client sends twenty at once, 40 s each.
        let probes_before = n.counters().probes_run;
        let mut refused = 0;
        for id in 100..120 {
            if n.refuse_early(t, t + 40_000, 2_000_000, 0).is_some() {
                refused += 1;
                continue;
            }
            n.handle_input(t, Input::Upload(job(id, t + 40_000, false)));
            let r = replies(&outputs(&mut n));
            refused += r.len();
        }
        // About four fit in 40 s; those are probed, the others refused before their body.
        let kept = n.probes_pending();
        assert!((3..=6).contains(&kept), "{kept} uploads kept for probing");
        assert_eq!(refused as u32 + kept, 20);
        assert!(
            n.counters().probes_run - probes_before <= 1,
            "one probe slot"
        );
        // Peers hear of the work waiting for probes, not only the queue.
        assert!(n.own_report(t).backlog_ms as u64 >= unprobed as u64 * (kept as u64 - 1));
    }

    #[test]
    fn the_protocol_check_catches_a_dropped_and_a_doubled_answer() {
        let mut n = lone(1);
        let job = job(1, NO_DEADLINE, true);
        n.handle_input(0, Input::Upload(job));
        let _ = outputs(&mut n);
        assert_eq!(n.check_invariants(), Ok(()));
        // a job forgotten without its answer
        let held = n.jobs.remove(&job.id).expect("the upload is held");
        assert!(matches!(
            n.check_invariants(),
            Err(ProtocolViolation::Unaccounted {
                uploads: 1,
                replies: 0,
                unanswered: 0
            })
        ));
        // the same job answered, then answered again
        n.jobs.insert(job.id, held);
        n.reply(job.id, Outcome::Failed(FailKind::DeadlinePassed));
        n.jobs.remove(&job.id);
        assert_eq!(n.check_invariants(), Ok(()));
        n.reply(job.id, Outcome::Failed(FailKind::DeadlinePassed));
        let e = n.check_invariants().unwrap_err();
        assert!(e.to_string().contains("answered twice"), "{e}");
    }

    #[test]
    fn a_job_past_the_hop_limit_breaks_the_protocol() {
        let mut n = lone(1);
        let mut far = job(7, NO_DEADLINE, true);
        far.hops = 3; // the limit is 1
        n.handle_input(0, Input::Upload(far));
        let _ = std::iter::from_fn(|| n.poll_output()).count();
        assert_eq!(
            n.check_invariants(),
            Err(ProtocolViolation::HopLimit {
                job: 7,
                hops: 3,
                limit: 1
            })
        );
    }
}
