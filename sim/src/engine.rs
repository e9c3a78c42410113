//! The discrete-event run of one strategy over one scenario.
//!
//! The engine owns virtual time and carries out every [`Output`] of the cores it drives: it
//! delivers messages after the zone table's delay, runs transcodes on a processor-sharing CPU
//! model, moves offloaded jobs and their answers across the network, fires timers, injects
//! crashes and pauses, and plays the report's client. It never looks at which strategy a node
//! runs: all routing happens inside the cores.

use std::collections::VecDeque;
use std::time::Instant;

use vidmesh_core::node::Event as CoreEvent;
use vidmesh_core::Message;
use vidmesh_core::{
    Input, Job, JobId, Millis, Node, NodeConfig, NodeId, OffloadError, Outcome, Output, PeerAddr,
    RemoteDone, StrategyConfig, Timer,
};

use crate::metrics::{
    ChaosEnds, ConvergenceRow, DetectionRow, FaultEventRow, NodeCalibration, NodeWindow, RunResult,
    SuspicionRow, WindowCounts, WorkTotals,
};
use crate::queue::EventQueue;
use crate::rng::{self, stream, unit};
use crate::scenario::{FaultKind, Scenario, SeedMode};
use crate::workload::Catalog;
use crate::world::client::{AttemptEnd, Client, Reach};
use crate::world::cpu::Cpu;
use crate::world::network::Network;
use vidmesh_analysis::chaos::NodeEnd;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Up,
    Paused,
    Down,
}

pub(crate) struct SimNode {
    id: NodeId,
    core: Option<Node>,
    life: u32,
    pub(crate) status: Status,
    /// Inputs that reached the node while it was paused and are not lost by a pause (its own
    /// timers, finished transcodes, offload answers on open connections), in arrival order.
    deferred: Vec<Input>,
    // Window accounting across lives.
    base: WindowCounts,
    carry: WindowCounts,
    full_view_ms: Option<Millis>,
}

#[derive(Clone, Copy, Debug)]
enum RouteKind {
    /// A client upload; the answer goes back to the client.
    Client { attempt: u8 },
    /// An offloaded job; the answer goes back to `origin`'s job `origin_job`.
    Remote {
        origin: u32,
        origin_life: u32,
        origin_job: JobId,
    },
}

/// Where a job id the driver handed to a node came from.
#[derive(Clone, Copy, Debug)]
struct Route {
    node: u32,
    req: u32,
    kind: RouteKind,
}

/// Routes by job id. The driver issues ids in increasing order and a route lives from its job's
/// arrival to its answer, so the live ones fit a sliding window: a deque indexed by id − base.
#[derive(Default)]
struct RouteTable {
    base: u64,
    slots: VecDeque<Option<Route>>,
}

impl RouteTable {
    fn insert(&mut self, id: u64, route: Route) {
        if self.slots.is_empty() {
            self.base = id;
        }
        while id < self.base {
            self.slots.push_front(None);
            self.base -= 1;
        }
        let k = (id - self.base) as usize;
        if k == self.slots.len() {
            self.slots.push_back(Some(route)); // the usual case: the newest id
            return;
        }
        if k > self.slots.len() {
            self.slots.resize(k + 1, None);
        }
        self.slots[k] = Some(route);
    }

    fn get(&self, id: u64) -> Option<&Route> {
        let k = usize::try_from(id.checked_sub(self.base)?).ok()?;
        self.slots.get(k)?.as_ref()
    }

    fn remove(&mut self, id: u64) -> Option<Route> {
        let k = usize::try_from(id.checked_sub(self.base)?).ok()?;
        let route = self.slots.get_mut(k)?.take()?;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(route)
    }

    /// Live routes in id order.
    fn iter(&self) -> impl Iterator<Item = (u64, Route)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, r)| r.map(|r| (self.base + k as u64, r)))
    }
}

