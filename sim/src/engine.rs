//! The discrete-event run of one strategy over one scenario: the event loop, which owns virtual
//! time, and the dispatch of every event and every [`Output`] of the cores it drives to the cores
//! and to the world models (world/: the network, the CPU, the client, the faults), which hold
//! all their own state. It never looks at which strategy a node runs: all routing happens inside
//! the cores.

use std::time::Instant;

use vidmesh_core::node::Event as CoreEvent;
use vidmesh_core::Message;
use vidmesh_core::{
    Input, Job, JobId, Millis, OffloadError, Outcome, Output, PeerAddr, RemoteDone, Timer,
};

mod checker;
mod faults;
mod finish;

use checker::convergence_bound_ms;
pub use checker::Sabotage;

use crate::metrics::{RunResult, SuspicionRow, Violation};
use crate::nodes::{Setup, SimNode, Status};
use crate::queue::EventQueue;
use crate::record::Recorder;
use crate::routes::{Route, RouteKind, RouteTable};
use crate::scenario::{NetFaultKind, Scenario};
use crate::workload::Catalog;
use crate::world::client::{Client, Reach};
use crate::world::cpu::Cpu;
use crate::world::faults::Faults;
use crate::world::network::Network;
use vidmesh_loadgen::{AttemptEnd, Wake};

pub use crate::nodes::resolve_seeds;

/// What happens at an instant of virtual time; the world models schedule their own.
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
    /// The offloaded job waits in the network's transit slots at index `job`: a whole `Job`
    /// here would double the size of every queued event.
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
    /// Network fault `k` starts (`true`) or ends.
    NetFault(u32, bool),
    /// The membership must have converged since the partition `k` healed.
    HealCheck(u32),
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
    s: &'a Scenario,
    setup: Setup<'a>,
    catalog: &'a Catalog,
    now: Millis,
    q: EventQueue<Ev>,
    nodes: Vec<SimNode>,
    next_job: u64,
    routes: RouteTable,
    events: u64,
    hard_stop: Millis,
    net: Network<'a>,
    cpu: Cpu<'a>,
    client: Client<'a>,
    faults: Faults<'a>,
    rec: Recorder,
    /// The event being handled, and the first rule of the protocol a node broke (it stops the
    /// run).
    event: &'static str,
    violation: Option<Violation>,
    sabotage: Option<Sabotage>,
    replies_seen: u64,
}

