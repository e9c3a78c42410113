//! The chaos checker on simulated faults: a node crashes while jobs are offloaded to it (and
//! while it offloads its own), and every request still ends exactly once, nothing is answered
//! twice, and no surviving node is left holding a job.

use std::path::{Path, PathBuf};

use vidmesh_sim::{Catalog, Scenario};

/// scenarios/node_failure_1.toml with three batches of 100 uploads: node3 crashes at 60 s,
/// under the first batch's offloads, and restarts (`for_s`) or stays down (`None`). The run
/// goes on to 4000 s: the report's mechanics (no hop limit; a timed-out offload run again by
/// its sender while the peer keeps its copy) leave copies queued on the FRA nodes long after
/// the last request ended (~820 each still at 400 s; none by 4000 s). Whatever is still held at
/// the end is stuck.
fn crash_scenario(restart_after_s: Option<u32>) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/node_failure_1.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let fault = match restart_after_s {
        Some(s) => format!("at_s = 60\nnode = \"node3\"\nkind = \"crash\"\nfor_s = {s}\n"),
        None => "at_s = 60\nnode = \"node3\"\nkind = \"crash\"\n".into(),
    };
    let text = text
        .replace("duration_s = 600", "duration_s = 4000")
        .replace("pause_ms = 5000\n", "pause_ms = 5000\nbatches = 3\n")
        .replace(
            "at_s = 120\nnode = \"node3\"\nkind = \"crash\"\nfor_s = 240\n",
            &fault,
        );
    assert!(
        text.contains(&fault),
        "the fault block moved in node_failure_1.toml"
    );
    Scenario::parse(&text, Path::new("chaos.toml"), "chaos").unwrap()
}

#[test]
fn a_crash_in_the_middle_of_offloads_loses_and_doubles_no_request() {
    for restart in [Some(60), None] {
        let s = crash_scenario(restart);
        let catalog = Catalog::build(&s);
        let runs = vidmesh_sim::run_scenario(&s, &catalog, &|_, _| {});
        for r in &runs {
            let verdict = r.chaos_verdict();
            assert!(
                verdict.is_clean(),
                "{} (restart {restart:?}): {verdict}",
                r.strategy
            );
            assert_eq!(verdict.tally.total() as usize, r.requests.len());
            assert_eq!(r.requests.len(), 300);
            assert!(verdict.tally.ok > 0, "{}: {verdict}", r.strategy);
            // The crash did hit offloads in flight: their entry nodes ran them instead.
            let crash_ms = 60_000;
            let fell_back = r
                .requests
                .iter()
                .filter(|q| q.fallback && q.end_ms > crash_ms)
                .count();
            assert!(
                fell_back > 0,
                "{} (restart {restart:?}): no offload was caught by the crash",
                r.strategy
            );
        }
    }
}

#[test]
fn the_checker_catches_a_request_that_never_ended() {
    // Cut the run off while requests are open: the hard stop leaves them unended, and the
    // checker must call them lost rather than trust their placeholder "timeout" rows.
    let s = crash_scenario(None);
    let catalog = Catalog::build(&s);
    let mut runs = vidmesh_sim::run_scenario(&s, &catalog, &|_, _| {});
    let r = &mut runs[0];
    r.chaos.unended.push(3);
    let v = r.chaos_verdict();
    assert!(!v.is_clean());
    assert!(v.to_string().contains("request 3 was lost"), "{v}");
}

#[test]
fn a_drained_node_finishes_its_work_and_leaves_without_a_failed_request_or_a_suspicion() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/node_failure_1.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("duration_s = 600", "duration_s = 4000")
        .replace("pause_ms = 5000\n", "pause_ms = 5000\nbatches = 3\n")
        .replace(
            "at_s = 120\nnode = \"node3\"\nkind = \"crash\"\nfor_s = 240\n",
            "at_s = 60\nnode = \"node3\"\nkind = \"drain\"\n",
        );
    let s = Scenario::parse(&text, Path::new("drain.toml"), "drain").unwrap();
    let catalog = Catalog::build(&s);
    for r in vidmesh_sim::run_scenario(&s, &catalog, &|_, _| {}) {
        let verdict = r.chaos_verdict();
        assert!(verdict.is_clean(), "{}: {verdict}", r.strategy);
        assert_eq!(verdict.tally.ok, 300, "{}: {verdict}", r.strategy);
        let node3 = &r.chaos.nodes[2];
        assert!(!node3.running, "{}: node3 never left", r.strategy);
        // It worked through the drain (its own jobs) and went on executing nothing after.
        let ran_after = r
            .requests
            .iter()
            .filter(|q| q.exec_node == Some(2) && q.end_ms > 60_000)
            .count();
        assert!(ran_after > 0, "{}: node3 had no work to finish", r.strategy);
        // A departure, not a failure: no peer suspected node3, none had to detect it.
        assert!(
            r.suspicions.iter().all(|x| x.suspected != 2),
            "{}: {:?}",
            r.strategy,
            r.suspicions
        );
        assert!(r.detections.is_empty());
        assert!(r.fault_events.iter().any(|e| e.kind == "drain"));
    }
}
