//! The report's load client, live: batches of concurrent uploads (or Poisson arrivals) to
//! random nodes, a per-attempt timeout, retries on untried nodes, and blocking of failing nodes
//! until they answer `/health` again. Its records are the rows of `requests.csv`
//! (docs/metrics.md), with the same semantics as the simulator's client:
//!
//! - an attempt goes to a uniformly drawn untried node that is not blocked (else any untried);
//! - any failed attempt (refused connection, rejection, error, timeout) blocks its node and
//!   leads to the next attempt, up to `max_attempts`;
//! - a success unblocks its node; blocked nodes are also unblocked when `/health` answers;
//! - a request that never succeeded ends as `unavailable` if every attempt found its node
//!   down, else with its last attempt's failure.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::catalog::Clip;
use crate::headers as h;
pub use crate::request_record::{
    write_requests_csv, RequestOutcome, RequestRecord, REQUESTS_HEADER,
};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttemptEnd {
    Timeout,
    Rejected,
    Error,
    Unavailable,
}

struct Shared {
    cfg: ClientConfig,
    opts: ClientOptions,
    http: reqwest::Client,
    blocked: Mutex<BTreeSet<usize>>,
    epoch: Instant,
}

impl Shared {
    fn ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
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

/// Runs the client to its end and returns one record per request, by request id.
pub async fn run_client(cfg: ClientConfig) -> Vec<RequestRecord> {
    run_client_with(cfg, ClientOptions::default()).await
}

/// [`run_client`] with [`ClientOptions`].
pub async fn run_client_with(cfg: ClientConfig, opts: ClientOptions) -> Vec<RequestRecord> {
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
    let shared = Arc::new(Shared {
        cfg,
        opts,
        http,
        blocked: Mutex::new(BTreeSet::new()),
        epoch,
    });
    let health = tokio::spawn(health_checks(shared.clone()));
    let cfg = &shared.cfg;
    let end = epoch + cfg.duration;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(0x636c69656e74); // "client"
    let mut records = Vec::new();
    let mut next_id = 0u64;
    let more = |n: u64| Instant::now() < end && cfg.max_requests.is_none_or(|m| n < m);
    match cfg.arrivals.clone() {
        Arrivals::Batches { size, pause } => {
            let mut batch = 0u32;
            while more(next_id) {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..size {
                    if !more(next_id) {
                        break;
                    }
                    let req_rng = request_rng(cfg.seed, next_id);
                    set.spawn(request(shared.clone(), next_id, Some(batch), req_rng));
                    next_id += 1;
                }
                while let Some(r) = set.join_next().await {
                    records.push(r.expect("request task"));
                }
                batch += 1;
                // As the simulator: the next batch starts a pause after this one ended, if
                // that is still within the run.
                if Instant::now() + pause >= end {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
        Arrivals::Poisson { rate_per_s } => {
            let mut set = tokio::task::JoinSet::new();
            let mut at = Instant::now();
            while more(next_id) {
                let req_rng = request_rng(cfg.seed, next_id);
                set.spawn(request(shared.clone(), next_id, None, req_rng));
                next_id += 1;
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                at += Duration::from_secs_f64(-u.ln() / rate_per_s.max(1e-9));
                tokio::time::sleep_until(at.into()).await;
            }
            while let Some(r) = set.join_next().await {
                records.push(r.expect("request task"));
            }
        }
    }
    health.abort();
    records.sort_by_key(|r| r.request_id);
    records
}

fn request_rng(seed: u64, id: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(id + 1);
    r
}

async fn health_checks(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(shared.cfg.health_check).await;
        let blocked: Vec<usize> = shared
            .blocked
            .lock()
            .expect("blocked")
            .iter()
            .copied()
            .collect();
        for i in blocked {
            let url = format!("{}/health", shared.cfg.targets[i].url);
            let ok = shared
                .http
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                shared.blocked.lock().expect("blocked").remove(&i);
            }
        }
    }
}

async fn request(
    shared: Arc<Shared>,
    id: u64,
    batch: Option<u32>,
    mut rng: ChaCha8Rng,
) -> RequestRecord {
    let cfg = &shared.cfg;
    let clip = if cfg.unique {
        &cfg.clips[(id % cfg.clips.len() as u64) as usize]
    } else {
        &cfg.clips[rng.random_range(0..cfg.clips.len())]
    };
    let submit = Instant::now();
    crate::client_metrics::global().started();
    let mut rec = RequestRecord {
        request_id: id,
        batch,
        submit_ms: shared.ms(submit),
        end_ms: 0,
        attempts: 0,
        outcome: RequestOutcome::Unavailable,
        entry_node: None,
        entry_zone: None,
        exec_node: None,
        exec_zone: None,
        hops: 0,
        cache_hit: false,
        offloaded: false,
        fallback: false,
        size_bytes: clip.size_bytes,
        width: clip.width,
        height: clip.height,
        frames: clip.frames,
        output_bytes: 0,
        error: None,
    };
    let mut tried: Vec<usize> = Vec::new();
    let mut all_unavailable = true;
    let mut last = AttemptEnd::Unavailable;
    while rec.attempts < cfg.max_attempts {
        let Some(i) = pick(&shared, &tried, &mut rng) else {
            break;
        };
        tried.push(i);
        rec.attempts += 1;
        let t = &cfg.targets[i];
        rec.entry_node = Some(t.name.clone());
        rec.entry_zone = Some(t.zone.clone());
        match attempt(&shared, t, &clip.path).await {
            Ok(done) => {
                rec.outcome = RequestOutcome::Ok;
                rec.error = None;
                rec.exec_node = Some(done.exec_node);
                rec.exec_zone = Some(done.exec_zone);
                rec.hops = done.hops;
                rec.cache_hit = done.cache_hit;
                rec.offloaded = done.offloaded;
                rec.fallback = done.fallback;
                rec.output_bytes = done.bytes;
                rec.end_ms = shared.ms(Instant::now());
                shared.blocked.lock().expect("blocked").remove(&i);
                crate::client_metrics::global().ended(&rec);
                return rec;
            }
            Err((why, msg)) => {
                tracing::debug!(request = id, node = %t.name, ?why, %msg, "attempt failed");
                last = why;
                rec.error = Some(msg);
                if why != AttemptEnd::Unavailable {
                    all_unavailable = false;
                }
                if shared.opts.block_failed_nodes {
                    shared.blocked.lock().expect("blocked").insert(i);
                }
            }
        }
    }
    rec.outcome = if rec.attempts == 0 || all_unavailable {
        RequestOutcome::Unavailable
    } else {
        match last {
            AttemptEnd::Timeout => RequestOutcome::Timeout,
            AttemptEnd::Rejected => RequestOutcome::Rejected,
            AttemptEnd::Error => RequestOutcome::Error,
            AttemptEnd::Unavailable => RequestOutcome::Unavailable,
        }
    };
    rec.end_ms = shared.ms(Instant::now());
    crate::client_metrics::global().ended(&rec);
    rec
}

/// Uniform over untried targets that are not blocked, else over any untried target.
fn pick(shared: &Shared, tried: &[usize], rng: &mut ChaCha8Rng) -> Option<usize> {
    let blocked = shared.blocked.lock().expect("blocked").clone();
    let n = shared.cfg.targets.len();
    for allow_blocked in [false, true] {
        let c: Vec<usize> = (0..n)
            .filter(|i| !tried.contains(i) && (allow_blocked || !blocked.contains(i)))
            .collect();
        if !c.is_empty() {
            return Some(c[rng.random_range(0..c.len())]);
        }
    }
    None
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

async fn attempt(
    shared: &Shared,
    t: &Target,
    clip: &PathBuf,
) -> Result<Done, (AttemptEnd, String)> {
    let timeout = shared.cfg.attempt_timeout;
    match tokio::time::timeout(timeout, attempt_inner(shared, t, clip)).await {
        Ok(r) => r,
        Err(_) => Err((AttemptEnd::Timeout, format!("no answer within {timeout:?}"))),
    }
}

async fn attempt_inner(
    shared: &Shared,
    t: &Target,
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
    let resp = shared
        .http
        .post(format!("{}/upload", t.url))
        .header(reqwest::header::CONTENT_TYPE, "video/mp4")
        .header(reqwest::header::CONTENT_LENGTH, len)
        // The node admits only what it can finish before this client gives up.
        .header(
            crate::headers::DEADLINE_MS,
            shared.cfg.attempt_timeout.as_millis().to_string(),
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
    let records = run_client(cfg).await;
    if a.unique && records.len() > cfg_clips {
        tracing::warn!(
            requests = records.len(),
            clips = cfg_clips,
            "the catalog ran out: some uploads repeated a clip"
        );
    }
    write_requests_csv(&a.out, &[(&a.strategy, &records)])?;
    let ok = records
        .iter()
        .filter(|r| r.outcome == RequestOutcome::Ok)
        .count();
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

    fn rec(outcome: RequestOutcome) -> RequestRecord {
        RequestRecord {
            request_id: 7,
            batch: Some(2),
            submit_ms: 1000,
            end_ms: 4500,
            attempts: 2,
            outcome,
            entry_node: Some("node4".into()),
            entry_zone: Some("FRA".into()),
            exec_node: Some("node1".into()),
            exec_zone: Some("FRA".into()),
            hops: 1,
            cache_hit: false,
            offloaded: true,
            fallback: false,
            size_bytes: 123,
            width: 640,
            height: 360,
            frames: 50,
            output_bytes: 10,
            error: None,
        }
    }

    #[test]
    fn rows_follow_docs_metrics_md() {
        assert_eq!(
            rec(RequestOutcome::Ok).csv_row("score"),
            "score,7,2,1000,4500,3500,2,ok,node4,FRA,node1,FRA,1,0,1,0,123,640,360,50"
        );
        // Unknown or not applicable: empty, including everything about the executing node.
        let mut r = rec(RequestOutcome::Timeout);
        r.batch = None;
        assert_eq!(
            r.csv_row("random"),
            "random,7,,1000,4500,3500,2,timeout,node4,FRA,,,,,,,123,640,360,50"
        );
        assert_eq!(REQUESTS_HEADER.split(',').count(), 20);
        assert_eq!(r.csv_row("x").split(',').count(), 20);
    }

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
