//! The task that owns the core [`Node`]: it feeds inputs stamped with the process clock, and
//! carries out outputs — timers, messages, ffmpeg runs, offloads, replies and cache deletions.
//! It makes no routing or membership decision of its own.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use vidmesh_core::job::{ContentHash, FailKind, Job, JobId, OffloadError, Outcome};
use vidmesh_core::node::{Event, MemberState};
use vidmesh_core::{
    Input, JobFeatures, Message, Millis, Node, NodeId, Output, PeerId, ProbeFailed, Timer,
};

use crate::cache::DiskCache;
use crate::ffmpeg::{TranscodeError, Transcoder};
use crate::probe::probe;
use crate::profile::Profile;
use crate::status::{CounterStatus, PeerStatus, Status};
use crate::transport::{out_path, Net, OffloadOk};
use crate::upload::TempFile;

/// The answer to a submitted job.
#[derive(Debug)]
pub struct JobResult {
    pub outcome: Outcome,
    /// The output, opened (so a later eviction cannot take it away), when the job is done.
    pub output: Option<std::fs::File>,
    /// What went wrong, for error responses.
    pub error: Option<String>,
    pub exec_name: String,
    pub exec_zone: String,
}

/// Why the node refused a gossip message.
#[derive(Debug)]
pub struct GossipRefused {
    /// The message came from a node this one does not know.
    pub unknown_peer: bool,
    pub reason: String,
}

pub enum Command {
    Submit {
        job: Job,
        input: Arc<TempFile>,
        /// When the submitter stops waiting.
        deadline: Instant,
        profile: Arc<Profile>,
        reply: oneshot::Sender<JobResult>,
    },
    /// The submitter of `job` went away (its connection closed before the answer).
    Cancel(JobId),
    Gossip {
        msg: Message,
        ack: oneshot::Sender<Result<(), GossipRefused>>,
        /// The sender, when its message says it drained and left the cluster.
        leaving: Option<NodeId>,
    },
    /// An operator asked this node to drain (`POST /admin/drain`); the answer is the number
    /// of jobs it still holds.
    Drain(oneshot::Sender<u32>),
    /// Does the core's cache index hold this content now (to serve a stored ladder)?
    IsCached {
        content: ContentHash,
        reply: oneshot::Sender<bool>,
    },
    /// Before an upload's body is read: refuse it at once (`Some`) because nobody could
    /// finish it before `deadline`?
    RefuseEarly {
        deadline: Instant,
        size_bytes: u64,
        hops: u8,
        reply: oneshot::Sender<Option<vidmesh_core::RejectReason>>,
    },
    /// Is this node an alive member here?
    IsPeer {
        node: NodeId,
        reply: oneshot::Sender<bool>,
    },
    Stats {
        cpu_pct: f32,
        mem_pct: f32,
    },
    Status(oneshot::Sender<Status>),
    Probed {
        job: JobId,
        result: Result<JobFeatures, crate::probe::ProbeError>,
    },
    TranscodeFinished {
        job: JobId,
        result: Result<(TempFile, u64), TranscodeError>,
    },
    OffloadFinished {
        job: JobId,
        result: Result<OffloadOk, (OffloadError, String)>,
    },
}

/// Counters kept by the HTTP layer.
#[derive(Default)]
pub struct HttpCounters {
    pub bad_requests: AtomicU64,
    pub bad_gossip: AtomicU64,
    /// ffprobe runs on uploads.
    pub probes: AtomicU64,
    /// Peer uploads whose features came in their header instead of from ffprobe.
    pub probes_skipped: AtomicU64,
}

/// Where a node is in its life: serving, draining (no new work, finishing its own), or left
/// (drained, the cluster told; the process exits once its goodbye went out).
pub const SERVING: u8 = 0;
pub const DRAINING: u8 = 1;
pub const LEFT: u8 = 2;

pub fn lifecycle_name(state: u8) -> &'static str {
    match state {
        DRAINING => "draining",
        LEFT => "left",
        _ => "serving",
    }
}

/// Fixed facts about this node, shared with the HTTP handlers.
pub struct NodeInfo {
    pub name: String,
    pub id: NodeId,
    pub zone_code: String,
    pub work_dir: PathBuf,
    pub cache: DiskCache,
    pub http: HttpCounters,
    pub next_job: AtomicU64,
    /// [`SERVING`], [`DRAINING`] or [`LEFT`]: read by `/health` without asking the driver.
    pub lifecycle: AtomicU8,
    /// Notified once the node left and its last gossip went out: the server stops then.
    pub exit: tokio::sync::Notify,
}

