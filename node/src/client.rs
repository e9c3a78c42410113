//! The report's load client, live: the shared client machine (`vidmesh_loadgen::Client`,
//! the same one the simulator drives) carried out with tokio and HTTP. The machine decides
//! which node each attempt goes to, when batches and arrivals start, when an attempt has run
//! out of time and what each request's record says; this driver uploads the clips, hangs up on
//! attempts the machine gave up on, asks blocked nodes for `/health`, and keeps what only the
//! live client sees (error texts, output sizes). The records are the rows of `requests.csv`
//! (docs/metrics.md).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use vidmesh_loadgen::client::{
    Arrivals as MachineArrivals, Config, Output, Served, Wake, Workload,
};
use vidmesh_loadgen::record::{ClipFacts, Lookup};
use vidmesh_loadgen::AttemptEnd;
pub use vidmesh_loadgen::{Outcome, RequestRecord};

use crate::catalog::Clip;
use crate::headers as h;

/// A node the client sends to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    pub zone: String,
    /// `http://host:port`
    pub url: String,
}

/// A `--node` value that is not `name=ZONE@host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}`: a node is written name=ZONE@host:port, e.g. node1=FRA@127.0.0.1:8001")]
pub struct BadTarget(pub String);

impl std::str::FromStr for Target {
    type Err = BadTarget;

    /// `name=ZONE@host:port`
    fn from_str(s: &str) -> Result<Self, BadTarget> {
        let bad = || BadTarget(s.to_string());
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let (zone, addr) = rest.split_once('@').ok_or_else(bad)?;
        if name.is_empty() || zone.is_empty() || addr.is_empty() {
            return Err(bad());
        }
        let url = if addr.starts_with("http://") {
            addr.trim_end_matches('/').to_string()
        } else {
            format!("http://{addr}")
        };
        Ok(Target {
            name: name.into(),
            zone: zone.into(),
            url,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// `size` concurrent requests; the next batch starts `pause` after all of them ended.
    Batches { size: u32, pause: Duration },
    /// Open-loop arrivals with exponential gaps.
    Poisson { rate_per_s: f64 },
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub targets: Vec<Target>,
    pub clips: Vec<Clip>,
    pub arrivals: Arrivals,
    /// No request is submitted after this long (from `epoch`).
    pub duration: Duration,
    /// Stop after this many requests (None = until `duration`).
    pub max_requests: Option<u64>,
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_attempts: u8,
    pub health_check: Duration,
    pub seed: u64,
    /// Times in the records count from here (default: when the client starts).
    pub epoch: Option<Instant>,
    /// Request `n` uploads clip `n` (in catalog order, wrapping when the catalog runs out),
    /// so every upload is new content; otherwise clips are drawn at random.
    pub unique: bool,
}

impl ClientConfig {
    /// The report's client against `targets`: batches of 100, 5 s pause, 40 s timeout, 5
    /// attempts.
    pub fn report(targets: Vec<Target>, clips: Vec<Clip>, duration: Duration) -> Self {
        ClientConfig {
            targets,
            clips,
            arrivals: Arrivals::Batches {
                size: 100,
                pause: Duration::from_secs(5),
            },
            duration,
            max_requests: None,
            attempt_timeout: Duration::from_secs(40),
            connect_timeout: Duration::from_secs(1),
            max_attempts: 5,
            health_check: Duration::from_secs(1),
            seed: 1,
            epoch: None,
            unique: false,
        }
    }
}

/// Client behaviour beyond the report's (kept out of [`ClientConfig`] so that adding one does
/// not break code that builds a config field by field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// A node an attempt failed on is avoided by every request until it answers a health
    /// check or a request (the report's client); `false`: only by the request that failed.
    pub block_failed_nodes: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            block_failed_nodes: true,
        }
    }
}

/// One request's view from the live client, by request id: what the shared machine's record
/// does not hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveDetail {
    /// Bytes of the transcoded output received.
    pub output_bytes: u64,
    /// What the last failed attempt said, when the request did not succeed.
    pub error: Option<String>,
}

/// A node as named in the records: its name and zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeName {
    pub name: String,
    pub zone: String,
}

