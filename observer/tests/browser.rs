//! The dashboard in a real browser: a live 5-node loopback cluster (real `vidmesh-node`
//! processes, ring seeds) under load from the real load client (ffmpeg transcodes of small
//! generated clips), the observer binary pointed at one seed, and headless Chromium reading the
//! page. Checks that the page shows five nodes and non-empty charts, saves screenshots to
//! `target/test-artifacts/`, kills a node and checks the page shows it dead within seconds.
//!
//! The node binary: `$VIDMESH_NODE_BIN` if set, else the test builds it with
//! `cargo build -p vidmesh-node --bin vidmesh-node` (a no-op when it is up to date) and takes
//! it from this target directory (`vidmesh_node::args::node_binary`).
//!
//! Needs ffmpeg and Chromium (`chromium`, `chromium-browser`, `google-chrome`, or
//! `$VIDMESH_CHROMIUM`); without Chromium the test prints why and passes without checking.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vidmesh_node::args::NodeLaunch;
use vidmesh_node::catalog::{self, CatalogSpec};

const ZONES: [&str; 5] = ["FRA", "IAD", "BOM", "FRA", "IAD"];
const CHARTS: [&str; 13] = [
    "c-success",
    "c-goodput",
    "c-latency",
    "c-cpu",
    "c-mem",
    "c-queue",
    "c-inflight",
    "c-gossip",
    "c-jobs",
    "c-offloads",
    "c-totals",
    "c-timeline",
    "graph",
];

/// Kills every process it holds when dropped, so a failing assertion leaves nothing running.
struct Procs(Vec<(String, Child)>);

impl Procs {
    fn kill(&mut self, name: &str) {
        if let Some((_, c)) = self.0.iter_mut().find(|(n, _)| n == name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIDMESH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn node_binary() -> PathBuf {
    if std::env::var_os("VIDMESH_NODE_BIN").is_none() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "vidmesh-node", "--bin", "vidmesh-node"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building vidmesh-node failed");
    }
    vidmesh_node::args::node_binary()
        .expect("vidmesh-node binary (set VIDMESH_NODE_BIN or build it in this target directory)")
}

fn get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let r = http.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.text().await.ok()
    })
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what}: not within {limit:?}");
}

/// Runs Chromium to completion (or kills it after 40 s) and returns its stdout.
fn chromium(bin: &Path, profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(out), &mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("chromium status").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 40 s ({args:?})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("stdout reader")
}

fn dump_dom(bin: &Path, profile: &Path, url: &str) -> String {
    chromium(
        bin,
        profile,
        &[
            "--window-size=1400,900".into(),
            "--virtual-time-budget=4000".into(),
            "--dump-dom".into(),
            url.into(),
        ],
    )
}

fn screenshot(bin: &Path, profile: &Path, url: &str, path: &Path, height: u32) {
    let _ = std::fs::remove_file(path);
    chromium(
        bin,
        profile,
        &[
            format!("--window-size=1400,{height}"),
            "--virtual-time-budget=4000".into(),
            format!("--screenshot={}", path.display()),
            url.into(),
        ],
    );
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 10_000,
        "screenshot {} missing or empty",
        path.display()
    );
}

/// The opening tags of elements whose opening tag contains `needle`.
fn tags<'a>(dom: &'a str, needle: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = dom[from..].find(needle) {
        let at = from + i;
        let start = dom[..at].rfind('<').unwrap_or(at);
        let end = dom[at..].find('>').map(|e| at + e).unwrap_or(dom.len());
        out.push(&dom[start..end]);
        from = end;
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(&tag[i..j])
}

fn node_states(dom: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = tags(dom, "class=\"node-card")
        .into_iter()
        .filter_map(|t| {
            Some((
                attr(t, "data-node")?.to_string(),
                attr(t, "data-state")?.to_string(),
            ))
        })
        .collect();
    v.sort();
    v
}

