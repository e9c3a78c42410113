//! Live tests: real node processes on loopback running real ffmpeg on small generated clips.
//!
//! They need ffmpeg and ffprobe on PATH and fail with a message saying how to install them.
//! Heavy tests take a process-wide lock so a 2-core machine runs one cluster at a time.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use vidmesh_analysis::chaos::{self, End, NodeEnd, RequestEnd, Tally};
use vidmesh_core::load::{LoadDigest, LoadReport};
use vidmesh_core::{wire, GossipConfig, Message, NodeId, PeerAddr, PeerId, StrategyConfig, ZoneId};
use vidmesh_node::args::NodeLaunch;
use vidmesh_node::auth::{self, Keyring, Kind, Signature};
use vidmesh_node::catalog::{self, CatalogSpec, Clip};
use vidmesh_node::client::{self, Arrivals, ClientConfig, Outcome, Target};
use vidmesh_node::headers as h;
use vidmesh_node::status::Status;

const BIN: &str = env!("CARGO_BIN_EXE_vidmesh-node");

/// The cluster key every test node gets unless a test says otherwise.
const KEY: &str = "live-test-cluster-key-0001";
/// A key of another cluster.
const WRONG_KEY: &str = "some-other-cluster-key-9999";

/// A signature header as a member holding `key` would send it (fresh nonce each call).
fn sign(key: &str, kind: Kind, fields: &[&str]) -> String {
    static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let ring = Keyring::parse(key).unwrap();
    let t_ms = vidmesh_node::driver::unix_ms();
    let nonce = NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let macs = ring.sign(&auth::canonical(kind, t_ms, nonce, fields));
    Signature { t_ms, nonce, macs }.header_value()
}

/// The signature of a gossip body from node `from` in `zone`.
fn sign_gossip(key: &str, from: &str, zone: &str, body: &[u8]) -> String {
    let sha = auth::sha256_hex(body);
    sign(key, Kind::Gossip, &auth::gossip_fields(from, zone, &sha))
}

/// One cluster at a time (tests run on parallel threads, each with its own runtime).
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        if let Err(e) = vidmesh_node::ffmpeg::check_installed(tool) {
            panic!("these tests run real {tool}: {e}");
        }
    }
}

fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("vidmesh-node-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// Eight small clips (240p–480p, 1–2 s), generated once per test run.
fn clips() -> &'static [Clip] {
    static CLIPS: OnceLock<Vec<Clip>> = OnceLock::new();
    CLIPS.get_or_init(|| {
        require_ffmpeg();
        let spec = CatalogSpec {
            count: 8,
            seed: 7,
            max_seconds: 2,
            max_height: 480,
            ..CatalogSpec::default()
        };
        catalog::generate(&root().join("catalog"), &spec).expect("generating test clips")
    })
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn fast_gossip() -> GossipConfig {
    // Probe timing must allow the emulated RTTs (up to 250 ms) on a busy 2-core machine.
    GossipConfig {
        period_ms: 500,
        announce_period_ms: 2_000,
        ..GossipConfig::default()
    }
}

struct NodeProc {
    launch: NodeLaunch,
    child: Option<Child>,
    log: PathBuf,
}

struct Cluster {
    nodes: Vec<NodeProc>,
    http: reqwest::Client,
}

/// The report's topology: node1 FRA, node2 IAD, node3 BOM, node4 FRA, node5 IAD.
const REPORT: [(&str, &str); 5] = [
    ("node1", "FRA"),
    ("node2", "IAD"),
    ("node3", "BOM"),
    ("node4", "FRA"),
    ("node5", "IAD"),
];

impl Cluster {
    /// Starts nodes with ring seeds (each node seeds the next).
    fn start(test: &str, specs: &[(&str, &str)], tweak: impl Fn(&mut NodeLaunch)) -> Cluster {
        let dir = root().join(test);
        let ports = free_ports(specs.len());
        let addrs: Vec<SocketAddr> = ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect();
        let mut nodes = Vec::new();
        for (i, (name, zone)) in specs.iter().enumerate() {
            let id: u32 = name.trim_start_matches("node").parse().unwrap();
            let mut l = NodeLaunch::new(name, id, zone, addrs[i], dir.join(name));
            if specs.len() > 1 {
                l.seeds = vec![addrs[(i + 1) % specs.len()]];
            }
            l.gossip = fast_gossip();
            l.exit_with_parent = true; // an interrupted test run leaves no node behind
            l.transcode_timeout_s = Some(60.0);
            l.offload_timeout_ms = Some(60_000);
            l.cluster_key = Some(KEY.into());
            tweak(&mut l);
            nodes.push(NodeProc {
                log: dir.join(format!("{name}.log")),
                launch: l,
                child: None,
            });
        }
        let mut c = Cluster {
            nodes,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        for i in 0..c.nodes.len() {
            c.spawn(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        std::fs::create_dir_all(n.log.parent().unwrap()).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .unwrap();
        let child = n
            .launch
            .command(Path::new(BIN))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting vidmesh-node");
        n.child = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].launch.listen)
    }

    fn target(&self, i: usize) -> Target {
        Target {
            name: self.nodes[i].launch.name.clone(),
            zone: self.nodes[i].launch.zone.clone(),
            url: self.url(i),
        }
    }

    fn work_dir(&self, i: usize) -> PathBuf {
        self.nodes[i].launch.data_dir.join("work")
    }

    async fn status(&self, i: usize) -> Option<Status> {
        let r = self
            .http
            .get(format!("{}/status", self.url(i)))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&r.bytes().await.ok()?).ok()
    }

    async fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.status(i).await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not come up; log: {}",
            self.nodes[i].launch.name,
            self.nodes[i].log.display()
        );
    }

    /// Waits until every node sees every other as alive; returns how long that took.
    async fn wait_full_view(&self, within: Duration) -> Duration {
        let start = Instant::now();
        let n = self.nodes.len();
        loop {
            let mut all = true;
            for i in 0..n {
                let alive = self.status(i).await.map(|s| s.alive_peers).unwrap_or(0);
                all &= alive == n - 1;
            }
            if all {
                return start.elapsed();
            }
            if start.elapsed() > within {
                let mut views = String::new();
                for i in 0..n {
                    let s = self.status(i).await;
                    views.push_str(&format!(
                        "\n{}: {:?}",
                        self.nodes[i].launch.name,
                        s.map(|s| s
                            .peers
                            .iter()
                            .map(|p| format!("{}={}", p.name, p.state))
                            .collect::<Vec<_>>())
                    ));
                }
                panic!("no full view within {within:?}:{views}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `i` reports peer `name` in `state`; panics with its last view otherwise.
    async fn wait_peer_state(&self, i: usize, name: &str, state: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            let seen = self.status(i).await.and_then(|s| {
                s.peers
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.state.clone())
            });
            if seen.as_deref() == Some(state) {
                return;
            }
            last = seen;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} still sees {name} as {last:?}, not {state}, after {within:?}",
            self.nodes[i].launch.name
        );
    }

    async fn upload(&self, i: usize, clip: &Path) -> reqwest::Response {
        self.http
            .post(format!("{}/upload", self.url(i)))
            .header("content-type", "video/mp4")
            .body(std::fs::read(clip).unwrap())
            .send()
            .await
            .unwrap()
    }
}

/// The client's records as the chaos checker reads them: one end per record.
fn request_ends(run: &client::ClientRun) -> Vec<RequestEnd> {
    (run.records.iter().zip(&run.details))
        .enumerate()
        .map(|(id, (r, d))| RequestEnd {
            id: id as u64,
            end: End::of(r.outcome, d.error.as_deref()),
        })
        .collect()
}

