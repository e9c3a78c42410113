//! The report's load client as a sans-IO state machine (see the crate docs for the driver's
//! side). Every decision is here: when a batch or an arrival starts, which node an attempt goes
//! to, when an attempt has run out of time, which nodes are avoided, when a request is over and
//! what its record says.
//!
//! - An attempt goes to a uniformly drawn untried target that is not blocked, else to any
//!   untried target. The draws are a hash of (seed, request, attempt), so they do not depend on
//!   anything else that happens in the run (every strategy of a scenario sees the same ones).
//! - A failed attempt (timeout, rejection, error, node down) blocks its node, if
//!   `block_failed_nodes`, and leads to the next attempt, up to `max_attempts`.
//! - A success unblocks its node; a health check unblocks those that answer again.
//! - A request that never succeeded ends as `unavailable` if no attempt was made or every one
//!   found its node down, else with its last attempt's failure.

use std::collections::VecDeque;

use crate::record::{Outcome, RequestRecord};

/// How requests arrive.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// No requests at all.
    None,
    /// `size` concurrent requests; the next batch starts `pause_ms` after all of them ended, if
    /// that is before the end of the run.
    Batches {
        size: u32,
        pause_ms: u64,
        max_batches: Option<u32>,
    },
    /// Open-loop arrivals with exponential gaps (drawn by the [`Workload`]).
    Poisson { rate_per_s: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arrivals: Arrivals,
    /// When the first batch or arrival starts.
    pub start_ms: u64,
    /// No request starts at or after this time.
    pub duration_ms: u64,
    /// Stop after this many requests (None: until `duration_ms`).
    pub max_requests: Option<u64>,
    pub attempt_timeout_ms: u64,
    pub max_attempts: u8,
    pub health_check_ms: u64,
    /// A node an attempt failed on is avoided by every request until it answers a health check
    /// or a request (the report's client); `false`: only by the request that failed.
    pub block_failed_nodes: bool,
    /// Seeds the choice of nodes.
    pub seed: u64,
    /// The nodes requests are sent to, as the driver numbers them.
    pub targets: Vec<u32>,
}

/// What the client asked to be woken for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    Batch,
    Arrival,
    HealthCheck,
}

/// What the node that answered a successful attempt said about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub exec_node: u32,
    pub hops: u8,
    pub cache_hit: bool,
    pub offloaded: bool,
    pub fallback: bool,
}

/// How an attempt ended, as the driver saw it. Timeouts are not reported: the client decides
/// them at the attempt's deadline ([`Client::deadline`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptEnd {
    Served(Served),
    /// The node refused it (503).
    Rejected,
    /// Any other failure once the node accepted the connection.
    Error,
    /// The node's port was closed.
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Timeout,
    Rejected,
    Error,
    Unavailable,
}

impl Failure {
    fn outcome(self) -> Outcome {
        match self {
            Failure::Timeout => Outcome::Timeout,
            Failure::Rejected => Outcome::Rejected,
            Failure::Error => Outcome::Error,
            Failure::Unavailable => Outcome::Unavailable,
        }
    }
}

/// What the driver must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send attempt `attempt` (1-based) of `request` to `target`, and call [`Client::deadline`]
    /// at `deadline_ms` if it has not ended by then.
    Submit {
        request: u32,
        attempt: u8,
        target: u32,
        deadline_ms: u64,
    },
    /// The client gave up on this attempt: hang up on its node.
    HangUp {
        request: u32,
        attempt: u8,
        target: u32,
    },
    /// Call [`Client::wake`] with `wake` at `at_ms`.
    Wake { at_ms: u64, wake: Wake },
    /// Ask whether `target` answers again, and call [`Client::healthy`] if it does.
    CheckHealth { target: u32 },
    /// `request` ended: its record ([`Client::record`]) is final.
    Ended { request: u32 },
}

/// What the driver draws for the client.
pub trait Workload {
    /// Request `request` is being made (ids count up from 0): what it uploads, as the item
    /// number its record carries.
    fn new_request(&mut self, request: u32) -> u32;
    /// The gap from one open-loop arrival to the next, in ms.
    fn gap_ms(&mut self, rate_per_s: f64) -> f64;
}