/// What a run of the client produced.
#[derive(Clone, Debug)]
pub struct ClientRun {
    /// One per request, by request id.
    pub records: Vec<RequestRecord>,
    /// Per request, by request id.
    pub details: Vec<LiveDetail>,
    /// What the records' node numbers stand for: the targets in order, then the nodes that ran
    /// a transcode without being a target.
    pub nodes: Vec<NodeName>,
    /// What the records' item numbers stand for: the clips in catalog order.
    pub clips: Vec<ClipFacts>,
    /// Every attempt as it ended: (ms since the epoch, succeeded), in time order.
    pub attempt_ends: Vec<(u64, bool)>,
}

impl Lookup for ClientRun {
    fn node_name(&self, node: u32) -> &str {
        &self.nodes[node as usize].name
    }
    fn node_zone(&self, node: u32) -> &str {
        &self.nodes[node as usize].zone
    }
    fn clip(&self, item: u32) -> ClipFacts {
        self.clips[item as usize]
    }
}

impl ClientRun {
    /// The name of the node that ran `r`'s transcode.
    pub fn exec_name(&self, r: &RequestRecord) -> Option<&str> {
        r.exec_node.map(|n| self.node_name(n))
    }

    /// The name of the node `r`'s last attempt went to.
    pub fn entry_name(&self, r: &RequestRecord) -> Option<&str> {
        r.entry_node.map(|n| self.node_name(n))
    }

    /// Writes `requests.csv` with the records under `strategy`.
    pub fn write_requests_csv(
        &self,
        path: &std::path::Path,
        strategy: &str,
    ) -> std::io::Result<()> {
        let csv = vidmesh_loadgen::record::requests_csv(&[(strategy, &self.records)], self);
        std::fs::write(path, csv)
    }
}

/// Runs the client to its end.
pub async fn run_client(cfg: ClientConfig) -> ClientRun {
    run_client_with(cfg, ClientOptions::default()).await
}

/// What each request uploads, and the gaps between open-loop arrivals.
struct Clips {
    count: u32,
    seed: u64,
    unique: bool,
    gaps: ChaCha8Rng,
    /// Per request, the clip it uploads.
    items: Vec<u32>,
}

impl Workload for Clips {
    fn new_request(&mut self, request: u32) -> u32 {
        let item = if self.unique {
            request % self.count
        } else {
            request_rng(self.seed, request as u64).random_range(0..self.count)
        };
        self.items.push(item);
        item
    }

    fn gap_ms(&mut self, rate_per_s: f64) -> f64 {
        let u: f64 = self.gaps.random_range(f64::EPSILON..1.0);
        -u.ln() * 1000.0 / rate_per_s.max(1e-9)
    }
}

fn request_rng(seed: u64, id: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(id + 1);
    r
}

/// What the client waits for besides answers.
#[derive(Clone, Copy, Debug)]
enum Alarm {
    Wake(Wake),
    Deadline { request: u32, attempt: u8 },
}

/// What the tasks the driver spawned report.
enum Report {
    Attempt {
        request: u32,
        attempt: u8,
        result: Result<Done, (AttemptEnd, String)>,
    },
    Healthy(u32),
}

/// The driver: the machine, the tasks carrying out its outputs, and its alarms.
struct Driver {
    machine: vidmesh_loadgen::Client,
    http: reqwest::Client,
    cfg: ClientConfig,
    epoch: Instant,
    tx: mpsc::UnboundedSender<Report>,
    /// By (time, sequence), so alarms set for the same ms keep their order.
    alarms: BTreeMap<(u64, u64), Alarm>,
    next_alarm: u64,
    /// Uploads and health checks under way: dropped with the driver, they end with it.
    tasks: JoinSet<()>,
    running: HashMap<(u32, u8), AbortHandle>,
    details: Vec<LiveDetail>,
    nodes: Vec<NodeName>,
    workload: Clips,
}

impl Driver {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn alarm(&mut self, at_ms: u64, alarm: Alarm) {
        self.alarms.insert((at_ms, self.next_alarm), alarm);
        self.next_alarm += 1;
    }

