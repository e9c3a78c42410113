//! The load client: the report's batch client or open-loop Poisson arrivals, each request
//! retried on another node after a failure, up to `max_attempts`, and with the report's
//! blocking of failed nodes until a health check or a success clears them. Its targets are drawn
//! from (seed, request, attempt) alone, so they do not depend on what else happens in the run.

use vidmesh_core::{Job, JobId, Millis, NodeId, Outcome};

use super::network::Network;
use super::round_ms;
use crate::engine::Ev;
use crate::metrics::{ReqOutcome, RequestRecord};
use crate::nodes::{SimNode, Status};
use crate::queue::EventQueue;
use crate::rng::hash_unit;
use crate::scenario::{Scenario, WorkloadKind};
use crate::workload::{Catalog, Draws, RequestDraw};

/// How a client attempt ended without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttemptEnd {
    Timeout,
    Rejected,
    Error,
    Unavailable,
}

struct Request {
    draw: RequestDraw,
    batch: Option<u32>,
    submit: Millis,
    /// When the current attempt started: its deadline is this plus the attempt timeout.
    attempt_start: Millis,
    /// The current attempt's job at its entry node, once the upload arrived there.
    entry_job: Option<(u32, JobId)>,
    attempt: u8,
    tried: Vec<u32>,
    pending: bool,
    all_unavailable: bool,
    last_fail: AttemptEnd,
    record: Option<RequestRecord>,
}

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

pub(crate) struct Client<'a> {
    s: &'a Scenario,
    catalog: &'a Catalog,
    draws: Draws,
    requests: Vec<Request>,
    outstanding: u32,
    batch: u32,
    batch_left: u32,
    active: bool,
    next_arrival_ms: f64,
    blocked: Vec<bool>,
    blocked_count: usize,
    /// Emptied `Request::tried` lists, kept for their allocations.
    tried_pool: Vec<Vec<u32>>,
    /// Every client attempt as it ended: (time, succeeded), in time order.
    attempt_ends: Vec<(Millis, bool)>,
    delivered_cpu_s: f64,
}

/// About how many requests the client will make (at most a few million), so their table is
/// allocated once instead of being copied every time it doubles.
fn expected_requests(s: &Scenario) -> usize {
    let w = &s.workload;
    let span_ms = s.duration_ms.saturating_sub(w.start_ms) as f64;
    let n = match w.kind {
        WorkloadKind::None => 0.0,
        // Consecutive batches are at least `pause_ms` apart.
        WorkloadKind::Batch if w.pause_ms > 0 => {
            let batches = (span_ms / w.pause_ms as f64).floor() + 1.0;
            let batches = w.batches.map_or(batches, |b| batches.min(b as f64));
            batches * w.batch_size as f64
        }
        WorkloadKind::Batch => 0.0,
        WorkloadKind::Poisson => w.rate_per_s * span_ms / 1000.0 * 1.05 + 64.0,
    };
    n.clamp(0.0, 4_000_000.0) as usize
}