pub(crate) enum Ev {
    Deliver {
        to: u32,
        msg: Message,
    },
    Timer {
        node: u32,
        life: u32,
        timer: Timer,
    },
    PsDone {
        node: u32,
        epoch: u64,
    },
    /// The offloaded job waits in the network's transit slots at index `job`: a whole `Job` here would
    /// double the size of every queued event.
    OffloadArrive {
        to: u32,
        origin: u32,
        origin_life: u32,
        origin_job: JobId,
        job: u32,
        req: u32,
    },
    OffloadResult {
        node: u32,
        life: u32,
        job: JobId,
        result: Result<RemoteDone, OffloadError>,
    },
    OffloadTimeout {
        node: u32,
        life: u32,
        job: JobId,
    },
    UploadArrive {
        node: u32,
        req: u32,
        attempt: u8,
    },
    ClientReply {
        req: u32,
        attempt: u8,
        outcome: Outcome,
    },
    AttemptFail {
        req: u32,
        attempt: u8,
        why: AttemptEnd,
    },
    AttemptTimeout {
        req: u32,
        attempt: u8,
    },
    /// Whoever submitted `job` to `node` hung up.
    Cancel {
        node: u32,
        job: JobId,
    },
    BatchStart,
    Arrival,
    StatsTick,
    WindowTick,
    HealthCheck,
    FaultStart(usize),
    FaultEnd(usize),
}

/// Observers waiting to declare a failed node down.
struct OpenFault {
    node: u32,
    open: bool,
    rows: Vec<usize>,
}

/// The client's reach into the run: the time, the queue, the network and the nodes, borrowed
/// field by field so that the client itself can be borrowed at the same time.
macro_rules! reach {
    ($run:ident) => {
        &mut Reach {
            now: $run.now,
            q: &mut $run.q,
            net: &mut $run.net,
            nodes: &$run.nodes,
        }
    };
}

/// One strategy's simulation.
pub struct Run<'a> {
    /// Per node: replies for jobs without a route (the chaos checker's double answers).
    stray_answers: Vec<u64>,
    s: &'a Scenario,
    strategy: String,
    strategy_cfg: StrategyConfig,
    hop_limit: u8,
    catalog: &'a Catalog,
    seeds: Vec<Vec<usize>>,
    now: Millis,
    q: EventQueue<Ev>,
    nodes: Vec<SimNode>,
    next_job: u64,
    routes: RouteTable,
    // Metrics.
    in_flight_at_window_end: Vec<u32>,
    node_windows: Vec<NodeWindow>,
    detections: Vec<DetectionRow>,
    open_faults: Vec<OpenFault>,
    fault_events: Vec<FaultEventRow>,
    suspicions: Vec<SuspicionRow>,
    events: u64,
    work: WorkTotals,
    hard_stop: Millis,
    net: Network<'a>,
    cpu: Cpu<'a>,
    client: Client<'a>,
}

