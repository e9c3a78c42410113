//! Each scenario's headline finding, asserted on the simulator's output.
//!
//! The shipped scenarios are run as they are (they take well under a second each in release).
//! Where a finding of the report does not hold in the model, the test asserts what the model
//! shows and results/<scenario>/NOTES.md says why.

mod common;

use common::*;
use vidmesh_sim::metrics::Outcome;

fn seeded(name: &str, seed: u64) -> vidmesh_sim::Scenario {
    parse(
        name,
        &scenario_text(name, &[("seed = 1", &format!("seed = {seed}"))]),
    )
}

/// Transcodes the nodes ran, whoever was still waiting for them.
fn transcodes(r: &vidmesh_sim::RunResult) -> u64 {
    r.node_windows.iter().map(|w| w.counts.jobs_done).sum()
}

/// §6–9 with the original's mechanics (one batch of 200, no hop limit, 10 s offload timeout,
/// one ffmpeg at a time): on the report's metric, successful attempts / attempts, the score
/// beats random and round robin on every seed tried. Round robin vs random is a coin toss
/// (either way by a few points), and the 5-attempt client still ends almost every task well.
/// See results/random_vs_score/NOTES.md.
#[test]
fn original_score_beats_random_and_round_robin_on_attempt_success() {
    for seed in [1, 2, 3] {
        let mut runs = run(&seeded("rr_vs_score", seed));
        runs.extend(
            run(&seeded("random_vs_score", seed))
                .into_iter()
                .filter(|r| r.strategy.starts_with("random")),
        );
        let (score, score_run) = summary(&runs, "score");
        let (rr, _) = summary(&runs, "round_robin");
        let (random, random_run) = summary(&runs, "random");
        let pct = |s: &vidmesh_sim::Summary| s.attempt_success_pct.expect("attempts were made");
        assert!(pct(&score) < 75.0, "seed {seed}: not saturated: {score:?}");
        assert!(
            pct(&score) > pct(&rr) && pct(&score) > pct(&random),
            "seed {seed}: score {:.1} vs round robin {:.1} vs random {:.1}",
            pct(&score),
            pct(&rr),
            pct(&random)
        );
        assert!((pct(&rr) - pct(&random)).abs() <= 5.0, "seed {seed}");
        for s in [&score, &rr, &random] {
            assert_eq!(s.requests, 200);
            assert!(s.success_rate >= 0.98, "seed {seed}: {s:?}");
            assert!(
                s.attempts > Some(s.requests),
                "seed {seed}: no retries {s:?}"
            );
        }
        // Offloads that time out (10 s) fall back locally while the peer keeps going, and
        // attempts the client gave up on keep running: both strategies transcode far more
        // jobs than they answer with a transcode.
        for (s, r) in [(&random, random_run), (&score, score_run)] {
            let answered = s.succeeded - s.cache_hits;
            assert!(
                transcodes(r) as f64 > 1.2 * answered as f64,
                "seed {seed}: {} transcodes for {answered} answers",
                transcodes(r)
            );
        }
        assert!(random.offloads_cross_zone > random.offloads_same_zone);
        assert!(score.offloads_cross_zone * 10 < score.offloads_same_zone);
    }
}

/// Without a hop limit a job can travel far: some jobs take many hops under the original
/// configuration, none more than one under vidmesh's.
#[test]
fn without_a_hop_limit_jobs_hop_again_and_with_one_they_do_not() {
    let runs = run(&seeded("random_vs_score", 1));
    let max_hops = |name: &str| {
        let (_, r) = summary(&runs, name);
        r.requests
            .iter()
            .filter(|q| q.outcome == Outcome::Ok)
            .map(|q| q.hops)
            .max()
            .unwrap_or(0)
    };
    assert!(max_hops("random") >= 3, "{}", max_hops("random"));
    assert_eq!(max_hops("random_hop1"), 1);
    assert_eq!(max_hops("score_hop1"), 1);
}

/// §11, vidmesh's hop limit: RTT bias keeps most offloads inside FRA while load bias sends
/// them across zones. Not all of RTT bias's stay in: with the original's waiting queue the
/// load signal passes the score's normaliser (see results/rtt_vs_load/NOTES.md).
#[test]
fn rtt_bias_keeps_offloads_in_zone_while_load_bias_spreads_them() {
    let runs = run(&parse("rtt_vs_load", &scenario_text("rtt_vs_load", &[])));
    let (rtt, _) = summary(&runs, "rtt_biased_hop1");
    let (load, _) = summary(&runs, "load_biased_hop1");
    assert!(
        rtt.offloads_same_zone > 2 * rtt.offloads_cross_zone,
        "{rtt:?}"
    );
    assert!(
        load.offloads_cross_zone > 2 * load.offloads_same_zone,
        "{load:?}"
    );
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
    let ok_after = after.iter().filter(|q| q.outcome == Outcome::Ok).count();
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
        .filter(|q| q.submit_ms > 80_000 && q.entry_node == Some(0) && q.outcome == Outcome::Ok)
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
