//! A live run's observations as the simulator records a run: the client's request records,
//! every node's polled `/status` and the faults applied, turned into `RunResult` so that
//! `vidmesh_sim::metrics::write_all` writes the same CSV files for both executors.

use std::collections::BTreeMap;

use vidmesh_node::client::ClientRun;
use vidmesh_node::status::Status;
use vidmesh_sim::metrics::{
    ConvergenceRow, DetectionRow, FaultEventRow, NodeWindow, RequestRecord, RunResult, WindowCounts,
};

use super::{Applied, LiveRun, Sample};
use crate::fleet::Action;

impl LiveRun<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn result(
        &self,
        strategy: String,
        client: Option<ClientRun>,
        samples: Vec<Sample>,
        applied: Vec<Applied>,
        start_ms: Vec<u64>,
        boot_ms: u64,
        epoch_unix: u64,
        end_ms: u64,
        wall_s: f64,
    ) -> RunResult {
        let s = self.scenario;
        let n = s.nodes.len();
        let index: BTreeMap<&str, u32> = s
            .nodes
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec.name.as_str(), i as u32))
            .collect();

        // Requests, in request-id order. The client numbers nodes its own way (its targets
        // first), so they are mapped to the scenario's by name; its clips are the scenario's.
        let (requests, mut attempt_ends): (Vec<RequestRecord>, Vec<(u64, bool)>) = match client {
            Some(run) => {
                let number: Vec<Option<u32>> = (run.nodes.iter())
                    .map(|n| index.get(n.name.as_str()).copied())
                    .collect();
                let node = |k: Option<u32>| k.and_then(|k| number[k as usize]);
                let requests = (run.records.iter())
                    .map(|r| RequestRecord {
                        entry_node: node(r.entry_node),
                        exec_node: node(r.exec_node),
                        ..*r
                    })
                    .collect();
                (requests, run.attempt_ends)
            }
            None => (Vec::new(), Vec::new()),
        };
        attempt_ends.sort_unstable();

        let window_ms = s.output.window_ms;
        let windows = end_ms.div_ceil(window_ms).max(1) as usize;
        let in_flight_at_window_end: Vec<u32> = (0..windows)
            .map(|w| {
                let t = ((w as u64 + 1) * window_ms).min(end_ms);
                requests
                    .iter()
                    .filter(|r| r.submit_ms <= t && r.end_ms > t)
                    .count() as u32
            })
            .collect();

        // Per node: samples in time order, counters made cumulative across restarts.
        let mut per_node: Vec<Vec<(u64, Option<Status>, WindowCounts)>> = vec![Vec::new(); n];
        for smp in samples {
            per_node[smp.node].push((smp.t_ms, smp.status, WindowCounts::default()));
        }
        for series in per_node.iter_mut() {
            series.sort_by_key(|x| x.0);
            accumulate_lives(series);
        }

        let mut node_windows = Vec::new();
        let mut prev_cum = vec![WindowCounts::default(); n];
        let mut totals = WindowCounts::default();
        for w in 0..windows {
            let t = ((w as u64 + 1) * window_ms).min(end_ms);
            for (i, series) in per_node.iter().enumerate() {
                let at = series.iter().rev().find(|x| x.0 <= t);
                let (status, cum) = match at {
                    Some((_, st, cum)) => (st.as_ref(), *cum),
                    None => (None, prev_cum[i]),
                };
                let delta = cum.minus(&prev_cum[i]);
                totals.add(&delta);
                prev_cum[i] = cum;
                node_windows.push(NodeWindow {
                    window_start_s: w as u64 * window_ms / 1000,
                    node: i as u32,
                    up: status.is_some(),
                    queue_len: status.map(|x| x.queue_len).unwrap_or(0),
                    in_flight: status.map(|x| x.in_flight).unwrap_or(0),
                    cpu_pct: status.map(|x| x.cpu_pct).unwrap_or(0.0),
                    mem_pct: status.map(|x| x.mem_pct).unwrap_or(0.0),
                    counts: delta,
                });
            }
        }

        fn peer_state(st: &Status, j: usize, epoch_unix: u64) -> Option<(&str, u64)> {
            st.peers
                .iter()
                .find(|p| p.id == j as u32 + 1)
                .map(|p| (p.state.as_str(), p.since_unix_ms.saturating_sub(epoch_unix)))
        }

        // Convergence: the first poll of a node's first life at which it saw every other node
        // alive; the time is the latest of those peers' up-changes as the node recorded them.
        // Counted from the nodes' start: `boot_ms` before time 0 when the run's clock started
        // only once every node answered (compose), so start and full-view times are then on
        // that earlier clock.
        let boot_unix = epoch_unix.saturating_sub(boot_ms);
        let convergence = (0..n)
            .map(|i| {
                let first_life = per_node[i].iter().find_map(|x| x.1.as_ref().map(Life::of));
                // A container starts during `docker-compose up`, seconds before it returns: its
                // own clock (now − uptime) says when.
                let start = if boot_ms > 0 {
                    per_node[i]
                        .iter()
                        .find_map(|x| x.1.as_ref())
                        .map(|st| {
                            st.unix_ms
                                .saturating_sub(st.uptime_ms)
                                .saturating_sub(boot_unix)
                        })
                        .unwrap_or(start_ms[i])
                } else {
                    start_ms[i]
                };
                let full_view_ms = per_node[i].iter().find_map(|(t, st, _)| {
                    let st = st.as_ref()?;
                    if first_life.is_some_and(|f| Life::of(st).is_after(&f)) {
                        return None;
                    }
                    let mut latest = start;
                    for j in (0..n).filter(|&j| j != i) {
                        match peer_state(st, j, boot_unix) {
                            Some(("alive", since)) => latest = latest.max(since),
                            _ => return None,
                        }
                    }
                    Some(latest.min(*t + boot_ms))
                });
                ConvergenceRow {
                    node: i as u32,
                    seeds: s.nodes[i].seeds.iter().map(|&j| j as u32).collect(),
                    start_ms: start,
                    full_view_ms,
                }
            })
            .collect();

        // Failure detection: for each crash or pause, each node that was answering then, the
        // time its membership declared the failed node down (before the node came back).
        let mut detections = Vec::new();
        for (a_idx, a) in applied.iter().enumerate() {
            let kind = match a.kind {
                Action::Crash | Action::Pause => a.kind.name(),
                // A drained node leaves on purpose: nothing to detect.
                Action::Restart | Action::Resume | Action::Drain => continue,
            };
            let back = applied[a_idx + 1..]
                .iter()
                .find(|b| b.node == a.node && matches!(b.kind, Action::Restart | Action::Resume))
                .map(|b| b.t_ms);
            for o in (0..n).filter(|&o| o != a.node) {
                let was_up = per_node[o]
                    .iter()
                    .rev()
                    .find(|x| x.0 <= a.t_ms)
                    .is_some_and(|x| x.1.is_some());
                if !was_up {
                    continue;
                }
                let detected_ms = per_node[o].iter().find_map(|(t, st, _)| {
                    if *t < a.t_ms {
                        return None;
                    }
                    match peer_state(st.as_ref()?, a.node, epoch_unix) {
                        Some(("down", since))
                            if since >= a.t_ms && back.is_none_or(|b| since < b) =>
                        {
                            Some(since)
                        }
                        _ => None,
                    }
                });
                detections.push(DetectionRow {
                    kind,
                    failed_node: a.node as u32,
                    fault_ms: a.t_ms,
                    observer: o as u32,
                    detected_ms,
                });
            }
        }

        let fault_events = applied
            .iter()
            .map(|a| FaultEventRow {
                time_ms: a.t_ms,
                kind: a.kind.name(),
                node: a.node as u32,
            })
            .collect();

        RunResult {
            work: Default::default(),
            strategy,
            requests,
            in_flight_at_window_end,
            node_windows,
            convergence,
            detections,
            fault_events,
            suspicions: Vec::new(),
            offloads_same_zone: totals.offloads_same_zone,
            offloads_cross_zone: totals.offloads_cross_zone,
            attempt_ends,
            end_ms,
            events: 0,
            wall_s,
            calibration: Vec::new(),
            chaos: Default::default(),
            violation: None,
        }
    }
}

