//! The load client in the simulated world: the shared client machine (`vidmesh_loadgen`), which
//! decides everything a client decides, driven by the event queue. What is left here is the
//! world's side: what each request uploads (the workload's draws), how long an upload takes to
//! reach its node, that a node that is down refuses the connection, and the job a node sees.

use vidmesh_core::{Job, JobId, Millis, NodeId, Outcome};
use vidmesh_loadgen::client::{
    expected_requests, Arrivals, Config, Output, Served, Wake, Workload,
};
use vidmesh_loadgen::{AttemptEnd, RequestRecord};

use super::network::Network;
use crate::engine::Ev;
use crate::nodes::{SimNode, Status};
use crate::queue::EventQueue;
use crate::scenario::{Scenario, WorkloadKind};
use crate::workload::{Catalog, Draws, RequestDraw};

/// What the client acts on besides itself: the time, the event queue, its links to the nodes
/// and whether a node's port is open.
pub(crate) struct Reach<'r, 'a> {
    pub now: Millis,
    pub q: &'r mut EventQueue<Ev>,
    pub net: &'r mut Network<'a>,
    pub nodes: &'r [SimNode],
}

/// What the client holds at the end of the run.
pub(crate) struct ClientEnd {
    pub requests: Vec<RequestRecord>,
    /// Requests that never ended.
    pub unended: Vec<usize>,
    /// Every attempt as it ended: (time, succeeded), in time order.
    pub attempt_ends: Vec<(Millis, bool)>,
    /// CPU-seconds of the transcodes whose results reached the client.
    pub delivered_cpu_s: f64,
}

/// The requests' uploads, drawn as the machine makes each request.
struct Uploads {
    draws: Draws,
    /// Per request: what it uploads, and its current attempt's job at the attempt's node once
    /// the upload arrived there ([`NO_JOB`] until then: a million requests' worth of
    /// `Option<(u32, JobId)>` would cost 16 MB more).
    table: Vec<(RequestDraw, JobId)>,
}

/// No job yet (the engine numbers jobs from 1).
const NO_JOB: JobId = JobId(0);

impl Workload for Uploads {
    fn new_request(&mut self, _request: u32) -> u32 {
        let draw = self.draws.next_request();
        self.table.push((draw, NO_JOB));
        draw.item
    }

    fn gap_ms(&mut self, rate_per_s: f64) -> f64 {
        self.draws.next_gap_ms(rate_per_s)
    }
}

pub(crate) struct Client<'a> {
    s: &'a Scenario,
    catalog: &'a Catalog,
    machine: vidmesh_loadgen::Client,
    uploads: Uploads,
    delivered_cpu_s: f64,
}

/// The scenario's workload as the client machine's configuration.
fn config(s: &Scenario) -> Config {
    let w = &s.workload;
    Config {
        arrivals: match w.kind {
            WorkloadKind::None => Arrivals::None,
            WorkloadKind::Batch => Arrivals::Batches {
                size: w.batch_size,
                pause_ms: w.pause_ms,
                max_batches: w.batches,
            },
            WorkloadKind::Poisson => Arrivals::Poisson {
                rate_per_s: w.rate_per_s,
            },
        },
        start_ms: w.start_ms,
        duration_ms: s.duration_ms,
        max_requests: None,
        attempt_timeout_ms: w.attempt_timeout_ms,
        max_attempts: w.max_attempts,
        health_check_ms: w.health_check_ms,
        block_failed_nodes: w.block_failed_nodes,
        seed: s.seed,
        targets: w.targets.iter().map(|&i| i as u32).collect(),
    }
}