struct Entry {
    content: ContentHash,
    input: Arc<TempFile>,
    /// The probe, transcode or offload working on it, so it can be stopped.
    task: Option<tokio::task::AbortHandle>,
    profile: Arc<Profile>,
    reply: Option<oneshot::Sender<JobResult>>,
    output: Option<TempFile>,
    error: Option<String>,
    exec: Option<(String, String)>,
}

/// How uploads are probed.
pub struct ProbeSettings {
    pub ffprobe: String,
    pub timeout: Duration,
}

pub struct Driver {
    node: Node,
    probe: ProbeSettings,
    epoch: Instant,
    info: Arc<NodeInfo>,
    net: Arc<Net>,
    transcoder: Arc<Transcoder>,
    tx: mpsc::Sender<Command>,
    rx: mpsc::Receiver<Command>,
    timers: BTreeMap<(Millis, u64), Timer>,
    timer_seq: u64,
    jobs: BTreeMap<JobId, Entry>,
    /// Every peer seen, with its last membership state and when that changed.
    seen: BTreeMap<NodeId, (PeerId, bool, u64)>,
    /// Peers that said they were leaving: their going down is a departure, not a failure.
    leaving: BTreeSet<NodeId>,
    cpu_pct: f32,
    mem_pct: f32,
    evictions: u64,
    /// Replies for jobs not (or no longer) here: a job answered twice (the chaos checker's
    /// node-side count).
    stray_replies: u64,
    /// Times the core found one of its job-protocol rules broken after an input.
    protocol_violations: u64,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Driver {
    pub fn new(
        node: Node,
        info: Arc<NodeInfo>,
        net: Arc<Net>,
        transcoder: Arc<Transcoder>,
        probe: ProbeSettings,
    ) -> (Driver, mpsc::Sender<Command>) {
        let (tx, rx) = mpsc::channel(4096);
        let d = Driver {
            node,
            probe,
            epoch: Instant::now(),
            info,
            net,
            transcoder,
            tx: tx.clone(),
            rx,
            timers: BTreeMap::new(),
            timer_seq: 0,
            jobs: BTreeMap::new(),
            seen: BTreeMap::new(),
            leaving: BTreeSet::new(),
            cpu_pct: 0.0,
            mem_pct: 0.0,
            evictions: 0,
            stray_replies: 0,
            protocol_violations: 0,
        };
        (d, tx)
    }

    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    /// `at` on the core's clock, given that the core's clock reads `now`.
    fn on_core_clock(&self, now: Millis, at: Instant) -> Millis {
        now + at.saturating_duration_since(Instant::now()).as_millis() as Millis
    }

    /// Feeds the cache entries found on disk, then joins the cluster; runs until every sender
    /// of commands is gone.
    pub async fn run(mut self, recovered: Vec<(ContentHash, u64)>, seed_wait: Duration) {
        self.wait_for_seeds(seed_wait).await;
        for (content, bytes) in recovered {
            let now = self.now();
            self.node
                .handle_input(now, Input::CacheRecovered { content, bytes });
        }
        self.drain();
        let now = self.now();
        self.node.start(now);
        self.drain();
        loop {
            let next = self.timers.first_key_value().map(|((at, _), _)| *at);
            let deadline = next.map(|at| self.epoch + std::time::Duration::from_millis(at));
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                _ = sleep_until(deadline), if deadline.is_some() => self.fire_timers(),
            }
        }
    }