struct Request {
    batch: Option<u32>,
    submit: u64,
    /// The current attempt's deadline.
    deadline: u64,
    attempt: u8,
    tried: Vec<u32>,
    pending: bool,
    all_unavailable: bool,
    last_fail: Failure,
    item: u32,
    record: Option<RequestRecord>,
}

/// What the client holds at the end of the run.
pub struct Finished {
    /// One per request, by request id.
    pub records: Vec<RequestRecord>,
    /// Requests that never ended (their records say timeout).
    pub unended: Vec<usize>,
    /// Every attempt as it ended: (time, succeeded), in time order.
    pub attempt_ends: Vec<(u64, bool)>,
}

pub struct Client {
    cfg: Config,
    requests: Vec<Request>,
    out: VecDeque<Output>,
    outstanding: u32,
    batch: u32,
    batch_left: u32,
    active: bool,
    next_arrival_ms: f64,
    blocked: Vec<bool>,
    blocked_count: usize,
    /// Emptied `Request::tried` lists, kept for their allocations.
    tried_pool: Vec<Vec<u32>>,
    attempt_ends: Vec<(u64, bool)>,
}

/// About how many requests the client will make (at most a few million), so their table is
/// allocated once instead of being copied every time it doubles.
pub fn expected_requests(c: &Config) -> usize {
    let span_ms = c.duration_ms.saturating_sub(c.start_ms) as f64;
    let n = match c.arrivals {
        Arrivals::None => 0.0,
        // Consecutive batches are at least `pause_ms` apart.
        Arrivals::Batches {
            size,
            pause_ms,
            max_batches,
        } if pause_ms > 0 => {
            let batches = (span_ms / pause_ms as f64).floor() + 1.0;
            let batches = max_batches.map_or(batches, |b| batches.min(b as f64));
            batches * size as f64
        }
        Arrivals::Batches { .. } => 0.0,
        Arrivals::Poisson { rate_per_s } => rate_per_s * span_ms / 1000.0 * 1.05 + 64.0,
    };
    let n = c.max_requests.map_or(n, |m| n.min(m as f64));
    n.clamp(0.0, 4_000_000.0) as usize
}

