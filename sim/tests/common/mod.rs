//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vidmesh_sim::{run_scenario, Catalog, RunResult, Scenario, Summary};

pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
        .join(format!("{name}.toml"))
}

/// A shipped scenario's text, with `edits` (from, to) applied; each `from` must occur.
pub fn scenario_text(name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(scenario_path(name)).expect("shipped scenario");
    for (from, to) in edits {
        assert!(text.contains(from), "{name}.toml has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    text
}

pub fn parse(name: &str, text: &str) -> Scenario {
    Scenario::parse(text, Path::new(&format!("{name}.toml")), name).expect("valid scenario")
}

pub fn run(s: &Scenario) -> Vec<RunResult> {
    let catalog = Catalog::build(s);
    run_scenario(s, &catalog, &|_, _| {})
}

pub fn summary<'a>(runs: &'a [RunResult], strategy: &str) -> (Summary, &'a RunResult) {
    let r = runs
        .iter()
        .find(|r| r.strategy == strategy)
        .unwrap_or_else(|| panic!("no strategy {strategy}"));
    (r.summary(), r)
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vidmesh-sim-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
