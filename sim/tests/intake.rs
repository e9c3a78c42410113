//! `cost.probe_s`: the CPU a node spends probing an uncached client upload before routing it.

mod common;

use common::*;
use vidmesh_sim::metrics::Outcome;

const PROBE_S: f64 = 0.5;

fn with_probe(probe_s: f64) -> vidmesh_sim::Scenario {
    parse(
        "node_failure_1",
        &scenario_text(
            "node_failure_1",
            &[("[cost]", &format!("[cost]\nprobe_s = {probe_s}"))],
        ),
    )
}

#[test]
fn an_uncached_upload_waits_for_its_probe_and_a_cache_hit_does_not() {
    let s = with_probe(PROBE_S);
    let cores = s
        .nodes
        .iter()
        .map(|n| n.cores)
        .fold(f64::INFINITY, f64::min);
    // A probe runs at most at min(job_threads, cores) CPU/s, so it takes at least this long.
    let floor_ms = (PROBE_S / s.cost.job_threads.min(cores) * 1000.0) as u64;
    let runs = run(&s);
    let (mut uncached, mut fastest_hit) = (0, u64::MAX);
    for r in &runs {
        for q in r
            .requests
            .iter()
            .filter(|q| q.outcome == Outcome::Ok && q.attempts == 1)
        {
            let latency = q.end_ms - q.submit_ms;
            if q.cache_hit {
                // A hit may still have waited in a queue behind others; the quickest did not.
                fastest_hit = fastest_hit.min(latency);
            } else {
                uncached += 1;
                assert!(
                    latency >= floor_ms,
                    "an uncached upload answered in {latency} ms, faster than its {floor_ms} ms probe"
                );
            }
        }
    }
    assert!(uncached > 100, "only {uncached} uncached uploads");
    assert!(
        fastest_hit < floor_ms,
        "every cache hit paid for a probe (fastest {fastest_hit} ms)"
    );
}

#[test]
fn probing_costs_time_on_a_saturated_cluster() {
    let free = run(&with_probe(0.0));
    let paid = run(&with_probe(PROBE_S));
    for (a, b) in free.iter().zip(&paid) {
        let (sa, sb) = (a.summary(), b.summary());
        assert!(
            sb.latency_mean_ms.unwrap() > sa.latency_mean_ms.unwrap(),
            "{}: mean latency {:?} with probes vs {:?} without",
            a.strategy,
            sb.latency_mean_ms,
            sa.latency_mean_ms
        );
        // The client waits for each batch: slower answers leave time for fewer requests.
        assert!(
            b.requests.len() < a.requests.len(),
            "{}: {} requests with probes vs {} without",
            a.strategy,
            b.requests.len(),
            a.requests.len()
        );
    }
}

#[test]
fn a_negative_probe_cost_is_refused_with_its_place() {
    let text = scenario_text("node_failure_1", &[("[cost]", "[cost]\nprobe_s = -1")]);
    let e = vidmesh_sim::Scenario::parse(
        &text,
        std::path::Path::new("node_failure_1.toml"),
        "node_failure_1",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("cost.probe_s") && e.contains("node_failure_1.toml:"),
        "{e}"
    );
}
