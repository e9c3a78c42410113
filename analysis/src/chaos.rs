//! The chaos checker: after a run with faults (a node killed, paused, drained), did every
//! request end exactly once, with an outcome its client saw, and was nothing left behind?
//!
//! Both the simulator's tests and the live tests feed it: a list of the requests submitted,
//! every *end* the client observed (one per request when all is well), and what each node
//! still holds at the end. It knows nothing of either runtime, so the same rules judge both.

use std::collections::BTreeMap;
use std::fmt;

/// How one request ended, as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// An answer with the output.
    Ok,
    /// Refused by the cluster (full, draining, deadline), with the reason it gave.
    Refused(String),
    /// Failed with an error the client received (or every node it tried was unreachable).
    Failed(String),
    /// The client stopped waiting: a definite end, though no node answered.
    ClientTimeout,
}

impl End {
    /// How a request the load client recorded ended, given what its last failed attempt said.
    pub fn of(outcome: vidmesh_loadgen::record::Outcome, error: Option<&str>) -> End {
        use vidmesh_loadgen::record::Outcome;
        let why = || error.unwrap_or_default().to_string();
        match outcome {
            Outcome::Ok => End::Ok,
            Outcome::Rejected => End::Refused(why()),
            Outcome::Error | Outcome::Unavailable => End::Failed(why()),
            Outcome::Timeout => End::ClientTimeout,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            End::Ok => "ok",
            End::Refused(_) => "refused",
            End::Failed(_) => "failed",
            End::ClientTimeout => "client timeout",
        }
    }
}

/// One end observed for request `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestEnd {
    pub id: u64,
    pub end: End,
}

/// A node at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEnd {
    pub name: String,
    /// Still running (a killed or drained node holds nothing by definition).
    pub running: bool,
    /// Jobs it still holds: queued, running, probing or offloaded and unanswered.
    pub jobs_left: u64,
    /// Answers it produced for a job nobody was waiting on under that id: a job answered a
    /// second time (or one it was never given). The client sees at most one of them, so this
    /// is where a double answer shows.
    pub stray_answers: u64,
}

/// A rule the run broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Submitted, and never ended.
    Lost(u64),
    /// Ended more than once (the outcomes, in the order seen).
    AnsweredTwice(u64, Vec<String>),
    /// An end for a request nobody submitted.
    Unknown(u64),
    /// Refused or failed without saying why.
    NoReason(u64),
    /// A running node still holds jobs once every request ended.
    JobsLeft(String, u64),
    /// A node answered jobs a second time.
    StrayAnswers(String, u64),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Lost(id) => write!(f, "request {id} was lost: it never ended"),
            Violation::AnsweredTwice(id, ends) => {
                write!(
                    f,
                    "request {id} ended {} times: {}",
                    ends.len(),
                    ends.join(", ")
                )
            }
            Violation::Unknown(id) => write!(f, "an end for request {id}, never submitted"),
            Violation::NoReason(id) => {
                write!(f, "request {id} was refused or failed without a reason")
            }
            Violation::JobsLeft(n, k) => write!(f, "{n} still holds {k} jobs after the run"),
            Violation::StrayAnswers(n, k) => write!(
                f,
                "{n} answered {k} jobs that nobody waited on (a second answer, or a job it was never given)"
            ),
        }
    }
}

/// What the run's requests came to, when no rule was broken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub client_timeouts: u64,
    /// Refusals and failures by reason.
    pub reasons: BTreeMap<String, u64>,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.ok + self.refused + self.failed + self.client_timeouts
    }
}

/// Every violation found, with the tally of the ends that were fine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub tally: Tally,
    pub violations: Vec<Violation>,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        write!(
            f,
            "{} requests: {} ok, {} refused, {} failed, {} client timeouts",
            t.total(),
            t.ok,
            t.refused,
            t.failed,
            t.client_timeouts
        )?;
        for (r, n) in &t.reasons {
            write!(f, "\n  {n} × {r}")?;
        }
        for v in &self.violations {
            write!(f, "\n  VIOLATION: {v}")?;
        }
        Ok(())
    }
}