    fn carry_out(&mut self) {
        while let Some(o) = self.machine.poll_output() {
            match o {
                Output::Submit {
                    request,
                    attempt,
                    target,
                    deadline_ms,
                } => {
                    if attempt == 1 {
                        crate::client_metrics::global().started();
                        let n = request as usize + 1;
                        if self.details.len() < n {
                            self.details.resize(n, LiveDetail::default());
                        }
                    }
                    self.alarm(deadline_ms, Alarm::Deadline { request, attempt });
                    let item = self.workload.items[request as usize];
                    let clip = self.cfg.clips[item as usize].path.clone();
                    let url = self.cfg.targets[target as usize].url.clone();
                    let (http, tx) = (self.http.clone(), self.tx.clone());
                    let timeout = self.cfg.attempt_timeout;
                    let task = self.tasks.spawn(async move {
                        let result = attempt_upload(&http, timeout, &url, &clip).await;
                        let _ = tx.send(Report::Attempt {
                            request,
                            attempt,
                            result,
                        });
                    });
                    self.running.insert((request, attempt), task);
                }
                Output::HangUp {
                    request, attempt, ..
                } => {
                    // Dropping the upload closes its connection: the node sees the client go.
                    if let Some(task) = self.running.remove(&(request, attempt)) {
                        task.abort();
                    }
                    let t = self.cfg.attempt_timeout;
                    self.details[request as usize].error = Some(format!("no answer within {t:?}"));
                }
                Output::Wake { at_ms, wake } => self.alarm(at_ms, Alarm::Wake(wake)),
                Output::CheckHealth { target } => {
                    let url = format!("{}/health", self.cfg.targets[target as usize].url);
                    let (http, tx) = (self.http.clone(), self.tx.clone());
                    self.tasks.spawn(async move {
                        let ok = http
                            .get(&url)
                            .timeout(Duration::from_secs(1))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            let _ = tx.send(Report::Healthy(target));
                        }
                    });
                }
                Output::Ended { request } => {
                    let r = self.machine.record(request).expect("an ended request");
                    crate::client_metrics::global().ended(r);
                }
            }
        }
    }

    /// The number of the node named `name`, new ones appended.
    fn node_number(&mut self, name: String, zone: String) -> u32 {
        if let Some(k) = self.nodes.iter().position(|n| n.name == name) {
            return k as u32;
        }
        self.nodes.push(NodeName { name, zone });
        self.nodes.len() as u32 - 1
    }

    fn report(&mut self, report: Report) {
        while self.tasks.try_join_next().is_some() {} // reap the finished ones
        let now = self.now_ms();
        match report {
            Report::Healthy(target) => self.machine.healthy(target),
            Report::Attempt {
                request,
                attempt,
                result,
            } => {
                self.running.remove(&(request, attempt));
                if !self.machine.current(request, attempt) {
                    return; // given up on already
                }
                let end = match result {
                    Ok(done) => {
                        let d = &mut self.details[request as usize];
                        d.error = None;
                        d.output_bytes = done.bytes;
                        AttemptEnd::Served(Served {
                            exec_node: self.node_number(done.exec_node, done.exec_zone),
                            hops: done.hops,
                            cache_hit: done.cache_hit,
                            offloaded: done.offloaded,
                            fallback: done.fallback,
                        })
                    }
                    Err((why, msg)) => {
                        tracing::debug!(request, attempt, ?why, %msg, "attempt failed");
                        self.details[request as usize].error = Some(msg);
                        why
                    }
                };
                self.machine.attempt_ended(request, attempt, end, now);
            }
        }
    }

    /// Every alarm that is due.
    fn ring(&mut self) {
        let now = self.now_ms();
        while let Some(entry) = self.alarms.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Alarm::Wake(w) => self.machine.wake(w, now, &mut self.workload),
                Alarm::Deadline { request, attempt } => {
                    self.machine.deadline(request, attempt, now)
                }
            }
        }
    }
}