impl<'a> Run<'a> {
    pub fn new(s: &'a Scenario, strategy_index: usize, catalog: &'a Catalog) -> Run<'a> {
        let (strategy, strategy_cfg) = s.strategies[strategy_index].clone();
        let strategy_oracle = strategy_cfg.simulator_only();
        let seeds = resolve_seeds(s);
        let w = &s.workload;
        let hard_stop = s.duration_ms
            + w.max_attempts as u64 * (w.attempt_timeout_ms + s.network.connect_timeout_ms + 1_000)
            + 2 * s.output.window_ms;
        let hop_limit = s.hop_limit_of(&strategy);
        let mut run = Run {
            stray_answers: vec![0; s.nodes.len()],
            s,
            strategy,
            strategy_cfg,
            hop_limit,
            catalog,
            seeds,
            now: 0,
            q: EventQueue::new(),
            nodes: Vec::with_capacity(s.nodes.len()),
            next_job: 1,
            routes: RouteTable::default(),
            in_flight_at_window_end: Vec::new(),
            node_windows: Vec::new(),
            detections: Vec::new(),
            open_faults: Vec::new(),
            fault_events: Vec::new(),
            suspicions: Vec::new(),
            events: 0,
            work: WorkTotals::default(),
            hard_stop,
            net: Network::new(s, strategy_oracle),
            cpu: Cpu::new(s, catalog.mean_size_bytes),
            client: Client::new(s, catalog),
        };
        for i in 0..s.nodes.len() {
            run.nodes.push(SimNode {
                id: NodeId(i as u32 + 1),
                core: None,
                life: 0,
                status: Status::Down,
                deferred: Vec::new(),
                base: WindowCounts::default(),
                carry: WindowCounts::default(),
                full_view_ms: None,
            });
        }
        run
    }

    fn node_config(&self, i: usize, life: u32) -> NodeConfig {
        let spec = &self.s.nodes[i];
        let id = NodeId(i as u32 + 1);
        let mut c = NodeConfig::new(id, spec.zone, PeerAddr::sim(id), self.net.zones().clone());
        c.gen = life;
        c.workers = self.s.workers_of(&self.strategy, i);
        c.cores = spec.cores;
        c.job_threads = self.s.cost.job_threads;
        c.cost = self.s.cost.prior_curve();
        c.admission = self.s.admission_of(&self.strategy);
        c.queue_cap = spec.queue_cap;
        c.cache_bytes = spec.cache_bytes;
        c.hop_limit = self.hop_limit;
        c.strategy = self.strategy_cfg.clone();
        c.gossip = self.s.gossip_of(&self.strategy);
        c.seeds = self.seeds[i]
            .iter()
            .map(|&j| PeerAddr::sim(NodeId(j as u32 + 1)))
            .collect();
        c
    }

    fn boot(&mut self, i: usize) {
        let life = self.nodes[i].life;
        let cfg = self.node_config(i, life);
        // The scenario was validated when it was read, node settings included.
        let mut core = match Node::new(cfg, rng::node_rng(self.s.seed, i, life)) {
            Ok(core) => core,
            Err(e) => panic!("node {}: {e}", self.s.nodes[i].name),
        };
        core.start(self.now);
        let n = &mut self.nodes[i];
        n.core = Some(core);
        n.status = Status::Up;
        n.base = WindowCounts::default();
        self.cpu.boot(i, self.now);
        self.drain(i);
    }

    /// Runs to the end; `progress` is called now and then with the virtual time.
    pub fn run(mut self, progress: &mut dyn FnMut(Millis)) -> RunResult {
        let started = Instant::now();
        for i in 0..self.nodes.len() {
            self.boot(i);
        }
        self.client.start(&mut self.q);
        self.q.push(self.s.cost.stats_period_ms, Ev::StatsTick);
        self.q.push(self.s.output.window_ms, Ev::WindowTick);
        for (k, f) in self.s.faults.iter().enumerate() {
            self.q.push(f.at_ms, Ev::FaultStart(k));
            if let Some(d) = f.for_ms {
                self.q.push(f.at_ms + d, Ev::FaultEnd(k));
            }
        }
        let mut last_report = 0u64;
        while let Some((t, ev)) = self.q.pop() {
            debug_assert!(t >= self.now);
            self.now = t;
            self.events += 1;
            if self.events - last_report >= 1 << 16 {
                last_report = self.events;
                progress(t);
            }
            if self.handle(ev) {
                break;
            }
        }
        progress(self.now);
        self.finish(started.elapsed().as_secs_f64())
    }

    /// Handles one event; true when the run is over.
    fn handle(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Deliver { to, msg } => {
                if self.nodes[to as usize].status == Status::Up {
                    self.input(to as usize, Input::Message(msg));
                }
            }
            Ev::Timer { node, life, timer } => {
                if self.nodes[node as usize].life == life {
                    self.deliver(node as usize, Input::Timer(timer));
                }
            }
            Ev::PsDone { node, epoch } => {
                let i = node as usize;
                if self.nodes[i].status != Status::Down {
                    let (now, q) = (self.now, &mut self.q);
                    if let Some(input) = self.cpu.done(now, q, i, epoch, &mut self.work) {
                        self.deliver(i, input);
                    }
                }
            }
            Ev::OffloadArrive {
                to,
                origin,
                origin_life,
                origin_job,
                job,
                req,
            } => {
                let job = self.net.land(job, origin, to);
                self.offload_arrive(to, origin, origin_life, origin_job, job, req)
            }
            Ev::OffloadResult {
                node,
                life,
                job,
                result,
            } => self.offload_result(node, life, job, result),
            Ev::OffloadTimeout { node, life, job } => {
                if self.net.awaited(job) {
                    self.offload_result(node, life, job, Err(OffloadError::Unreachable));
                }
            }
            Ev::UploadArrive { node, req, attempt } => self.upload_arrive(node, req, attempt),
            Ev::ClientReply {
                req,
                attempt,
                outcome,
            } => {
                if self.client.current(req, attempt) {
                    self.client.reply(reach!(self), req, outcome);
                }
            }
            Ev::AttemptFail { req, attempt, why } => {
                if self.client.current(req, attempt) {
                    self.client.attempt_failed(reach!(self), req, why);
                }
            }
            Ev::AttemptTimeout { req, attempt } => {
                if self.client.current(req, attempt) {
                    self.client.time_out(reach!(self), req);
                }
            }
            Ev::Cancel { node, job } => {
                let up = self.nodes[node as usize].status == Status::Up;
                if up && self.routes.get(job.0).is_some_and(|r| r.node == node) {
                    self.input(node as usize, Input::Cancel(job));
                }
            }
            Ev::BatchStart => self.client.start_batch(reach!(self)),
            Ev::Arrival => self.client.arrival(reach!(self)),
            Ev::StatsTick => self.stats_tick(),
            Ev::WindowTick => return self.window_tick(),
            Ev::HealthCheck => self.client.health_check(self.now, &mut self.q, &self.nodes),
            Ev::FaultStart(k) => self.fault_start(k),
            Ev::FaultEnd(k) => self.fault_end(k),
        }
        false
    }

    // ---- nodes -------------------------------------------------------------------------

    fn input(&mut self, i: usize, input: Input) {
        if self.net.counts_transit() && matches!(input, Input::Upload(_) | Input::Probed { .. }) {
            self.tell_the_truth(i);
        }
        if let Some(core) = self.nodes[i].core.as_mut() {
            core.handle_input(self.now, input);
            self.drain(i);
        }
    }

    /// Gives node `i` an input that a pause does not lose: a paused node gets it on resuming.
    fn deliver(&mut self, i: usize, input: Input) {
        match self.nodes[i].status {
            Status::Up => self.input(i, input),
            Status::Paused => self.nodes[i].deferred.push(input),
            Status::Down => {}
        }
    }

    /// `oracle`: before node `i` may route, it learns every live node's true state now.
    fn tell_the_truth(&mut self, i: usize) {
        let n = self.nodes.len();
        for j in 0..n {
            if j == i {
                continue;
            }
            let Some(r) = self.nodes[j].core.as_ref().map(|c| c.own_report(self.now)) else {
                continue;
            };
            let transit = self.net.transit(i, j);
            if let Some(core) = self.nodes[i].core.as_mut() {
                core.observe_true_state(self.now, r, transit);
            }
        }
    }

    /// Carries out everything node `i` asked for.
    fn drain(&mut self, i: usize) {
        let mut membership_changed = false;
        let mut left = false;
        while let Some(out) = self.nodes[i].core.as_mut().and_then(|c| c.poll_output()) {
            match out {
                Output::Send { to, msg } => self.send(i, to.addr, msg),
                Output::Probe(job) => {
                    let probe_s = self.s.cost.probe_s.max(1e-3);
                    self.cpu.intake(self.now, &mut self.q, i, job, probe_s);
                }
                Output::StartTranscode(job) => self.start_transcode(i, job),
                Output::Abort(job) => {
                    let (now, q) = (self.now, &mut self.q);
                    self.cpu.abort(now, q, i, job, &mut self.work);
                }
                Output::CancelOffload { job, .. } => self.cancel_offload(job),
                Output::Offload { job, to } => self.offload(i, job, to.addr),
                Output::Reply { job, outcome } => self.reply(i, job, outcome),
                Output::SetTimer { at, timer } => {
                    let life = self.nodes[i].life;
                    self.q.push(
                        at.max(self.now),
                        Ev::Timer {
                            node: i as u32,
                            life,
                            timer,
                        },
                    );
                }
                Output::CacheEvict(_) => {}
                Output::Event(e) => match e {
                    CoreEvent::MemberUp(_) => membership_changed = true,
                    CoreEvent::MemberDown(p) => {
                        membership_changed = true;
                        self.member_down(i, p.node);
                    }
                    CoreEvent::Suspected(p) => {
                        if let Some(t) = (p.node.0 as usize).checked_sub(1) {
                            let up = self.nodes.get(t).is_some_and(|n| n.status == Status::Up);
                            self.suspicions.push(SuspicionRow {
                                time_ms: self.now,
                                observer: i as u32,
                                suspected: t as u32,
                                suspected_up: up,
                            });
                        }
                    }
                    CoreEvent::BadMessage(m) => {
                        tracing::debug!(node = i, "bad message: {m}");
                    }
                    CoreEvent::Left => left = true,
                    _ => {}
                },
            }
        }
        if membership_changed && self.nodes[i].full_view_ms.is_none() && self.nodes[i].life == 0 {
            let alive = self.nodes[i]
                .core
                .as_ref()
                .map(|c| c.alive_members())
                .unwrap_or(0);
            if alive + 1 >= self.nodes.len() {
                self.nodes[i].full_view_ms = Some(self.now);
            }
        }
        if left {
            // Drained, its goodbye sent: the process exits (it holds no job, so this loses
            // nothing; later uploads find the port closed).
            self.crash(i);
        }
    }

    fn send(&mut self, from: usize, to: PeerAddr, msg: Message) {
        let Some(t) = self.net.target(to) else { return };
        if self.nodes[t].status == Status::Down {
            return; // datagram to nobody
        }
        let bytes = msg.wire_len() as u64;
        let d = self.net.delay(from, t, bytes);
        self.q.push(self.now + d, Ev::Deliver { to: t as u32, msg });
    }

    fn start_transcode(&mut self, i: usize, job: Job) {
        let Some(route) = self.routes.get(job.id.0).copied() else {
            tracing::warn!(
                node = i,
                job = job.id.0,
                "transcode of a job the driver never issued"
            );
            return;
        };
        let draw = self.client.draw(route.req);
        let work = self.catalog.cpu_s(&self.s.cost, &draw) * draw.noise as f64;
        let out_bytes = self.catalog.output_bytes(&self.s.cost, &draw);
        let out = (!draw.bad).then_some(out_bytes);
        let (now, q) = (self.now, &mut self.q);
        self.cpu.transcode(now, q, i, job.id, work.max(1e-6), out);
    }

    /// The origin dropped an offload: its peer hears of it one link delay later (a transfer
    /// still on its way is dropped when it lands).
    fn cancel_offload(&mut self, origin_job: JobId) {
        let Some((origin, _)) = self.net.close(origin_job) else {
            return;
        };
        let Some(peer_job) = self.net.finished(origin_job) else {
            return;
        };
        let Some(route) = self.routes.get(peer_job) else {
            return;
        };
        let t = route.node;
        let d = self.net.delay(origin as usize, t as usize, 0);
        self.q.push(
            self.now + d,
            Ev::Cancel {
                node: t,
                job: JobId(peer_job),
            },
        );
    }

    fn offload(&mut self, from: usize, job: Job, to: PeerAddr) {
        let life = self.nodes[from].life;
        let req = self.routes.get(job.id.0).map(|r| r.req);
        let Some((t, req)) = self.net.target(to).zip(req) else {
            self.net
                .unreachable(self.now, &mut self.q, (from, life), job.id);
            return;
        };
        let down = self.nodes[t].status == Status::Down;
        let (now, q) = (self.now, &mut self.q);
        self.net.offload(now, q, (from, life), job, (t, req), down);
    }

    fn offload_arrive(
        &mut self,
        to: u32,
        origin: u32,
        origin_life: u32,
        origin_job: JobId,
        job: Job,
        req: u32,
    ) {
        if !self.net.awaited(origin_job) {
            return; // the origin dropped the transfer (cancelled, or its timeout fired)
        }
        match self.nodes[to as usize].status {
            Status::Up => {}
            // A paused peer accepts nothing; the origin's offload timeout ends it.
            Status::Paused => return,
            Status::Down => {
                let d = self.net.delay(to as usize, origin as usize, 0);
                self.q.push(
                    self.now + d,
                    Ev::OffloadResult {
                        node: origin,
                        life: origin_life,
                        job: origin_job,
                        result: Err(OffloadError::Unreachable),
                    },
                );
                return;
            }
        }
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.routes.insert(
            id.0,
            Route {
                node: to,
                req,
                kind: RouteKind::Remote {
                    origin,
                    origin_life,
                    origin_job,
                },
            },
        );
        self.net.accepted(origin_job, id);
        self.input(to as usize, Input::Upload(Job { id, ..job }));
    }

    fn offload_result(
        &mut self,
        node: u32,
        life: u32,
        job: JobId,
        result: Result<RemoteDone, OffloadError>,
    ) {
        if self.net.close(job).is_none() {
            return; // already answered (or timed out)
        }
        if self.nodes[node as usize].life != life {
            return;
        }
        self.deliver(node as usize, Input::OffloadDone { job, result });
    }

    fn reply(&mut self, i: usize, job: JobId, outcome: Outcome) {
        let Some(route) = self.routes.remove(job.0) else {
            // Nobody waits on this job under this id: the node answered it twice.
            self.stray_answers[i] += 1;
            return;
        };
        match route.kind {
            RouteKind::Client { attempt } => {
                let d = self.net.client_delay(i, outcome.output_bytes());
                self.q.push(
                    self.now + d,
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
                self.net.finished(origin_job);
                let bytes = outcome.output_bytes();
                let result = outcome.to_remote();
                let d = self.net.delay(i, origin as usize, bytes);
                self.q.push(
                    self.now + d,
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

    fn stats_tick(&mut self) {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.status == Status::Down {
                continue;
            }
            let queued = n.core.as_ref().map(|c| c.queue_len()).unwrap_or(0) as f64;
            let (cpu_pct, mem_pct) = self.cpu.sample(self.now, i, queued);
            if n.status == Status::Up {
                self.input(i, Input::Stats { cpu_pct, mem_pct });
            }
        }
        self.q
            .push(self.now + self.s.cost.stats_period_ms, Ev::StatsTick);
    }

    fn window_tick(&mut self) -> bool {
        let w = self.s.output.window_ms;
        let start_s = (self.now - w) / 1000;
        self.in_flight_at_window_end.push(self.client.outstanding());
        if self.s.output.node_windows_csv {
            for i in 0..self.nodes.len() {
                let n = &mut self.nodes[i];
                let mut counts = n.carry;
                n.carry = WindowCounts::default();
                let mut row = NodeWindow {
                    window_start_s: start_s,
                    node: i as u32,
                    up: n.status == Status::Up,
                    ..Default::default()
                };
                if let Some(core) = n.core.as_ref() {
                    let now = WindowCounts::from_core(core.counters());
                    counts.add(&now.minus(&n.base));
                    n.base = now;
                    row.queue_len = core.queue_len();
                    row.in_flight = core.in_flight();
                    (row.cpu_pct, row.mem_pct) = self.cpu.load(i);
                }
                row.counts = counts;
                self.node_windows.push(row);
            }
        }
        let over = self.now >= self.s.duration_ms
            && !self.client.active()
            && self.client.outstanding() == 0;
        if over || self.now >= self.hard_stop {
            return true;
        }
        self.q.push(self.now + w, Ev::WindowTick);
        false
    }

    // ---- faults ------------------------------------------------------------------------

    fn fault_start(&mut self, k: usize) {
        let f = self.s.faults[k].clone();
        let i = f.node;
        if self.nodes[i].status != Status::Up {
            tracing::warn!(node = %self.s.nodes[i].name, "fault on a node that is not up; ignored");
            return;
        }
        let kind = match f.kind {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Drain => "drain",
        };
        self.fault_events.push(FaultEventRow {
            time_ms: self.now,
            kind,
            node: i as u32,
        });
        if f.kind == FaultKind::Drain {
            // Not a failure: nobody has to detect it (the node says it leaves).
            self.input(i, Input::Drain);
            return;
        }
        let mut rows = Vec::new();
        for (o, n) in self.nodes.iter().enumerate() {
            // Nodes failing at this same instant observe nothing.
            let failing_too = self
                .s
                .faults
                .iter()
                .any(|g| g.node == o && g.at_ms == f.at_ms);
            if o != i && n.status == Status::Up && !failing_too {
                rows.push(self.detections.len());
                self.detections.push(DetectionRow {
                    kind,
                    failed_node: i as u32,
                    fault_ms: self.now,
                    observer: o as u32,
                    detected_ms: None,
                });
            }
        }
        self.open_faults.push(OpenFault {
            node: i as u32,
            open: true,
            rows,
        });
        match f.kind {
            FaultKind::Pause => self.nodes[i].status = Status::Paused,
            FaultKind::Crash => self.crash(i),
            FaultKind::Drain => {}
        }
    }

    fn crash(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if let Some(core) = n.core.take() {
            let c = WindowCounts::from_core(core.counters());
            n.carry.add(&c.minus(&n.base));
        }
        n.base = WindowCounts::default();
        n.status = Status::Down;
        n.deferred.clear();
        self.cpu.crash(i, &mut self.work);
        // Open connections to the dead process are reset: its clients and the peers that
        // offloaded to it learn at once. Sorted so the order of what follows is fixed.
        let held: Vec<(u64, Route)> = self
            .routes
            .iter()
            .filter(|(_, r)| r.node == i as u32)
            .collect();
        for (k, r) in held {
            self.routes.remove(k);
            match r.kind {
                RouteKind::Client { attempt } => {
                    let d = self.net.client_delay(i, 0);
                    self.q.push(
                        self.now + d,
                        Ev::AttemptFail {
                            req: r.req,
                            attempt,
                            why: AttemptEnd::Error,
                        },
                    );
                }
                RouteKind::Remote {
                    origin,
                    origin_life,
                    origin_job,
                } => {
                    let d = self.net.delay(i, origin as usize, 0);
                    self.q.push(
                        self.now + d,
                        Ev::OffloadResult {
                            node: origin,
                            life: origin_life,
                            job: origin_job,
                            result: Err(OffloadError::Unreachable),
                        },
                    );
                }
            }
        }
    }

    fn fault_end(&mut self, k: usize) {
        let f = self.s.faults[k].clone();
        let i = f.node;
        for of in self.open_faults.iter_mut().filter(|o| o.node == i as u32) {
            of.open = false;
        }
        match (f.kind, self.nodes[i].status) {
            (FaultKind::Pause, Status::Paused) => {
                self.fault_events.push(FaultEventRow {
                    time_ms: self.now,
                    kind: "resume",
                    node: i as u32,
                });
                self.nodes[i].status = Status::Up;
                let held = std::mem::take(&mut self.nodes[i].deferred);
                for input in held {
                    if self.nodes[i].status != Status::Up {
                        break;
                    }
                    self.input(i, input);
                }
            }
            (FaultKind::Crash, Status::Down) => {
                self.fault_events.push(FaultEventRow {
                    time_ms: self.now,
                    kind: "restart",
                    node: i as u32,
                });
                self.nodes[i].life += 1;
                self.boot(i);
            }
            _ => {}
        }
    }

    fn member_down(&mut self, observer: usize, failed: NodeId) {
        let f = failed.0 as usize - 1;
        for of in &self.open_faults {
            if !of.open || of.node as usize != f {
                continue;
            }
            for &r in &of.rows {
                let row = &mut self.detections[r];
                if row.observer as usize == observer && row.detected_ms.is_none() {
                    row.detected_ms = Some(self.now);
                }
            }
        }
    }

    // ---- the client --------------------------------------------------------------------

    fn upload_arrive(&mut self, node: u32, req: u32, attempt: u8) {
        if !self.client.current(req, attempt) {
            return; // the client gave up on this attempt already
        }
        let i = node as usize;
        match self.nodes[i].status {
            Status::Up => {}
            Status::Paused => return, // hangs until the client's timeout
            Status::Down => {
                let d = self.net.client_delay(i, 0);
                self.q.push(
                    self.now + d,
                    Ev::AttemptFail {
                        req,
                        attempt,
                        why: AttemptEnd::Unavailable,
                    },
                );
                return;
            }
        }
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.routes.insert(
            id.0,
            Route {
                node,
                req,
                kind: RouteKind::Client { attempt },
            },
        );
        let job = self.client.upload(req, node, id, self.nodes[i].id);
        self.input(i, Input::Upload(job));
    }

    fn finish(self, wall_s: f64) -> RunResult {
        let convergence = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ConvergenceRow {
                node: i as u32,
                seeds: self.seeds[i].iter().map(|&s| s as u32).collect(),
                start_ms: 0,
                full_view_ms: n.full_view_ms,
            })
            .collect();
        let calibration = self.calibration();
        let now = self.now;
        let client = self.client.finish(now);
        let chaos = ChaosEnds {
            unended: client.unended,
            nodes: (self.nodes.iter().enumerate())
                .map(|(i, n)| NodeEnd {
                    name: self.s.nodes[i].name.clone(),
                    running: n.core.is_some(),
                    jobs_left: n.core.as_ref().map_or(0, |c| c.jobs_held() as u64),
                    stray_answers: self.stray_answers[i],
                })
                .collect(),
        };
        let mut work = self.work;
        work.delivered_cpu_s = client.delivered_cpu_s;
        RunResult {
            work,
            strategy: self.strategy,
            requests: client.requests,
            in_flight_at_window_end: self.in_flight_at_window_end,
            node_windows: self.node_windows,
            convergence,
            detections: self.detections,
            fault_events: self.fault_events,
            suspicions: self.suspicions,
            offloads_same_zone: self.net.same_zone,
            offloads_cross_zone: self.net.cross_zone,
            attempt_ends: client.attempt_ends,
            end_ms: self.now,
            events: self.events,
            wall_s,
            calibration,
            chaos,
        }
    }

    /// What each node's cost model had learned by the end: its own view, and the newest
    /// load report of it that any peer holds.
    fn calibration(&self) -> Vec<NodeCalibration> {
        let mut out: Vec<NodeCalibration> = self
            .nodes
            .iter()
            .map(|n| match &n.core {
                Some(c) if n.status != Status::Down => {
                    let st = c.cost_stats();
                    NodeCalibration {
                        speed: Some(st.speed),
                        observed: st.observed,
                        reported_ms_per_cpu_s: None,
                    }
                }
                _ => NodeCalibration::default(),
            })
            .collect();
        let mut newest: Vec<Option<vidmesh_core::LoadReport>> = vec![None; self.nodes.len()];
        for n in &self.nodes {
            let Some(c) = n.core.as_ref().filter(|_| n.status != Status::Down) else {
                continue;
            };
            for p in c.peers() {
                let Some(k) = p.report else { continue };
                let Some(slot) = (p.id.node.0 as usize)
                    .checked_sub(1)
                    .and_then(|i| newest.get_mut(i))
                else {
                    continue;
                };
                if slot.is_none_or(|old| k.report.newer_than(&old)) {
                    *slot = Some(k.report);
                }
            }
        }
        for (c, r) in out.iter_mut().zip(newest) {
            c.reported_ms_per_cpu_s = r.map(|r| r.ms_per_cpu_s).filter(|&v| v > 0.0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The window against a map, with ids issued in increasing order and routes ending in any
    /// order, plus the odd id below the window.
    #[test]
    fn route_table_behaves_like_a_map() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut t = RouteTable::default();
        let mut m = BTreeMap::new();
        let mut next = 1u64;
        for step in 0..100_000u32 {
            let route = Route {
                node: step % 7,
                req: step,
                kind: RouteKind::Client { attempt: 1 },
            };
            match rnd(10) {
                0..=3 => {
                    t.insert(next, route);
                    m.insert(next, route);
                    next += 1 + rnd(3);
                }
                4 => {
                    let id = rnd(next + 5);
                    t.insert(id, route);
                    m.insert(id, route);
                }
                _ => {
                    let id = rnd(next + 5);
                    assert_eq!(t.get(id).map(|r| r.req), m.get(&id).map(|r| r.req));
                    assert_eq!(t.remove(id).map(|r| r.req), m.remove(&id).map(|r| r.req));
                }
            }
            if step % 1000 == 0 {
                let a: Vec<(u64, u32)> = t.iter().map(|(k, r)| (k, r.req)).collect();
                let b: Vec<(u64, u32)> = m.iter().map(|(k, r)| (*k, r.req)).collect();
                assert_eq!(a, b);
            }
        }
    }
}
