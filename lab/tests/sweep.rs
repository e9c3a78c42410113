//! `sim sweep`: replications in parallel give the same bytes as one after another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sweep(out: &Path, jobs: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args(["sweep", "scenarios/rr_vs_score.toml", "--seeds", "1..4"])
        .arg("--out")
        .arg(out)
        .args(["--jobs", jobs])
        .output()
        .expect("sim runs");
    assert!(
        o.status.success(),
        "sim sweep --jobs {jobs} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_sweep_is_byte_identical_with_one_thread_or_two() {
    let tmp = std::env::temp_dir().join(format!("vidmesh-sweep-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (one, two) = (tmp.join("jobs1"), tmp.join("jobs2"));
    sweep(&one, "1");
    sweep(&two, "2");
    let (a, b) = (files(&one), files(&two));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the two sweeps wrote different files"
    );
    for (path, bytes) in &a {
        assert!(
            *bytes == b[path],
            "{} differs between --jobs 1 and --jobs 2",
            path.display()
        );
    }
    // Four seeds, both strategies, and the error-bar chart.
    for seed in 1..=4 {
        assert!(a.contains_key(
            &Path::new("seeds")
                .join(format!("seed-{seed}"))
                .join("summary.csv")
        ));
    }
    assert!(
        a.contains_key(Path::new("sweep.png")),
        "files: {:?}",
        a.keys()
    );
    let csv = String::from_utf8(a[Path::new("sweep.csv")].clone()).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("strategy,metric,n,mean"), "{header}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for strategy in ["round_robin", "score"] {
        let row = rows
            .iter()
            .find(|r| r[0] == strategy && r[1] == "success_rate")
            .unwrap_or_else(|| panic!("no success_rate row for {strategy} in\n{csv}"));
        assert_eq!(row[2], "4", "four seeds: {row:?}");
        let ci_low: f64 = row[5].parse().unwrap();
        let ci_high: f64 = row[6].parse().unwrap();
        let mean: f64 = row[3].parse().unwrap();
        assert!(ci_low <= mean && mean <= ci_high, "{row:?}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn load_curve(out: &Path, jobs: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(repo())
        .args([
            "load-curve",
            "scenarios/profiles_mix.toml",
            "--seeds",
            "1..3",
        ])
        .args([
            "--loads",
            "50,100,115",
            "--strategy",
            "random",
            "--strategy",
            "score",
        ])
        .arg("--out")
        .arg(out)
        .args(["--jobs", jobs])
        .output()
        .expect("sim runs");
    assert!(
        o.status.success(),
        "sim load-curve --jobs {jobs} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_load_curve_over_seeds_is_byte_identical_with_one_thread_or_three() {
    let tmp = std::env::temp_dir().join(format!("vidmesh-lc-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (one, three) = (tmp.join("jobs1"), tmp.join("jobs3"));
    load_curve(&one, "1");
    load_curve(&three, "3");
    let (a, b) = (files(&one), files(&three));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(*bytes == b[path], "{} differs", path.display());
    }
    for f in [
        "load_curve_runs.csv",
        "load_curve_ci.csv",
        "load_curve_ci.png",
    ] {
        assert!(a.contains_key(Path::new(f)), "files: {:?}", a.keys());
    }
    // 2 strategies × 3 loads × 3 seeds runs; every (strategy, load) has p99 with a CI over 3.
    let runs = String::from_utf8(a[Path::new("load_curve_runs.csv")].clone()).unwrap();
    assert_eq!(runs.lines().count(), 1 + 2 * 3 * 3);
    let ci = String::from_utf8(a[Path::new("load_curve_ci.csv")].clone()).unwrap();
    let p99: Vec<&str> = ci
        .lines()
        .filter(|l| l.contains(",latency_p99_ms,3,"))
        .collect();
    assert_eq!(p99.len(), 6, "{ci}");
    // More offered load, more goodput (as % of capacity): the curve rises to capacity.
    let goodput = |load: &str| -> f64 {
        let l = ci
            .lines()
            .find(|l| l.starts_with(&format!("random,{load},goodput_pct_of_capacity,")))
            .unwrap();
        l.split(',').nth(4).unwrap().parse().unwrap()
    };
    assert!(goodput("50.000") < goodput("100.000"));
    assert!((45.0..55.0).contains(&goodput("50.000")), "{ci}");
    let _ = std::fs::remove_dir_all(&tmp);
}