impl<'a> Client<'a> {
    pub fn new(s: &'a Scenario, catalog: &'a Catalog) -> Client<'a> {
        let config = config(s);
        let expected = expected_requests(&config);
        let machine = vidmesh_loadgen::Client::new(config);
        Client {
            s,
            catalog,
            machine,
            uploads: Uploads {
                draws: Draws::new(s, catalog),
                table: Vec::with_capacity(expected),
            },
            delivered_cpu_s: 0.0,
        }
    }

    /// Schedules the first batch or arrival and the first health check.
    pub fn start(&mut self, q: &mut EventQueue<Ev>) {
        self.machine.start();
        while let Some(o) = self.machine.poll_output() {
            if let Output::Wake { at_ms, wake } = o {
                q.push(at_ms, wake_event(wake));
            }
        }
    }

    /// Requests not yet ended.
    pub fn outstanding(&self) -> u32 {
        self.machine.outstanding()
    }

    /// Whether the client will make more requests.
    pub fn active(&self) -> bool {
        self.machine.active()
    }

    /// What request `req` asks for.
    pub fn draw(&self, req: u32) -> RequestDraw {
        self.uploads.table[req as usize].0
    }

    /// Whether `attempt` is still the current attempt of a pending request.
    pub fn current(&self, req: u32, attempt: u8) -> bool {
        self.machine.current(req, attempt)
    }

    /// A time the client asked for has come (a batch, an arrival, a health check).
    pub fn wake(&mut self, w: &mut Reach, wake: Wake) {
        self.machine.wake(wake, w.now, &mut self.uploads);
        self.carry_out(w);
    }

    /// The deadline of `req`'s `attempt` has come.
    pub fn deadline(&mut self, w: &mut Reach, req: u32, attempt: u8) {
        self.machine.deadline(req, attempt, w.now);
        self.carry_out(w);
    }

    /// The upload of `req`'s current attempt reached its node (`origin`), which knows it as
    /// job `id`.
    pub fn upload(&mut self, req: u32, id: JobId, origin: NodeId) -> Job {
        let slot = &mut self.uploads.table[req as usize];
        slot.1 = id;
        let draw = slot.0;
        Job {
            id,
            content: self.catalog.cache_key(&draw),
            features: self.catalog.job_features(&draw),
            hops: 0,
            origin,
            deadline: self.machine.deadline_ms(req),
            // A free probe is no probe: the catalog's features are the upload's.
            probed: self.s.cost.probe_s == 0.0,
        }
    }

    /// The answer to the current attempt of `req`.
    pub fn reply(&mut self, w: &mut Reach, req: u32, attempt: u8, outcome: Outcome) {
        let end = match outcome {
            Outcome::Done {
                executed_by,
                cache_hit,
                hops,
                offloaded,
                fallback,
                ..
            } => {
                if !cache_hit {
                    let draw = self.uploads.table[req as usize].0;
                    self.delivered_cpu_s +=
                        self.catalog.cpu_s(&self.s.cost, &draw) * draw.noise as f64;
                }
                AttemptEnd::Served(Served {
                    exec_node: executed_by.0.saturating_sub(1),
                    hops,
                    cache_hit,
                    offloaded,
                    fallback,
                })
            }
            Outcome::Rejected(_) => AttemptEnd::Rejected,
            Outcome::Failed(_) => AttemptEnd::Error,
        };
        self.attempt_ended(w, req, attempt, end);
    }

    pub fn attempt_ended(&mut self, w: &mut Reach, req: u32, attempt: u8, end: AttemptEnd) {
        self.machine.attempt_ended(req, attempt, end, w.now);
        self.carry_out(w);
    }

    /// Carries out the machine's outputs in order, as events in the world.
    fn carry_out(&mut self, w: &mut Reach) {
        while let Some(o) = self.machine.poll_output() {
            match o {
                Output::Submit {
                    request,
                    attempt,
                    target,
                    deadline_ms,
                } => self.submit(w, request, attempt, target, deadline_ms),
                Output::HangUp {
                    request, target, ..
                } => {
                    // The node the upload reached sees the connection close.
                    let job = self.uploads.table[request as usize].1;
                    if job != NO_JOB {
                        let d = w.net.client_delay(target as usize, 0);
                        let node = target;
                        w.q.push(w.now + d, Ev::Cancel { node, job });
                    }
                }
                Output::Wake { at_ms, wake } => w.q.push(at_ms, wake_event(wake)),
                Output::CheckHealth { target } => {
                    if w.nodes[target as usize].status == Status::Up {
                        self.machine.healthy(target);
                    }
                }
                Output::Ended { .. } => {}
            }
        }
    }

    fn submit(&mut self, w: &mut Reach, req: u32, attempt: u8, target: u32, deadline: Millis) {
        let i = target as usize;
        let now = w.now;
        let slot = &mut self.uploads.table[req as usize];
        slot.1 = NO_JOB;
        if w.nodes[i].status == Status::Down {
            // The connection is refused, after at most the connect timeout.
            let connect = self.s.network.connect_timeout_ms;
            let at = now + connect.min(self.s.workload.attempt_timeout_ms);
            let why = AttemptEnd::Unavailable;
            w.q.push(at, Ev::AttemptFail { req, attempt, why });
            return;
        }
        let size = self.catalog.videos[slot.0.item as usize].size_bytes;
        let d = w.net.client_delay(i, size);
        let node = target;
        w.q.push(now + d, Ev::UploadArrive { node, req, attempt });
        w.q.push(deadline, Ev::AttemptTimeout { req, attempt });
    }

    /// The requests at the hard stop `now`: those still open end there as timeouts, their last
    /// attempt too.
    pub fn finish(self, now: Millis) -> ClientEnd {
        let end = self.machine.finish(now);
        ClientEnd {
            requests: end.records,
            unended: end.unended,
            attempt_ends: end.attempt_ends,
            delivered_cpu_s: self.delivered_cpu_s,
        }
    }
}

fn wake_event(wake: Wake) -> Ev {
    match wake {
        Wake::Batch => Ev::BatchStart,
        Wake::Arrival => Ev::Arrival,
        Wake::HealthCheck => Ev::HealthCheck,
    }
}
