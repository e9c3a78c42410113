//! Local health awareness (Lifeguard) in the simulator: node3, the CPU-starved node of the
//! committed docker run, modelled as a process that stops running for 1.2 s every 2.5 s (the
//! pause fault: its timers wait, what is sent to it meanwhile is lost). Without local health it
//! wakes up to overdue probe timers and suspects healthy peers; with it, it widens its own
//! windows instead. A real crash is detected as fast either way.

mod common;

use common::*;
use vidmesh_sim::RunResult;

/// node_pause with its faults replaced by node3's stalls, and local health capped at `max`.
fn starved_node3(max: u8) -> RunResult {
    let base = scenario_text(
        "node_pause",
        &[("fanout = 2", &format!("fanout = 2\nlifeguard_max = {max}"))],
    );
    let cut = base.find("# Faults:").expect("node_pause has faults");
    let mut text = base[..cut].to_string();
    for k in 0..78u32 {
        text.push_str(&format!(
            "[[faults]]\nat_s = {}\nnode = \"node3\"\nkind = \"pause\"\nfor_s = 1.2\n",
            // Off the probe period's phase, so stalls hit every point of a probe cycle.
            30.0 + k as f64 * 2.537
        ));
    }
    run(&parse("node_pause", &text)).remove(0)
}

#[test]
fn a_starved_node_stops_suspecting_healthy_peers_with_local_health() {
    let off = starved_node3(0);
    let on = starved_node3(8);
    // Node index 2 is node3.
    let by_node3 = |r: &RunResult| {
        r.suspicions
            .iter()
            .filter(|s| s.observer == 2 && s.suspected_up)
            .count()
    };
    let of_node3_up = |r: &RunResult| {
        r.suspicions
            .iter()
            .filter(|s| s.suspected == 2 && s.suspected_up)
            .count()
    };
    let false_downs = |r: &RunResult| r.detections.iter().filter(|d| d.kind == "pause").count();
    eprintln!(
        "false suspicions raised by node3: {} without local health, {} with; suspicions of \
         node3 while it ran: {} / {}; detection rows: {} / {}",
        by_node3(&off),
        by_node3(&on),
        of_node3_up(&off),
        of_node3_up(&on),
        false_downs(&off),
        false_downs(&on),
    );
    // Few in this model (a stall must cut off an answer in flight): 3 in 78 stalls at seed 1.
    // Suspicions of node3 itself are another matter: its peers cannot tell a stall from a
    // crash, and Lifeguard's remedy for those (nacks) is not in foca.
    assert!(by_node3(&off) >= 1, "the stalls make node3 blame its peers");
    assert_eq!(by_node3(&on), 0);
    // The healthy nodes blame nobody who was running either way.
    for r in [&off, &on] {
        let others = r
            .suspicions
            .iter()
            .filter(|s| s.observer != 2 && s.suspected != 2 && s.suspected_up)
            .count();
        assert_eq!(others, 0);
    }
}

#[test]
fn a_crash_is_detected_at_the_same_time_with_local_health_on_or_off() {
    let detections = |max: u8| {
        let text = scenario_text(
            "node_failure_1",
            &[("[gossip]", &format!("[gossip]\nlifeguard_max = {max}"))],
        );
        let r = run(&parse("node_failure_1", &text)).remove(0);
        let mut d: Vec<_> = r
            .detections
            .iter()
            .map(|d| {
                (
                    d.failed_node,
                    d.observer,
                    d.detected_ms.map(|t| t - d.fault_ms),
                )
            })
            .collect();
        d.sort();
        d
    };
    let (off, on) = (detections(0), detections(8));
    eprintln!("detections (failed, observer, ms): {on:?}");
    assert!(on.iter().all(|d| d.2.is_some()));
    assert_eq!(off, on);
}
