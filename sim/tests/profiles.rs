//! Output profiles in the simulator: a request asks for a profile, its cost follows the core's
//! cost model for that profile, and the cache keys by input and profile.

mod common;

use std::path::Path;

use common::*;
use vidmesh_sim::Scenario;

/// One node, one strategy, a single video requested over and over (every request after the
/// first of a profile is a cache hit), in the given profile mix.
fn one_node(profiles: &str, files: u32) -> String {
    format!(
        r#"
duration_s = 300
admission = "off"
[network]
zones = ["FRA"]
[[nodes]]
name = "node1"
zone = "FRA"
[[strategies]]
name = "random"
strategy = {{ kind = "random" }}
[cost]
noise = {{ kind = "deterministic" }}
[workload]
kind = "poisson"
rate_per_s = 0.1
{profiles}
[catalog]
files = {files}
resolutions = [[1920, 1080]]
duration_s = [4, 4]
"#
    )
}

#[test]
fn the_same_input_in_two_profiles_is_two_cache_entries() {
    let only_360 = run(&parse("p", &one_node("", 1)));
    let two = run(&parse(
        "p",
        &one_node(r#"profiles = { "360p" = 1, "720p" = 1 }"#, 1),
    ));
    let misses = |r: &vidmesh_sim::RunResult| r.requests.iter().filter(|q| !q.cache_hit).count();
    assert_eq!(misses(&only_360[0]), 1);
    assert_eq!(misses(&two[0]), 2);
    // copy-audio renders the same pixels as 360p but is another output: another entry.
    let same_box = run(&parse(
        "p",
        &one_node(r#"profiles = { "360p" = 1, "copy-audio" = 1 }"#, 1),
    ));
    assert_eq!(misses(&same_box[0]), 2);
}

#[test]
fn bigger_outputs_cost_more_cpu_as_the_core_model_says() {
    let cpu = |mix: &str| {
        let s = parse("p", &one_node(mix, 50));
        let r = run(&s);
        r[0].work.transcode_cpu_s / r[0].work.transcodes_done as f64
    };
    let p360 = cpu("");
    let p1080 = cpu(r#"profiles = { "1080p" = 1 }"#);
    let hls = cpu(r#"profiles = { hls = 1 }"#);
    // A 1080p 4 s clip: 0.11 + 0.00274·248.8 + 0.00405·120 = 1.27 CPU-s in 360p; 1080p renders
    // (2.0736 − 0.2304)·120 = 221 more megapixel-frames at 0.0243: +5.4 CPU-s.
    assert!((p360 - 1.27).abs() < 0.01, "{p360}");
    assert!((p1080 - p360 - 5.37).abs() < 0.05, "{p1080}");
    assert!(hls > p1080, "{hls} {p1080}");
}

#[test]
fn the_nodes_predict_a_profile_mix_with_the_simulators_own_model() {
    // Deterministic noise and one machine at the curve's speed: if the core's predictions used
    // another model than the one that charges the work, the learned speed would drift from 1.
    let s = parse(
        "p",
        &one_node(
            r#"profiles = { "360p" = 2, "720p" = 1, "1080p" = 1, hls = 1, "no-audio" = 1 }"#,
            500,
        ),
    );
    let r = run(&s);
    let c = &r[0].calibration[0];
    assert!(c.observed > 20, "{c:?}");
    assert!((c.speed.unwrap() - 1.0).abs() < 0.01, "{c:?}");
}

#[test]
fn a_mix_of_only_360p_is_the_default_workload() {
    let a = run(&parse("p", &one_node("", 50)));
    let b = run(&parse("p", &one_node(r#"profiles = { "360p" = 1 }"#, 50)));
    let key = |r: &vidmesh_sim::RunResult| -> Vec<(u64, u64)> {
        r.requests.iter().map(|q| (q.submit_ms, q.end_ms)).collect()
    };
    assert_eq!(key(&a[0]), key(&b[0]));
}

#[test]
fn unknown_profiles_and_bad_weights_are_refused_by_name() {
    let err = |mix: &str| {
        Scenario::parse(&one_node(mix, 1), Path::new("x.toml"), "x")
            .unwrap_err()
            .to_string()
    };
    let e = err(r#"profiles = { "480p" = 1 }"#);
    assert!(
        e.contains("workload.profiles: unknown profile `480p`"),
        "{e}"
    );
    assert!(e.contains("hls"), "{e}");
    let e = err(r#"profiles = { "720p" = -1 }"#);
    assert!(e.contains("workload.profiles.720p"), "{e}");
    let e = err(r#"profiles = { "720p" = 0 }"#);
    assert!(e.contains("weight > 0"), "{e}");
}