    /// Waits (bounded) until every seed answers `/health`: an announce to a seed that is still
    /// starting is lost, and the core retries only once per gossip round.
    async fn wait_for_seeds(&self, within: Duration) {
        let me = self.node.id().addr;
        let seeds: Vec<_> = self
            .node
            .config()
            .seeds
            .iter()
            .copied()
            .filter(|s| *s != me)
            .collect();
        let deadline = tokio::time::Instant::now() + within;
        let waits = seeds.into_iter().map(|seed| {
            let http = self.net.http.clone();
            async move {
                let url = format!("http://{seed}/health");
                while tokio::time::Instant::now() < deadline {
                    let ok = http
                        .get(&url)
                        .timeout(Duration::from_millis(500))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tracing::warn!(%seed, "seed not answering; announcing anyway");
            }
        });
        futures_util::future::join_all(waits).await;
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.node.handle_input(now, Input::Timer(timer));
            self.drain();
        }
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Submit {
                mut job,
                input,
                deadline,
                profile,
                reply,
            } => {
                job.deadline = self.on_core_clock(now, deadline);
                self.jobs.insert(
                    job.id,
                    Entry {
                        content: job.content,
                        input,
                        task: None,
                        profile,
                        reply: Some(reply),
                        output: None,
                        error: None,
                        exec: None,
                    },
                );
                self.node.handle_input(now, Input::Upload(job));
                self.drain();
            }
            Command::Gossip { msg, ack, leaving } => {
                if let Some(p) = leaving {
                    self.leaving.insert(p);
                }
                let is_load = matches!(msg, Message::Load(_));
                self.node.handle_input(now, Input::Message(msg));
                // The core says whether it could use the message: a BadMessage event from this
                // very input is the refusal.
                let refused = self.drain();
                let _ = ack.send(match refused {
                    None => Ok(()),
                    Some(reason) => Err(GossipRefused {
                        unknown_peer: is_load,
                        reason,
                    }),
                });
            }
            Command::IsCached { content, reply } => {
                let _ = reply.send(self.node.cache().contains(&content));
            }
            Command::RefuseEarly {
                deadline,
                size_bytes,
                hops,
                reply,
            } => {
                let at = self.on_core_clock(now, deadline);
                let _ = reply.send(self.node.refuse_early(now, at, size_bytes, hops));
            }
            Command::Cancel(job) => {
                self.node.handle_input(now, Input::Cancel(job));
                self.drain();
            }
            Command::Probed { job, result } => {
                let result = result.map_err(|e| {
                    if let Some(entry) = self.jobs.get_mut(&job) {
                        entry.error = Some(e.to_string());
                    }
                    ProbeFailed
                });
                if let Some(e) = self.jobs.get_mut(&job) {
                    e.task = None;
                }
                self.node.handle_input(now, Input::Probed { job, result });
                self.drain();
            }
            Command::IsPeer { node, reply } => {
                let known = self.node.peers().iter().any(|p| p.id.node == node);
                let _ = reply.send(known);
            }
            Command::Stats { cpu_pct, mem_pct } => {
                self.cpu_pct = cpu_pct;
                self.mem_pct = mem_pct;
                self.node
                    .handle_input(now, Input::Stats { cpu_pct, mem_pct });
                self.drain();
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Drain(reply) => {
                if !self.node.draining() {
                    tracing::info!(
                        jobs = self.jobs.len(),
                        "draining: no new work, finishing what is here, then leaving"
                    );
                    self.info.lifecycle.fetch_max(DRAINING, Ordering::Relaxed);
                }
                self.node.handle_input(now, Input::Drain);
                let _ = reply.send(self.jobs.len() as u32);
                self.drain();
            }
            Command::TranscodeFinished { job, result } => {
                let result = match result {
                    Ok((file, bytes)) => {
                        let content = self.jobs.get(&job).map(|e| e.content);
                        if let Some(content) = content {
                            self.store(&content, &file);
                        }
                        if let Some(e) = self.jobs.get_mut(&job) {
                            e.output = Some(file);
                        }
                        Ok(bytes)
                    }
                    Err(e) => {
                        tracing::warn!(job = job.0, error = %e.message, "transcode failed");
                        if let Some(entry) = self.jobs.get_mut(&job) {
                            entry.error = Some(e.message);
                        }
                        Err(e.kind)
                    }
                };
                let content = self.jobs.get(&job).map(|e| e.content);
                if let Some(e) = self.jobs.get_mut(&job) {
                    e.task = None;
                }
                self.node
                    .handle_input(now, Input::TranscodeDone { job, result });
                self.drain();
                // A transcode finished for the cache was answered before; nobody waits.
                if self.jobs.get(&job).is_some_and(|e| e.reply.is_none()) {
                    self.jobs.remove(&job);
                }
                self.drop_unindexed(content);
            }
            Command::OffloadFinished { job, result } => {
                let result = match result {
                    Ok(ok) => {
                        let content = self.jobs.get(&job).map(|e| e.content);
                        if let Some(content) = content {
                            self.store(&content, &ok.output);
                        }
                        if let Some(e) = self.jobs.get_mut(&job) {
                            e.output = Some(ok.output);
                            e.exec = Some((ok.exec_name, ok.exec_zone));
                        }
                        Ok(ok.done)
                    }
                    Err((kind, msg)) => {
                        tracing::warn!(job = job.0, error = %msg, "offload failed");
                        if let Some(entry) = self.jobs.get_mut(&job) {
                            entry.error = Some(msg);
                        }
                        Err(kind)
                    }
                };
                let content = self.jobs.get(&job).map(|e| e.content);
                if let Some(e) = self.jobs.get_mut(&job) {
                    e.task = None;
                }
                self.node
                    .handle_input(now, Input::OffloadDone { job, result });
                self.drain();
                self.drop_unindexed(content);
            }
        }
    }

