//! Same scenario and seed → byte-identical files; another seed → different ones.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use vidmesh_sim::{metrics, Catalog};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        m.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        );
    }
    m
}

fn run_into(seed: u64, tag: &str) -> BTreeMap<String, Vec<u8>> {
    // A fault and both strategies so every CSV has rows.
    let text = scenario_text(
        "random_vs_score",
        &[
            ("seed = 1", &format!("seed = {seed}")),
            (
                "\n[output]",
                "\n[[faults]]\nat_s = 20\nnode = \"node2\"\nkind = \"crash\"\nfor_s = 15\n\n[output]",
            ),
        ],
    );
    let s = parse("determinism", &text);
    let runs = run(&s);
    let dir = temp_dir(tag);
    metrics::write_all(&dir, &s, &Catalog::build(&s), &runs).unwrap();
    let f = files(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    f
}

#[test]
fn the_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = run_into(7, "a");
    let b = run_into(7, "b");
    let names: Vec<&String> = a.keys().collect();
    assert_eq!(
        names,
        [
            "client_windows.csv",
            "convergence.csv",
            "events.csv",
            "failure_detection.csv",
            "node_windows.csv",
            "requests.csv",
            "summary.csv"
        ]
    );
    for (name, bytes) in &a {
        assert!(
            bytes.len() > 100 || name == "events.csv",
            "{name} is nearly empty"
        );
        assert!(
            &b[name] == bytes,
            "{name} differs between two runs of seed 7"
        );
    }
    let c = run_into(8, "c");
    assert_ne!(a["requests.csv"], c["requests.csv"]);
}

#[test]
fn strategies_see_the_same_workload_draws() {
    let text = scenario_text("random_vs_score", &[]);
    let runs = run(&parse("crn", &text));
    // Request i asks for the same video under every strategy.
    assert_eq!(runs.len(), 4);
    for r in &runs[1..] {
        assert_eq!(r.requests.len(), runs[0].requests.len());
        for (i, (a, b)) in runs[0].requests.iter().zip(&r.requests).enumerate() {
            assert_eq!(a.item, b.item, "{}: request {i}", r.strategy);
        }
    }
}