/// A counter-based hash to uniform [0, 1), so an attempt's node is a pure function of
/// (seed, request, attempt, try).
#[inline]
fn hash_unit(seed: u64, a: u64, b: u64, c: u64) -> f64 {
    let mut x = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = splitmix(x ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    x = splitmix(x ^ c.wrapping_mul(0x1656_67B1_9E37_79F9));
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[inline]
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Client {
    /// # Panics
    /// Without targets while requests are to be made.
    pub fn new(cfg: Config) -> Client {
        assert!(
            cfg.arrivals == Arrivals::None || !cfg.targets.is_empty(),
            "the client needs at least one node"
        );
        let nodes = cfg.targets.iter().max().map_or(0, |&m| m as usize + 1);
        Client {
            requests: Vec::with_capacity(expected_requests(&cfg)),
            out: VecDeque::new(),
            outstanding: 0,
            batch: 0,
            batch_left: 0,
            active: true,
            next_arrival_ms: 0.0,
            blocked: vec![false; nodes],
            blocked_count: 0,
            tried_pool: Vec::new(),
            attempt_ends: Vec::new(),
            cfg,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Asks for the first batch or arrival and the first health check.
    pub fn start(&mut self) {
        let start = self.cfg.start_ms;
        match self.cfg.arrivals {
            Arrivals::Batches { .. } => self.wake_at(start, Wake::Batch),
            Arrivals::Poisson { .. } => {
                self.next_arrival_ms = start as f64;
                self.wake_at(start, Wake::Arrival)
            }
            Arrivals::None => self.active = false,
        }
        self.wake_at(start + self.cfg.health_check_ms, Wake::HealthCheck);
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Requests not yet ended.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Whether the client will make more requests.
    pub fn active(&self) -> bool {
        self.active
    }

    /// No request will start and none is open.
    pub fn is_done(&self) -> bool {
        !self.active && self.outstanding == 0
    }

    /// Requests made so far.
    pub fn requests(&self) -> usize {
        self.requests.len()
    }

    /// Whether `attempt` is still the current attempt of a pending request.
    pub fn current(&self, request: u32, attempt: u8) -> bool {
        let r = &self.requests[request as usize];
        r.pending && r.attempt == attempt
    }

    /// The deadline of `request`'s current attempt.
    pub fn deadline_ms(&self, request: u32) -> u64 {
        self.requests[request as usize].deadline
    }

    /// `request`'s record, once it ended.
    pub fn record(&self, request: u32) -> Option<&RequestRecord> {
        self.requests[request as usize].record.as_ref()
    }

    /// A time asked for with [`Output::Wake`] has come.
    pub fn wake(&mut self, wake: Wake, now: u64, w: &mut impl Workload) {
        match wake {
            Wake::Batch => self.start_batch(now, w),
            Wake::Arrival => self.arrival(now, w),
            Wake::HealthCheck => self.health_check(now),
        }
    }

    /// `target` answered a health check.
    pub fn healthy(&mut self, target: u32) {
        let t = target as usize;
        if self.blocked[t] {
            self.blocked[t] = false;
            self.blocked_count -= 1;
        }
    }

    /// The deadline of `attempt` of `request` has come: if the attempt is still open, the
    /// client hangs up on it and tries the next node.
    pub fn deadline(&mut self, request: u32, attempt: u8, now: u64) {
        if !self.current(request, attempt) {
            return;
        }
        let target = *self.requests[request as usize]
            .tried
            .last()
            .expect("an attempt was made");
        self.out.push_back(Output::HangUp {
            request,
            attempt,
            target,
        });
        self.attempt_failed(now, request, Failure::Timeout);
    }

    /// How `attempt` of `request` ended; ignored if the client is no longer waiting for it.
    pub fn attempt_ended(&mut self, request: u32, attempt: u8, end: AttemptEnd, now: u64) {
        if !self.current(request, attempt) {
            return;
        }
        match end {
            AttemptEnd::Served(s) => self.served(now, request, s),
            AttemptEnd::Rejected => self.attempt_failed(now, request, Failure::Rejected),
            AttemptEnd::Error => self.attempt_failed(now, request, Failure::Error),
            AttemptEnd::Unavailable => self.attempt_failed(now, request, Failure::Unavailable),
        }
    }

    fn wake_at(&mut self, at_ms: u64, wake: Wake) {
        self.out.push_back(Output::Wake { at_ms, wake });
    }

    fn health_check(&mut self, now: u64) {
        if self.blocked_count > 0 && self.cfg.block_failed_nodes {
            for (t, &b) in self.blocked.iter().enumerate() {
                if b {
                    self.out.push_back(Output::CheckHealth { target: t as u32 });
                }
            }
        }
        if self.active || self.outstanding > 0 {
            self.wake_at(now + self.cfg.health_check_ms, Wake::HealthCheck);
        }
    }

    fn requests_left(&self) -> u64 {
        self.cfg
            .max_requests
            .map_or(u64::MAX, |m| m.saturating_sub(self.requests.len() as u64))
    }

    fn new_request(&mut self, now: u64, batch: Option<u32>, w: &mut impl Workload) -> u32 {
        let id = self.requests.len() as u32;
        let item = w.new_request(id);
        self.requests.push(Request {
            batch,
            submit: now,
            deadline: now,
            attempt: 0,
            tried: self.tried_pool.pop().unwrap_or_default(),
            pending: true,
            all_unavailable: true,
            last_fail: Failure::Unavailable,
            item,
            record: None,
        });
        self.outstanding += 1;
        id
    }

    fn start_batch(&mut self, now: u64, w: &mut impl Workload) {
        let Arrivals::Batches {
            size, max_batches, ..
        } = self.cfg.arrivals
        else {
            return;
        };
        let over_count = max_batches.is_some_and(|n| self.batch >= n);
        let left = self.requests_left();
        if now >= self.cfg.duration_ms || over_count || left == 0 {
            self.active = false;
            return;
        }
        let b = self.batch;
        self.batch += 1;
        let size = (size as u64).min(left) as u32;
        self.batch_left = size;
        let first = self.requests.len() as u32;
        // Every request of the batch is made before any is sent, as the batch is one upload
        // burst.
        for _ in 0..size {
            self.new_request(now, Some(b), w);
        }
        for id in first..first + size {
            self.next_attempt(now, id);
        }
    }

    fn arrival(&mut self, now: u64, w: &mut impl Workload) {
        let Arrivals::Poisson { rate_per_s } = self.cfg.arrivals else {
            return;
        };
        if now >= self.cfg.duration_ms || self.requests_left() == 0 {
            self.active = false;
            return;
        }
        let id = self.new_request(now, None, w);
        self.next_attempt(now, id);
        if self.requests_left() == 0 {
            self.active = false;
            return;
        }
        self.next_arrival_ms += w.gap_ms(rate_per_s);
        let at = (self.next_arrival_ms.round() as u64).max(now);
        self.wake_at(at, Wake::Arrival);
    }

    /// Picks the attempt's node: uniform over untried targets not blocked, else over any
    /// untried target.
    fn pick(&self, req: u32) -> Option<u32> {
        let r = &self.requests[req as usize];
        let targets = &self.cfg.targets;
        let seed = self.cfg.seed;
        let usable = |i: u32, allow_blocked: bool| {
            !r.tried.contains(&i) && (allow_blocked || !self.blocked[i as usize])
        };
        let u = |k: u64| hash_unit(seed, req as u64, r.attempt as u64, k);
        // Most picks succeed on the first draws; the lists below are for when few are left.
        for k in 0..32 {
            let i = targets[(u(k) * targets.len() as f64) as usize % targets.len()];
            if usable(i, false) {
                return Some(i);
            }
        }
        for allow_blocked in [false, true] {
            let c: Vec<u32> = targets
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

    fn next_attempt(&mut self, now: u64, req: u32) {
        let pick = if self.requests[req as usize].attempt < self.cfg.max_attempts {
            self.pick(req)
        } else {
            None
        };
        let Some(target) = pick else {
            let r = &self.requests[req as usize];
            let outcome = if r.attempt == 0 || r.all_unavailable {
                Outcome::Unavailable
            } else {
                r.last_fail.outcome()
            };
            self.end_request(now, req, outcome, None);
            return;
        };
        let deadline_ms = now + self.cfg.attempt_timeout_ms;
        let r = &mut self.requests[req as usize];
        r.attempt += 1;
        r.deadline = deadline_ms;
        r.tried.push(target);
        self.out.push_back(Output::Submit {
            request: req,
            attempt: r.attempt,
            target,
            deadline_ms,
        });
    }

    fn served(&mut self, now: u64, req: u32, s: Served) {
        let r = &self.requests[req as usize];
        let entry = *r.tried.last().expect("an attempt was made");
        let rec = RequestRecord {
            batch: r.batch,
            submit_ms: r.submit,
            end_ms: now,
            attempts: r.attempt,
            outcome: Outcome::Ok,
            entry_node: Some(entry),
            exec_node: Some(s.exec_node),
            hops: s.hops,
            cache_hit: s.cache_hit,
            offloaded: s.offloaded,
            fallback: s.fallback,
            item: r.item,
        };
        self.attempt_ends.push((now, true));
        self.end_request(now, req, Outcome::Ok, Some(rec));
        // A success is the health signal the client trusts most.
        self.healthy(entry);
    }

    fn attempt_failed(&mut self, now: u64, req: u32, why: Failure) {
        let r = &mut self.requests[req as usize];
        r.last_fail = why;
        if why != Failure::Unavailable {
            r.all_unavailable = false;
        }
        let node = *r.tried.last().expect("an attempt was made") as usize;
        self.attempt_ends.push((now, false));
        if self.cfg.block_failed_nodes && !self.blocked[node] {
            self.blocked[node] = true;
            self.blocked_count += 1;
        }
        self.next_attempt(now, req);
    }

    fn end_request(&mut self, now: u64, req: u32, outcome: Outcome, rec: Option<RequestRecord>) {
        let r = &mut self.requests[req as usize];
        r.pending = false;
        r.record = Some(rec.unwrap_or_else(|| failed_record(r, now, outcome)));
        let mut tried = std::mem::take(&mut r.tried);
        tried.clear();
        self.tried_pool.push(tried);
        self.outstanding -= 1;
        let in_batch = r.batch.is_some();
        self.out.push_back(Output::Ended { request: req });
        if !in_batch {
            return;
        }
        self.batch_left -= 1;
        if self.batch_left > 0 {
            return;
        }
        let Arrivals::Batches {
            pause_ms,
            max_batches,
            ..
        } = self.cfg.arrivals
        else {
            return;
        };
        let at = now + pause_ms;
        let more = max_batches.is_none_or(|n| self.batch < n) && self.requests_left() > 0;
        if at < self.cfg.duration_ms && more {
            self.wake_at(at, Wake::Batch);
        } else {
            self.active = false;
        }
    }

    /// The requests at the hard stop `now`: those still open end there as timeouts, their last
    /// attempt too.
    pub fn finish(self, now: u64) -> Finished {
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
        let records = self
            .requests
            .into_iter()
            .map(|r| {
                r.record
                    .unwrap_or_else(|| failed_record(&r, now, Outcome::Timeout))
            })
            .collect();
        Finished {
            records,
            unended,
            attempt_ends,
        }
    }
}

fn failed_record(r: &Request, now: u64, outcome: Outcome) -> RequestRecord {
    RequestRecord {
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
        item: r.item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each request uploads item 7; Poisson gaps are 1 s.
    struct Fixed;
    impl Workload for Fixed {
        fn new_request(&mut self, _: u32) -> u32 {
            7
        }
        fn gap_ms(&mut self, _: f64) -> f64 {
            1000.0
        }
    }

    fn config(arrivals: Arrivals) -> Config {
        Config {
            arrivals,
            start_ms: 0,
            duration_ms: 60_000,
            max_requests: None,
            attempt_timeout_ms: 40_000,
            max_attempts: 2,
            health_check_ms: 1_000,
            block_failed_nodes: true,
            seed: 1,
            targets: vec![0, 1, 2],
        }
    }

    fn one_batch(size: u32) -> Arrivals {
        Arrivals::Batches {
            size,
            pause_ms: 5_000,
            max_batches: Some(1),
        }
    }

    fn drain(c: &mut Client) -> Vec<Output> {
        std::iter::from_fn(|| c.poll_output()).collect()
    }

    fn submits(out: &[Output]) -> Vec<(u32, u8, u32, u64)> {
        out.iter()
            .filter_map(|o| match *o {
                Output::Submit {
                    request,
                    attempt,
                    target,
                    deadline_ms,
                } => Some((request, attempt, target, deadline_ms)),
                _ => None,
            })
            .collect()
    }

    fn served(node: u32) -> AttemptEnd {
        AttemptEnd::Served(Served {
            exec_node: node,
            hops: 0,
            cache_hit: false,
            offloaded: false,
            fallback: false,
        })
    }

    #[test]
    fn a_timed_out_attempt_is_retried_on_an_untried_node_at_most_max_attempts_times() {
        let mut c = Client::new(config(one_batch(1)));
        c.start();
        drain(&mut c);
        c.wake(Wake::Batch, 0, &mut Fixed);
        let first = submits(&drain(&mut c));
        let [(0, 1, a, 40_000)] = first[..] else {
            panic!("one attempt with the 40 s deadline: {first:?}")
        };

        // No answer by the deadline: the client hangs up and tries another node.
        c.deadline(0, 1, 40_000);
        let out = drain(&mut c);
        assert_eq!(
            out[0],
            Output::HangUp {
                request: 0,
                attempt: 1,
                target: a
            }
        );
        let second = submits(&out);
        let [(0, 2, b, 80_000)] = second[..] else {
            panic!("a second attempt: {second:?}")
        };
        assert_ne!(a, b, "the retry goes to a node not tried yet");

        // An answer to the abandoned attempt changes nothing.
        c.attempt_ended(0, 1, served(a), 41_000);
        assert!(c.current(0, 2));

        // The second timeout is the last attempt: the request ends as a timeout.
        c.deadline(0, 2, 80_000);
        let out = drain(&mut c);
        assert!(submits(&out).is_empty(), "no third attempt: {out:?}");
        assert!(out.contains(&Output::Ended { request: 0 }));
        let r = *c.record(0).unwrap();
        assert_eq!(r.outcome, Outcome::Timeout);
        assert_eq!((r.attempts, r.entry_node, r.end_ms), (2, Some(b), 80_000));
        assert_eq!(r.item, 7);
        assert!(c.is_done());
        let end = c.finish(90_000);
        assert_eq!(end.attempt_ends, vec![(40_000, false), (80_000, false)]);
        assert!(end.unended.is_empty());
    }

    #[test]
    fn the_next_batch_starts_a_pause_after_the_last_request_of_the_previous_one_ended() {
        let mut c = Client::new(config(Arrivals::Batches {
            size: 2,
            pause_ms: 5_000,
            max_batches: None,
        }));
        c.start();
        drain(&mut c);
        c.wake(Wake::Batch, 0, &mut Fixed);
        let batch = submits(&drain(&mut c));
        assert_eq!(batch.len(), 2);

        c.attempt_ended(0, 1, served(batch[0].2), 100);
        let wakes = |out: &[Output]| {
            out.iter()
                .filter(|o| {
                    matches!(
                        o,
                        Output::Wake {
                            wake: Wake::Batch,
                            ..
                        }
                    )
                })
                .count()
        };
        assert_eq!(wakes(&drain(&mut c)), 0, "one request is still open");

        // A rejection is retried; the batch is over only when the retry is answered.
        c.attempt_ended(1, 1, AttemptEnd::Rejected, 300);
        let retry = submits(&drain(&mut c));
        assert_eq!(retry.len(), 1);
        c.attempt_ended(1, 2, served(retry[0].2), 700);
        let out = drain(&mut c);
        assert!(out.contains(&Output::Wake {
            at_ms: 5_700,
            wake: Wake::Batch
        }));
        c.wake(Wake::Batch, 5_700, &mut Fixed);
        assert_eq!(submits(&drain(&mut c)).len(), 2);
        let r = *c.record(1).unwrap();
        assert_eq!(
            (r.outcome, r.attempts, r.latency_ms()),
            (Outcome::Ok, 2, 700)
        );
    }

    #[test]
    fn a_node_that_failed_is_avoided_until_it_is_healthy_again() {
        let mut cfg = config(one_batch(1));
        cfg.targets = vec![0, 1];
        cfg.max_attempts = 1;
        let mut c = Client::new(cfg);
        c.start();
        drain(&mut c);
        c.wake(Wake::Batch, 0, &mut Fixed);
        let [(0, 1, a, _)] = submits(&drain(&mut c))[..] else {
            panic!()
        };
        c.attempt_ended(0, 1, AttemptEnd::Unavailable, 10);
        assert_eq!(c.record(0).unwrap().outcome, Outcome::Unavailable);
        drain(&mut c);
        c.wake(Wake::HealthCheck, 1_000, &mut Fixed);
        let out = drain(&mut c);
        assert_eq!(out, vec![Output::CheckHealth { target: a }]);
    }

    #[test]
    fn open_loop_arrivals_follow_the_drawn_gaps_until_the_end() {
        let mut cfg = config(Arrivals::Poisson { rate_per_s: 1.0 });
        cfg.duration_ms = 2_500;
        let mut c = Client::new(cfg);
        c.start();
        drain(&mut c);
        let mut at = 0;
        for _ in 0..3 {
            c.wake(Wake::Arrival, at, &mut Fixed);
            let out = drain(&mut c);
            assert_eq!(submits(&out).len(), 1);
            let next = out.iter().find_map(|o| match *o {
                Output::Wake { at_ms, .. } => Some(at_ms),
                _ => None,
            });
            at = next.expect("the next arrival");
        }
        assert_eq!(at, 3_000);
        c.wake(Wake::Arrival, at, &mut Fixed);
        assert!(submits(&drain(&mut c)).is_empty());
        assert!(!c.active());
        assert_eq!(c.requests(), 3);
    }
}
