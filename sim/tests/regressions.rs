//! Each scenario's headline finding, asserted on the simulator's output.
//!
//! The shipped scenarios are run as they are where that is quick; where the report's finding is
//! about saturation, a shortened copy removes the cache (which otherwise absorbs the load after
//! warm-up, see results/*/NOTES.md) and drives the cluster open-loop above its capacity.

mod common;

use common::*;
use vidmesh_sim::metrics::ReqOutcome;

/// The §6–9 cluster, no cache, Poisson arrivals above what 10 cores can transcode.
fn overloaded(name: &str, seed: u64) -> vidmesh_sim::Scenario {
    let text = scenario_text(
        name,
        &[
            ("seed = 1", &format!("seed = {seed}")),
            ("duration_s = 150", "duration_s = 240"),
            ("cache_mb = 1024", "cache_mb = 0"),
            (
                "kind = \"batch\"\n",
                "kind = \"poisson\"\nrate_per_s = 3.5\n",
            ),
        ],
    );
    parse(name, &text)
}

#[test]
fn score_beats_random_when_saturated() {
    for seed in [1, 2] {
        let runs = run(&overloaded("random_vs_score", seed));
        let (score, _) = summary(&runs, "score");
        let (random, _) = summary(&runs, "random");
        assert!(score.success_rate < 0.9, "not saturated: {score:?}");
        assert!(
            score.success_rate >= random.success_rate,
            "seed {seed}: score {:.3} < random {:.3}",
            score.success_rate,
            random.success_rate
        );
        // Score never offloads across zones; random does most of its offloads across.
        assert_eq!(score.offloads_cross_zone, 0);
        assert!(random.offloads_cross_zone > random.offloads_same_zone);
    }
}

/// The report's "score beats round robin" does not reproduce under open-loop overload: the two
/// are within a few points, either way depending on the seed (round robin's offloads get a
/// second chance through the local fallback when the peer rejects). What does reproduce is where
/// the jobs go. See results/rr_vs_score/NOTES.md.
#[test]
fn round_robin_crosses_zones_and_score_does_not_when_saturated() {
    for seed in [1, 2] {
        let runs = run(&overloaded("rr_vs_score", seed));
        let (score, _) = summary(&runs, "score");
        let (rr, _) = summary(&runs, "round_robin");
        assert!(
            (score.success_rate - rr.success_rate).abs() <= 0.05,
            "seed {seed}: score {:.3} vs round robin {:.3}",
            score.success_rate,
            rr.success_rate
        );
        assert_eq!(score.offloads_cross_zone, 0);
        assert!(rr.offloads_cross_zone > rr.offloads_same_zone);
    }
}

#[test]
fn the_shipped_strategy_comparisons_keep_the_success_order() {
    let runs = run(&parse("rr_vs_score", &scenario_text("rr_vs_score", &[])));
    let mut all = runs;
    all.extend(
        run(&parse(
            "random_vs_score",
            &scenario_text(
                "random_vs_score",
                &[("name = \"random_vs_score\"", "name = \"x\"")],
            ),
        ))
        .into_iter()
        .filter(|r| r.strategy == "random"),
    );
    let (score, _) = summary(&all, "score");
    let (rr, _) = summary(&all, "round_robin");
    let (random, _) = summary(&all, "random");
    assert!(score.success_rate >= rr.success_rate);
    assert!(rr.success_rate >= random.success_rate);
}

#[test]
fn rtt_bias_keeps_offloads_in_zone_while_load_bias_spreads_them() {
    let runs = run(&parse("rtt_vs_load", &scenario_text("rtt_vs_load", &[])));
    let (rtt, _) = summary(&runs, "rtt_biased");
    let (load, _) = summary(&runs, "load_biased");
    assert!(rtt.offloads_same_zone > 0, "{rtt:?}");
    assert_eq!(rtt.offloads_cross_zone, 0, "{rtt:?}");
    assert!(load.offloads_cross_zone > 0, "{load:?}");
    // Executions outside FRA happen only under load bias.
    let outside = |r: &vidmesh_sim::RunResult| {
        r.requests
            .iter()
            .filter(|q| {
                q.outcome == ReqOutcome::Ok && q.exec_node.is_some_and(|n| ![0, 3].contains(&n))
            })
            .count()
    };
    let (_, rtt_run) = summary(&runs, "rtt_biased");
    let (_, load_run) = summary(&runs, "load_biased");
    assert_eq!(outside(rtt_run), 0);
    assert!(outside(load_run) > 0);
}