fn counts(st: &Status) -> WindowCounts {
    WindowCounts::from_core(&st.counters.core)
}

/// Fills in each sample's counters made cumulative across the node's restarts: a restarted
/// process counts from zero again, and what its earlier lives counted stays. A failed poll
/// carries the last value forward. `series` is one node's polls in time order.
fn accumulate_lives(series: &mut [(u64, Option<Status>, WindowCounts)]) {
    let mut base = WindowCounts::default();
    let mut last: Option<(Life, WindowCounts)> = None;
    for (_, st, cum) in series.iter_mut() {
        let mut c = base;
        if let Some(st) = st {
            let now = counts(st);
            let life = Life::of(st);
            if let Some((prev_life, prev)) = last {
                if life.is_after(&prev_life) {
                    base.add(&prev);
                    c = base;
                }
            }
            c.add(&now);
            last = Some((life, now));
        } else if let Some((_, prev)) = last {
            c.add(&prev);
        }
        *cum = c;
    }
}

/// One run of a node's process, as its `/status` shows it. Not the membership generation:
/// a live node bumps that itself when it refutes a false suspicion, without restarting, and
/// its counters keep running.
#[derive(Clone, Copy, Debug)]
struct Life {
    uptime_ms: u64,
    /// When the process started, on the node's own clock.
    started_unix_ms: u64,
}