/// [`run_client`] with [`ClientOptions`].
pub async fn run_client_with(cfg: ClientConfig, opts: ClientOptions) -> ClientRun {
    assert!(
        !cfg.targets.is_empty(),
        "the client needs at least one node"
    );
    assert!(!cfg.clips.is_empty(), "the client needs at least one clip");
    let epoch = cfg.epoch.unwrap_or_else(Instant::now);
    let http = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(cfg.connect_timeout)
        .pool_max_idle_per_host(256)
        // Nodes close connections idle for their header read timeout (10 s by default).
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client builds");
    let start_ms = epoch.elapsed().as_millis() as u64;
    let machine = vidmesh_loadgen::Client::new(Config {
        arrivals: match cfg.arrivals {
            Arrivals::Batches { size, pause } => MachineArrivals::Batches {
                size,
                pause_ms: pause.as_millis() as u64,
                max_batches: None,
            },
            Arrivals::Poisson { rate_per_s } => MachineArrivals::Poisson { rate_per_s },
        },
        start_ms,
        duration_ms: cfg.duration.as_millis() as u64,
        max_requests: cfg.max_requests,
        attempt_timeout_ms: cfg.attempt_timeout.as_millis() as u64,
        max_attempts: cfg.max_attempts,
        health_check_ms: cfg.health_check.as_millis() as u64,
        block_failed_nodes: opts.block_failed_nodes,
        seed: cfg.seed,
        targets: (0..cfg.targets.len() as u32).collect(),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let nodes = (cfg.targets.iter())
        .map(|t| NodeName {
            name: t.name.clone(),
            zone: t.zone.clone(),
        })
        .collect();
    let mut d = Driver {
        machine,
        http,
        epoch,
        tx,
        alarms: BTreeMap::new(),
        next_alarm: 0,
        tasks: JoinSet::new(),
        running: HashMap::new(),
        details: Vec::new(),
        nodes,
        workload: Clips {
            count: cfg.clips.len() as u32,
            seed: cfg.seed,
            unique: cfg.unique,
            gaps: {
                let mut gaps = ChaCha8Rng::seed_from_u64(cfg.seed);
                gaps.set_stream(0x636c69656e74); // "client"
                gaps
            },
            items: Vec::new(),
        },
        cfg,
    };
    d.machine.start();
    loop {
        d.carry_out();
        if d.machine.is_done() {
            break;
        }
        let next = d.alarms.first_key_value().map(|(k, _)| k.0);
        let wake_at = next.map(|ms| epoch + Duration::from_millis(ms));
        tokio::select! {
            Some(report) = rx.recv() => d.report(report),
            _ = tokio::time::sleep_until(wake_at.unwrap_or(epoch).into()), if wake_at.is_some() => {
                d.ring();
            }
        }
    }
    let now = d.now_ms();
    let clips = (d.cfg.clips.iter())
        .map(|c| ClipFacts {
            size_bytes: c.size_bytes,
            width: c.width,
            height: c.height,
            frames: c.frames,
        })
        .collect();
    let end = d.machine.finish(now);
    let mut details = d.details;
    details.resize(end.records.len(), LiveDetail::default());
    ClientRun {
        records: end.records,
        details,
        nodes: d.nodes,
        clips,
        attempt_ends: end.attempt_ends,
    }
}

struct Done {
    exec_node: String,
    exec_zone: String,
    hops: u8,
    cache_hit: bool,
    offloaded: bool,
    fallback: bool,
    bytes: u64,
}

async fn attempt_upload(
    http: &reqwest::Client,
    attempt_timeout: Duration,
    url: &str,
    clip: &PathBuf,
) -> Result<Done, (AttemptEnd, String)> {
    let file = tokio::fs::File::open(clip)
        .await
        .map_err(|e| (AttemptEnd::Error, format!("clip {}: {e}", clip.display())))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    let resp = http
        .post(format!("{url}/upload"))
        .header(reqwest::header::CONTENT_TYPE, "video/mp4")
        .header(reqwest::header::CONTENT_LENGTH, len)
        // The node admits only what it can finish before this client gives up.
        .header(
            crate::headers::DEADLINE_MS,
            attempt_timeout.as_millis().to_string(),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
            // A refused or reset connection means the node is down; anything later is an error.
            let why = if e.is_connect() {
                AttemptEnd::Unavailable
            } else {
                AttemptEnd::Error
            };
            (why, e.to_string())
        })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        let why = if status.as_u16() == 503 {
            AttemptEnd::Rejected
        } else {
            AttemptEnd::Error
        };
        return Err((why, format!("{status}: {}", text.trim())));
    }
    let hdr = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut done = Done {
        exec_node: hdr(h::EXEC_NODE),
        exec_zone: hdr(h::EXEC_ZONE),
        hops: hdr(h::HOPS).parse().unwrap_or(0),
        cache_hit: hdr(h::CACHE_HIT) == "1",
        offloaded: hdr(h::OFFLOADED) == "1",
        fallback: hdr(h::FALLBACK) == "1",
        bytes: 0,
    };
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (AttemptEnd::Error, format!("answer cut: {e}")))?;
        done.bytes += chunk.len() as u64;
    }
    if done.bytes == 0 {
        return Err((AttemptEnd::Error, "empty answer".into()));
    }
    Ok(done)
}

