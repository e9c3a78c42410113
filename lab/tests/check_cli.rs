//! `sim check` and `sim run` as a user runs them: the checker's verdict and exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn sim_check_reports_a_clean_range_and_replays_one_seed_with_its_schedule() {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args(["check", "scenarios/partition.toml", "--seeds", "1..40"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no violation: 80 runs (40 seeds)"), "{text}");

    let one = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args(["check", "scenarios/partition.toml", "--seeds", "7"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(text.contains("schedule of seed 7:"), "{text}");

    let bad = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args(["check", "scenarios/partition.toml", "--seeds", "9..3"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("the last seed is below the first"), "{err}");
}

#[test]
fn sim_run_says_the_checker_found_nothing() {
    let dir = std::env::temp_dir().join(format!("vidmesh-check-cli-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args(["run", "scenarios/partition.toml", "--no-charts", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("checked: no node broke a rule of the job protocol"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