impl Cluster {
    /// Runs the chaos checker over `run`'s records (ids `0..submitted`) and every node still
    /// running, once their jobs settle (a transcode kept for the cache, an offload whose
    /// client left, may end a little after the last answer).
    async fn chaos_check(&mut self, run: &client::ClientRun, submitted: u64) -> Tally {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut nodes = Vec::new();
            for i in 0..self.nodes.len() {
                let running = self.nodes[i]
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_none());
                let (jobs_left, stray_answers) = match (running, self.status(i).await) {
                    (true, Some(s)) => (
                        (s.in_flight + s.queue_len + s.offloads_pending) as u64,
                        s.counters.stray_replies,
                    ),
                    _ => (0, 0),
                };
                nodes.push(NodeEnd {
                    name: self.nodes[i].launch.name.clone(),
                    running,
                    jobs_left,
                    stray_answers,
                });
            }
            let settled = nodes.iter().all(|n| n.jobs_left == 0);
            if settled || Instant::now() > deadline {
                return chaos::assert_clean(0..submitted, &request_ends(run), &nodes);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Width, height and codec of the first video stream.
fn ffprobe(path: &Path) -> (u32, u32, String) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on the output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.trim().split(',').collect();
    (
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[0].to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_discover_every_peer_from_ring_seeds() {
    let _g = serial().await;
    require_ffmpeg();
    let c = Cluster::start("discovery", &REPORT, |_| {});
    for i in 0..5 {
        c.wait_healthy(i).await;
    }
    c.wait_full_view(Duration::from_secs(20)).await;
    // Zones come from membership, and load reports arrive through gossip.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let s = c.status(0).await.unwrap();
    let zones: Vec<(String, String)> = s
        .peers
        .iter()
        .map(|p| (p.name.clone(), p.zone.clone()))
        .collect();
    assert_eq!(
        zones,
        [
            ("node2", "IAD"),
            ("node3", "BOM"),
            ("node4", "FRA"),
            ("node5", "IAD")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        s.peers
            .iter()
            .all(|p| p.state == "alive" && p.report_age_ms.is_some()),
        "{:?}",
        s.peers
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_returns_an_aspect_true_h264_mp4_and_a_repeat_is_a_cache_hit() {
    let _g = serial().await;
    let clip = &clips()[2];
    let c = Cluster::start("transcode", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    let r = c.upload(0, &clip.path).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let hash = header(&r, h::CONTENT_HASH);
    assert_eq!(hash.len(), 64);
    assert_eq!(header(&r, h::EXEC_NODE), "node1");
    assert_eq!(header(&r, h::EXEC_ZONE), "FRA");
    assert_eq!(header(&r, h::HOPS), "0");
    assert_eq!(header(&r, h::CACHE_HIT), "0");
    assert!(header(&r, h::LATENCY_MS).parse::<u64>().is_ok());
    let first = r.bytes().await.unwrap();
    let out = root().join("transcode").join("out.mp4");
    std::fs::write(&out, &first).unwrap();
    // 854×480 fitted into the default 640×360 box keeps its 16:9 (the aspect cases are in
    // `every_shape_keeps_its_display_aspect_in_every_profile`).
    assert_eq!((clip.width, clip.height), (854, 480));
    assert_eq!(ffprobe(&out), (640, 360, "h264".to_string()));

    let again = c.upload(0, &clip.path).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, h::CACHE_HIT), "1");
    assert_eq!(header(&again, h::CONTENT_HASH), hash);
    assert_eq!(again.bytes().await.unwrap(), first);

    let got = c
        .http
        .get(format!("{}/videos/{hash}", c.url(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap(), first);
    let s = c.status(0).await.unwrap();
    assert_eq!(
        (
            s.counters.core.uploads,
            s.counters.core.cache_hits,
            s.counters.core.transcodes_ok
        ),
        (2, 1, 1)
    );
    let metrics = c
        .http
        .get(format!("{}/metrics", c.url(0)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vidmesh_cache_hits_total{node=\"node1\",zone=\"FRA\"} 1"),
        "{metrics}"
    );
    assert!(
        files_in(&c.work_dir(0)).is_empty(),
        "temp files left: {:?}",
        files_in(&c.work_dir(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_survives_a_restart() {
    let _g = serial().await;
    let clip = &clips()[0];
    let mut c = Cluster::start("restart", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    assert_eq!(header(&c.upload(0, &clip.path).await, h::CACHE_HIT), "0");
    c.kill(0);
    c.spawn(0);
    c.wait_healthy(0).await;
    let r = c.upload(0, &clip.path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, h::CACHE_HIT), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_node_offloads_to_a_same_zone_peer_under_score() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("offload", &REPORT, |l| {
        l.strategy = StrategyConfig::default(); // score 0.3 / 0.7
        l.workers = 1;
        l.cache_mb = 0.0;
        // The strategy's own choice, not deadline admission's fallback to whichever peer is
        // predicted to finish first (on a busy host, sometimes one across the ocean).
        l.extra.push("--admission=off".into());
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    // Let load reports reach node1.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut set = tokio::task::JoinSet::new();
    for k in 0..16 {
        let url = c.url(0);
        let path = clips[k % clips.len()].path.clone();
        let http = c.http.clone();
        set.spawn(async move {
            let r = http
                .post(format!("{url}/upload"))
                .header("content-type", "video/mp4")
                .body(std::fs::read(path).unwrap())
                .send()
                .await
                .unwrap();
            let out = (
                r.status().as_u16(),
                header(&r, h::OFFLOADED),
                header(&r, h::EXEC_NODE),
                header(&r, h::EXEC_ZONE),
            );
            let _ = r.bytes().await;
            out
        });
    }
    let mut offloaded = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, off, exec, zone) = r.unwrap();
        assert_eq!(status, 200);
        if off == "1" {
            offloaded.push((exec, zone));
        }
    }
    assert!(!offloaded.is_empty(), "node1 never offloaded");
    assert!(
        offloaded
            .iter()
            .all(|(exec, zone)| exec == "node4" && zone == "FRA"),
        "offloads left the zone: {offloaded:?}"
    );
    let s = c.status(0).await.unwrap();
    assert_eq!(s.counters.core.offloads_cross_zone, 0);
    // Counted when sent: an offload node4 refused ran here as a fallback.
    assert!(s.counters.core.offloads_same_zone as usize >= offloaded.len());
}

/// Prequal over real sockets: the probes and their answers cross the authenticated transport,
/// and a saturated node spreads its uploads over the peers that answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prequal_probes_peers_and_spreads_a_burst() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("prequal", &REPORT[..3], |l| {
        l.strategy = serde_json::from_str(r#"{"kind":"prequal"}"#).unwrap();
        l.workers = 1;
        l.cache_mb = 0.0;
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let mut offloaded = 0;
    // Two waves: the first fills the probe pool, the second is routed from it.
    for wave in 0..2 {
        let mut set = tokio::task::JoinSet::new();
        for k in 0..6 {
            let url = c.url(0);
            let path = clips[(wave * 6 + k) % clips.len()].path.clone();
            let http = c.http.clone();
            set.spawn(async move {
                let r = http
                    .post(format!("{url}/upload"))
                    .header("content-type", "video/mp4")
                    .body(std::fs::read(path).unwrap())
                    .send()
                    .await
                    .unwrap();
                let out = (r.status().as_u16(), header(&r, h::OFFLOADED));
                let _ = r.bytes().await;
                out
            });
        }
        while let Some(r) = set.join_next().await {
            let (status, off) = r.unwrap();
            assert_eq!(status, 200);
            offloaded += (off == "1") as usize;
        }
    }
    let s = c.status(0).await.unwrap();
    let core = &s.counters.core;
    assert!(core.load_probes_sent >= 12, "{core:?}");
    assert!(
        core.load_probe_answers > 0,
        "no probe was answered: {core:?}"
    );
    assert!(
        offloaded > 0,
        "twelve uploads on one worker, none sent to a peer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_under_load_loses_no_request() {
    let _g = serial().await;
    let clips = clips().to_vec();
    let mut c = Cluster::start("kill", &REPORT, |l| {
        l.workers = 2;
        l.cache_mb = 0.0; // every request transcodes
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let targets: Vec<Target> = (0..5).map(|i| c.target(i)).collect();
    let mut cfg = ClientConfig::report(targets, clips, Duration::from_secs(60));
    cfg.arrivals = Arrivals::Batches {
        size: 10,
        pause: Duration::from_millis(200),
    };
    cfg.max_requests = Some(30);
    cfg.attempt_timeout = Duration::from_secs(60);
    cfg.health_check = Duration::from_millis(500);
    let run = tokio::spawn(client::run_client(cfg));
    // Kill node3 while the first batch is in the cluster.
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.kill(2);
    let out = run.await.unwrap();
    assert_eq!(out.records.len(), 30);
    // Each request ended once, nothing stuck on a survivor; and every one succeeded.
    let tally = c.chaos_check(&out, 30).await;
    assert_eq!(tally.ok, 30, "{tally:?}");
    assert!((out.records.iter().zip(&out.details))
        .all(|(r, d)| out.exec_name(r) != Some("") && d.output_bytes > 0));
    // The survivors noticed: suspected within a probe or two, declared down once the
    // suspicion timeout (3 s) runs out. The client may finish before that, so wait for it.
    c.wait_peer_state(0, "node3", "down", Duration::from_secs(15))
        .await;
    // requests.csv has the documented columns.
    let csv = root().join("kill").join("requests.csv");
    out.write_requests_csv(&csv, "score").unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        vidmesh_loadgen::record::header_line()
    );
    assert!(lines.all(|l| l.split(',').count() == 20 && l.contains(",ok,")));
}

/// Sends an upload's headers with `Content-Length: len` and no body, and reads the answer.
async fn declared_only_upload(base_url: &str, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: video/mp4\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await;
    // The server answers and closes without waiting for the body; a reset after the answer
    // is fine.
    let _ = read;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

async fn expect_status(resp: reqwest::Response, status: u16, says: &str) {
    let got = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    assert!(body.contains(says), "expected `{says}` in: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_leaves_nothing_behind() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("bad", &REPORT[..1], |l| {
        l.max_upload_mb = Some(1.0);
    });
    c.wait_healthy(0).await;
    let url = format!("{}/upload", c.url(0));
    let post = |ct: &str, body: Vec<u8>| {
        c.http
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
    };

    expect_status(
        post("video/mp4", b"hello, not a video".to_vec())
            .await
            .unwrap(),
        422,
        "not a video",
    )
    .await;
    expect_status(post("video/mp4", Vec::new()).await.unwrap(), 400, "empty").await;
    expect_status(
        post("text/plain", std::fs::read(&clips[0].path).unwrap())
            .await
            .unwrap(),
        415,
        "content type",
    )
    .await;
    // Over the limit by its declared length: refused from the headers alone, before any body
    // byte is read. (Sending the body with a client that stops reading at the first write
    // error would race the server's early answer and see a broken pipe instead.)
    let (code, body) = declared_only_upload(&c.url(0), 1_200_000).await;
    assert_eq!(code, 413, "body: {body}");
    assert!(body.contains("limit"), "expected `limit` in: {body}");
    // Truncated: moov at the end (ffmpeg's default) is lost… ffprobe's words are the detail,
    // the error says it plainly.
    let whole = std::fs::read(&clips[1].path).unwrap();
    let r = post("video/mp4", whole[..whole.len() / 2].to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let (error, detail) = (e["error"].as_str().unwrap(), e["detail"].as_str().unwrap());
    assert!(error.contains("not a video"), "{e}");
    assert!(!error.contains("moov") && !error.contains(" @ 0x"), "{e}");
    assert!(detail.contains("moov"), "{e}");
    // …or moov first (faststart) and the frames cut short.
    let fs = root().join("bad").join("faststart.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&clips[1].path)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&fs)
        .status()
        .unwrap();
    assert!(st.success());
    let whole = std::fs::read(&fs).unwrap();
    expect_status(
        post("video/mp4", whole[..whole.len() * 2 / 3].to_vec())
            .await
            .unwrap(),
        422,
        "truncated",
    )
    .await;

    // Corrupt: every frame is there but a stretch of the stream is garbage; ffmpeg fails.
    let mut corrupt = std::fs::read(&clips[1].path).unwrap();
    let third = corrupt.len() / 3;
    for (k, b) in corrupt[third..third + 20_000].iter_mut().enumerate() {
        *b = (k as u8).wrapping_mul(151).wrapping_add(17);
    }
    expect_status(
        post("video/mp4", corrupt).await.unwrap(),
        422,
        "could not be transcoded",
    )
    .await;

    // A client that disconnects mid-upload leaves no temp file.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(c.nodes[0].launch.listen)
            .await
            .unwrap();
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 500000\r\n\r\n").await.unwrap();
        s.write_all(&vec![7u8; 100_000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(s);
    }

    // Gossip: garbage, an unknown zone, a load report from a node nobody knows.
    // Signed with the cluster's key: these are refused for what they say, not who sends them.
    let gossip = |from_zone: &str, body: Vec<u8>| {
        c.http
            .post(format!("{}/gossip", c.url(0)))
            .header("content-type", "application/x-vidmesh-gossip")
            .header(h::FROM_NODE, "9")
            .header(h::FROM_ZONE, from_zone.to_string())
            .header(h::SIGNATURE, sign_gossip(KEY, "9", from_zone, &body))
            .body(body)
            .send()
    };
    expect_status(
        gossip("FRA", b"VM1\xff\xff\xff garbage".to_vec())
            .await
            .unwrap(),
        400,
        "malformed gossip",
    )
    .await;
    expect_status(
        gossip("MARS", b"VM1".to_vec()).await.unwrap(),
        403,
        "unknown peer",
    )
    .await;
    let stranger = PeerId {
        node: NodeId(9),
        zone: ZoneId(0),
        addr: PeerAddr {
            ip: [127, 0, 0, 1],
            port: 9,
        },
        gen: 1,
    };
    let digest = Message::Load(LoadDigest {
        sender: stranger,
        reports: vec![LoadReport {
            from: stranger,
            version: 1,
            cpu_pct: 0.0,
            mem_pct: 0.0,
            queue_len: 0,
            in_flight: 0,
            workers: 5,
            queue_cap: 20,
            age_ms: 0,
            backlog_ms: 0,
            ms_per_cpu_s: 1000.0,
            draining: false,
        }],
    });
    expect_status(
        gossip("FRA", wire::encode(&digest)).await.unwrap(),
        403,
        "unknown peer",
    )
    .await;
    // An offload from a node that is not a member.
    let r = c
        .http
        .post(&url)
        .header("content-type", "video/mp4")
        .header(h::HOPS, "1")
        .header(h::ORIGIN, "9")
        .header(h::FROM_NODE, "9")
        .header(h::FROM_ZONE, "FRA")
        .body(std::fs::read(&clips[0].path).unwrap())
        .send()
        .await
        .unwrap();
    expect_status(r, 403, "unknown peer").await;
    // Downloads.
    expect_status(
        c.http
            .get(format!("{}/videos/xyz", c.url(0)))
            .send()
            .await
            .unwrap(),
        400,
        "SHA-256",
    )
    .await;
    expect_status(
        c.http
            .get(format!("{}/videos/{}", c.url(0), "ab".repeat(32)))
            .send()
            .await
            .unwrap(),
        404,
        "no transcode",
    )
    .await;

    // Still serving after all that.
    let ok = c.upload(0, &clips[0].path).await;
    assert_eq!(ok.status(), 200);
    let s = c.status(0).await.unwrap();
    assert!(s.counters.bad_requests >= 7, "{:?}", s.counters);
    assert!(s.counters.bad_gossip >= 3, "{:?}", s.counters);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        files_in(&c.work_dir(0)).is_empty(),
        "temp files left: {:?}",
        files_in(&c.work_dir(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ffmpeg_failure_or_timeout_is_an_error_response_never_an_empty_200() {
    let _g = serial().await;
    let clips = clips();
    // node1's ffmpeg arguments name a filter that does not exist; node4's time limit is tiny.
    let c = Cluster::start("ffmpeg_fail", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        if l.id == 1 {
            l.ffmpeg_args =
                Some("-nostdin -v error -y -i {in} -vf no_such_filter -f mp4 {out}".into());
        } else {
            l.transcode_timeout_s = Some(0.05);
        }
        l.seeds.clear();
    });
    c.wait_healthy(0).await;
    c.wait_healthy(1).await;
    let r = c.upload(0, &clips[3].path).await;
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("could not be transcoded"),
        "{e}"
    );
    // ffmpeg's own report is the detail, not the message.
    assert!(!e["error"].as_str().unwrap().contains("exit status"), "{e}");
    assert!(e["detail"].as_str().unwrap().contains("exit status"), "{e}");
    let r = c.upload(1, &clips[4].path).await;
    expect_status(r, 504, "too long").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..2 {
        assert!(
            files_in(&c.work_dir(i)).is_empty(),
            "temp files left: {:?}",
            files_in(&c.work_dir(i))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offload_across_zones_pays_the_emulated_round_trip() {
    let _g = serial().await;
    let clips = clips();
    // FRA–BOM: RTT 200 ms, so the upload waits 100 ms and the answer 100 ms more.
    let c = Cluster::start("geography", &[("node1", "FRA"), ("node3", "BOM")], |l| {
        l.strategy = StrategyConfig::RoundRobin {}; // node1 then node3, in turn
        l.cache_mb = 0.0;
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let local = c.upload(0, &clips[0].path).await;
    assert_eq!(header(&local, h::OFFLOADED), "0");
    let remote = c.upload(0, &clips[0].path).await;
    assert_eq!(remote.status(), 200);
    assert_eq!(header(&remote, h::OFFLOADED), "1");
    assert_eq!(header(&remote, h::EXEC_ZONE), "BOM");
    assert_eq!(header(&remote, h::HOPS), "1");
    let (l, r): (u64, u64) = (
        header(&local, h::LATENCY_MS).parse().unwrap(),
        header(&remote, h::LATENCY_MS).parse().unwrap(),
    );
    assert!(
        r >= 200,
        "the cross-zone offload took {r} ms (local {l} ms)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_costs_a_timeout_and_the_client_retries_elsewhere() {
    let _g = serial().await;
    // The smallest clip, so a busy machine still answers well within the attempt timeout.
    let small = clips().iter().min_by_key(|c| c.size_bytes).unwrap().clone();
    let mut c = Cluster::start("pause", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        l.strategy = StrategyConfig::Random {};
        l.hop_limit = 0; // no offloads: the client alone has to cope
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let pid = c.nodes[0].child.as_ref().unwrap().id() as i32;
    // The node's process group: the node and its ffmpeg children stop together.
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGSTOP) }, 0);
    let mut cfg = ClientConfig::report(
        vec![c.target(0), c.target(1)],
        vec![small],
        Duration::from_secs(60),
    );
    cfg.arrivals = Arrivals::Batches {
        size: 6,
        pause: Duration::from_millis(100),
    };
    cfg.max_requests = Some(6);
    cfg.attempt_timeout = Duration::from_secs(10);
    let out = client::run_client(cfg).await;
    let records = &out.records;
    assert_eq!(unsafe { libc::kill(-pid, libc::SIGCONT) }, 0);
    assert!(
        records.iter().all(|r| r.outcome == Outcome::Ok),
        "{records:?}"
    );
    // Resumed, node1 finds the uploads it took while stopped, whose clients left: it must end
    // them (cancelled, not left queued), and each request still ended exactly once.
    c.wait_healthy(0).await;
    assert_eq!(c.chaos_check(&out, 6).await.ok, 6);
    assert!(records.iter().all(|r| out.exec_name(r) == Some("node4")));
    // Requests that drew node1 first paid one timeout (10 s) and a second attempt.
    let retried: Vec<_> = records.iter().filter(|r| r.attempts == 2).collect();
    assert!(
        retried.iter().all(|r| r.latency_ms() >= 10_000),
        "{retried:?}"
    );
    // The paused node answers again once resumed.
    c.wait_healthy(0).await;
}

/// Uploads `clip` to node `i` as the peer `from` (FRA) would offload it, with `features` as the
/// features header if given.
async fn peer_upload(
    c: &Cluster,
    i: usize,
    from: u32,
    clip: &Path,
    features: Option<&str>,
) -> reqwest::Response {
    let mut req = c
        .http
        .post(format!("{}/upload", c.url(i)))
        .header("content-type", "application/octet-stream")
        .header(h::HOPS, "1")
        .header(h::ORIGIN, from.to_string())
        .header(h::FROM_NODE, from.to_string())
        .header(h::FROM_ZONE, "FRA");
    if let Some(f) = features {
        req = req.header(h::FEATURES, f);
    }
    let body = std::fs::read(clip).unwrap();
    let (from, sha) = (from.to_string(), auth::sha256_hex(&body));
    let fields = auth::offload_fields(&auth::OffloadFields {
        from: &from,
        zone: "FRA",
        hops: "1",
        origin: &from,
        features: features.unwrap_or(""),
        content_sha: &sha,
    });
    req = req.header(h::SIGNATURE, sign(KEY, Kind::Offload, &fields));
    req.body(body).send().await.unwrap()
}

/// `(probes, probes_skipped)` of node `i`, from `/metrics` (what Prometheus scrapes).
async fn probe_counters(c: &Cluster, i: usize) -> (u64, u64) {
    let text = c
        .http
        .get(format!("{}/metrics", c.url(i)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |metric: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{metric}{{")))
            .unwrap_or_else(|| panic!("no {metric} in /metrics:\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    (
        value("vidmesh_probes_total"),
        value("vidmesh_probes_skipped_total"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offloaded_job_is_probed_only_on_the_entry_node() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("probe_once", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        l.strategy = StrategyConfig::RoundRobin {}; // node1 then node4, in turn
        l.cache_mb = 0.0;
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let mut offloaded = 0;
    for clip in &clips[..4] {
        let r = c.upload(0, &clip.path).await;
        assert_eq!(r.status(), 200);
        if header(&r, h::OFFLOADED) == "1" {
            assert_eq!(header(&r, h::EXEC_NODE), "node4");
            offloaded += 1;
        }
        let _ = r.bytes().await;
    }
    assert_eq!(offloaded, 2, "round robin should have sent every other job");
    // The entry node probed every upload; node4 none of the jobs it ran for node1.
    assert_eq!(probe_counters(&c, 0).await, (4, 0));
    assert_eq!(probe_counters(&c, 1).await, (0, offloaded));
    let s = c.status(1).await.unwrap();
    assert_eq!((s.counters.probes, s.counters.probes_skipped), (0, 2));
    assert_eq!(s.counters.core.transcodes_ok, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_upload_uses_its_features_header_and_a_malformed_one_is_a_400() {
    let _g = serial().await;
    let small = clips().iter().min_by_key(|c| c.size_bytes).unwrap().clone();
    let c = Cluster::start("features", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        l.cache_mb = 0.0;
        l.hop_limit = 0; // every job runs where it arrives
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    let size = small.size_bytes;
    let good = format!("v=1;w=640;h=360;frames=25;duration_ms=1000;size={size}");

    // Well formed: node4 transcodes without probing.
    let r = peer_upload(&c, 1, 1, &small.path, Some(&good)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(header(&r, h::EXEC_NODE), "node4");
    assert!(!r.bytes().await.unwrap().is_empty());
    assert_eq!(probe_counters(&c, 1).await, (0, 1));

    // Malformed, or not about these bytes: refused, naming the header and the fault.
    let r = peer_upload(&c, 1, 1, &small.path, Some("v=1;w=wide;h=360")).await;
    expect_status(
        r,
        400,
        "malformed x-vidmesh-features header: `w` must be a whole number",
    )
    .await;
    let r = peer_upload(&c, 1, 1, &small.path, Some("v=1;w=640;h=360")).await;
    expect_status(
        r,
        400,
        "malformed x-vidmesh-features header: `frames` is missing",
    )
    .await;
    let wrong_size = format!(
        "v=1;w=640;h=360;frames=25;duration_ms=1000;size={}",
        size + 1
    );
    let r = peer_upload(&c, 1, 1, &small.path, Some(&wrong_size)).await;
    expect_status(r, 400, "x-vidmesh-features describes a").await;
    assert_eq!(probe_counters(&c, 1).await, (0, 1));

    // No header (an older peer) or a version node4 does not read: it probes.
    let r = peer_upload(&c, 1, 1, &small.path, None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let _ = r.bytes().await;
    assert_eq!(probe_counters(&c, 1).await, (1, 1));
    let r = peer_upload(&c, 1, 1, &small.path, Some("v=2;whatever")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let _ = r.bytes().await;
    assert_eq!(probe_counters(&c, 1).await, (2, 1));

    // A client's header is not believed, however well formed.
    let r = c
        .http
        .post(format!("{}/upload", c.url(1)))
        .header("content-type", "video/mp4")
        .header(h::FEATURES, &good)
        .body(std::fs::read(&small.path).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let _ = r.bytes().await;
    assert_eq!(probe_counters(&c, 1).await, (3, 1));
    // node1 saw none of this.
    assert_eq!(probe_counters(&c, 0).await, (0, 0));
}

// ---- Output profiles, the HLS ladder, seekable downloads ----

/// A test clip made with lavfi: `w`×`h` coded pixels, sample aspect `sar` ("16/11"), 25 fps,
/// with a sine tone when `audio`. libx264 at its default pixel format for testsrc (4:4:4),
/// which also takes odd sizes.
fn shaped_clip(name: &str, w: u32, h: u32, sar: &str, audio: bool, secs: u32) -> PathBuf {
    require_ffmpeg();
    let dir = root().join("shapes");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.mp4"));
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!("testsrc=size={w}x{h}:rate=25:duration={secs}"));
    if audio {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={secs}"));
    }
    cmd.args([
        "-vf",
        &format!("setsar={sar}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
    ]);
    if audio {
        cmd.args(["-c:a", "aac", "-shortest"]);
    }
    let out = cmd.arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[derive(Debug)]
struct Probed {
    width: u32,
    height: u32,
    /// Sample aspect ratio as ffprobe states it ("1:1").
    sar: String,
    pix_fmt: String,
    audio: Option<String>,
    duration_s: f64,
}

impl Probed {
    /// Display aspect: width × sample aspect / height.
    fn dar(&self) -> f64 {
        let (n, d) = self.sar.split_once(':').unwrap_or(("1", "1"));
        let (n, d): (f64, f64) = (n.parse().unwrap(), d.parse().unwrap());
        let sar = if n > 0.0 && d > 0.0 { n / d } else { 1.0 };
        self.width as f64 * sar / self.height as f64
    }
}

/// The first video stream and the first audio stream of a file or URL.
fn probe_media(what: &str) -> Probed {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,sample_aspect_ratio,pix_fmt:format=duration",
            "-of",
            "json",
            what,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video stream in {what}"));
    Probed {
        width: video["width"].as_u64().unwrap() as u32,
        height: video["height"].as_u64().unwrap() as u32,
        sar: video["sample_aspect_ratio"]
            .as_str()
            .unwrap_or("1:1")
            .to_string(),
        pix_fmt: video["pix_fmt"].as_str().unwrap_or("").to_string(),
        audio: streams
            .iter()
            .find(|s| s["codec_type"] == "audio")
            .map(|s| s["codec_name"].as_str().unwrap_or("").to_string()),
        duration_s: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0.0),
    }
}

impl Cluster {
    async fn upload_as(&self, i: usize, clip: &Path, profile: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/upload?profile={profile}", self.url(i)))
            .header("content-type", "video/mp4")
            .body(std::fs::read(clip).unwrap())
            .send()
            .await
            .unwrap()
    }
}

/// Uploads `clip` in `profile`, checks the output keeps the input's display aspect (1 %) with
/// even sides and square pixels inside the profile's box turned to the input's orientation,
/// and that a repeat is a cache hit with the same bytes. Returns the output's probe and bytes.
async fn check_profile(
    c: &Cluster,
    clip: &Path,
    input: &Probed,
    profile: &str,
    (long, short): (u32, u32),
) -> (Probed, bytes::Bytes) {
    let r = c.upload_as(0, clip, profile).await;
    assert_eq!(r.status(), 200, "{profile} {clip:?}: {:?}", r.text().await);
    assert_eq!(header(&r, h::PROFILE), profile);
    assert_eq!(header(&r, h::CACHE_HIT), "0");
    let body = r.bytes().await.unwrap();
    let name = format!(
        "{}-{profile}.mp4",
        clip.file_stem().unwrap().to_string_lossy()
    );
    let out = root().join("shapes").join(name);
    std::fs::write(&out, &body).unwrap();
    let p = probe_media(out.to_str().unwrap());
    let what = format!("{profile} of {clip:?} ({input:?}) gave {p:?}");
    assert!(
        (p.dar() / input.dar() - 1.0).abs() < 0.01,
        "display aspect changed: {what}"
    );
    assert!(
        p.width.is_multiple_of(2) && p.height.is_multiple_of(2),
        "odd sides: {what}"
    );
    assert_eq!(p.sar, "1:1", "{what}");
    assert_eq!(p.pix_fmt, "yuv420p", "{what}");
    let (big, small) = (p.width.max(p.height), p.width.min(p.height));
    assert!(big <= long && small <= short, "outside the box: {what}");
    // Fills the box on one side unless the input is smaller (never upscaled past it, but for
    // rounding to even).
    let input_w = input.dar() * input.height as f64;
    let fits = (big == long || small == short)
        || (p.width as f64 <= input_w + 2.0 && p.height <= input.height + 1);
    assert!(
        fits,
        "neither fills the box nor keeps the input size: {what}"
    );

    let again = c.upload_as(0, clip, profile).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, h::CACHE_HIT), "1", "repeat of {profile}");
    assert_eq!(header(&again, h::PROFILE), profile);
    assert_eq!(again.bytes().await.unwrap(), body, "repeat of {profile}");
    (p, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shape_keeps_its_display_aspect_in_every_profile() {
    let _g = serial().await;
    let shapes = [
        ("landscape", 1280, 720, "1", true),
        ("portrait", 720, 1280, "1", false),
        ("square", 480, 480, "1", true),
        ("odd", 853, 479, "1", false),
        // PAL 4:3 pixels shown at 16:9.
        ("anamorphic", 720, 576, "16/11", true),
    ];
    let c = Cluster::start("profiles", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    for (name, w, h, sar, audio) in shapes {
        let clip = shaped_clip(name, w, h, sar, audio, 1);
        let input = probe_media(clip.to_str().unwrap());
        assert_eq!(input.audio.is_some(), audio);
        let (p, bytes) = check_profile(&c, &clip, &input, "360p", (640, 360)).await;
        // The default profile (no name given) is 360p: the same cache entry.
        let plain = c.upload(0, &clip).await;
        assert_eq!(plain.status(), 200);
        assert_eq!(header(&plain, h::PROFILE), "360p");
        assert_eq!(header(&plain, h::CACHE_HIT), "1");
        assert_eq!(
            plain.bytes().await.unwrap(),
            bytes,
            "{name}: default and 360p differ"
        );
        assert_eq!(p.audio.is_some(), audio, "{name}: audio kept iff present");
        let (p, _) = check_profile(&c, &clip, &input, "720p", (1280, 720)).await;
        assert_eq!(p.audio.as_deref(), audio.then_some("aac"), "{name}");
        let (p, _) = check_profile(&c, &clip, &input, "no-audio", (640, 360)).await;
        assert_eq!(p.audio, None, "{name}: no-audio has audio");
    }
    // 1080p and copy-audio on the clips where they differ from the others.
    let clip = shaped_clip("hd", 1920, 1080, "1", true, 1);
    let input = probe_media(clip.to_str().unwrap());
    let (p, _) = check_profile(&c, &clip, &input, "1080p", (1920, 1080)).await;
    assert_eq!((p.width, p.height), (1920, 1080));
    let (p, _) = check_profile(&c, &clip, &input, "copy-audio", (640, 360)).await;
    assert_eq!(
        (p.width, p.height, p.audio.as_deref()),
        (640, 360, Some("aac"))
    );
    let (p, _) = check_profile(&c, &clip, &input, "720p", (1280, 720)).await;
    assert_eq!((p.width, p.height), (1280, 720));
    let anamorphic = root().join("shapes").join("anamorphic.mp4");
    let input = probe_media(anamorphic.to_str().unwrap());
    let (p, _) = check_profile(&c, &anamorphic, &input, "1080p", (1920, 1080)).await;
    // Square pixels at the display size: 720 × 16/11 = 1047.3 wide, never upscaled further.
    assert_eq!((p.width, p.height), (1048, 576));

    // A phone's portrait clip: stored 1280x720 with a 90° rotation tag. The output is upright
    // (ffmpeg applies the tag) and fits the portrait box.
    let rotated = root().join("shapes").join("rotated.mp4");
    let tag = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(root().join("shapes").join("landscape.mp4"))
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
        .arg(&rotated)
        .output()
        .unwrap();
    assert!(
        tag.status.success(),
        "{}",
        String::from_utf8_lossy(&tag.stderr)
    );
    let r = c.upload(0, &rotated).await;
    assert_eq!(r.status(), 200);
    let out = root().join("shapes").join("rotated-out.mp4");
    std::fs::write(&out, r.bytes().await.unwrap()).unwrap();
    let p = probe_media(out.to_str().unwrap());
    assert_eq!((p.width, p.height, p.sar.as_str()), (360, 640, "1:1"));

    // An unknown profile is a 400 naming the known ones, as a query or a header.
    let clip = root().join("shapes").join("square.mp4");
    let r = c.upload_as(0, &clip, "4k").await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("4k") && msg.contains("360p, 720p, 1080p, copy-audio, no-audio, hls"),
        "{msg}"
    );
    let r = c
        .http
        .post(format!("{}/upload", c.url(0)))
        .header("content-type", "video/mp4")
        .header(h::PROFILE, "8k")
        .body(std::fs::read(&clip).unwrap())
        .send()
        .await
        .unwrap();
    expect_status(r, 400, "unknown profile `8k`").await;
    // The header names a profile as well as the query does.
    let r = c
        .http
        .post(format!("{}/upload", c.url(0)))
        .header("content-type", "video/mp4")
        .header(h::PROFILE, "720p")
        .body(std::fs::read(&clip).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, h::PROFILE), "720p");
    assert_eq!(header(&r, h::CACHE_HIT), "1");
    let s = c.status(0).await.unwrap();
    assert_eq!(s.counters.core.transcodes_ok, 5 * 3 + 3 + 1 + 1);
    assert!(files_in(&c.work_dir(0)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_seekable_and_revalidate_by_etag() {
    let _g = serial().await;
    let clip = shaped_clip("seek", 640, 360, "1", true, 2);
    let c = Cluster::start("seek", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    let r = c.upload_as(0, &clip, "720p").await;
    assert_eq!(r.status(), 200);
    let sha = header(&r, h::CONTENT_HASH);
    let etag = header(&r, "etag");
    let whole = r.bytes().await.unwrap();
    assert!(whole.len() > 1000);
    assert!(
        etag.starts_with(&format!("\"{sha}-720p-")) && etag.ends_with('"'),
        "{etag}"
    );
    let url = format!("{}/videos/{sha}?profile=720p", c.url(0));
    let get = |range: Option<&str>, inm: Option<&str>| {
        let mut req = c.http.get(&url);
        if let Some(v) = range {
            req = req.header("range", v);
        }
        if let Some(v) = inm {
            req = req.header("if-none-match", v);
        }
        req.send()
    };
    let full = get(None, None).await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(header(&full, "accept-ranges"), "bytes");
    assert_eq!(header(&full, "etag"), etag);
    assert_eq!(header(&full, h::PROFILE), "720p");
    assert_eq!(full.bytes().await.unwrap(), whole);

    let n = whole.len();
    for (ask, from, to) in [
        ("bytes=100-199".to_string(), 100, 199),
        (format!("bytes={}-", n - 10), n - 10, n - 1),
        ("bytes=-50".to_string(), n - 50, n - 1),
        (format!("bytes=0-{}", n + 500), 0, n - 1),
    ] {
        let r = get(Some(&ask), None).await.unwrap();
        assert_eq!(r.status(), 206, "{ask}");
        assert_eq!(
            header(&r, "content-range"),
            format!("bytes {from}-{to}/{n}"),
            "{ask}"
        );
        assert_eq!(r.bytes().await.unwrap(), whole[from..=to], "{ask}");
    }
    let r = get(Some(&format!("bytes={n}-")), None).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "content-range"), format!("bytes */{n}"));

    let r = get(None, Some(&etag)).await.unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(header(&r, "etag"), etag);
    assert!(r.bytes().await.unwrap().is_empty());
    // Another profile's tag is another representation.
    let other = etag.replace("-720p-", "-360p-");
    assert_eq!(get(None, Some(&other)).await.unwrap().status(), 200);
    // The 360p transcode of this input was never asked for.
    let r = c
        .http
        .get(format!("{}/videos/{sha}?profile=360p", c.url(0)))
        .send()
        .await
        .unwrap();
    expect_status(r, 404, "no transcode").await;
}

/// The `#EXT-X-STREAM-INF` entries of a master playlist: (resolution, playlist file).
fn variants(master: &str) -> Vec<((u32, u32), String)> {
    let lines: Vec<&str> = master.lines().map(str::trim).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(attrs) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            let res = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("RESOLUTION="))
                .expect("a RESOLUTION per variant");
            let (w, h) = res.split_once('x').unwrap();
            let file = lines[i + 1..]
                .iter()
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap();
            out.push(((w.parse().unwrap(), h.parse().unwrap()), file.to_string()));
        }
    }
    out
}

/// Uploads `clip` in the `hls` profile to node `i`; checks the ladder over HTTP from node `i`:
/// the stated resolutions, each rendition's real size and complete segments, content types,
/// and an ffmpeg that reads the master playlist end to end. Returns the upload's answer
/// headers' executing node and the ladder's total bytes.
async fn check_ladder(c: &Cluster, i: usize, clip: &Path, expect: &[(u32, u32)]) -> (String, u64) {
    let r = c.upload_as(i, clip, "hls").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(header(&r, h::PROFILE), "hls");
    let exec = header(&r, h::EXEC_NODE);
    let sha = header(&r, h::CONTENT_HASH);
    let location = header(&r, "location");
    let answer: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(location, format!("/videos/{sha}/hls/master.m3u8"));
    assert_eq!(answer["master"], location.as_str());
    let base = format!("{}/videos/{sha}/hls", c.url(i));
    let fetch = |file: String| {
        let url = format!("{base}/{file}");
        async move {
            let r = c.http.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            let ct = header(&r, "content-type");
            (ct, r.bytes().await.unwrap())
        }
    };
    let (ct, master) = fetch("master.m3u8".into()).await;
    assert_eq!(ct, "application/vnd.apple.mpegurl");
    let master = String::from_utf8(master.to_vec()).unwrap();
    let vs = variants(&master);
    assert_eq!(
        vs.iter().map(|v| v.0).collect::<Vec<_>>(),
        expect,
        "{master}"
    );
    let input = probe_media(clip.to_str().unwrap());
    let mut total = master.len() as u64;
    for ((w, hgt), file) in &vs {
        let (ct, pl) = fetch(file.clone()).await;
        assert_eq!(ct, "application/vnd.apple.mpegurl");
        total += pl.len() as u64;
        let pl = String::from_utf8(pl.to_vec()).unwrap();
        assert!(
            pl.contains("#EXT-X-ENDLIST"),
            "{file} is not complete: {pl}"
        );
        // Every segment is there, and together they last as long as the input.
        let mut secs = 0.0;
        for l in pl.lines() {
            if let Some(d) = l.strip_prefix("#EXTINF:") {
                secs += d.trim_end_matches(',').parse::<f64>().unwrap();
            } else if !l.starts_with('#') && !l.trim().is_empty() {
                let (ct, seg) = fetch(l.trim().to_string()).await;
                assert_eq!(ct, "video/mp2t", "{l}");
                assert!(!seg.is_empty() && seg[0] == 0x47, "{l} is not MPEG-TS");
                total += seg.len() as u64;
            }
        }
        assert!(
            (secs - input.duration_s).abs() < 0.15,
            "{file}: {secs} s of segments for a {} s input",
            input.duration_s
        );
        // The rendition is the size the master playlist states, square pixels, same aspect.
        let p = probe_media(&format!("{base}/{file}"));
        assert_eq!((p.width, p.height), (*w, *hgt), "{file}");
        assert_eq!(p.sar, "1:1", "{file}");
        assert!((p.dar() / input.dar() - 1.0).abs() < 0.01, "{file}: {p:?}");
        assert_eq!(p.audio.is_some(), input.audio.is_some(), "{file}");
    }
    // A player reads the whole ladder from the node.
    let play = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-xerror",
            "-i",
            &format!("{base}/master.m3u8"),
        ])
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        play.status.success(),
        "ffmpeg could not play the ladder: {}",
        String::from_utf8_lossy(&play.stderr)
    );
    (exec, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hls_ladder_plays_over_http_and_is_one_cache_entry() {
    let _g = serial().await;
    let hd = shaped_clip("ladder_hd", 1920, 1080, "1", true, 3);
    let portrait = shaped_clip("ladder_portrait", 480, 854, "1", false, 2);
    let c = Cluster::start("ladder", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    let (_, hd_bytes) = check_ladder(&c, 0, &hd, &[(640, 360), (1280, 720), (1920, 1080)]).await;
    // Never upscaled: the 720p rung of a 480×854 input is the input's size; no 1080p rung.
    let (_, p_bytes) = check_ladder(&c, 0, &portrait, &[(360, 640), (480, 854)]).await;
    // The cache counts every file of both ladders (and nothing else is cached).
    let s = c.status(0).await.unwrap();
    assert_eq!(s.cache_entries, 2);
    assert_eq!(s.cache_bytes, hd_bytes + p_bytes);
    // A repeat is a cache hit pointing at the same ladder.
    let r = c.upload_as(0, &hd, "hls").await;
    assert_eq!(header(&r, h::CACHE_HIT), "1");
    let sha = header(&r, h::CONTENT_HASH);
    assert!(header(&r, "location").starts_with(&format!("/videos/{sha}/hls/")));
    // GET /videos/{sha}?profile=hls sends the client to the master playlist.
    let r = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/videos/{sha}?profile=hls", c.url(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        header(&r, "location"),
        format!("/videos/{sha}/hls/master.m3u8")
    );
    // Nothing outside the ladder's directory is served, however the name is spelled.
    for bad in [
        "..%2F..%2Fcache",
        "%2E%2E",
        "..%2Fwork",
        ".hidden.ts",
        "x.mp4",
        "%2Fetc%2Fpasswd",
    ] {
        let r = c
            .http
            .get(format!("{}/videos/{sha}/hls/{bad}", c.url(0)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
    // A segment is seekable like a download.
    let r = c
        .http
        .get(format!("{}/videos/{sha}/hls/360p_000.ts", c.url(0)))
        .header("range", "bytes=0-187")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().len(), 188);
    assert!(files_in(&c.work_dir(0)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offload_carries_the_profile_to_the_peer() {
    let _g = serial().await;
    let mp4 = shaped_clip("offload_mp4", 1920, 1080, "1", true, 1);
    let ladder = shaped_clip("offload_ladder", 1280, 720, "1", true, 2);
    // Round robin from node1: its own turn first, then node4's.
    let c = Cluster::start(
        "offload_profile",
        &[("node1", "FRA"), ("node4", "FRA")],
        |l| {
            l.strategy = StrategyConfig::RoundRobin {};
        },
    );
    c.wait_full_view(Duration::from_secs(20)).await;
    let local = c.upload_as(0, &mp4, "720p").await;
    assert_eq!(header(&local, h::OFFLOADED), "0");
    let local = local.bytes().await.unwrap();
    // Same input, another profile: a miss, offloaded, and node4 makes 1080p, not its default.
    let remote = c.upload_as(0, &mp4, "1080p").await;
    assert_eq!(remote.status(), 200);
    assert_eq!(header(&remote, h::OFFLOADED), "1");
    assert_eq!(header(&remote, h::EXEC_NODE), "node4");
    assert_eq!(header(&remote, h::PROFILE), "1080p");
    let out = root().join("offload_profile").join("remote.mp4");
    std::fs::write(&out, remote.bytes().await.unwrap()).unwrap();
    assert_eq!(probe_media(out.to_str().unwrap()).height, 1080);
    std::fs::write(&out, &local).unwrap();
    assert_eq!(probe_media(out.to_str().unwrap()).height, 720);
    // A ladder made by node4 is brought back whole and served by node1.
    let _ = c.upload_as(0, &mp4, "no-audio").await; // node1's turn
    let (exec, bytes) = check_ladder(&c, 0, &ladder, &[(640, 360), (1280, 720)]).await;
    assert_eq!(exec, "node4");
    assert!(bytes > 0);
    let r = c.upload_as(0, &ladder, "hls").await;
    assert_eq!(header(&r, h::CACHE_HIT), "1");
    assert_eq!(header(&r, h::OFFLOADED), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_default_profile_and_a_custom_template_apply_when_a_request_names_none() {
    let _g = serial().await;
    let clip = shaped_clip("defaults", 1280, 720, "1", false, 1);
    // node1: --profile 720p. node4: a custom template (a 320x180 box), and no cache, so a
    // ladder cannot be kept.
    let c = Cluster::start("defaults", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        if l.id == 1 {
            l.profile = Some("720p".into());
        } else {
            l.ffmpeg_args = Some(
                "-nostdin -v error -y -i {in} -vf scale=320:180 -c:v libx264 -preset ultrafast -f mp4 {out}"
                    .into(),
            );
            l.cache_mb = 0.0;
        }
        l.seeds.clear();
    });
    c.wait_healthy(0).await;
    c.wait_healthy(1).await;
    let size = |r: reqwest::Response, name: &str| {
        let out = root().join("defaults").join(name);
        async move {
            assert_eq!(r.status(), 200);
            std::fs::write(&out, r.bytes().await.unwrap()).unwrap();
            let p = probe_media(out.to_str().unwrap());
            (p.width, p.height)
        }
    };
    let r = c.upload(0, &clip).await;
    assert_eq!(header(&r, h::PROFILE), "720p");
    assert_eq!(size(r, "node1.mp4").await, (1280, 720));
    let r = c.upload(1, &clip).await;
    assert_eq!(header(&r, h::PROFILE), "custom");
    assert_eq!(size(r, "node4.mp4").await, (320, 180));
    // Named profiles still mean what they say on a node with a template.
    let r = c.upload_as(1, &clip, "360p").await;
    assert_eq!(header(&r, h::PROFILE), "360p");
    assert_eq!(size(r, "node4-360p.mp4").await, (640, 360));
    // `custom` exists only where a template was given.
    let r = c.upload_as(0, &clip, "custom").await;
    expect_status(r, 400, "unknown profile `custom`").await;
    // A ladder is served from the cache only: without one, a clear error, nothing left over.
    let r = c.upload_as(1, &clip, "hls").await;
    expect_status(r, 507, "cache did not keep it").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cache = c.nodes[1].launch.data_dir.join("cache");
    assert!(files_in(&cache).is_empty(), "{:?}", files_in(&cache));
    assert!(files_in(&c.work_dir(1)).is_empty());
}

/// A clip that costs a few CPU-seconds to transcode: 1080p, 8 s, camera-like grain.
fn heavy_clip() -> PathBuf {
    static HEAVY: OnceLock<PathBuf> = OnceLock::new();
    HEAVY
        .get_or_init(|| {
            require_ffmpeg();
            let dir = root().join("heavy");
            let spec = CatalogSpec {
                count: 1,
                seed: 11,
                min_seconds: 8,
                max_seconds: 8,
                min_height: 1080,
                max_height: 1080,
                grain: 25,
                ..CatalogSpec::default()
            };
            catalog::generate(&dir, &spec).expect("generating a heavy clip")[0]
                .path
                .clone()
        })
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_stops_its_transcode_and_a_hopeless_deadline_is_refused_at_once() {
    let _g = serial().await;
    let clip = heavy_clip();
    let c = Cluster::start("cancel", &REPORT[..1], |l| {
        l.workers = 1;
        l.cache_mb = 0.0;
        l.extra.push("--ffmpeg-threads=1".into());
    });
    c.wait_healthy(0).await;
    let body = std::fs::read(&clip).unwrap();
    // The client gives up after 1.5 s, mid-transcode.
    let gone = c
        .http
        .post(format!("{}/upload", c.url(0)))
        .header("content-type", "video/mp4")
        .timeout(Duration::from_millis(1_500))
        .body(body.clone())
        .send()
        .await;
    if let Ok(r) = gone {
        let status = r.status();
        panic!(
            "the upload should have outlived the client, got {status}: {}",
            r.text().await.unwrap_or_default()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let s = loop {
        let s = c.status(0).await.expect("status");
        if s.counters.core.cancelled == 1 && s.in_flight == 0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not stop the abandoned job: {:?}",
            s.counters
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(s.counters.core.transcodes_ok, 0, "{:?}", s.counters);
    assert_eq!(s.counters.core.transcodes_aborted, 1, "{:?}", s.counters);

    // One upload keeps the only worker busy; a second whose client waits 2.5 s cannot make it
    // and is refused at once, with when to come back.
    let url = c.url(0);
    let http = c.http.clone();
    let first_body = body.clone();
    let first = tokio::spawn(async move {
        http.post(format!("{url}/upload"))
            .header("content-type", "video/mp4")
            .body(first_body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let asked = Instant::now();
    let r = c
        .http
        .post(format!("{}/upload", c.url(0)))
        .header("content-type", "video/mp4")
        .header(h::DEADLINE_MS, "2500")
        .body(body)
        .send()
        .await
        .unwrap();
    let waited = asked.elapsed();
    assert_eq!(r.status(), 503);
    let retry: u64 = header(&r, "retry-after")
        .parse()
        .expect("a Retry-After in seconds");
    assert!(retry >= 1, "{retry}");
    let text = r.text().await.unwrap();
    assert!(text.contains("deadline"), "{text}");
    assert!(
        waited < Duration::from_millis(2_500),
        "refused after {waited:?}"
    );
    assert_eq!(first.await.unwrap().unwrap(), 200);
}

/// `vidmesh_auth_rejected_total` of node `i` for `kind` and `reason`.
async fn auth_rejected(c: &Cluster, i: usize, kind: &str, reason: &str) -> u64 {
    let text = c
        .http
        .get(format!("{}/metrics", c.url(i)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tail = format!("kind=\"{kind}\",reason=\"{reason}\"}}");
    text.lines()
        .find(|l| l.starts_with("vidmesh_auth_rejected_total{") && l.contains(&tail))
        .unwrap_or_else(|| panic!("no auth counter {kind}/{reason} in:\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_cluster_key_cannot_join_report_load_or_offload() {
    let _g = serial().await;
    let small = clips().iter().min_by_key(|c| c.size_bytes).unwrap().clone();
    // node3 has another cluster's key, node4 none; both seed node1 (ring seeds otherwise).
    let specs = [
        ("node1", "FRA"),
        ("node2", "IAD"),
        ("node3", "BOM"),
        ("node4", "FRA"),
    ];
    let mut c = Cluster::start("auth", &specs, |l| match l.id {
        3 => l.cluster_key = Some(WRONG_KEY.into()),
        4 => l.cluster_key = None,
        _ => {}
    });
    c.kill(2);
    c.nodes[2].launch.seeds = vec![c.nodes[0].launch.listen];
    c.spawn(2);
    for i in 0..4 {
        c.wait_healthy(i).await;
    }
    c.wait_peer_state(0, "node2", "alive", Duration::from_secs(20))
        .await;
    c.wait_peer_state(1, "node1", "alive", Duration::from_secs(20))
        .await;
    // Several gossip rounds (500 ms) and announces (2 s) for the outsiders to try.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for i in 0..2 {
        let s = c.status(i).await.unwrap();
        let names: Vec<&str> = s.peers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names.len(), 1, "{}: {names:?}", s.name);
        assert!(
            !names.contains(&"node3") && !names.contains(&"node4"),
            "{names:?}"
        );
    }
    assert!(auth_rejected(&c, 0, "gossip", "bad_signature").await > 0);
    assert!(auth_rejected(&c, 0, "gossip", "missing").await > 0);

    // A load report forged in node2's name claiming no load at all, to draw node1's jobs.
    let s2 = c.status(1).await.unwrap();
    let node2 = PeerId {
        node: NodeId(s2.id),
        zone: vidmesh_core::ZoneTable::report_default()
            .zone(&s2.zone)
            .unwrap(),
        addr: PeerAddr::from_socket_addr(s2.addr.parse().unwrap()).unwrap(),
        gen: s2.gen,
    };
    let forged = wire::encode(&Message::Load(LoadDigest {
        sender: node2,
        reports: vec![LoadReport {
            from: node2,
            version: u64::MAX / 2,
            cpu_pct: 0.0,
            mem_pct: 0.0,
            queue_len: 0,
            in_flight: 0,
            workers: 5,
            queue_cap: 20,
            age_ms: 0,
            backlog_ms: 0,
            ms_per_cpu_s: 1000.0,
            draining: false,
        }],
    }));
    let send = |sig: Option<String>| {
        let mut req = c
            .http
            .post(format!("{}/gossip", c.url(0)))
            .header("content-type", "application/x-vidmesh-gossip")
            .header(h::FROM_NODE, "2")
            .header(h::FROM_ZONE, "IAD");
        if let Some(sig) = sig {
            req = req.header(h::SIGNATURE, sig);
        }
        req.body(forged.clone()).send()
    };
    expect_status(send(None).await.unwrap(), 401, "not signed").await;
    let wrong = sign_gossip(WRONG_KEY, "2", "IAD", &forged);
    expect_status(send(Some(wrong)).await.unwrap(), 403, "does not match").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let load_of_node2 = |s: Status| s.peers.iter().find(|p| p.name == "node2").unwrap().load;
    let seen = load_of_node2(c.status(0).await.unwrap());
    assert!(
        seen.is_some_and(|l| l > 0.0),
        "node1 took the forged report: {seen:?}"
    );

    // Control: the same report under the cluster key is taken, so the signature is what
    // kept it out; sent again verbatim it is a replay.
    let good = sign_gossip(KEY, "2", "IAD", &forged);
    assert_eq!(send(Some(good.clone())).await.unwrap().status(), 202);
    assert_eq!(load_of_node2(c.status(0).await.unwrap()), Some(0.0));
    expect_status(send(Some(good)).await.unwrap(), 403, "replay").await;
    assert_eq!(auth_rejected(&c, 0, "gossip", "replayed").await, 1);

    // An offload in node2's name: unsigned, refused before the body is read; under another
    // key, refused once the body's hash is known; nothing is transcoded.
    let offload = |sig: Option<String>| {
        let mut req = c
            .http
            .post(format!("{}/upload", c.url(0)))
            .header("content-type", "application/octet-stream")
            .header(h::HOPS, "1")
            .header(h::ORIGIN, "2")
            .header(h::FROM_NODE, "2")
            .header(h::FROM_ZONE, "IAD");
        if let Some(sig) = sig {
            req = req.header(h::SIGNATURE, sig);
        }
        req.body(std::fs::read(&small.path).unwrap()).send()
    };
    expect_status(offload(None).await.unwrap(), 401, "not signed").await;
    let body = std::fs::read(&small.path).unwrap();
    let sha = auth::sha256_hex(&body);
    let fields = auth::offload_fields(&auth::OffloadFields {
        from: "2",
        zone: "IAD",
        hops: "1",
        origin: "2",
        features: "",
        content_sha: &sha,
    });
    let wrong = sign(WRONG_KEY, Kind::Offload, &fields);
    expect_status(offload(Some(wrong)).await.unwrap(), 403, "does not match").await;
    assert_eq!(auth_rejected(&c, 0, "offload", "missing").await, 1);
    assert_eq!(auth_rejected(&c, 0, "offload", "bad_signature").await, 1);
    let s = c.status(0).await.unwrap();
    assert_eq!(s.counters.core.transcodes_ok, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(files_in(&c.work_dir(0)).is_empty());
    // /status stays open to the dashboard.
    assert!(c.status(2).await.is_some() && c.status(3).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_key_rotation_nodes_sharing_one_key_form_a_cluster_and_offload() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("rotation", &[("node1", "FRA"), ("node4", "FRA")], |l| {
        l.strategy = StrategyConfig::RoundRobin {};
        l.cache_mb = 0.0;
        // node1 already has the new key first; node4 only the old one.
        if l.id == 1 {
            l.cluster_key = Some(format!("new-cluster-key-0002,{KEY}"));
        }
    });
    c.wait_full_view(Duration::from_secs(20)).await;
    // Round robin sends every other job to the peer, both ways: requests and answers verify.
    for entry in [0, 1] {
        let mut offloaded = 0;
        for clip in &clips[..2] {
            let r = c.upload(entry, &clip.path).await;
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            offloaded += (header(&r, h::OFFLOADED) == "1") as u32;
            assert_eq!(header(&r, h::FALLBACK), "0");
            let _ = r.bytes().await;
        }
        assert_eq!(offloaded, 1, "entry node{}", [1, 4][entry]);
    }
    for i in 0..2 {
        for reason in ["missing", "bad_signature", "expired", "replayed"] {
            for kind in ["gossip", "offload", "reply"] {
                assert_eq!(
                    auth_rejected(&c, i, kind, reason).await,
                    0,
                    "{kind}/{reason}"
                );
            }
        }
    }
}

/// Sends a request head (and `body` bytes) on a raw socket, then waits for the answer.
async fn stalled_request(addr: SocketAddr, head: &str, body: &[u8], wait: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_greedy_clients_are_cut_off_and_every_refusal_is_json() {
    let _g = serial().await;
    let clips = clips();
    let c = Cluster::start("slow", &REPORT[..1], |l| {
        l.extra = vec![
            "--upload-idle-timeout-s=1".into(),
            "--max-receiving-uploads=2".into(),
            "--header-read-timeout-s=1".into(),
        ];
    });
    c.wait_healthy(0).await;
    let addr = c.nodes[0].launch.listen;
    let head = "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n";

    // Two uploads that stop sending fill the node's receiving slots…
    let stalled: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(stalled_request(
                addr,
                head,
                &[0u8; 1000],
                Duration::from_secs(5),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …so a third is told to come back.
    let r = c.upload(0, &clips[0].path).await;
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let e: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("already receiving 2 uploads"),
        "{e}"
    );
    // The stalled ones are given up after 1 s without data.
    for s in stalled {
        let answer = s.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(
            answer.contains("\"error\":\"no data arrived for 1 s"),
            "{answer}"
        );
    }
    let ok = c.upload(0, &clips[0].path).await;
    assert_eq!(ok.status(), 200);
    let _ = ok.bytes().await;

    // A request head sent too slowly: the connection is closed.
    let started = Instant::now();
    let answer = stalled_request(addr, "POST /upl", &[], Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(4), "{answer}");

    // Unknown routes and wrong methods answer in the same JSON form.
    let url = c.url(0);
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for (method, path, status, says) in [
        (reqwest::Method::GET, "/upload", 405, "use POST"),
        (reqwest::Method::PUT, "/upload", 405, "use POST"),
        (reqwest::Method::GET, "/gossip", 405, "use POST"),
        (reqwest::Method::POST, "/status", 405, "use GET"),
        (
            reqwest::Method::GET,
            "/nope",
            404,
            "no such endpoint: GET /nope",
        ),
    ] {
        // A fresh connection each: the node closes a connection idle for longer than its
        // (here 1 s) header read timeout, and a pooled one may be reset as it is reused.
        let r = fresh
            .request(method.clone(), format!("{url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        if status == 405 {
            assert!(r.headers().contains_key("allow"));
        }
        expect_status(r, status, says).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(files_in(&c.work_dir(0)).is_empty());
}

/// Pids of the ffmpeg processes node process `node_pid` runs now.
fn ffmpeg_children(node_pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(node_pid) && head.ends_with("(ffmpeg") {
            out.push(pid);
        }
    }
    out
}

/// Stops (SIGSTOP) the first `n` ffmpeg processes node process `node_pid` starts, as a hung
/// decoder or a wedged disk would freeze them.
async fn stop_ffmpegs(node_pid: u32, n: usize) -> usize {
    let mut stopped = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stopped.len() < n && Instant::now() < deadline {
        for pid in ffmpeg_children(node_pid) {
            if stopped.len() < n && stopped.insert(pid) {
                let ok = std::process::Command::new("kill")
                    .args(["-STOP", &pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "could not stop ffmpeg {pid}");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stopped.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_ffmpeg_is_killed_and_retried_once_then_reported_as_stalled() {
    let _g = serial().await;
    let clip = heavy_clip();
    let c = Cluster::start("stall", &REPORT[..1], |l| {
        l.workers = 1;
        l.cache_mb = 0.0; // the second upload of the clip transcodes again
        l.extra.push("--ffmpeg-threads=1".into());
        l.extra.push("--stall-timeout-s=2".into());
    });
    c.wait_healthy(0).await;
    let pid = c.nodes[0].child.as_ref().unwrap().id();

    // The first ffmpeg freezes: it is killed, and the retry delivers the video.
    let stopper = tokio::spawn(stop_ffmpegs(pid, 1));
    let r = c.upload(0, &clip).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert!(!r.bytes().await.unwrap().is_empty());
    assert_eq!(stopper.await.unwrap(), 1);
    let s = c.status(0).await.unwrap().counters.core;
    assert_eq!(
        (s.transcodes_stalled, s.stall_retries, s.transcodes_ok),
        (1, 1, 1),
        "{s:?}"
    );

    // Both runs freeze: one retry, then the client hears that the transcode stalled.
    let stopper = tokio::spawn(stop_ffmpegs(pid, 2));
    let r = c.upload(0, &clip).await;
    assert_eq!(r.status(), 504);
    let text = r.text().await.unwrap();
    assert!(text.contains("progress"), "{text}");
    assert_eq!(stopper.await.unwrap(), 2);
    let s = c.status(0).await.unwrap();
    let k = s.counters.core;
    assert_eq!((k.transcodes_stalled, k.stall_retries), (3, 2), "{k:?}");
    assert_eq!((s.in_flight, s.queue_len), (0, 0));
    assert!(
        ffmpeg_children(pid).is_empty(),
        "a stopped ffmpeg was left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_junk_uploads_leaves_health_answering_within_a_second() {
    let _g = serial().await;
    require_ffmpeg();
    let c = Cluster::start("junk", &REPORT[..1], |_| {});
    c.wait_healthy(0).await;
    let url = c.url(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // /health every 100 ms for as long as the burst lasts; each must answer within 1 s.
    let watcher = {
        let (http, url, stop) = (c.http.clone(), url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut checks = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http
                    .get(format!("{url}/health"))
                    .timeout(Duration::from_secs(1))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => checks += 1,
                    other => panic!("/health did not answer within 1 s: {other:?}"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            checks
        })
    };
    let burst: Vec<_> = (0..200u32)
        .map(|k| {
            let (http, url) = (c.http.clone(), url.clone());
            tokio::spawn(async move {
                // 64 KiB of bytes that are no video, each upload different (no cache hit).
                let body: Vec<u8> = (0..65_536u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) ^ k) as u8)
                    .collect();
                let r = http
                    .post(format!("{url}/upload"))
                    .header("content-type", "video/mp4")
                    .body(body)
                    .send()
                    .await
                    .expect("every junk upload is answered");
                let status = r.status().as_u16();
                let retry = r.headers().contains_key("retry-after");
                let json: serde_json::Value =
                    serde_json::from_slice(&r.bytes().await.unwrap()).expect("a JSON error");
                (status, retry, json)
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for t in burst {
        let (status, retry, json) = t.await.unwrap();
        *by_status.entry(status).or_insert(0u32) += 1;
        assert!(json.get("error").is_some(), "{status}: {json}");
        // Junk is the client's fault (4xx); the only 5xx allowed is a refusal to take more
        // uploads at once, which says when to come back.
        assert!(
            (400..500).contains(&status) || (status == 503 && retry),
            "{status}: {json}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let checks = watcher.await.unwrap();
    eprintln!("junk burst answers by status: {by_status:?}; /health answered {checks} times");
    assert!(checks >= 1);
    assert!(
        by_status.get(&422).copied().unwrap_or(0) > 0,
        "{by_status:?}"
    );
}

/// `POST /admin/drain` to node `i`, signed with `key` for node id `id` (unsigned without).
async fn post_drain(c: &Cluster, i: usize, key: Option<&str>, id: u32) -> reqwest::Response {
    let mut req = c.http.post(format!("{}/admin/drain", c.url(i)));
    if let Some(k) = key {
        let id = id.to_string();
        req = req.header(
            h::SIGNATURE,
            sign(k, Kind::Admin, &auth::admin_fields("drain", &id)),
        );
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_finishes_its_work_leaves_and_exits_without_losing_a_request() {
    let _g = serial().await;
    let clips = clips().to_vec();
    let specs = [("node1", "FRA"), ("node4", "FRA"), ("node2", "IAD")];
    let mut c = Cluster::start("drain", &specs, |l| {
        l.workers = 2;
        l.cache_mb = 0.0; // every request transcodes
    });
    c.wait_full_view(Duration::from_secs(20)).await;

    // Only an operator holding the cluster key may drain, and only the node it signed for.
    let r = post_drain(&c, 0, None, 1).await;
    expect_status(r, 401, "not authenticated").await;
    let r = post_drain(&c, 0, Some(WRONG_KEY), 1).await;
    expect_status(r, 403, "does not match").await;
    let r = post_drain(&c, 0, Some(KEY), 4).await;
    expect_status(r, 403, "does not match").await;
    assert_eq!(auth_rejected(&c, 0, "admin", "bad_signature").await, 2);
    assert_eq!(c.status(0).await.unwrap().state, "serving");

    let targets: Vec<Target> = (0..3).map(|i| c.target(i)).collect();
    let mut cfg = ClientConfig::report(targets, clips, Duration::from_secs(90));
    cfg.arrivals = Arrivals::Batches {
        size: 9,
        pause: Duration::from_millis(200),
    };
    cfg.max_requests = Some(36);
    cfg.attempt_timeout = Duration::from_secs(60);
    cfg.health_check = Duration::from_millis(500);
    let start = Instant::now();
    let run = tokio::spawn(client::run_client(cfg));
    // Drain node1 while it is transcoding (after the first second, so the cluster is busy).
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let busy_by = Instant::now() + Duration::from_secs(30);
    while c.status(0).await.is_none_or(|s| s.in_flight == 0) {
        assert!(Instant::now() < busy_by, "node1 never got work");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained_at_ms = start.elapsed().as_millis() as u64;
    let r = post_drain(&c, 0, Some(KEY), 1).await;
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], "draining", "{body}");
    let jobs_at_drain = body["jobs"].as_u64().unwrap();
    assert!(jobs_at_drain > 0, "node1 held no work when drained: {body}");
    // Until it is done it says so, and a repeated request changes nothing.
    let health: serde_json::Value = serde_json::from_slice(
        &c.http
            .get(format!("{}/health", c.url(0)))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(health["status"], "draining", "{health}");
    assert_eq!(c.status(0).await.unwrap().state, "draining");
    assert_eq!(post_drain(&c, 0, Some(KEY), 1).await.status(), 202);

    // It exits by itself, with status 0, once its jobs are done.
    let exited = {
        let child = c.nodes[0].child.as_mut().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "node1 did not exit after draining"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert!(exited.success(), "node1 exited with {exited}");
    let exit_ms = start.elapsed().as_millis() as u64 - drained_at_ms;
    let log = std::fs::read_to_string(&c.nodes[0].log).unwrap();
    assert!(log.contains("drained: every job finished"), "{log}");

    let out = run.await.unwrap();
    let records = &out.records;
    assert_eq!(records.len(), 36);
    let tally = c.chaos_check(&out, 36).await;
    assert_eq!(tally.ok, 36, "{tally:?}");
    // Its in-flight work was finished by node1 itself, not failed over.
    let finished_here = records
        .iter()
        .filter(|r| out.exec_name(r) == Some("node1") && r.end_ms > drained_at_ms)
        .count();
    assert!(
        finished_here > 0,
        "no job finished on node1 after the drain: {records:?}"
    );
    eprintln!(
        "drain: node1 held {jobs_at_drain} jobs, exited {exit_ms} ms after the request, \
         finished {finished_here} requests itself after it; {tally:?}"
    );
    // The peers saw it leave, and did not take it for a failure.
    for i in [1, 2] {
        c.wait_peer_state(i, "node1", "left", Duration::from_secs(10))
            .await;
        let log = std::fs::read_to_string(&c.nodes[i].log).unwrap();
        assert!(log.contains("peer left (drained)"), "{log}");
        assert!(!log.contains("suspect: probe unanswered"), "{log}");
    }
    // The two left carry on as a cluster.
    let s = c.status(1).await.unwrap();
    assert_eq!(s.alive_peers, 1, "{:?}", s.peers);
    c.nodes[0].child = None; // already reaped
}

/// This machine's address on its default route, if it has one (no packet is sent).
fn host_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cluster_key_only_this_host_may_drain_a_node() {
    let _g = serial().await;
    require_ffmpeg();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let dir = root().join("drain-open");
    let start = |name: &str, ip: std::net::IpAddr| {
        let port = free_ports(1)[0];
        let mut l = NodeLaunch::new(name, 1, "FRA", SocketAddr::new(ip, port), dir.join(name));
        l.exit_with_parent = true;
        l.cluster_key = None; // an open cluster
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = l
            .command(Path::new(BIN))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        (format!("http://{}", l.listen), child)
    };
    std::fs::create_dir_all(&dir).unwrap();
    let up = |url: String| {
        let http = http.clone();
        async move {
            for _ in 0..200 {
                if http.get(format!("{url}/health")).send().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("{url} did not come up");
        }
    };

    // Reached on another address of the machine, the caller is not loopback: refused, signed
    // or not (a keyless node has nothing to check a signature against).
    if let Some(ip) = host_ip() {
        let (url, mut child) = start("node1", ip);
        up(url.clone()).await;
        for sig in [None, Some(sign(KEY, Kind::Admin, &["drain", "1"]))] {
            let mut req = http.post(format!("{url}/admin/drain"));
            if let Some(s) = sig {
                req = req.header(h::SIGNATURE, s);
            }
            expect_status(req.send().await.unwrap(), 403, "loopback").await;
        }
        let st: Status = serde_json::from_slice(
            &http
                .get(format!("{url}/status"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(st.state, "serving");
        assert!(
            child.try_wait().unwrap().is_none(),
            "a refused drain stopped the node"
        );
        let _ = child.kill();
        let _ = child.wait();
    }

    // From this host, unsigned: an idle node drains at once and exits 0.
    let (url, mut child) = start("node2", std::net::Ipv4Addr::LOCALHOST.into());
    up(url.clone()).await;
    let r = http
        .post(format!("{url}/admin/drain"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "an idle drained node did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}