/// Judges a run: `submitted` are the request ids the client sent, `ends` every end it saw,
/// `nodes` the nodes as they are once the run is over.
pub fn check(
    submitted: impl IntoIterator<Item = u64>,
    ends: &[RequestEnd],
    nodes: &[NodeEnd],
) -> Verdict {
    let mut by_id: BTreeMap<u64, Vec<&End>> =
        submitted.into_iter().map(|id| (id, Vec::new())).collect();
    let mut violations = Vec::new();
    for e in ends {
        match by_id.get_mut(&e.id) {
            Some(v) => v.push(&e.end),
            None => violations.push(Violation::Unknown(e.id)),
        }
    }
    let mut tally = Tally::default();
    for (id, seen) in &by_id {
        match seen.as_slice() {
            [] => violations.push(Violation::Lost(*id)),
            [end] => match end {
                End::Ok => tally.ok += 1,
                End::Refused(r) | End::Failed(r) => {
                    if r.trim().is_empty() {
                        violations.push(Violation::NoReason(*id));
                    }
                    if matches!(end, End::Refused(_)) {
                        tally.refused += 1;
                    } else {
                        tally.failed += 1;
                    }
                    *tally
                        .reasons
                        .entry(format!("{}: {r}", end.label()))
                        .or_default() += 1;
                }
                End::ClientTimeout => tally.client_timeouts += 1,
            },
            many => violations.push(Violation::AnsweredTwice(
                *id,
                many.iter().map(|e| e.label().to_string()).collect(),
            )),
        }
    }
    for n in nodes {
        if n.running && n.jobs_left > 0 {
            violations.push(Violation::JobsLeft(n.name.clone(), n.jobs_left));
        }
        if n.stray_answers > 0 {
            violations.push(Violation::StrayAnswers(n.name.clone(), n.stray_answers));
        }
    }
    Verdict { tally, violations }
}

/// [`check`], panicking with every violation when there is one; returns the tally.
#[track_caller]
pub fn assert_clean(
    submitted: impl IntoIterator<Item = u64>,
    ends: &[RequestEnd],
    nodes: &[NodeEnd],
) -> Tally {
    let v = check(submitted, ends, nodes);
    assert!(v.is_clean(), "chaos check failed: {v}");
    v.tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(id: u64, end: End) -> RequestEnd {
        RequestEnd { id, end }
    }

    #[test]
    fn a_clean_run_is_tallied_by_outcome_and_reason() {
        let ends = [
            end(1, End::Ok),
            end(2, End::Refused("draining".into())),
            end(3, End::Failed("500: ffmpeg failed".into())),
            end(4, End::ClientTimeout),
        ];
        let nodes = [NodeEnd {
            name: "node1".into(),
            running: true,
            jobs_left: 0,
            stray_answers: 0,
        }];
        let v = check(1..=4, &ends, &nodes);
        assert!(v.is_clean(), "{v}");
        assert_eq!(
            (
                v.tally.ok,
                v.tally.refused,
                v.tally.failed,
                v.tally.client_timeouts
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(v.tally.reasons.get("refused: draining"), Some(&1));
    }

    #[test]
    fn lost_doubled_unknown_and_unexplained_ends_and_stuck_jobs_are_each_reported() {
        let ends = [
            end(1, End::Ok),
            end(1, End::Failed("reset".into())),
            end(3, End::Refused(" ".into())),
            end(9, End::Ok),
        ];
        let nodes = [
            NodeEnd {
                name: "node1".into(),
                running: true,
                jobs_left: 2,
                stray_answers: 0,
            },
            // A dead node's jobs are not "left": its requests show up as lost or failed.
            NodeEnd {
                name: "node2".into(),
                running: false,
                jobs_left: 5,
                stray_answers: 1,
            },
        ];
        let v = check(1..=3, &ends, &nodes);
        assert_eq!(
            v.violations,
            vec![
                Violation::Unknown(9),
                Violation::AnsweredTwice(1, vec!["ok".into(), "failed".into()]),
                Violation::Lost(2),
                Violation::NoReason(3),
                Violation::JobsLeft("node1".into(), 2),
                Violation::StrayAnswers("node2".into(), 1),
            ]
        );
        let text = v.to_string();
        assert!(
            text.contains("request 2 was lost") && text.contains("ended 2 times"),
            "{text}"
        );
    }
}
