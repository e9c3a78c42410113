//! What a node fault does to a run: a crash takes the process and resets its connections, a
//! pause freezes it, a drain asks it to leave; at the fault's end the node restarts or resumes.

use super::Run;
use crate::nodes::Status;
use crate::routes::Route;
use crate::scenario::FaultKind;
use vidmesh_core::Input;

impl Run<'_> {
    pub(super) fn fault_start(&mut self, k: usize) {
        let detections = &mut self.rec.detections;
        let Some((i, kind)) = self.faults.start(k, self.now, &self.nodes, detections) else {
            return;
        };
        match kind {
            FaultKind::Pause => self.nodes[i].status = Status::Paused,
            FaultKind::Crash => self.crash(i),
            FaultKind::Drain => self.input(i, Input::Drain),
        }
    }

    pub(super) fn crash(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        self.rec.crashed(i, n.core.take().as_ref());
        n.status = Status::Down;
        n.deferred.clear();
        self.cpu.crash(i, &mut self.rec.work);
        // Open connections to the dead process are reset: its clients and the peers that
        // offloaded to it learn at once. Sorted so the order of what follows is fixed.
        let held: Vec<(u64, Route)> = self
            .routes
            .iter()
            .filter(|(_, r)| r.node == i as u32)
            .collect();
        for (k, r) in held {
            self.routes.remove(k);
            self.net.reset(self.now, &mut self.q, i, r);
        }
    }

    pub(super) fn fault_end(&mut self, k: usize) {
        let status = self.nodes[self.s.faults[k].node].status;
        match self.faults.end(k, self.now, status) {
            Some((i, FaultKind::Pause)) => {
                self.nodes[i].status = Status::Up;
                let held = std::mem::take(&mut self.nodes[i].deferred);
                for input in held {
                    if self.nodes[i].status != Status::Up {
                        break;
                    }
                    self.input(i, input);
                }
            }
            Some((i, _)) => {
                self.nodes[i].life += 1;
                self.boot(i);
            }
            None => {}
        }
    }
}
