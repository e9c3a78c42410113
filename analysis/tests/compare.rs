mod common;

use common::{scratch, write_fixture, Fixture};
use std::path::{Path, PathBuf};
use vidmesh_analysis::compare::{compare, compare_data, write_comparison};

use vidmesh_analysis::{ChartOptions, ScenarioData};

#[test]
fn a_run_compared_with_itself_agrees_exactly() {
    let dir = write_fixture(&scratch("compare_self"), &Fixture::default());
    let c = compare(&dir, &dir, 0.0).unwrap();
    assert!(c.all_agree());
    assert_eq!(c.rows.len(), 3 * 8);
    for r in &c.rows {
        assert_eq!(r.sim, r.live, "{r:?}");
        if r.sim.is_some() {
            assert_eq!(r.rel_error, Some(0.0), "{r:?}");
        }
    }
    let value = |strategy: &str, metric: &str| {
        c.rows
            .iter()
            .find(|r| r.strategy == strategy && r.metric == metric)
            .unwrap()
            .sim
    };
    // the fixture's crash at 60 s: score never dips below its baseline, random never recovers
    assert_eq!(value("score", "recovery_s"), Some(5.0));
    assert_eq!(value("random", "recovery_s"), None);
    assert_eq!(value("random", "unrecovered_faults"), Some(1.0));
    assert!(value("score", "detection_mean_s").is_some_and(|d| (2.0..5.0).contains(&d)));
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
    assert!(csv.starts_with(
        "strategy,metric,sim,live,rel_error,within_tolerance,tolerance,gated,sim_min,sim_max\n"
    ));
    let ranking = std::fs::read_to_string(out.join("compare_ranking.csv")).unwrap();
    assert!(
        ranking.starts_with("metric,sim_order,live_order,agrees,gated,conflicts\n"),
        "{ranking}"
    );
    assert!(ranking.contains("success_rate,score > round_robin > random,score > random > round_robin,0,1,round_robin/random\n"), "{ranking}");
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

/// A result folder written by hand: summary.csv from (strategy, success_rate, goodput_per_s,
/// latency_p95_ms), plus any other files given as (name, contents).
fn hand_run(name: &str, strategies: &[(&str, f64, f64, f64)], files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(name);
    let mut summary = String::from("strategy,requests,succeeded,failed,timeouts,rejected,success_rate,goodput_per_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,offloads_same_zone,offloads_cross_zone,cache_hits,duration_s\n");
    for (s, rate, goodput, p95) in strategies {
        let ok = (rate * 100.0).round();
        summary.push_str(&format!(
            "{s},100,{ok},{},0,0,{rate:.3},{goodput:.3},{p95:.3},{p95:.3},{p95:.3},{p95:.3},0,0,0,60.000\n",
            100.0 - ok
        ));
    }
    std::fs::write(dir.join("summary.csv"), summary).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// client_windows.csv of strategy `a` with these success percentages, 5 s apart.
fn windows_a(pcts: &[f64]) -> String {
    let mut s = String::from(
        "strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight\n",
    );
    for (i, p) in pcts.iter().enumerate() {
        s.push_str(&format!(
            "a,{},10,{},{p:.3},,,0\n",
            5 * i,
            (p / 10.0) as u64
        ));
    }
    s
}

const CRASH_AT_10S: &str =
    "strategy,time_ms,kind,node\na,10000,crash,node2\na,20000,restart,node2\n";

fn run_compare(sim: &Path, live: &Path, name: &str) -> (Option<i32>, String, String, PathBuf) {
    let out = scratch(name);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vidmesh-analysis"))
        .args(["compare", "--no-png", "--no-svg"])
        .arg(sim)
        .arg(live)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    )
}

const SIM: &[(&str, f64, f64, f64)] = &[("a", 0.90, 2.00, 5_000.0), ("b", 0.88, 1.95, 6_000.0)];

/// Strategies a few per cent apart may swap between the executors, and a ranking that is not
/// gated (latency) may flip outright: the verdict still passes.
#[test]
fn ties_and_ungated_differences_exit_0() {
    let sim = hand_run("hand_sim", SIM, &[]);
    let live = hand_run(
        "hand_live_ties",
        &[("a", 0.88, 1.90, 7_000.0), ("b", 0.90, 2.00, 5_000.0)],
        &[],
    );
    let (code, stdout, stderr, out) = run_compare(&sim, &live, "hand_out_ties");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("verdict: sim and live agree (exit status 0)"),
        "{stdout}"
    );
    assert!(stdout.contains("sim: a = b  |  live: b = a"), "{stdout}");
    assert!(
        stdout.contains("latency_p95_ms           differs (not gated)  sim: a > b  |  live: b > a"),
        "{stdout}"
    );
    let ranking = std::fs::read_to_string(out.join("compare_ranking.csv")).unwrap();
    assert!(
        ranking.contains("success_rate,a = b,b = a,1,1,\n"),
        "{ranking}"
    );
    assert!(
        ranking.contains("latency_p95_ms,a > b,b > a,0,0,a/b\n"),
        "{ranking}"
    );
}