/// Success % per window must never be 0 while the client has requests ending (no total
/// outage), and the run must end well.
fn keeps_serving_and_recovers(name: &str) {
    let s = parse(name, &scenario_text(name, &[]));
    let runs = run(&s);
    let r = &runs[0];
    let pct = r.window_success_pct(s.output.window_ms);
    for (w, p) in pct.iter().enumerate() {
        if let Some(p) = p {
            assert!(*p > 0.0, "{name}: window {w} served nothing");
        }
    }
    let fault_ms = s.faults[0].at_ms;
    let after: Vec<&_> = r
        .requests
        .iter()
        .filter(|q| q.submit_ms > fault_ms)
        .collect();
    assert!(!after.is_empty());
    let ok_after = after.iter().filter(|q| q.outcome == ReqOutcome::Ok).count();
    assert!(
        ok_after as f64 >= 0.9 * after.len() as f64,
        "{name}: {ok_after}/{} after the fault",
        after.len()
    );
    // Every surviving observer declared each crashed node down, within 15 s.
    assert!(!r.detections.is_empty());
    for d in &r.detections {
        let t = d
            .detected_ms
            .unwrap_or_else(|| panic!("{name}: undetected {d:?}"));
        assert!(t - d.fault_ms <= 15_000, "{name}: slow detection {d:?}");
    }
    // Restarted nodes serve again: the last windows see every node up and doing work.
    let last_start = r
        .node_windows
        .iter()
        .map(|w| w.window_start_s)
        .max()
        .unwrap();
    let restart_s = s
        .faults
        .iter()
        .map(|f| (f.at_ms + f.for_ms.unwrap()) / 1000)
        .max()
        .unwrap();
    for f in &s.faults {
        let served: u64 = r
            .node_windows
            .iter()
            .filter(|w| w.node as usize == f.node && w.window_start_s >= restart_s)
            .map(|w| w.counts.responses_same_zone + w.counts.responses_cross_zone)
            .sum();
        assert!(
            served > 0,
            "{name}: node {} never served after restart",
            f.node
        );
        assert!(r
            .node_windows
            .iter()
            .any(|w| w.node as usize == f.node && w.window_start_s == last_start && w.up));
    }
}

#[test]
fn one_node_down_the_cluster_keeps_serving_and_recovers() {
    keeps_serving_and_recovers("node_failure_1");
}

#[test]
fn two_nodes_down_the_cluster_keeps_serving_and_recovers() {
    keeps_serving_and_recovers("node_failure_2");
}

#[test]
fn a_paused_node_is_detected_and_resumes_with_its_state() {
    let s = parse("node_pause", &scenario_text("node_pause", &[]));
    let runs = run(&s);
    let r = &runs[0];
    let kinds: Vec<&str> = r.fault_events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["pause", "resume", "pause", "resume"]);
    // The 20 s pause is long enough for SWIM to declare node1 down everywhere.
    let long: Vec<_> = r.detections.iter().filter(|d| d.failed_node == 0).collect();
    assert_eq!(long.len(), 4);
    assert!(long.iter().all(|d| d.detected_ms.is_some()), "{long:?}");
    // node1 keeps answering after it resumes.
    let resumed_ok = r
        .requests
        .iter()
        .filter(|q| q.submit_ms > 80_000 && q.entry_node == Some(0) && q.outcome == ReqOutcome::Ok)
        .count();
    assert!(resumed_ok > 0);
}

#[test]
fn a_ring_of_five_converges_within_three_gossip_rounds() {
    let s = parse(
        "gossip_convergence",
        &scenario_text("gossip_convergence", &[]),
    );
    let runs = run(&s);
    let period = s.gossip.period_ms;
    assert_eq!(runs[0].convergence.len(), 5);
    for c in &runs[0].convergence {
        let t = c
            .full_view_ms
            .unwrap_or_else(|| panic!("node {} never converged", c.node));
        let rounds = (t - c.start_ms).div_ceil(period);
        assert!(rounds <= 3, "node {} took {rounds} rounds", c.node);
    }
}
