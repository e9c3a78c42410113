//! A malformed scenario gets an error naming the file, the line and the problem.

mod common;

use std::path::Path;

use common::*;
use vidmesh_sim::Scenario;

/// A small valid scenario owned by these tests, so that editing a shipped scenario cannot break
/// them.
const FIXTURE: &str = r#"name = "fixture"
duration_s = 150
hop_limit = 1

[network]
zones = ["FRA", "IAD"]

[[network.links]]
zones = ["FRA", "IAD"]
rtt_ms = 90

[[nodes]]
name = "node1"
zone = "FRA"
seeds = ["node2", "node3", "node4"]

[[nodes]]
name = "node2"
zone = "IAD"
seeds = ["node1"]

[[nodes]]
name = "node3"
zone = "FRA"
seeds = ["node1"]

[[nodes]]
name = "node4"
zone = "IAD"
seeds = ["node1"]

[[strategies]]
name = "random"
strategy = { kind = "random" }

[[strategies]]
name = "score"
strategy = { kind = "score", w_load = 0.3, w_rtt = 0.7 }

[workload]
kind = "batch"
batch_size = 100
"#;

fn fixture_text(edits: &[(&str, &str)]) -> String {
    let mut text = FIXTURE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "the fixture has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    text
}

#[test]
fn the_fixture_itself_is_valid() {
    let dir = temp_dir("ok");
    let path = dir.join("fixture.toml");
    std::fs::write(&path, FIXTURE).unwrap();
    let loaded = Scenario::load(&path);
    let _ = std::fs::remove_dir_all(&dir);
    loaded.unwrap();
}

fn error_for(edits: &[(&str, &str)]) -> String {
    // Tests run in parallel: each call gets its own folder.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let text = fixture_text(edits);
    let dir = temp_dir(&format!("err{n}"));
    let path = dir.join("broken.toml");
    std::fs::write(&path, text).unwrap();
    let e = Scenario::load(&path).unwrap_err().to_string();
    let _ = std::fs::remove_dir_all(&dir);
    e
}

fn line_of(edits: &[(&str, &str)], needle: &str) -> usize {
    let text = fixture_text(edits);
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn an_unknown_key_is_rejected_with_file_and_line() {
    let edits = [("batch_size = 100", "batch_size = 100\nbatchsize = 100")];
    let e = error_for(&edits);
    let line = line_of(&edits, "batchsize = 100");
    assert!(e.contains("broken.toml"), "{e}");
    assert!(e.contains(&format!(":{line}:")), "want line {line}: {e}");
    assert!(e.contains("batchsize"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_names_its_line() {
    let edits = [("duration_s = 150", "duration_s = \"long\"")];
    let e = error_for(&edits);
    let line = line_of(&edits, "duration_s = \"long\"");
    assert!(e.contains(&format!("broken.toml:{line}:")), "{e}");
}

#[test]
fn an_unknown_strategy_kind_names_its_line() {
    let edits = [(
        "strategy = { kind = \"random\" }",
        "strategy = { kind = \"fastest\" }",
    )];
    let e = error_for(&edits);
    let line = line_of(&edits, "fastest");
    assert!(e.contains(&format!(":{line}:")), "{e}");
    assert!(e.contains("fastest"), "{e}");
}

#[test]
fn semantic_errors_point_at_the_offending_value() {
    let edits = [(
        "seeds = [\"node2\", \"node3\", \"node4\"]",
        "seeds = [\"node2\", \"node9\"]",
    )];
    let e = error_for(&edits);
    let line = line_of(&edits, "node9");
    assert!(e.contains(&format!(":{line}:")), "{e}");
    assert!(e.contains("node9"), "{e}");

    let edits = [("w_load = 0.3, w_rtt = 0.7", "w_load = -1.0, w_rtt = 0.7")];
    let e = error_for(&edits);
    let line = line_of(&edits, "w_load = -1.0");
    assert!(e.contains(&format!(":{line}:")), "{e}");
    assert!(e.contains("w_load"), "{e}");
}

#[test]
fn a_drain_with_a_restart_time_is_refused_at_its_for_s() {
    let edits = [(
        "batch_size = 100\n",
        "batch_size = 100\n\n[[faults]]\nat_s = 10\nnode = \"node2\"\nkind = \"drain\"\nfor_s = 30\n",
    )];
    let e = error_for(&edits);
    let line = line_of(&edits, "for_s = 30");
    assert!(e.contains(&format!(":{line}:")), "{e}");
    assert!(e.contains("drain fault takes no for_s"), "{e}");
    // Without it, a drain is a valid fault.
    let ok = fixture_text(&[(
        "batch_size = 100\n",
        "batch_size = 100\n\n[[faults]]\nat_s = 10\nnode = \"node2\"\nkind = \"drain\"\n",
    )]);
    Scenario::parse(&ok, Path::new("ok.toml"), "ok").unwrap();
}

#[test]
fn a_missing_file_says_so() {
    let e = Scenario::load(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.toml: cannot read"),
        "{e}"
    );
}
