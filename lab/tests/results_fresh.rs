//! The committed results/ are what the shipped scenarios produce now: every committed CSV of
//! every shipped scenario (except the live ones) is regenerated into a temporary folder and
//! compared byte for byte. scale_1000 takes about a minute optimised and far longer in a debug
//! build, so it is checked in optimised test runs (`cargo test --release`, as CI runs) only.
//! Fix a failure with `scripts/regen-results`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_results_match_a_fresh_run_of_every_shipped_scenario() {
    let repo = repo();
    let tmp = std::env::temp_dir().join(format!("vidmesh-results-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut scenarios: Vec<String> = std::fs::read_dir(repo.join("scenarios"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            if p.extension()? != "toml" {
                return None;
            }
            Some(p.file_stem()?.to_string_lossy().into_owned())
        })
        // live_* need real nodes.
        .filter(|n| !n.starts_with("live_"))
        .filter(|n| {
            let skip = n == "scale_1000" && cfg!(debug_assertions);
            if skip {
                eprintln!("results_fresh: scale_1000 is only checked in an optimised build");
            }
            !skip
        })
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 5, "shipped scenarios: {scenarios:?}");

    let mut problems = Vec::new();
    for name in &scenarios {
        let committed = repo.join("results").join(name);
        let fresh = tmp.join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_sim"))
            .current_dir(&repo)
            .args(["run", &format!("scenarios/{name}.toml"), "--no-charts"])
            .arg("--out")
            .arg(&fresh)
            .output()
            .expect("sim runs");
        assert!(
            o.status.success(),
            "sim run scenarios/{name}.toml failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let Ok(entries) = std::fs::read_dir(&committed) else {
            problems.push(format!("{name}: no results/{name}/ committed"));
            continue;
        };
        let mut csvs: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        csvs.sort();
        if !csvs.iter().any(|p| p.ends_with("summary.csv")) {
            problems.push(format!("{name}: results/{name}/summary.csv is missing"));
        }
        for path in csvs {
            let file = path.file_name().unwrap();
            let want = std::fs::read(&path).unwrap();
            match std::fs::read(fresh.join(file)) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    let line = String::from_utf8_lossy(&want)
                        .lines()
                        .zip(String::from_utf8_lossy(&got).lines())
                        .position(|(a, b)| a != b)
                        .map(|i| format!("first difference on line {}", i + 1))
                        .unwrap_or_else(|| "the files differ in length".into());
                    problems.push(format!(
                        "results/{name}/{} is stale ({line})",
                        file.to_string_lossy()
                    ));
                }
                Err(_) => problems.push(format!(
                    "results/{name}/{} is no longer written by sim run",
                    file.to_string_lossy()
                )),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        problems.is_empty(),
        "results/ does not match the scenarios; run scripts/regen-results:\n  {}",
        problems.join("\n  ")
    );
}