    /// Puts a finished output into the disk cache; the core's index decides whether it stays.
    fn store(&self, content: &ContentHash, file: &TempFile) {
        if let Err(e) = self.info.cache.store(content, file.path()) {
            tracing::warn!(content = %content.to_hex(), error = %e, "could not cache an output");
        }
    }

    /// Removes a stored file the core's index did not keep (larger than the whole cache).
    fn drop_unindexed(&mut self, content: Option<ContentHash>) {
        if let Some(c) = content {
            if !self.node.cache().contains(&c) {
                let _ = self.info.cache.remove(&c);
            }
        }
    }

    /// Carries out every pending output; returns the reason of a refused message, if any.
    fn drain(&mut self) -> Option<String> {
        let mut refused = None;
        while let Some(out) = self.node.poll_output() {
            match out {
                // Once left, what goes out is the goodbye: peers record a departure.
                Output::Send { to, msg } => self.net.send(to, msg, self.node.drained()),
                Output::SetTimer { at, timer } => {
                    self.timer_seq += 1;
                    self.timers.insert((at, self.timer_seq), timer);
                }
                Output::Probe(job) => self.start_probe(job),
                Output::StartTranscode(job) => self.start_transcode(job),
                Output::Offload { job, to } => self.start_offload(job, to),
                Output::Abort(job) | Output::CancelOffload { job, .. } => {
                    // Dropping the task kills its ffprobe or ffmpeg (kill_on_drop), or closes
                    // the offload's connection, which the peer takes as a cancellation.
                    if let Some(task) = self.jobs.get_mut(&job).and_then(|e| e.task.take()) {
                        tracing::debug!(job = job.0, "stopping work nobody will collect");
                        task.abort();
                    }
                }
                Output::Reply { job, outcome } => self.reply(job, outcome),
                Output::CacheEvict(content) => {
                    self.evictions += 1;
                    if let Err(e) = self.info.cache.remove(&content) {
                        tracing::warn!(content = %content.to_hex(), error = %e, "eviction failed");
                    }
                }
                Output::Event(ev) => {
                    if let Event::BadMessage(reason) = &ev {
                        refused = Some(reason.clone());
                    }
                    self.event(ev);
                }
            }
        }
        // The simulator checks the same rules after every event; here a break is logged and
        // counted (a chaos drill reads the count), and the node carries on.
        if let Err(v) = self.node.check_invariants() {
            self.protocol_violations += 1;
            if self.protocol_violations == 1 {
                tracing::error!(violation = %v, "the job protocol was broken");
            }
        }
        refused
    }

    fn event(&mut self, ev: Event) {
        let t = unix_ms();
        match &ev {
            Event::MemberUp(p) => {
                tracing::info!(peer = p.node.0, addr = %p.addr, "peer up");
                self.leaving.remove(&p.node);
                self.seen.insert(p.node, (*p, true, t));
            }
            Event::MemberDown(p) if self.leaving.contains(&p.node) => {
                tracing::info!(peer = p.node.0, addr = %p.addr, "peer left (drained)");
                self.seen.insert(p.node, (*p, false, t));
            }
            Event::MemberDown(p) => {
                tracing::info!(peer = p.node.0, addr = %p.addr, "peer down");
                self.seen.insert(p.node, (*p, false, t));
            }
            Event::Left => {
                tracing::info!("drained: every job finished, the cluster was told; exiting");
                self.info.lifecycle.store(LEFT, Ordering::Relaxed);
                let (net, info) = (self.net.clone(), self.info.clone());
                tokio::spawn(async move {
                    // The goodbye waits out the emulated delay like any message.
                    net.flushed(Duration::from_secs(5)).await;
                    info.exit.notify_one();
                });
            }
            Event::Enqueued(_) | Event::Dequeued(_) => tracing::trace!(?ev),
            Event::BadMessage(reason) => tracing::debug!(%reason, "message refused"),
            Event::Suspected(p) => {
                let lhm = self.node.health().multiplier;
                tracing::info!(
                    peer = p.node.0,
                    local_health = lhm,
                    "suspect: probe unanswered"
                );
            }
            _ => tracing::info!(?ev, "membership"),
        }
    }