impl<'a> Run<'a> {
    pub fn new(s: &'a Scenario, strategy_index: usize, catalog: &'a Catalog) -> Run<'a> {
        let setup = Setup::new(s, strategy_index);
        let w = &s.workload;
        let hard_stop = s.duration_ms
            + w.max_attempts as u64 * (w.attempt_timeout_ms + s.network.connect_timeout_ms + 1_000)
            + 2 * s.output.window_ms;
        Run {
            s,
            catalog,
            now: 0,
            q: EventQueue::new(),
            nodes: (0..s.nodes.len()).map(SimNode::new).collect(),
            next_job: 1,
            routes: RouteTable::default(),
            events: 0,
            hard_stop,
            net: Network::new(s, setup.oracle()),
            cpu: Cpu::new(s, catalog.mean_size_bytes),
            client: Client::new(s, catalog),
            faults: Faults::new(s),
            rec: Recorder::new(s.nodes.len()),
            setup,
            event: "start",
            violation: None,
            sabotage: None,
            replies_seen: 0,
        }
    }

    fn boot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.core = Some(self.setup.start(i, n.life, self.now));
        n.status = Status::Up;
        self.rec.booted(i);
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
        self.faults.schedule(&mut self.q);
        for (k, f) in self.s.net_faults.iter().enumerate() {
            self.q.push(f.at_ms, Ev::NetFault(k as u32, true));
            if let Some(u) = f.until_ms {
                self.q.push(u, Ev::NetFault(k as u32, false));
                if matches!(f.kind, NetFaultKind::Partition { .. }) {
                    let at = u + convergence_bound_ms(&self.s.gossip);
                    self.q.push(at, Ev::HealCheck(k as u32));
                }
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
            self.event = ev.name();
            if self.handle(ev) || self.violation.is_some() {
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
                    if let Some(input) = self.cpu.done(now, q, i, epoch, &mut self.rec.work) {
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
                    self.client.reply(reach!(self), req, attempt, outcome);
                }
            }
            Ev::AttemptFail { req, attempt, why } => {
                if self.client.current(req, attempt) {
                    self.client.attempt_ended(reach!(self), req, attempt, why);
                }
            }
            Ev::AttemptTimeout { req, attempt } => {
                if self.client.current(req, attempt) {
                    self.client.deadline(reach!(self), req, attempt);
                }
            }
            Ev::Cancel { node, job } => {
                let up = self.nodes[node as usize].status == Status::Up;
                if up && self.routes.get(job.0).is_some_and(|r| r.node == node) {
                    self.input(node as usize, Input::Cancel(job));
                }
            }
            Ev::BatchStart => self.client.wake(reach!(self), Wake::Batch),
            Ev::Arrival => self.client.wake(reach!(self), Wake::Arrival),
            Ev::StatsTick => self.stats_tick(),
            Ev::WindowTick => return self.window_tick(),
            Ev::HealthCheck => self.client.wake(reach!(self), Wake::HealthCheck),
            Ev::FaultStart(k) => self.fault_start(k),
            Ev::FaultEnd(k) => self.fault_end(k),
            Ev::NetFault(k, start) => self.net_fault(k as usize, start),
            Ev::HealCheck(k) => self.heal_check(k as usize),
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
            self.check(i);
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
                    self.cpu.abort(now, q, i, job, &mut self.rec.work);
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
                        let detections = &mut self.rec.detections;
                        self.faults.member_down(i, p.node, self.now, detections);
                    }
                    CoreEvent::Suspected(p) => {
                        if let Some(t) = (p.node.0 as usize).checked_sub(1) {
                            let up = self.nodes.get(t).is_some_and(|n| n.status == Status::Up);
                            self.rec.suspicions.push(SuspicionRow {
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
        if membership_changed && self.rec.full_view_ms(i).is_none() && self.nodes[i].life == 0 {
            let alive = self.nodes[i]
                .core
                .as_ref()
                .map(|c| c.alive_members())
                .unwrap_or(0);
            if alive + 1 >= self.nodes.len() {
                self.rec.saw_full_view(i, self.now);
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
        match self.net.datagram_copies(self.now, from, t) {
            0 => {}
            copies => {
                if copies == 2 {
                    let d = self.net.datagram_delay(self.now, from, t, bytes);
                    let again = msg.clone();
                    self.q.push(
                        self.now + d,
                        Ev::Deliver {
                            to: t as u32,
                            msg: again,
                        },
                    );
                }
                let d = self.net.datagram_delay(self.now, from, t, bytes);
                self.q.push(self.now + d, Ev::Deliver { to: t as u32, msg });
            }
        }
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
        if self.net.cut(self.now, origin as usize, t as usize) {
            // The closed connection cannot be seen across a partition: the peer works on.
            return;
        }
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
                let from = (origin, origin_life, origin_job);
                self.net.refuse(self.now, &mut self.q, to as usize, from);
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
        if let Some(Sabotage::DropReply { nth }) = self.sabotage {
            self.replies_seen += 1;
            if self.replies_seen == nth {
                return; // the broken driver: the answer goes nowhere, the route stays
            }
        }
        let Some(route) = self.routes.remove(job.0) else {
            // Nobody waits on this job under this id: the node answered it twice.
            self.rec.stray_answers[i] += 1;
            return;
        };
        self.net.answer(self.now, &mut self.q, i, route, outcome);
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
        self.rec
            .in_flight_at_window_end
            .push(self.client.outstanding());
        if self.s.output.node_windows_csv {
            for (i, n) in self.nodes.iter().enumerate() {
                let up = n.status == Status::Up;
                let load = self.cpu.load(i);
                self.rec.node_window(start_s, i, up, n.core.as_ref(), load);
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
        let job = self.client.upload(req, id, self.nodes[i].id);
        self.input(i, Input::Upload(job));
    }
}
