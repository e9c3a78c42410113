//! Every node's CPU, shared by processor sharing: the transcodes and upload intakes running on a
//! node progress together at `min(job_threads, cores / running) × speed` CPU-seconds per second,
//! and the next to finish is scheduled as one [`Ev::PsDone`]. It also samples the CPU and memory
//! use a node reports.

use std::collections::BinaryHeap;

use vidmesh_core::{FailKind, Input, Job, JobId, Millis};

use super::ceil_ms;
use crate::engine::Ev;
use crate::metrics::WorkTotals;
use crate::queue::EventQueue;
use crate::scenario::{CostModel, Scenario};

/// A transcode (or an upload's intake) on the processor-sharing CPU: done when the node's
/// virtual work clock reaches `finish`.
#[derive(Clone, Copy, Debug)]
struct PsJob {
    finish: f64,
    /// CPU-seconds it needs in all.
    work: f64,
    seq: u64,
    job: JobId,
    out_bytes: u64,
    bad: bool,
    /// The intake (probe) of an upload held in `NodeCpu::intake`, not a transcode.
    intake: bool,
}

impl PartialEq for PsJob {
    fn eq(&self, o: &Self) -> bool {
        self.seq == o.seq
    }
}
impl Eq for PsJob {}
impl Ord for PsJob {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Min-heap on (finish, seq).
        o.finish
            .total_cmp(&self.finish)
            .then_with(|| o.seq.cmp(&self.seq))
    }
}
impl PartialOrd for PsJob {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// One node's processors.
struct NodeCpu {
    /// Uploads being probed (`cost.probe_s`) before the core sees them.
    intake: Vec<Job>,
    cores: f64,
    /// Curve CPU-seconds one core does per second.
    speed: f64,
    memory_mb: f64,
    // Processor sharing: every running transcode progresses at `rate()` CPU-s per second.
    ps: BinaryHeap<PsJob>,
    ps_v: f64,
    ps_last: Millis,
    ps_epoch: u64,
    /// Integral of busy cores over time (core-ms), for CPU %.
    busy_core_ms: f64,
    busy_at_last_stats: f64,
    cpu_pct: f32,
    mem_pct: f32,
}

impl NodeCpu {
    /// Transcodes running (intakes are short ffprobe runs, not ffmpeg-sized in memory).
    fn running(&self) -> usize {
        self.ps.len() - self.intake.len()
    }

    fn rate(&self, job_threads: f64) -> f64 {
        let n = self.ps.len().max(1) as f64;
        job_threads.min(self.cores / n) * self.speed
    }

    /// Brings the work clock and the busy integral up to `now`.
    fn ps_advance(&mut self, now: Millis, job_threads: f64) {
        let dt = now.saturating_sub(self.ps_last) as f64;
        if dt > 0.0 && !self.ps.is_empty() {
            self.ps_v += self.rate(job_threads) * dt / 1000.0;
            let busy = (self.ps.len() as f64 * job_threads).min(self.cores);
            self.busy_core_ms += busy * dt;
        }
        self.ps_last = now;
    }
}

pub(crate) struct Cpu<'a> {
    cost: &'a CostModel,
    /// The catalog's mean upload in MB: what a queued upload holds in memory.
    mean_mb: f64,
    nodes: Vec<NodeCpu>,
    job_threads: f64,
    /// Ties between jobs finishing at once go to the one started first.
    seq: u64,
}

impl<'a> Cpu<'a> {
    pub fn new(s: &'a Scenario, mean_size_bytes: f64) -> Cpu<'a> {
        Cpu {
            cost: &s.cost,
            mean_mb: mean_size_bytes / 1e6,
            nodes: (s.nodes.iter())
                .map(|spec| NodeCpu {
                    intake: Vec::new(),
                    cores: spec.cores,
                    speed: spec.speed,
                    memory_mb: spec.memory_mb,
                    ps: BinaryHeap::new(),
                    ps_v: 0.0,
                    ps_last: 0,
                    ps_epoch: 0,
                    busy_core_ms: 0.0,
                    busy_at_last_stats: 0.0,
                    cpu_pct: 0.0,
                    mem_pct: 0.0,
                })
                .collect(),
            job_threads: s.cost.job_threads,
            seq: 0,
        }
    }

    /// Node `i` (re)starts at `now` with an idle CPU.
    pub fn boot(&mut self, i: usize, now: Millis) {
        let n = &mut self.nodes[i];
        n.ps_last = now;
        n.busy_at_last_stats = n.busy_core_ms;
    }

    /// Starts the transcode of `job` on node `i`: `work` CPU-seconds, then `out` bytes of
    /// output (None: the transcode fails).
    pub fn transcode(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        job: JobId,
        work: f64,
        out: Option<u64>,
    ) {
        let (out_bytes, bad) = match out {
            Some(b) => (b, false),
            None => (0, true),
        };
        self.start(now, q, i, job, work, out_bytes, bad, false);
    }

    /// Starts the intake of an uncached upload: `probe_s` of CPU on the node's
    /// processor-sharing pool, then the core gets the upload.
    pub fn intake(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        job: Job,
        probe_s: f64,
    ) {
        let id = job.id;
        self.nodes[i].intake.push(job);
        self.start(now, q, i, id, probe_s, 0, false, true);
    }

    /// Puts `work` CPU seconds for `job` on node `i`'s processor-sharing pool.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn start(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        job: JobId,
        work: f64,
        out_bytes: u64,
        bad: bool,
        intake: bool,
    ) {
        let jt = self.job_threads;
        let n = &mut self.nodes[i];
        n.ps_advance(now, jt);
        self.seq += 1;
        n.ps.push(PsJob {
            finish: n.ps_v + work,
            work,
            seq: self.seq,
            job,
            out_bytes,
            bad,
            intake,
        });
        self.reschedule(now, q, i);
    }