    fn start_probe(&mut self, job: Job) {
        let tx = self.tx.clone();
        let Some(entry) = self.jobs.get_mut(&job.id) else {
            tracing::error!(
                job = job.id.0,
                "the core probes a job this driver does not know"
            );
            return;
        };
        self.info.http.probes.fetch_add(1, Ordering::Relaxed);
        let input = entry.input.clone();
        let ffprobe = self.probe.ffprobe.clone();
        let timeout = self.probe.timeout;
        let children = self.transcoder.children.clone();
        let size = job.features.size_bytes;
        let task = tokio::spawn(async move {
            let result = probe(&ffprobe, input.path(), size, timeout, &children).await;
            drop(input);
            let _ = tx
                .send(Command::Probed {
                    job: job.id,
                    result,
                })
                .await;
        });
        entry.task = Some(task.abort_handle());
    }

    fn start_transcode(&mut self, job: Job) {
        let tx = self.tx.clone();
        let limit = Duration::from_millis(job.deadline.saturating_sub(self.now()));
        let Some(entry) = self.jobs.get_mut(&job.id) else {
            tracing::error!(
                job = job.id.0,
                "the core started a job this driver does not know"
            );
            return;
        };
        let input = entry.input.clone();
        let profile = entry.profile.clone();
        let transcoder = self.transcoder.clone();
        let out = TempFile::new(out_path(&self.info.work_dir, &profile));
        let task = tokio::spawn(async move {
            let result = transcoder
                .run(&profile, input.path(), out.path(), limit)
                .await
                .map(|bytes| (out, bytes));
            drop(input);
            let _ = tx
                .send(Command::TranscodeFinished {
                    job: job.id,
                    result,
                })
                .await;
        });
        entry.task = Some(task.abort_handle());
    }

    fn start_offload(&mut self, job: Job, to: PeerId) {
        let tx = self.tx.clone();
        let budget = Duration::from_millis(job.deadline.saturating_sub(self.now()));
        let Some(entry) = self.jobs.get_mut(&job.id) else {
            tracing::error!(
                job = job.id.0,
                "the core offloaded a job this driver does not know"
            );
            return;
        };
        tracing::debug!(job = job.id.0, to = to.node.0, "offloading");
        let input = entry.input.clone();
        let profile = entry.profile.clone();
        let net = self.net.clone();
        let work = self.info.work_dir.clone();
        let task = tokio::spawn(async move {
            let result = net
                .offload(&job, &profile, to, input.path(), &work, budget)
                .await;
            drop(input);
            let _ = tx
                .send(Command::OffloadFinished {
                    job: job.id,
                    result,
                })
                .await;
        });
        entry.task = Some(task.abort_handle());
    }

    fn reply(&mut self, job: JobId, outcome: Outcome) {
        let Some(mut entry) = self.jobs.remove(&job) else {
            tracing::warn!(job = job.0, "a reply for a job this driver does not know");
            self.stray_replies += 1;
            return;
        };
        if matches!(outcome, Outcome::Failed(_)) && entry.task.is_some() {
            // Answered while its transcode goes on for the cache: the entry stays until the
            // transcode ends, without the submitter.
            if let Some(reply) = entry.reply.take() {
                let _ = reply.send(JobResult {
                    outcome,
                    output: None,
                    error: entry.error.take(),
                    exec_name: self.info.name.clone(),
                    exec_zone: self.info.zone_code.clone(),
                });
            }
            self.jobs.insert(job, entry);
            return;
        }
        let mut result = JobResult {
            outcome,
            output: None,
            error: entry.error.take(),
            exec_name: self.info.name.clone(),
            exec_zone: self.info.zone_code.clone(),
        };
        if let Outcome::Done { executed_by, .. } = outcome {
            if let Some((name, zone)) = entry.exec.take() {
                result.exec_name = name;
                result.exec_zone = zone;
            } else if executed_by != self.info.id {
                result.exec_name = format!("node{}", executed_by.0);
            }
            // Open now: the open handle survives a later eviction or temp-file removal.
            let opened = match entry.output.take() {
                Some(tmp) => std::fs::File::open(tmp.path()),
                None => self.info.cache.open_entry(&entry.content),
            };
            match opened {
                Ok(f) => result.output = Some(f),
                Err(e) => {
                    tracing::error!(job = job.0, error = %e, "the finished output cannot be read");
                    result.outcome = Outcome::Failed(FailKind::Io);
                    result.error = Some(format!("the finished output cannot be read: {e}"));
                }
            }
        }
        if let Some(reply) = entry.reply.take() {
            let _ = reply.send(result);
        }
    }