impl<'a> Client<'a> {
    pub fn new(s: &'a Scenario, catalog: &'a Catalog) -> Client<'a> {
        Client {
            s,
            catalog,
            draws: Draws::new(s, catalog),
            requests: Vec::with_capacity(expected_requests(s)),
            outstanding: 0,
            batch: 0,
            batch_left: 0,
            active: true,
            next_arrival_ms: 0.0,
            blocked: vec![false; s.nodes.len()],
            blocked_count: 0,
            tried_pool: Vec::new(),
            attempt_ends: Vec::new(),
            delivered_cpu_s: 0.0,
        }
    }

    /// Schedules the first batch or arrival and the first health check.
    pub fn start(&mut self, q: &mut EventQueue<Ev>) {
        let w = &self.s.workload;
        match w.kind {
            WorkloadKind::Batch => q.push(w.start_ms, Ev::BatchStart),
            WorkloadKind::Poisson => {
                self.next_arrival_ms = w.start_ms as f64;
                q.push(w.start_ms, Ev::Arrival)
            }
            WorkloadKind::None => self.active = false,
        }
        q.push(w.start_ms + w.health_check_ms, Ev::HealthCheck);
    }

    /// Requests not yet ended.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Whether the client will make more requests.
    pub fn active(&self) -> bool {
        self.active
    }

    /// What request `req` asks for.
    pub fn draw(&self, req: u32) -> RequestDraw {
        self.requests[req as usize].draw
    }

    /// Whether `attempt` is still the current attempt of a pending request.
    pub fn current(&self, req: u32, attempt: u8) -> bool {
        let r = &self.requests[req as usize];
        r.pending && r.attempt == attempt
    }

    /// The health check: nodes that are up again are no longer blocked.
    pub fn health_check(&mut self, now: Millis, q: &mut EventQueue<Ev>, nodes: &[SimNode]) {
        if self.blocked_count > 0 && self.s.workload.block_failed_nodes {
            for (i, n) in nodes.iter().enumerate() {
                if self.blocked[i] && n.status == Status::Up {
                    self.blocked[i] = false;
                    self.blocked_count -= 1;
                }
            }
        }
        if self.active || self.outstanding > 0 {
            q.push(now + self.s.workload.health_check_ms, Ev::HealthCheck);
        }
    }

    fn new_request(&mut self, now: Millis, batch: Option<u32>) -> u32 {
        let draw = self.draws.next_request();
        let id = self.requests.len() as u32;
        self.requests.push(Request {
            draw,
            batch,
            submit: now,
            attempt_start: now,
            entry_job: None,
            attempt: 0,
            tried: self.tried_pool.pop().unwrap_or_default(),
            pending: true,
            all_unavailable: true,
            last_fail: AttemptEnd::Unavailable,
            record: None,
        });
        self.outstanding += 1;
        id
    }

    pub fn start_batch(&mut self, w: &mut Reach) {
        let over_count = self.s.workload.batches.is_some_and(|n| self.batch >= n);
        if w.now >= self.s.duration_ms || over_count {
            self.active = false;
            return;
        }
        let b = self.batch;
        self.batch += 1;
        let size = self.s.workload.batch_size;
        self.batch_left = size;
        let first = self.requests.len() as u32;
        for _ in 0..size {
            self.new_request(w.now, Some(b));
        }
        for id in first..first + size {
            self.next_attempt(w, id);
        }
    }

    pub fn arrival(&mut self, w: &mut Reach) {
        if w.now >= self.s.duration_ms {
            self.active = false;
            return;
        }
        let id = self.new_request(w.now, None);
        self.next_attempt(w, id);
        let gap = self.draws.next_gap_ms(self.s.workload.rate_per_s);
        self.next_arrival_ms += gap;
        let at = round_ms(self.next_arrival_ms).max(w.now);
        w.q.push(at, Ev::Arrival);
    }

    /// Picks the attempt's node: uniform over untried targets not blocked, else over any
    /// untried target. The draws are a pure function of (seed, request, attempt).
    fn pick(&self, req: u32) -> Option<usize> {
        let r = &self.requests[req as usize];
        let targets = &self.s.workload.targets;
        let seed = self.s.seed;
        let usable = |i: usize, allow_blocked: bool| {
            !r.tried.contains(&(i as u32)) && (allow_blocked || !self.blocked[i])
        };
        let u = |k: u64| hash_unit(seed, req as u64, r.attempt as u64, k);
        for k in 0..32 {
            let i = targets[(u(k) * targets.len() as f64) as usize % targets.len()];
            if usable(i, false) {
                return Some(i);
            }
        }
        for allow_blocked in [false, true] {
            let c: Vec<usize> = targets
                .iter()
                .copied()
                .filter(|&i| usable(i, allow_blocked))
                .collect();
            if !c.is_empty() {
                return Some(c[(u(1000) * c.len() as f64) as usize % c.len()]);
            }
        }
        None
    }

    fn next_attempt(&mut self, w: &mut Reach, req: u32) {
        let max = self.s.workload.max_attempts;
        let pick = if self.requests[req as usize].attempt < max {
            self.pick(req)
        } else {
            None
        };
        let Some(i) = pick else {
            let r = &self.requests[req as usize];
            let outcome = if r.attempt == 0 || r.all_unavailable {
                ReqOutcome::Unavailable
            } else {
                match r.last_fail {
                    AttemptEnd::Timeout => ReqOutcome::Timeout,
                    AttemptEnd::Rejected => ReqOutcome::Rejected,
                    AttemptEnd::Error => ReqOutcome::Error,
                    AttemptEnd::Unavailable => ReqOutcome::Unavailable,
                }
            };
            self.end_request(w.now, w.q, req, outcome, None);
            return;
        };
        let timeout = self.s.workload.attempt_timeout_ms;
        let connect = self.s.network.connect_timeout_ms;
        let now = w.now;
        let r = &mut self.requests[req as usize];
        r.attempt += 1;
        r.attempt_start = now;
        r.entry_job = None;
        r.tried.push(i as u32);
        let attempt = r.attempt;
        let size = self.catalog.videos[r.draw.item as usize].size_bytes;
        if w.nodes[i].status == Status::Down {
            w.q.push(
                now + connect.min(timeout),
                Ev::AttemptFail {
                    req,
                    attempt,
                    why: AttemptEnd::Unavailable,
                },
            );
            return;
        }
        let d = w.net.client_delay(i, size);
        w.q.push(
            now + d,
            Ev::UploadArrive {
                node: i as u32,
                req,
                attempt,
            },
        );
        w.q.push(now + timeout, Ev::AttemptTimeout { req, attempt });
    }

    /// The upload of `req`'s current attempt reached node `node` (`origin`), which knows it as
    /// job `id`.
    pub fn upload(&mut self, req: u32, node: u32, id: JobId, origin: NodeId) -> Job {
        let r = &mut self.requests[req as usize];
        r.entry_job = Some((node, id));
        let draw = r.draw;
        Job {
            id,
            content: self.catalog.cache_key(&draw),
            features: self.catalog.job_features(&draw),
            hops: 0,
            origin,
            deadline: r.attempt_start + self.s.workload.attempt_timeout_ms,
            // A free probe is no probe: the catalog's features are the upload's.
            probed: self.s.cost.probe_s == 0.0,
        }
    }

    /// The current attempt of `req` timed out: the client hangs up, and the entry node sees
    /// the connection close.
    pub fn time_out(&mut self, w: &mut Reach, req: u32) {
        if let Some((node, job)) = self.requests[req as usize].entry_job {
            let d = w.net.client_delay(node as usize, 0);
            w.q.push(w.now + d, Ev::Cancel { node, job });
        }
        self.attempt_failed(w, req, AttemptEnd::Timeout);
    }

    /// The answer to the current attempt of `req`.
    pub fn reply(&mut self, w: &mut Reach, req: u32, outcome: Outcome) {
        let r = &self.requests[req as usize];
        match outcome {
            Outcome::Done {
                executed_by,
                cache_hit,
                hops,
                offloaded,
                fallback,
                ..
            } => {
                let entry = *r.tried.last().expect("an attempt was made");
                if !cache_hit {
                    self.delivered_cpu_s +=
                        self.catalog.cpu_s(&self.s.cost, &r.draw) * r.draw.noise as f64;
                }
                let rec = RequestRecord {
                    batch: r.batch,
                    submit_ms: r.submit,
                    end_ms: w.now,
                    attempts: r.attempt,
                    outcome: ReqOutcome::Ok,
                    entry_node: Some(entry),
                    exec_node: Some(executed_by.0.saturating_sub(1)),
                    hops,
                    cache_hit,
                    offloaded,
                    fallback,
                    item: r.draw.item,
                };
                self.attempt_ends.push((w.now, true));
                self.end_request(w.now, w.q, req, ReqOutcome::Ok, Some(rec));
                if !self.blocked[entry as usize] {
                    return;
                }
                // A success is the health signal the client trusts most.
                self.blocked[entry as usize] = false;
                self.blocked_count -= 1;
            }
            Outcome::Rejected(_) => self.attempt_failed(w, req, AttemptEnd::Rejected),
            Outcome::Failed(_) => self.attempt_failed(w, req, AttemptEnd::Error),
        }
    }

    pub fn attempt_failed(&mut self, w: &mut Reach, req: u32, why: AttemptEnd) {
        let r = &mut self.requests[req as usize];
        r.last_fail = why;
        if why != AttemptEnd::Unavailable {
            r.all_unavailable = false;
        }
        let node = *r.tried.last().expect("an attempt was made") as usize;
        self.attempt_ends.push((w.now, false));
        if self.s.workload.block_failed_nodes && !self.blocked[node] {
            self.blocked[node] = true;
            self.blocked_count += 1;
        }
        self.next_attempt(w, req);
    }

    fn end_request(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        req: u32,
        outcome: ReqOutcome,
        rec: Option<RequestRecord>,
    ) {
        let r = &mut self.requests[req as usize];
        r.pending = false;
        r.record = Some(rec.unwrap_or_else(|| RequestRecord {
            batch: r.batch,
            submit_ms: r.submit,
            end_ms: now,
            attempts: r.attempt,
            outcome,
            entry_node: r.tried.last().copied(),
            exec_node: None,
            hops: 0,
            cache_hit: false,
            offloaded: false,
            fallback: false,
            item: r.draw.item,
        }));
        let mut tried = std::mem::take(&mut r.tried);
        tried.clear();
        self.tried_pool.push(tried);
        self.outstanding -= 1;
        if r.batch.is_some() {
            self.batch_left -= 1;
            if self.batch_left == 0 {
                let at = now + self.s.workload.pause_ms;
                let more = self.s.workload.batches.is_none_or(|n| self.batch < n);
                if at < self.s.duration_ms && more {
                    q.push(at, Ev::BatchStart);
                } else {
                    self.active = false;
                }
            }
        }
    }

    /// The requests at the hard stop `now`: those still open end there as timeouts, their last
    /// attempt too.
    pub fn finish(self, now: Millis) -> ClientEnd {
        let mut attempt_ends = self.attempt_ends;
        for r in &self.requests {
            if r.pending && r.attempt > 0 {
                attempt_ends.push((now, false));
            }
        }
        let unended = (self.requests.iter().enumerate())
            .filter(|(_, r)| r.pending)
            .map(|(k, _)| k)
            .collect();
        let requests = self
            .requests
            .into_iter()
            .map(|r| {
                r.record.unwrap_or(RequestRecord {
                    batch: r.batch,
                    submit_ms: r.submit,
                    end_ms: now,
                    attempts: r.attempt,
                    outcome: ReqOutcome::Timeout,
                    entry_node: r.tried.last().copied(),
                    exec_node: None,
                    hops: 0,
                    cache_hit: false,
                    offloaded: false,
                    fallback: false,
                    item: r.draw.item,
                })
            })
            .collect();
        ClientEnd {
            requests,
            unended,
            attempt_ends,
            delivered_cpu_s: self.delivered_cpu_s,
        }
    }
}
