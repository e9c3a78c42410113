//! What a run records as it goes, for the files of docs/metrics.md: every node's windows of
//! counts across its lives, failure detections, suspicions, work totals, when each node first
//! saw the whole membership, answers nobody waited for, and at the end what each node's cost
//! model had learned.

use vidmesh_core::{LoadReport, Millis, Node};

use crate::metrics::{
    DetectionRow, NodeCalibration, NodeWindow, SuspicionRow, WindowCounts, WorkTotals,
};

/// One node's window accounting across its lives.
#[derive(Default)]
struct NodeTally {
    /// The core's counters at the last window's end (zero at boot).
    base: WindowCounts,
    /// Counts of earlier lives not yet in a window.
    carry: WindowCounts,
    full_view_ms: Option<Millis>,
}

pub(crate) struct Recorder {
    pub work: WorkTotals,
    pub in_flight_at_window_end: Vec<u32>,
    pub node_windows: Vec<NodeWindow>,
    pub detections: Vec<DetectionRow>,
    pub suspicions: Vec<SuspicionRow>,
    /// Per node: replies for jobs without a route (the chaos checker's double answers).
    pub stray_answers: Vec<u64>,
    nodes: Vec<NodeTally>,
}

impl Recorder {
    pub fn new(nodes: usize) -> Recorder {
        Recorder {
            work: WorkTotals::default(),
            in_flight_at_window_end: Vec::new(),
            node_windows: Vec::new(),
            detections: Vec::new(),
            suspicions: Vec::new(),
            stray_answers: vec![0; nodes],
            nodes: (0..nodes).map(|_| NodeTally::default()).collect(),
        }
    }

    /// Node `i` starts a life: its new core counts from zero.
    pub fn booted(&mut self, i: usize) {
        self.nodes[i].base = WindowCounts::default();
    }

    /// Node `i`'s process died with `core`: what it counted since the last window is kept.
    pub fn crashed(&mut self, i: usize, core: Option<&Node>) {
        let n = &mut self.nodes[i];
        if let Some(core) = core {
            let c = WindowCounts::from_core(core.counters());
            n.carry.add(&c.minus(&n.base));
        }
        n.base = WindowCounts::default();
    }

    /// Node `i`'s row for the window starting at `start_s`; `core` if it runs, with its CPU and
    /// memory % `load`.
    pub fn node_window(
        &mut self,
        start_s: u64,
        i: usize,
        up: bool,
        core: Option<&Node>,
        load: (f32, f32),
    ) {
        let n = &mut self.nodes[i];
        let mut counts = n.carry;
        n.carry = WindowCounts::default();
        let mut row = NodeWindow {
            window_start_s: start_s,
            node: i as u32,
            up,
            ..Default::default()
        };
        if let Some(core) = core {
            let now = WindowCounts::from_core(core.counters());
            counts.add(&now.minus(&n.base));
            n.base = now;
            row.queue_len = core.queue_len();
            row.in_flight = core.in_flight();
            (row.cpu_pct, row.mem_pct) = load;
        }
        row.counts = counts;
        self.node_windows.push(row);
    }

    /// When node `i` first saw every other node alive, if it did.
    pub fn full_view_ms(&self, i: usize) -> Option<Millis> {
        self.nodes[i].full_view_ms
    }

    pub fn saw_full_view(&mut self, i: usize, now: Millis) {
        self.nodes[i].full_view_ms = Some(now);
    }
}

/// What each node's cost model had learned by the end: its own view, and the newest load report
/// of it that any peer holds. `cores`: every node's core, if it runs.
pub(crate) fn calibration(cores: &[Option<&Node>]) -> Vec<NodeCalibration> {
    let mut out: Vec<NodeCalibration> = cores
        .iter()
        .map(|c| match c {
            Some(c) => {
                let st = c.cost_stats();
                NodeCalibration {
                    speed: Some(st.speed),
                    observed: st.observed,
                    reported_ms_per_cpu_s: None,
                }
            }
            None => NodeCalibration::default(),
        })
        .collect();
    let mut newest: Vec<Option<LoadReport>> = vec![None; cores.len()];
    for c in cores.iter().flatten() {
        for p in c.peers() {
            let Some(k) = p.report else { continue };
            let Some(slot) = (p.id.node.0 as usize)
                .checked_sub(1)
                .and_then(|i| newest.get_mut(i))
            else {
                continue;
            };
            if slot.is_none_or(|old| k.report.newer_than(&old)) {
                *slot = Some(k.report);
            }
        }
    }
    for (c, r) in out.iter_mut().zip(newest) {
        c.reported_ms_per_cpu_s = r.map(|r| r.ms_per_cpu_s).filter(|&v| v > 0.0);
    }
    out
}
