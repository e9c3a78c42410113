//! A node's life beyond routing: the retry of a stalled transcode, and draining (finish the
//! work here, take none, then leave the membership gracefully). Kept apart from the routing
//! code so the two evolve without stepping on each other.

use super::*;

/// Draining state.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Drain {
    /// [`Input::Drain`] arrived: no new work is taken.
    pub(super) active: bool,
    /// Every job was finished and the cluster was told this node leaves.
    pub(super) left: bool,
}

impl Node {
    /// Whether this node is draining (or has drained and left).
    pub fn draining(&self) -> bool {
        self.drain.active
    }

    /// Jobs this node holds in any state (probing, queued, running, offloaded and unanswered,
    /// or finishing for the cache): what a drain waits for, and 0 once a run has settled.
    pub fn jobs_held(&self) -> usize {
        self.jobs.len()
    }

    /// Whether draining is over: nothing left to do, and the cluster was told.
    pub fn drained(&self) -> bool {
        self.drain.left
    }

    pub(super) fn start_drain(&mut self) {
        self.drain.active = true;
    }

    /// How long a refused client should wait: the typical job, at least the minimum.
    fn drain_retry_ms(&self) -> u64 {
        (self.cost.typical_service_ms().unwrap_or(0.0) as u64).max(MIN_RETRY_MS)
    }

    /// Before an upload's body is read: a draining node refuses what it could not send on (a
    /// peer's offload, or a client's upload when no peer is alive).
    pub(super) fn drain_refusal(&self, _now: Millis, hops: u8) -> Option<RejectReason> {
        if !self.drain.active {
            return None;
        }
        let can_send_on = hops < self.cfg.hop_limit && !self.peers.is_empty();
        (!can_send_on).then(|| RejectReason::Draining {
            retry_after_ms: self.drain_retry_ms(),
        })
    }

    /// A new upload while draining: sent on unprobed to the peer predicted to finish it first
    /// (or, with no peer report yet, the strategy's pick), or refused. True when handled.
    pub(super) fn divert_while_draining(&mut self, now: Millis, job: Job) -> bool {
        self.counters.drain_diverted += 1;
        let peer = if job.hops < self.cfg.hop_limit && !self.peers.is_empty() {
            match self.earliest_peer(now, &job) {
                Some((i, _)) => Some(i),
                None => match self.route(now, &job) {
                    Choice::Peer(i) => Some(i),
                    Choice::Local => Some(0),
                },
            }
        } else {
            None
        };
        match peer {
            Some(i) => {
                self.track(now, job, JobState::Routing);
                self.offload_to(i, job);
            }
            None => {
                let retry_after_ms = self.drain_retry_ms();
                self.refuse(job.id, RejectReason::Draining { retry_after_ms });
            }
        }
        true
    }

    /// After every input: once a draining node holds no job, it leaves the membership (peers
    /// see it go down at once, without suspecting it first).
    pub(super) fn leave_when_drained(&mut self, now: Millis) {
        if !self.drain.active || self.drain.left || !self.jobs.is_empty() {
            return;
        }
        self.drain.left = true;
        let mut rt = SwimRuntime {
            now,
            out: &mut self.out,
            notes: &mut self.notes,
            sent: &mut self.counters.messages_out,
            spare: &mut self.spare_bufs,
            health: &mut self.health,
        };
        if let Err(e) = self.swim.leave_cluster(&mut rt) {
            self.out
                .push_back(Output::Event(Event::BadMessage(format!("leaving: {e}"))));
        }
        self.notes.clear(); // our own departure is no peer going down
        self.out.push_back(Output::Event(Event::Left));
    }