/// Matrix cells (viewer, peer, view) of viewers that answered.
fn views(dom: &str) -> Vec<(String, String, String)> {
    tags(dom, "data-view=")
        .into_iter()
        .filter(|t| t.starts_with("<td"))
        .filter_map(|t| {
            Some((
                attr(t, "data-viewer")?.to_string(),
                attr(t, "data-peer")?.to_string(),
                attr(t, "data-view")?.to_string(),
            ))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn chart_points(dom: &str, id: &str) -> u64 {
    tags(dom, &format!("id=\"{id}\""))
        .first()
        .and_then(|t| attr(t, "data-points"))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[test]
fn dashboard_in_chromium_shows_the_live_cluster_and_a_killed_node() {
    let Some(chromium_bin) = find_chromium() else {
        println!(
            "SKIPPED dashboard browser test: no Chromium found (install Debian's `chromium`, or set VIDMESH_CHROMIUM)"
        );
        return;
    };
    let node_bin = node_binary();
    let work = std::env::temp_dir().join(format!("vidmesh-observer-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");

    // Small real clips: a few seconds of ffmpeg work per batch on two cores.
    let clips_dir = work.join("catalog");
    let spec = CatalogSpec {
        count: 8,
        seed: 7,
        max_seconds: 2,
        max_height: 360,
        ..CatalogSpec::default()
    };
    catalog::generate(&clips_dir, &spec).expect("clip catalog (is ffmpeg installed?)");

    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
    let mut procs = Procs(Vec::new());
    // Ring seeds (node i joins through node i+1), started last to first so every seed is
    // already listening when its node announces itself.
    for i in (0..5).rev() {
        let name = format!("node{}", i + 1);
        let mut launch = NodeLaunch::new(
            &name,
            i as u32 + 1,
            ZONES[i],
            addr(i).parse().expect("address"),
            work.join(&name),
        );
        launch.seeds = vec![addr((i + 1) % 5).parse().expect("address")];
        launch.workers = 2;
        launch.cpus = Some(0.4);
        launch.gossip.period_ms = 1_000;
        let child = launch
            .command(&node_bin)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        procs.0.push((name.clone(), child));
        wait_for(&format!("{name} /health"), Duration::from_secs(10), || {
            get(&format!("http://{}/health", addr(i))).is_some()
        });
    }

    let client_port = free_port();
    let targets: Vec<String> = (0..5)
        .map(|i| format!("node{}={}@{}", i + 1, ZONES[i], addr(i)))
        .collect();
    let client = Command::new(&node_bin)
        .args(["client", "--nodes", &targets.join(",")])
        .arg("--catalog")
        .arg(&clips_dir)
        .args([
            "--batch-size",
            "6",
            "--pause-ms",
            "500",
            "--duration-s",
            "110",
        ])
        .args(["--attempt-timeout-ms", "20000"])
        .args(["--metrics-listen", &format!("127.0.0.1:{client_port}")])
        .arg("--out")
        .arg(work.join("requests.csv"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("client starts");
    procs.0.push(("client".into(), client));

    let obs_port = free_port();
    let observer = Command::new(env!("CARGO_BIN_EXE_vidmesh-observer"))
        .args(["--listen", &format!("127.0.0.1:{obs_port}")])
        // One seed: the other four must come from gossip.
        .args(["--seed", &addr(0)])
        .args(["--client", &format!("127.0.0.1:{client_port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("observer starts");
    procs.0.push(("observer".into(), observer));
    let url = format!("http://127.0.0.1:{obs_port}/");
    let api = format!("http://127.0.0.1:{obs_port}/api/snapshot?since=999999999");

    // Wait for the observer to find all five and for requests to have ended, then let some
    // history build up.
    wait_for(
        "observer finds 5 nodes up and the client's requests end",
        Duration::from_secs(40),
        || {
            let Some(text) = get(&api) else { return false };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                return false;
            };
            let up = v["nodes"]
                .as_array()
                .map(|n| n.iter().filter(|n| n["state"] == "up").count())
                .unwrap_or(0);
            let ok = v["client"]["totals"]["ok"].as_u64().unwrap_or(0);
            let jobs: u64 = v["nodes"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|n| n["status"]["counters"]["transcodes_ok"].as_u64())
                        .sum()
                })
                .unwrap_or(0);
            up == 5 && ok >= 5 && jobs >= 3
        },
    );
    std::thread::sleep(Duration::from_secs(12));

    let profile = work.join("chromium-profile");
    let dom = dump_dom(&chromium_bin, &profile, &url);
    let states = node_states(&dom);
    assert_eq!(
        states,
        (1..=5)
            .map(|i| (format!("node{i}"), "up".to_string()))
            .collect::<Vec<_>>(),
        "the page shows five nodes, all up"
    );
    for id in CHARTS {
        assert!(
            chart_points(&dom, id) > 0,
            "chart {id} is empty on the page"
        );
    }
    let alive = views(&dom).iter().filter(|(_, _, v)| v == "alive").count();
    assert_eq!(
        alive, 20,
        "every node's membership shows the other four alive"
    );
    screenshot(
        &chromium_bin,
        &profile,
        &url,
        &artifacts.join("dashboard.png"),
        900,
    );
    screenshot(
        &chromium_bin,
        &profile,
        &url,
        &artifacts.join("dashboard-full.png"),
        2050,
    );

    // Kill node3 (alone in BOM) and watch the page.
    procs.kill("node3");
    let killed = Instant::now();
    let mut unreachable_after = None;
    let mut declared_after = None;
    let limit = Duration::from_secs(25);
    while killed.elapsed() < limit && declared_after.is_none() {
        let dom = dump_dom(&chromium_bin, &profile, &url);
        let shown = node_states(&dom)
            .iter()
            .any(|(n, s)| n == "node3" && s == "unreachable");
        if shown && unreachable_after.is_none() {
            unreachable_after = Some(killed.elapsed());
        }
        let down_by = views(&dom)
            .iter()
            .filter(|(_, p, v)| p == "node3" && v == "down")
            .count();
        if shown && down_by >= 1 {
            declared_after = Some(killed.elapsed());
        }
    }
    let unreachable_after = unreachable_after.expect("the page shows the killed node unreachable");
    let declared_after =
        declared_after.expect("the page shows the killed node declared down by its peers");
    println!(
        "node3 killed: shown unreachable after {:.1} s, declared down by a peer after {:.1} s",
        unreachable_after.as_secs_f64(),
        declared_after.as_secs_f64()
    );
    assert!(
        unreachable_after < Duration::from_secs(8),
        "shown unreachable too late: {unreachable_after:?}"
    );
    assert!(
        declared_after < Duration::from_secs(20),
        "shown declared down too late: {declared_after:?}"
    );
    screenshot(
        &chromium_bin,
        &profile,
        &url,
        &artifacts.join("dashboard-node-killed.png"),
        2050,
    );
    println!("screenshots in {}", artifacts.display());
    drop(procs);
    let _ = std::fs::remove_dir_all(&work);
}
