//! The checker's side of a run: the protocol rules each node checks after every input, the
//! route check at the end (no answer lost on its way out), the membership after a partition
//! heals, and the deliberately broken driver that shows the checker catches what it should.

use vidmesh_core::{GossipConfig, JobId, Millis};

use super::{Ev, Run};
use crate::metrics::{FaultEventRow, Violation};
use crate::nodes::Status;
use crate::scenario::NetFaultKind;

/// A deliberately broken driver, to show that the checker catches what it is meant to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sabotage {
    /// The `nth` answer a core gives (1-based, counted over all nodes) is never passed on.
    DropReply { nth: u64 },
}

/// How long after a partition heals the membership must be whole again: long enough for the
/// periodic announcements to the members declared down (every 2 announce periods) to go round
/// a few times, and for SWIM to spread the news.
pub(super) fn convergence_bound_ms(g: &GossipConfig) -> Millis {
    4 * 2 * g.announce_period_ms.max(g.period_ms) + 10 * g.probe_period_ms
}

impl Ev {
    /// What the event is, for a violation's report.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Ev::Deliver { .. } => "message delivered",
            Ev::Timer { .. } => "timer",
            Ev::PsDone { .. } => "transcode done",
            Ev::OffloadArrive { .. } => "offload arrived",
            Ev::OffloadResult { .. } => "offload answered",
            Ev::OffloadTimeout { .. } => "offload timed out",
            Ev::UploadArrive { .. } => "upload arrived",
            Ev::ClientReply { .. } => "client reply",
            Ev::AttemptFail { .. } => "attempt failed",
            Ev::AttemptTimeout { .. } => "attempt timed out",
            Ev::Cancel { .. } => "cancel",
            Ev::BatchStart => "batch start",
            Ev::Arrival => "arrival",
            Ev::StatsTick => "stats tick",
            Ev::WindowTick => "window tick",
            Ev::HealthCheck => "client health check",
            Ev::FaultStart(_) => "fault start",
            Ev::FaultEnd(_) => "fault end",
            Ev::NetFault(_, true) => "network fault start",
            Ev::NetFault(_, false) => "network fault end",
            Ev::HealCheck(_) => "convergence check after a partition",
        }
    }
}

impl Run<'_> {
    /// Node `i`'s own protocol rules after an input (`Node::check_invariants`): the first
    /// broken one stops the run with the time and the event.
    pub(super) fn check(&mut self, i: usize) {
        if self.violation.is_some() {
            return;
        }
        if let Some(Err(v)) = self.nodes[i].core.as_ref().map(|c| c.check_invariants()) {
            self.violation = Some(Violation {
                time_ms: self.now,
                node: Some(self.s.nodes[i].name.clone()),
                event: self.event,
                what: v.to_string(),
            });
        }
    }

    /// Every job the driver still waits to answer for must be one its node holds unanswered:
    /// otherwise the node answered it and the answer was lost on the way out.
    pub(super) fn check_routes(&mut self) {
        if self.violation.is_some() {
            return;
        }
        for (job, route) in self.routes.iter() {
            let i = route.node as usize;
            let Some(core) = self.nodes[i].core.as_ref() else {
                continue;
            };
            if !core.holds_unanswered(JobId(job)) {
                self.violation = Some(Violation {
                    time_ms: self.now,
                    node: Some(self.s.nodes[i].name.clone()),
                    event: "end of run",
                    what: format!(
                        "job {job} was answered by its node, but the answer never reached \
                         whoever submitted it: no job may be both answered and lost"
                    ),
                });
                return;
            }
        }
    }

    /// A network fault starts or ends; a partition is recorded for every node on its side.
    pub(super) fn net_fault(&mut self, k: usize, start: bool) {
        let f = &self.s.net_faults[k];
        if let NetFaultKind::Partition { side } = &f.kind {
            let kind = if start { "partition" } else { "heal" };
            for (i, _) in side.iter().enumerate().filter(|(_, &x)| x) {
                self.faults.events.push(FaultEventRow {
                    time_ms: self.now,
                    kind,
                    node: i as u32,
                });
            }
        }
        tracing::debug!(kind = f.kind.name(), start, "network fault");
    }

    /// Some time after partition `k` healed, every node that is up (and not draining) must
    /// count every other such node alive again.
    pub(super) fn heal_check(&mut self, k: usize) {
        if self.violation.is_some() {
            return;
        }
        // Another partition or a node fault since then makes "whole" ambiguous: skip.
        let now = self.now;
        let heal = self.s.net_faults[k].until_ms.unwrap_or(now);
        let disturbed = self.s.net_faults.iter().enumerate().any(|(j, f)| {
            j != k
                && matches!(f.kind, NetFaultKind::Partition { .. })
                && f.at_ms < now
                && f.until_ms.is_none_or(|u| u > heal)
        }) || self
            .s
            .faults
            .iter()
            .any(|f| f.at_ms < now && f.for_ms.is_none_or(|d| f.at_ms + d >= heal));
        // Nor can SWIM keep anyone alive while a delay fault pushes a round trip past the probe
        // timeout: that is a network slower than the configuration allows, not a broken rule.
        let rtt_max = self.s.network.zones.max_rtt_ms();
        let too_slow = self.s.net_faults.iter().any(|f| match f.kind {
            NetFaultKind::Delay { extra_ms, .. } => {
                f.active(now)
                    && rtt_max + 2.0 * extra_ms as f64 >= self.s.gossip.probe_rtt_ms as f64
            }
            _ => false,
        });
        if disturbed || too_slow {
            return;
        }
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].status == Status::Up
                    && self.nodes[i].core.as_ref().is_some_and(|c| !c.draining())
            })
            .collect();
        for &i in &up {
            let Some(core) = self.nodes[i].core.as_ref() else {
                continue;
            };
            let alive = core.alive_members();
            if alive < up.len() - 1 {
                self.violation = Some(Violation {
                    time_ms: now,
                    node: Some(self.s.nodes[i].name.clone()),
                    event: self.event,
                    what: format!(
                        "membership did not converge: {} s after the partition healed it counts \
                         {alive} of the {} other nodes alive",
                        (now - heal) / 1000,
                        up.len() - 1
                    ),
                });
                return;
            }
        }
    }

    /// Breaks this run's driver on purpose (tests of the checker).
    pub fn sabotage(mut self, s: Sabotage) -> Self {
        self.sabotage = Some(s);
        self
    }
}
