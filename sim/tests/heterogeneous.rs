//! Heterogeneous nodes: per-node `speed` in the simulator's CPU model, learned by the cores'
//! online cost model without being told.

mod common;

use std::path::Path;

use common::*;
use vidmesh_sim::Scenario;

/// Two nodes alike but for `speed`; each gets its own Poisson stream and keeps its jobs
/// (random routing with hop limit 0 would not offload, so every job runs where it lands).
fn two_nodes(fast_speed: &str) -> String {
    format!(
        r#"
duration_s = 600
hop_limit = 0
admission = "off"
[network]
zones = ["FRA"]
[[nodes]]
name = "slow"
zone = "FRA"
seeds = ["fast"]
[[nodes]]
name = "fast"
zone = "FRA"
{fast_speed}
[[strategies]]
name = "random"
strategy = {{ kind = "random" }}
[cost]
noise = {{ kind = "deterministic" }}
[workload]
kind = "poisson"
rate_per_s = 0.2
[catalog]
files = 200
"#
    )
}

#[test]
fn a_node_twice_as_fast_reports_half_the_service_time_per_cpu_second() {
    let s = parse("hetero", &two_nodes("speed = 2"));
    assert_eq!(s.nodes[1].speed, 2.0);
    assert_eq!(s.nodes[0].speed, 1.0);
    let runs = run(&s);
    let cal = &runs[0].calibration;
    let (slow, fast) = (&cal[0], &cal[1]);
    assert!(slow.observed > 20 && fast.observed > 20, "{cal:?}");
    // The cores were never told the speed: they learned it from the service times.
    let (ss, fs) = (slow.speed.unwrap(), fast.speed.unwrap());
    assert!((ss - 1.0).abs() < 0.05, "{cal:?}");
    assert!((fs - 0.5).abs() < 0.03, "{cal:?}");
    // And their peers hear it in the load reports, which `ect`-like strategies read.
    let ratio = fast.reported_ms_per_cpu_s.unwrap() / slow.reported_ms_per_cpu_s.unwrap();
    assert!((ratio - 0.5).abs() < 0.05, "{ratio} {cal:?}");
}

#[test]
fn the_faster_node_serves_the_same_jobs_sooner() {
    let runs = run(&parse("hetero", &two_nodes("speed = 2")));
    let mean_latency = |node: u32| {
        let l: Vec<u64> = runs[0]
            .requests
            .iter()
            .filter(|q| q.exec_node == Some(node) && !q.cache_hit)
            .map(|q| q.end_ms - q.submit_ms)
            .collect();
        l.iter().sum::<u64>() as f64 / l.len() as f64
    };
    assert!(mean_latency(1) < 0.7 * mean_latency(0));
}

#[test]
fn speed_one_is_the_default_and_changes_nothing() {
    let a = run(&parse("hetero", &two_nodes("")));
    let b = run(&parse("hetero", &two_nodes("speed = 1.0")));
    let key = |r: &vidmesh_sim::RunResult| -> Vec<(u64, u64, Option<u32>)> {
        r.requests
            .iter()
            .map(|q| (q.submit_ms, q.end_ms, q.exec_node))
            .collect()
    };
    assert_eq!(key(&a[0]), key(&b[0]));
}

#[test]
fn a_bad_speed_names_the_node_and_the_key() {
    for bad in ["0", "-1", "nan", "inf"] {
        let text = two_nodes(&format!("speed = {bad}"));
        let e = Scenario::parse(&text, Path::new("x.toml"), "x").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("node `fast`: speed"), "{m}");
        assert!(m.starts_with("x.toml:14:"), "{m}");
    }
    let text = two_nodes("").replace(
        "[[nodes]]\nname = \"slow\"",
        "[node_defaults]\nspeed = 0\n[[nodes]]\nname = \"slow\"",
    );
    let e = Scenario::parse(&text, Path::new("x.toml"), "x").unwrap_err();
    assert!(e.to_string().contains("node_defaults.speed"), "{e}");
}

#[test]
fn capacity_counts_cores_times_speed() {
    let one = parse("hetero", &two_nodes(""));
    let two = parse("hetero", &two_nodes("speed = 3"));
    let c1 = vidmesh_sim::load_curve::capacity_per_s(&one, &vidmesh_sim::Catalog::build(&one));
    let c2 = vidmesh_sim::load_curve::capacity_per_s(&two, &vidmesh_sim::Catalog::build(&two));
    // 2 + 2 cores at speed 1, then 2 + 2·3.
    assert!((c2 / c1 - 2.0).abs() < 1e-9, "{c1} {c2}");
}
