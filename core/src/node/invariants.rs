//! The rules of the job protocol one node can check about itself, cheaply, after any input: a
//! driver (the simulator after every event, a test after every step) calls
//! [`Node::check_invariants`] and stops at the first violation with its own time and event.
//! What needs the whole cluster (each request answered exactly once, as its client saw it) is
//! the chaos checker's, in `vidmesh-analysis`.

use super::*;

/// A rule of the job protocol this node broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolViolation {
    /// Every upload this node took is answered once or still held unanswered: more replies
    /// means a job was answered twice, fewer means one was dropped without an answer.
    #[error(
        "{uploads} uploads taken, but {replies} replies sent and {unanswered} jobs held \
         unanswered: {}",
        if *replies + *unanswered > *uploads { "a job was answered twice" } else { "a job was dropped unanswered" }
    )]
    Unaccounted {
        uploads: u64,
        replies: u64,
        unanswered: u64,
    },
    /// A job held here has travelled further than the hop limit allows (checked against this
    /// node's own limit: a cluster shares one).
    #[error("job {job} has made {hops} hops, over the hop limit of {limit}")]
    HopLimit { job: u64, hops: u8, limit: u8 },
}

impl Node {
    /// Whether this node holds `job` and has not answered it yet: a driver that still waits to
    /// pass an answer on for `job` must find this true.
    pub fn holds_unanswered(&self, job: JobId) -> bool {
        self.jobs.get(&job).is_some_and(|t| !t.answered)
    }

    /// The first rule of the job protocol this node breaks now, if any. Constant time: the
    /// counts it compares are kept as jobs come and go, so a driver can ask after every input.
    pub fn check_invariants(&self) -> Result<(), ProtocolViolation> {
        if let Some(v) = &self.broken {
            return Err(v.clone());
        }
        let unanswered = self.jobs.len() as u64 - self.answered_held;
        let (uploads, replies) = (self.counters.uploads, self.counters.replies);
        if uploads != replies + unanswered {
            return Err(ProtocolViolation::Unaccounted {
                uploads,
                replies,
                unanswered,
            });
        }
        Ok(())
    }
}