/// `vidmesh-node client` flags.
#[derive(clap::Args, Clone, Debug)]
pub struct ClientArgs {
    /// Nodes as name=ZONE@host:port, comma-separated.
    #[arg(long, env = "NODES", value_delimiter = ',', required = true)]
    pub nodes: Vec<Target>,
    /// Folder with a catalog.csv (see `vidmesh-node catalog`).
    #[arg(long, env = "CATALOG", default_value = "catalog")]
    pub catalog: PathBuf,
    /// Requests per batch (the report: 100).
    #[arg(long, default_value_t = 100)]
    pub batch_size: u32,
    /// Pause after a batch ended, in ms.
    #[arg(long, default_value_t = 5_000)]
    pub pause_ms: u64,
    /// Use open-loop Poisson arrivals at this rate instead of batches.
    #[arg(long)]
    pub poisson_rate: Option<f64>,
    /// Submit requests for this long.
    #[arg(long, default_value_t = 60.0)]
    pub duration_s: f64,
    #[arg(long)]
    pub max_requests: Option<u64>,
    #[arg(long, default_value_t = 40_000)]
    pub attempt_timeout_ms: u64,
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u8,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Label for the strategy column.
    #[arg(long, default_value = "live")]
    pub strategy: String,
    #[arg(long, default_value = "requests.csv")]
    pub out: PathBuf,
    /// Serve the client's live counters on GET /metrics at this address (for the dashboard).
    #[arg(long, env = "CLIENT_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Every request uploads the next clip of the catalog (new content, cold caches) instead of
    /// a random one; warns when the catalog is shorter than the run.
    #[arg(long)]
    pub unique: bool,
}

pub async fn main(a: ClientArgs) -> anyhow::Result<()> {
    let clips = crate::catalog::load(&a.catalog)?;
    let cfg_clips = clips.len();
    if let Some(addr) = &a.metrics_listen {
        crate::client_metrics::serve(addr).await?;
    }
    anyhow::ensure!(a.max_attempts >= 1, "--max-attempts must be at least 1");
    let mut cfg = ClientConfig::report(
        a.nodes,
        clips,
        Duration::from_secs_f64(a.duration_s.max(0.0)),
    );
    cfg.arrivals = match a.poisson_rate {
        Some(r) if r > 0.0 && r.is_finite() => Arrivals::Poisson { rate_per_s: r },
        Some(r) => anyhow::bail!("--poisson-rate must be a number > 0, got {r}"),
        None => Arrivals::Batches {
            size: a.batch_size.max(1),
            pause: Duration::from_millis(a.pause_ms),
        },
    };
    cfg.max_requests = a.max_requests;
    cfg.attempt_timeout = Duration::from_millis(a.attempt_timeout_ms.max(1));
    cfg.max_attempts = a.max_attempts;
    cfg.seed = a.seed;
    cfg.unique = a.unique;
    let run = run_client(cfg).await;
    let records = &run.records;
    if a.unique && records.len() > cfg_clips {
        tracing::warn!(
            requests = records.len(),
            clips = cfg_clips,
            "the catalog ran out: some uploads repeated a clip"
        );
    }
    run.write_requests_csv(&a.out, &a.strategy)?;
    let ok = records.iter().filter(|r| r.outcome == Outcome::Ok).count();
    println!(
        "{} requests, {} ok, written to {}",
        records.len(),
        ok,
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_say_how_to_write_them() {
        let t: Target = "node2=IAD@10.0.0.2:8000".parse().unwrap();
        assert_eq!(
            t,
            Target {
                name: "node2".into(),
                zone: "IAD".into(),
                url: "http://10.0.0.2:8000".into()
            }
        );
        let e = "node2@10.0.0.2".parse::<Target>().unwrap_err();
        assert!(e.to_string().contains("name=ZONE@host:port"), "{e}");
    }
}
