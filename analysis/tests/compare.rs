mod common;

use common::{scratch, write_fixture, Fixture};
use vidmesh_analysis::compare::{compare, compare_data, write_comparison};
use vidmesh_analysis::{ChartOptions, ScenarioData};

#[test]
fn a_run_compared_with_itself_agrees_exactly() {
    let dir = write_fixture(&scratch("compare_self"), &Fixture::default());
    let c = compare(&dir, &dir, 0.0).unwrap();
    assert!(c.all_agree());
    assert_eq!(c.rows.len(), 3 * 5);
    assert!(c.rows.iter().all(|r| r.rel_error == Some(0.0)));
    let success = c
        .rankings
        .iter()
        .find(|r| r.metric == "success_rate")
        .unwrap();
    assert_eq!(success.sim_order, ["score", "round_robin", "random"]);
}

#[test]
fn differences_give_relative_errors_and_ranking_disagreements() {
    let sim = write_fixture(&scratch("compare_sim"), &Fixture::default());
    let live = write_fixture(
        &scratch("compare_live"),
        &Fixture {
            // live: random does better than round robin, unlike the simulation
            strategies: vec![("score", 0.9), ("random", 0.8), ("round_robin", 0.5)],
            seed: 11,
            ..Fixture::default()
        },
    );
    let s = ScenarioData::load(&sim).unwrap();
    let l = ScenarioData::load(&live).unwrap();
    let c = compare_data(&s, &l, 0.05).unwrap();
    assert!(!c.all_agree());
    let row = c
        .rows
        .iter()
        .find(|r| r.strategy == "random" && r.metric == "success_rate")
        .unwrap();
    let (x, y) = (row.sim.unwrap(), row.live.unwrap());
    assert!((row.rel_error.unwrap() - (x - y).abs() / y).abs() < 1e-12);
    assert_eq!(row.within_tolerance, Some(false));
    let success = c
        .rankings
        .iter()
        .find(|r| r.metric == "success_rate")
        .unwrap();
    assert!(!success.agrees);
    assert_eq!(success.live_order, ["score", "random", "round_robin"]);

    let out = scratch("compare_out");
    let written = write_comparison(&out, &c, &s, &l, &ChartOptions::default()).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "compare.csv",
            "compare_ranking.csv",
            "compare_client.png",
            "compare_client.svg"
        ]
    );
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert!(csv.starts_with("strategy,metric,sim,live,rel_error,within_tolerance,tolerance\n"));
}

#[test]
fn a_bad_tolerance_or_missing_summary_is_an_error() {
    let dir = write_fixture(&scratch("compare_bad"), &Fixture::default());
    assert!(compare(&dir, &dir, -1.0).is_err());
    let empty = scratch("compare_empty");
    let msg = compare(&dir, &empty, 0.1).unwrap_err().to_string();
    assert!(msg.contains("summary.csv is missing"), "{msg}");
}

/// The command users and the validation script gate on: status 0 when sim and live agree, 1
/// when a ranking differs or goodput is off by more than the tolerance, with the files written
/// either way.
#[test]
fn the_compare_command_exits_non_zero_when_sim_and_live_disagree() {
    let bin = env!("CARGO_BIN_EXE_vidmesh-analysis");
    let sim = write_fixture(&scratch("cmd_sim"), &Fixture::default());
    let live = write_fixture(
        &scratch("cmd_live"),
        &Fixture {
            strategies: vec![("score", 0.9), ("random", 0.8), ("round_robin", 0.5)],
            seed: 11,
            ..Fixture::default()
        },
    );
    let run = |live: &std::path::Path, out: &std::path::Path| {
        std::process::Command::new(bin)
            .args(["compare", "--no-png", "--no-svg"])
            .arg(&sim)
            .arg(live)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let same_out = scratch("cmd_out_same");
    let same = run(&sim, &same_out);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    let differ_out = scratch("cmd_out_differ");
    let differ = run(&live, &differ_out);
    assert_eq!(
        differ.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&differ.stderr)
    );
    assert!(String::from_utf8_lossy(&differ.stderr).contains("disagree"));
    assert!(
        differ_out.join("compare.csv").exists(),
        "the comparison is written anyway"
    );
}
