//! `sim live` on a shortened scenarios/live_smoke.toml: five real node processes on loopback,
//! real ffmpeg, two strategies, node3 killed and restarted. Checks the CSV files `sim run`
//! writes are there with docs/metrics.md's headers and say what happened.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The header of every file docs/metrics.md documents, by file name.
fn documented_headers() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("## ") else {
            continue;
        };
        let Some(file) = rest
            .split_whitespace()
            .next()
            .filter(|f| f.ends_with(".csv"))
        else {
            continue;
        };
        let mut block = lines.by_ref().skip_while(|l| !l.starts_with("```"));
        block.next();
        if let Some(header) = block.next() {
            out.push((file.to_string(), header.trim().to_string()));
        }
    }
    out
}

fn rows(dir: &Path, file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn sim_live_runs_real_nodes_and_writes_the_same_files_as_sim_run() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        panic!(
            "this test runs real ffmpeg, which is not on PATH: install it \
             (Debian/Ubuntu: `apt-get install -y ffmpeg`)"
        );
    }
    let tmp = std::env::temp_dir().join(format!("vidmesh-live-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    // 25 s per strategy, node3 down from 6 s to 16 s, four short clips.
    let text = std::fs::read_to_string(repo().join("scenarios/live_smoke.toml")).unwrap();
    let short = text
        .replace("duration_s = 60", "duration_s = 25")
        .replace("at_s = 20", "at_s = 6")
        .replace("for_s = 20", "for_s = 10")
        .replace("clips = 10", "clips = 4")
        .replace("clip_max_seconds = 2", "clip_max_seconds = 1")
        .replace("clip_max_height = 480", "clip_max_height = 360");
    assert_ne!(
        short, text,
        "live_smoke.toml changed shape; update this test"
    );
    let scenario = tmp.join("live_smoke.toml");
    std::fs::write(&scenario, short).unwrap();
    let out = tmp.join("out");

    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_sim"))
        .arg("live")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--no-charts")
        .output()
        .expect("sim runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "sim live failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "{stdout}sim live took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The same files as `sim run`, with the documented headers.
    let headers = documented_headers();
    assert!(headers.len() >= 7, "docs/metrics.md headers: {headers:?}");
    for (file, header) in &headers {
        let text = std::fs::read_to_string(out.join(file))
            .unwrap_or_else(|e| panic!("{file} was not written: {e}"));
        assert_eq!(text.lines().next(), Some(header.as_str()), "{file}");
    }

    // Requests went through, on both strategies, despite the crash.
    let summary = rows(&out, "summary.csv");
    assert_eq!(
        summary.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["score", "round_robin"]
    );
    for r in &summary {
        let requests: u64 = r[1].parse().unwrap();
        let ok: u64 = r[2].parse().unwrap();
        assert!(requests >= 10, "{r:?}");
        assert!(ok * 10 >= requests * 9, "at least 90 % succeed: {r:?}");
    }
    let requests = rows(&out, "requests.csv");
    assert!(requests
        .iter()
        .any(|r| r[7] == "ok" && r[10].starts_with("node")));

    // The crash and restart were applied, and the other nodes declared node3 down.
    let events = rows(&out, "events.csv");
    for strategy in ["score", "round_robin"] {
        let kinds: Vec<&str> = events
            .iter()
            .filter(|e| e[0] == strategy && e[3] == "node3")
            .map(|e| e[2].as_str())
            .collect();
        assert_eq!(kinds, ["crash", "restart"], "{strategy}: {events:?}");
        let detections: Vec<Vec<String>> = rows(&out, "failure_detection.csv")
            .into_iter()
            .filter(|d| d[0] == strategy)
            .collect();
        assert_eq!(detections.len(), 4, "{strategy}: four observers of node3");
        let detected: Vec<u64> = detections
            .iter()
            .filter(|d| d[2] == "node3" && !d[6].is_empty())
            .map(|d| d[6].parse().unwrap())
            .collect();
        assert!(
            detected.len() >= 3,
            "{strategy}: node3's crash detected by most peers: {detections:?}"
        );
        assert!(
            detected.iter().all(|&d| d < 10_000),
            "{strategy}: detected before it came back: {detected:?}"
        );
    }

    // node3 was seen down, then up again; every node reached a full view.
    let windows = rows(&out, "node_windows.csv");
    let node3: Vec<&str> = windows
        .iter()
        .filter(|w| w[0] == "score" && w[2] == "node3")
        .map(|w| w[4].as_str())
        .collect();
    let first_down = node3.iter().position(|&u| u == "0").expect("node3 down");
    assert!(
        node3[first_down..].contains(&"1"),
        "node3 back up: {node3:?}"
    );
    assert!(
        windows.iter().any(|w| w[11] != "0" && w[4] == "1"),
        "jobs done"
    );
    for c in rows(&out, "convergence.csv") {
        assert!(!c[5].is_empty(), "node never saw every peer: {c:?}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