    fn status(&self) -> Status {
        let now = self.now();
        let zones = &self.net.zones;
        let mut peers: BTreeMap<NodeId, PeerStatus> = self
            .seen
            .iter()
            .map(|(node, (p, alive, since))| {
                (
                    *node,
                    PeerStatus {
                        name: format!("node{}", node.0),
                        id: node.0,
                        zone: zones.name(p.zone).to_string(),
                        addr: p.addr.to_string(),
                        gen: p.gen,
                        state: match (*alive, self.leaving.contains(node)) {
                            (true, _) => "alive",
                            (false, true) => "left",
                            (false, false) => "down",
                        }
                        .into(),
                        since_unix_ms: *since,
                        ..Default::default()
                    },
                )
            })
            .collect();
        // SWIM's own view adds `suspect`; the newest life of each node wins.
        for (id, state) in self.node.membership() {
            if let Some(e) = peers.get_mut(&id.node) {
                if id.gen >= e.gen {
                    e.gen = id.gen;
                    e.state = match state {
                        MemberState::Alive => "alive",
                        MemberState::Suspect => "suspect",
                        MemberState::Down if self.leaving.contains(&id.node) => "left",
                        MemberState::Down => "down",
                    }
                    .into();
                }
            }
        }
        for v in self.node.peers() {
            let e = peers.entry(v.id.node).or_default();
            e.in_flight_to = v.in_flight_to;
            if let Some(k) = &v.report {
                e.report_age_ms = Some(k.age_ms(now));
                e.load = Some(k.report.load());
                e.queue_len = Some(k.report.queue_len);
                e.cpu_pct = Some(k.report.cpu_pct);
                e.mem_pct = Some(k.report.mem_pct);
            }
        }
        let c = self.node.counters();
        let me = self.node.id();
        Status {
            name: self.info.name.clone(),
            state: lifecycle_name(self.info.lifecycle.load(Ordering::Relaxed)).into(),
            id: me.node.0,
            zone: self.info.zone_code.clone(),
            addr: me.addr.to_string(),
            gen: me.gen,
            strategy: serde_json::to_value(self.node.strategy().config()).unwrap_or_default(),
            unix_ms: unix_ms(),
            uptime_ms: now,
            workers: self.node.config().workers,
            queue_cap: self.node.config().queue_cap,
            queue_len: self.node.queue_len(),
            in_flight: self.node.in_flight(),
            offloads_pending: self.node.offloads_pending(),
            cpu_pct: self.cpu_pct,
            mem_pct: self.mem_pct,
            cache_entries: self.node.cache().len(),
            cache_bytes: self.node.cache().used_bytes(),
            alive_peers: self.node.alive_members(),
            peers: peers.into_values().collect(),
            cpus: self.node.config().cores,
            backlog_ms: self.node.backlog_ms(now),
            cost: self.node.cost_stats(),
            health: self.node.health(),
            counters: CounterStatus {
                core: *c,
                bad_requests: self.info.http.bad_requests.load(Ordering::Relaxed),
                bad_gossip: self.info.http.bad_gossip.load(Ordering::Relaxed),
                probes: self.info.http.probes.load(Ordering::Relaxed),
                probes_skipped: self.info.http.probes_skipped.load(Ordering::Relaxed),
                cache_evictions: self.evictions,
                stray_replies: self.stray_replies,
                protocol_violations: self.protocol_violations,
            },
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