    /// ffmpeg made no progress and the driver killed it: the job gets one retry, on the peer
    /// predicted to finish it first if one can make the deadline, else here if this node can.
    /// False when it gets none (already retried, answered, or no time): it fails as usual.
    pub(super) fn retry_stalled(&mut self, now: Millis, t: Tracked) -> bool {
        self.counters.transcodes_stalled += 1;
        if t.retried || t.answered {
            return false;
        }
        let id = t.job.id;
        let job = t.job;
        let peer = if job.hops < self.cfg.hop_limit && !self.drain.active {
            self.earliest_peer(now, &job)
                .filter(|(_, eta)| *eta <= job.deadline)
                .map(|(i, _)| i)
        } else {
            None
        };
        self.finish_running(id);
        let local_ok =
            job.deadline == NO_DEADLINE || now + self.local_eta_ms(now, &job) <= job.deadline;
        if peer.is_none() && !local_ok {
            // Running again: the slot is freed and the caller fails it as usual.
            self.running += 1;
            self.running_ids.push(id);
            return false;
        }
        self.counters.stall_retries += 1;
        if let Some(t) = self.jobs.get_mut(&id) {
            t.retried = true;
            t.state = JobState::Routing;
        }
        match peer {
            Some(i) => self.offload_to(i, job),
            None => self.run_locally(now, job, false),
        }
        self.start_queued(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node tests' fixtures: one node alone, a 720p 10 s clip already probed.
    fn lone() -> Node {
        super::super::tests::lone(1)
    }

    fn job(id: u64, deadline: Millis) -> Job {
        super::super::tests::job(id, deadline, true)
    }

    fn outputs(n: &mut Node) -> Vec<Output> {
        std::iter::from_fn(|| n.poll_output()).collect()
    }

    fn starts(out: &[Output]) -> Vec<JobId> {
        out.iter()
            .filter_map(|o| match o {
                Output::StartTranscode(j) => Some(j.id),
                _ => None,
            })
            .collect()
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
    fn a_stalled_transcode_is_retried_once_then_fails_as_stalled() {
        let mut n = lone();
        n.handle_input(0, Input::Upload(job(1, 60_000)));
        assert_eq!(starts(&outputs(&mut n)), vec![JobId(1)]);
        let stalled = Input::TranscodeDone {
            job: JobId(1),
            result: Err(FailKind::Stalled),
        };
        n.handle_input(30_000, stalled.clone());
        let out = outputs(&mut n);
        assert!(replies(&out).is_empty(), "retried, not answered: {out:?}");
        assert_eq!(starts(&out), vec![JobId(1)]);
        n.handle_input(31_000, stalled);
        let out = outputs(&mut n);
        assert_eq!(
            replies(&out),
            vec![(JobId(1), Outcome::Failed(FailKind::Stalled))]
        );
        assert!(starts(&out).is_empty());
        let c = n.counters();
        assert_eq!((c.transcodes_stalled, c.stall_retries), (2, 1));
        assert_eq!((n.in_flight(), n.queue_len()), (0, 0));
    }

    #[test]
    fn a_stall_too_late_to_retry_fails_at_once_and_the_next_job_starts() {
        let mut n = lone();
        n.handle_input(0, Input::Upload(job(1, 9_000)));
        n.handle_input(0, Input::Upload(job(2, 60_000)));
        outputs(&mut n);
        // 8 s in, a 2 s job (×1.47 margin) cannot finish by 9 s.
        n.handle_input(
            8_000,
            Input::TranscodeDone {
                job: JobId(1),
                result: Err(FailKind::Stalled),
            },
        );
        let out = outputs(&mut n);
        assert_eq!(
            replies(&out),
            vec![(JobId(1), Outcome::Failed(FailKind::Stalled))]
        );
        assert_eq!(starts(&out), vec![JobId(2)]);
    }

    #[test]
    fn a_draining_node_finishes_its_work_refuses_new_work_then_leaves() {
        let mut n = lone();
        n.handle_input(0, Input::Upload(job(1, 60_000)));
        outputs(&mut n);
        n.handle_input(10, Input::Drain);
        assert!(n.draining() && !n.drained());
        assert!(outputs(&mut n).is_empty(), "still working");
        // Alone, it can send nothing on: new uploads are refused, before and after the body.
        assert!(matches!(
            n.refuse_early(20, 60_000, 2_000_000, 0),
            Some(RejectReason::Draining { .. })
        ));
        n.handle_input(20, Input::Upload(job(2, 60_000)));
        let out = outputs(&mut n);
        assert!(matches!(
            replies(&out)[..],
            [(JobId(2), Outcome::Rejected(RejectReason::Draining { .. }))]
        ));
        assert!(starts(&out).is_empty());
        n.handle_input(
            2_000,
            Input::TranscodeDone {
                job: JobId(1),
                result: Ok(1_000),
            },
        );
        let out = outputs(&mut n);
        assert!(matches!(
            replies(&out)[..],
            [(JobId(1), Outcome::Done { .. })]
        ));
        assert!(out.contains(&Output::Event(Event::Left)), "{out:?}");
        assert!(n.drained());
        assert_eq!(n.counters().drain_diverted, 1);
    }
}
