//! The faults injected into the nodes (crash, pause, drain) and what they lead to: the fault
//! events as they happened, and for every crash or pause the observers that have yet to declare
//! the failed node down.

use vidmesh_core::{Millis, NodeId};

use crate::engine::Ev;
use crate::metrics::{DetectionRow, FaultEventRow};
use crate::nodes::{SimNode, Status};
use crate::queue::EventQueue;
use crate::scenario::{FaultKind, Scenario};

/// Observers waiting to declare a failed node down.
struct OpenFault {
    node: u32,
    open: bool,
    /// Their rows in the run's detections.
    rows: Vec<usize>,
}

pub(crate) struct Faults<'a> {
    s: &'a Scenario,
    open: Vec<OpenFault>,
    pub events: Vec<FaultEventRow>,
}

impl<'a> Faults<'a> {
    pub fn new(s: &'a Scenario) -> Faults<'a> {
        Faults {
            s,
            open: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Schedules every fault's start and end.
    pub fn schedule(&self, q: &mut EventQueue<Ev>) {
        for (k, f) in self.s.faults.iter().enumerate() {
            q.push(f.at_ms, Ev::FaultStart(k));
            if let Some(d) = f.for_ms {
                q.push(f.at_ms + d, Ev::FaultEnd(k));
            }
        }
    }

    /// Fault `k` starts: the node and what happens to it, unless it is not up. A crash or pause
    /// opens a detection row for every node up to observe it.
    pub fn start(
        &mut self,
        k: usize,
        now: Millis,
        nodes: &[SimNode],
        detections: &mut Vec<DetectionRow>,
    ) -> Option<(usize, FaultKind)> {
        let f = &self.s.faults[k];
        let i = f.node;
        if nodes[i].status != Status::Up {
            tracing::warn!(node = %self.s.nodes[i].name, "fault on a node that is not up; ignored");
            return None;
        }
        let kind = match f.kind {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Drain => "drain",
        };
        self.events.push(FaultEventRow {
            time_ms: now,
            kind,
            node: i as u32,
        });
        if f.kind == FaultKind::Drain {
            // Not a failure: nobody has to detect it (the node says it leaves).
            return Some((i, f.kind));
        }
        let mut rows = Vec::new();
        for (o, n) in nodes.iter().enumerate() {
            // Nodes failing at this same instant observe nothing.
            let failing_too = self
                .s
                .faults
                .iter()
                .any(|g| g.node == o && g.at_ms == f.at_ms);
            if o != i && n.status == Status::Up && !failing_too {
                rows.push(detections.len());
                detections.push(DetectionRow {
                    kind,
                    failed_node: i as u32,
                    fault_ms: now,
                    observer: o as u32,
                    detected_ms: None,
                });
            }
        }
        self.open.push(OpenFault {
            node: i as u32,
            open: true,
            rows,
        });
        Some((i, f.kind))
    }

    /// Fault `k` ends on its node, whose status is `status`: the node, if it now resumes
    /// (a pause) or restarts (a crash).
    pub fn end(&mut self, k: usize, now: Millis, status: Status) -> Option<(usize, FaultKind)> {
        let f = &self.s.faults[k];
        let i = f.node;
        for of in self.open.iter_mut().filter(|o| o.node == i as u32) {
            of.open = false;
        }
        let kind = match (f.kind, status) {
            (FaultKind::Pause, Status::Paused) => "resume",
            (FaultKind::Crash, Status::Down) => "restart",
            _ => return None,
        };
        self.events.push(FaultEventRow {
            time_ms: now,
            kind,
            node: i as u32,
        });
        Some((i, f.kind))
    }

    /// `observer` declared `failed` down: the detection, if a fault on it is open.
    pub fn member_down(
        &self,
        observer: usize,
        failed: NodeId,
        now: Millis,
        detections: &mut [DetectionRow],
    ) {
        let f = failed.0 as usize - 1;
        for of in &self.open {
            if !of.open || of.node as usize != f {
                continue;
            }
            for &r in &of.rows {
                let row = &mut detections[r];
                if row.observer as usize == observer && row.detected_ms.is_none() {
                    row.detected_ms = Some(now);
                }
            }
        }
    }
}
