//! The end of a run: what the engine, its world models and the cores hold, assembled into the
//! run's result (after the last check).

use vidmesh_analysis::chaos::NodeEnd;
use vidmesh_core::Node;

use super::Run;
use crate::metrics::{ChaosEnds, ConvergenceRow, RunResult};
use crate::nodes::Status;
use crate::record;

impl Run<'_> {
    pub(super) fn finish(mut self, wall_s: f64) -> RunResult {
        self.check_routes();
        let convergence = (0..self.nodes.len())
            .map(|i| ConvergenceRow {
                node: i as u32,
                seeds: self.setup.seeds[i].iter().map(|&s| s as u32).collect(),
                start_ms: 0,
                full_view_ms: self.rec.full_view_ms(i),
            })
            .collect();
        let cores: Vec<Option<&Node>> = (self.nodes.iter())
            .map(|n| n.core.as_ref().filter(|_| n.status != Status::Down))
            .collect();
        let calibration = record::calibration(&cores);
        let now = self.now;
        let client = self.client.finish(now);
        let chaos = ChaosEnds {
            unended: client.unended,
            nodes: (self.nodes.iter().enumerate())
                .map(|(i, n)| NodeEnd {
                    name: self.s.nodes[i].name.clone(),
                    running: n.core.is_some(),
                    jobs_left: n.core.as_ref().map_or(0, |c| c.jobs_held() as u64),
                    stray_answers: self.rec.stray_answers[i],
                })
                .collect(),
        };
        let mut work = self.rec.work;
        work.delivered_cpu_s = client.delivered_cpu_s;
        RunResult {
            work,
            strategy: self.setup.strategy,
            requests: client.requests,
            in_flight_at_window_end: self.rec.in_flight_at_window_end,
            node_windows: self.rec.node_windows,
            convergence,
            detections: self.rec.detections,
            fault_events: self.faults.events,
            suspicions: self.rec.suspicions,
            offloads_same_zone: self.net.same_zone,
            offloads_cross_zone: self.net.cross_zone,
            attempt_ends: client.attempt_ends,
            end_ms: self.now,
            events: self.events,
            wall_s,
            calibration,
            chaos,
            violation: self.violation,
        }
    }
}