#[test]
fn goodput_beyond_the_tolerance_exits_1() {
    let sim = hand_run("hand_sim_g", SIM, &[]);
    // same order, but a third less goodput live
    let live = hand_run(
        "hand_live_goodput",
        &[("a", 0.90, 1.50, 5_000.0), ("b", 0.88, 1.45, 6_000.0)],
        &[],
    );
    let (code, stdout, stderr, _) = run_compare(&sim, &live, "hand_out_goodput");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("disagree"), "{stderr}");
    assert!(
        stdout.contains("  - a goodput_per_s differs by 33.3 % (tolerance 15.0 %)"),
        "{stdout}"
    );
    assert!(!stdout.contains("ranking differs"), "{stdout}");
    // a looser tolerance accepts it
    let c = compare(&sim, &live, 0.4).unwrap();
    assert!(c.verdict_ok());
}

#[test]
fn a_gated_ranking_swapped_beyond_the_margin_exits_1() {
    // a clearly ahead of b on success in the simulation, clearly behind it live; goodput as
    // simulated
    let sim = hand_run(
        "hand_sim_r",
        &[("a", 0.90, 2.00, 5_000.0), ("b", 0.70, 1.95, 6_000.0)],
        &[],
    );
    let live = hand_run(
        "hand_live_rank",
        &[("a", 0.60, 2.00, 5_000.0), ("b", 0.90, 1.95, 6_000.0)],
        &[],
    );
    let (code, stdout, stderr, _) = run_compare(&sim, &live, "hand_out_rank");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("  - success_rate ranking differs: sim a > b, live b > a"),
        "{stdout}"
    );
    assert!(stdout.contains("DISAGREE on 1 gated check(s)"), "{stdout}");
}

#[test]
fn recovery_comes_from_the_client_windows_and_events() {
    let sim = hand_run(
        "hand_sim_rec",
        SIM,
        &[
            (
                "client_windows.csv",
                &windows_a(&[100.0, 98.0, 40.0, 100.0]),
            ),
            ("events.csv", CRASH_AT_10S),
        ],
    );
    let live = hand_run(
        "hand_live_rec",
        SIM,
        &[
            ("client_windows.csv", &windows_a(&[100.0, 98.0, 40.0, 50.0])),
            ("events.csv", CRASH_AT_10S),
        ],
    );
    let (code, stdout, stderr, out) = run_compare(&sim, &live, "hand_out_rec");
    // recovery is reported, not gated
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    // baseline 99 %: back at 100 % in the window 15-20 s, 10 s after the crash; never live
    assert!(csv.contains("a,recovery_s,10.000,,,,0.150,0,,\n"), "{csv}");
    assert!(
        csv.contains("a,unrecovered_faults,0.000,1.000,1.000,0,0.150,0,,\n"),
        "{csv}"
    );
    // b has no windows or faults: nothing to say
    assert!(csv.contains("b,recovery_s,,,,,0.150,0,,\n"), "{csv}");
    assert!(
        csv.contains("b,unrecovered_faults,,,,,0.150,0,,\n"),
        "{csv}"
    );
}

#[test]
fn a_missing_folder_exits_2() {
    let sim = hand_run("hand_sim_err", SIM, &[]);
    let (code, _, stderr, _) = run_compare(&sim, &sim.join("nope"), "hand_out_err");
    assert_eq!(code, Some(2), "{stderr}");
}