impl Life {
    fn of(st: &Status) -> Life {
        Life {
            uptime_ms: st.uptime_ms,
            started_unix_ms: st.unix_ms.saturating_sub(st.uptime_ms),
        }
    }

    /// Whether this sample comes from a later process than `earlier` (polled before it).
    fn is_after(&self, earlier: &Life) -> bool {
        // Uptime going back means a restart; a restart between two polls that still shows a
        // longer uptime (a short first life) shows as a start time more than a second later.
        self.uptime_ms < earlier.uptime_ms || self.started_unix_ms > earlier.started_unix_ms + 1_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(unix_ms: u64, uptime_ms: u64, gen: u32, done: u64) -> Option<Status> {
        let mut st = Status {
            unix_ms,
            uptime_ms,
            gen,
            ..Status::default()
        };
        st.counters.core.transcodes_ok = done;
        Some(st)
    }

    fn jobs_done(series: &[(u64, Option<Status>, WindowCounts)]) -> Vec<u64> {
        series.iter().map(|x| x.2.jobs_done).collect()
    }

    #[test]
    fn a_refuted_suspicion_is_not_a_restart() {
        // The node bumps its membership generation at 3 s but keeps running: its counter
        // goes on from 7, and nothing is counted twice.
        let mut series = vec![
            (1_000, status(101_000, 1_000, 5, 3), WindowCounts::default()),
            (2_000, status(102_000, 2_000, 5, 7), WindowCounts::default()),
            (3_000, status(103_000, 3_000, 6, 7), WindowCounts::default()),
            (4_000, status(104_000, 4_000, 6, 9), WindowCounts::default()),
        ];
        accumulate_lives(&mut series);
        assert_eq!(jobs_done(&series), [3, 7, 7, 9]);
    }

    #[test]
    fn a_restart_keeps_what_the_earlier_life_counted() {
        let mut series = vec![
            (1_000, status(101_000, 9_000, 5, 4), WindowCounts::default()),
            (2_000, None, WindowCounts::default()),
            // Restarted: uptime went back, counters start from zero.
            (3_000, status(103_000, 500, 7, 1), WindowCounts::default()),
            (4_000, status(104_000, 1_500, 7, 2), WindowCounts::default()),
        ];
        accumulate_lives(&mut series);
        assert_eq!(jobs_done(&series), [4, 4, 5, 6]);
        // A restart between two polls that already shows a longer uptime than the first life
        // had is still seen, by its later start.
        let mut series = vec![
            (1_000, status(101_000, 300, 5, 2), WindowCounts::default()),
            (3_000, status(103_000, 800, 6, 1), WindowCounts::default()),
        ];
        accumulate_lives(&mut series);
        assert_eq!(jobs_done(&series), [2, 3]);
    }
}
