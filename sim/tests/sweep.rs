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