    fn reschedule(&mut self, now: Millis, q: &mut EventQueue<Ev>, i: usize) {
        let jt = self.job_threads;
        let n = &mut self.nodes[i];
        n.ps_epoch += 1;
        if let Some(top) = n.ps.peek() {
            let rate = n.rate(jt);
            let ms = ceil_ms((top.finish - n.ps_v).max(0.0) / rate * 1000.0);
            let ev = Ev::PsDone {
                node: i as u32,
                epoch: n.ps_epoch,
            };
            q.push(now + ms, ev);
        }
    }

    /// [`Ev::PsDone`] on a node that is not down: what the core hears of the job that finished,
    /// if the event is still current.
    pub fn done(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        epoch: u64,
        work: &mut WorkTotals,
    ) -> Option<Input> {
        let jt = self.job_threads;
        let n = &mut self.nodes[i];
        if n.ps_epoch != epoch {
            return None;
        }
        n.ps_advance(now, jt);
        let done = n.ps.pop()?;
        n.ps_v = n.ps_v.max(done.finish);
        self.reschedule(now, q, i);
        if done.intake {
            let n = &mut self.nodes[i];
            let k = n.intake.iter().position(|j| j.id == done.job)?;
            let job = n.intake.swap_remove(k);
            return Some(Input::Probed {
                job: job.id,
                result: Ok(job.features),
            });
        }
        work.transcodes_done += 1;
        work.transcode_cpu_s += done.work;
        let result = if done.bad {
            Err(FailKind::Transcode)
        } else {
            Ok(done.out_bytes)
        };
        Some(Input::TranscodeDone {
            job: done.job,
            result,
        })
    }

    /// Kills the probe or transcode of `job` on node `i`; the CPU it used stays spent.
    pub fn abort(
        &mut self,
        now: Millis,
        q: &mut EventQueue<Ev>,
        i: usize,
        job: JobId,
        work: &mut WorkTotals,
    ) {
        let jt = self.job_threads;
        let n = &mut self.nodes[i];
        n.ps_advance(now, jt);
        let before = n.ps.len();
        let mut spent = 0.0;
        let mut was_transcode = false;
        let ps_v = n.ps_v;
        n.ps.retain(|p| {
            if p.job != job {
                return true;
            }
            if !p.intake {
                was_transcode = true;
                spent = (p.work - (p.finish - ps_v)).clamp(0.0, p.work);
            }
            false
        });
        if n.ps.len() == before {
            return;
        }
        n.intake.retain(|j| j.id != job);
        if was_transcode {
            work.transcodes_aborted += 1;
            work.transcode_cpu_s += spent;
        }
        self.reschedule(now, q, i);
    }

    /// Node `i`'s process died: everything on its CPU is gone, the CPU it used stays spent.
    pub fn crash(&mut self, i: usize, work: &mut WorkTotals) {
        let n = &mut self.nodes[i];
        n.intake.clear();
        let ps_v = n.ps_v;
        for p in n.ps.drain() {
            if !p.intake {
                work.transcode_cpu_s += (p.work - (p.finish - ps_v)).clamp(0.0, p.work);
            }
        }
        n.ps_epoch += 1;
    }

    /// Node `i`'s CPU and memory use over the last stats period, with `queued` uploads waiting
    /// in memory; kept for [`Cpu::load`].
    pub fn sample(&mut self, now: Millis, i: usize, queued: f64) -> (f32, f32) {
        let period = self.cost.stats_period_ms;
        let cost = self.cost;
        let n = &mut self.nodes[i];
        n.ps_advance(now, self.job_threads);
        let busy = n.busy_core_ms - n.busy_at_last_stats;
        n.busy_at_last_stats = n.busy_core_ms;
        let cpu = (100.0 * busy / (period as f64 * n.cores)).clamp(0.0, 100.0);
        // Uploads wait in memory (as in the original system); each ffmpeg holds its RSS.
        let mem_mb =
            cost.base_mem_mb + n.running() as f64 * cost.ffmpeg_rss_mb + queued * self.mean_mb;
        let mem = (100.0 * mem_mb / n.memory_mb).clamp(0.0, 100.0);
        n.cpu_pct = cpu as f32;
        n.mem_pct = mem as f32;
        (n.cpu_pct, n.mem_pct)
    }

    /// Node `i`'s CPU and memory % at the last sample.
    pub fn load(&self, i: usize) -> (f32, f32) {
        (self.nodes[i].cpu_pct, self.nodes[i].mem_pct)
    }
}
