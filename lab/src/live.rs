//! `sim live`: a scenario's cluster as real `vidmesh-node` processes on loopback (or, with
//! `--docker`, as the docker-compose services, see `compose.rs`), the load client in-process,
//! the scenario's faults applied to the processes or containers (`fleet.rs`), and the same CSV
//! files as `sim run` (docs/metrics.md), written by `vidmesh_sim::metrics::write_all` from the
//! `RunResult` that `live/record.rs` assembles.
//!
//! Strategies run one after another, each on a fresh cluster (fresh caches) on the same ports.
//! Node state comes from polling every node's `GET /status` once a second: counters and gauges
//! for `node_windows.csv`, and each node's membership view (with the wall-clock time of every
//! up/down change) for `convergence.csv` and `failure_detection.csv`.

mod clips;
mod record;

pub use clips::{clip_videos, prepare_catalog, sim_catalog};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use vidmesh_node::args::{NodeLaunch, ZonesFile};
use vidmesh_node::catalog::Clip;
use vidmesh_node::client::{self, Arrivals, ClientConfig, Target};
use vidmesh_node::status::Status;
use vidmesh_sim::metrics::RunResult;
use vidmesh_sim::scenario::{FaultKind, Scenario, WorkloadKind};

use crate::compose::{ComposeFleet, ComposeOptions};
use crate::fleet::{free_addrs, ms_since, Action, Cluster, Fleet};

/// More nodes than this would not fit one machine's cores and file descriptors.
const MAX_LIVE_NODES: usize = 50;
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_TIMEOUT: Duration = Duration::from_millis(800);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How `sim live` starts node processes and where it writes.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Output folder (CSV files, `logs/`, and the catalog when the scenario names none).
    pub out: PathBuf,
    /// The scenario file's folder: a relative `live.catalog_dir` is taken from here.
    pub scenario_dir: PathBuf,
    /// Where the nodes run.
    pub backend: Backend,
    /// Start the observer's dashboard here.
    pub dashboard: Option<String>,
    pub ffmpeg: String,
}

/// Where `sim live` runs the nodes.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Processes of a program that runs `vidmesh_node::cli::run` with the arguments after
    /// `leading`, on free loopback ports.
    Processes {
        program: PathBuf,
        leading: Vec<String>,
    },
    /// The compose file's node services.
    Compose(ComposeOptions),
}

/// The scenario as `sim live` runs it: `[live] duration_s` applied, faults past the end dropped.
pub fn live_scenario(s: &Scenario) -> Result<Scenario> {
    let mut s = s.clone();
    if let Some(d) = s.live.duration_ms {
        s.duration_ms = s.duration_ms.min(d);
    }
    let end = s.duration_ms;
    s.faults.retain(|f| f.at_ms < end);
    if let Some((name, c)) = s.strategies.iter().find(|(_, c)| c.simulator_only()) {
        bail!(
            "strategy `{name}` ({}) reads every node's true state at once, which only the \
             simulator has: drop it from the scenario to run it live",
            c.kind()
        );
    }
    if s.workload.profiles.iter().any(|p| p.name != "360p") {
        bail!(
            "scenario `{}` mixes output profiles (workload.profiles); the live client uploads in \
             the nodes' default profile only, so `sim live` would not run the same workload",
            s.name
        );
    }
    for n in s.nodes.iter().filter(|n| n.speed != 1.0) {
        eprintln!(
            "warning: node `{}` has speed {} in the scenario; a live node runs at its machine's \
             speed (only `cores`, the process's --cpus or the container's cpus, changes live)",
            n.name, n.speed
        );
    }
    if s.nodes.len() > MAX_LIVE_NODES {
        bail!(
            "scenario `{}` has {} nodes; `sim live` runs at most {MAX_LIVE_NODES} real processes",
            s.name,
            s.nodes.len()
        );
    }
    Ok(s)
}

/// Removes a folder when dropped (node data dirs: caches and temp files).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `/status` poll of one node: `None` when it did not answer in time.
struct Sample {
    t_ms: u64,
    node: usize,
    status: Option<Status>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn poll_all(http: &reqwest::Client, addrs: &[SocketAddr], t_ms: u64) -> Vec<Sample> {
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in addrs.iter().enumerate() {
        let http = http.clone();
        let url = format!("http://{a}/status");
        set.spawn(async move {
            let status = async {
                let r = http.get(&url).timeout(POLL_TIMEOUT).send().await.ok()?;
                if !r.status().is_success() {
                    return None;
                }
                let bytes = r.bytes().await.ok()?;
                serde_json::from_slice::<Status>(&bytes).ok()
            }
            .await;
            Sample {
                t_ms,
                node: i,
                status,
            }
        });
    }
    let mut out = Vec::new();
    while let Some(s) = set.join_next().await {
        if let Ok(s) = s {
            out.push(s);
        }
    }
    out.sort_by_key(|s| s.node);
    out
}

/// What happened to the processes, in run time.
#[derive(Clone, Debug)]
struct Applied {
    t_ms: u64,
    kind: Action,
    node: usize,
}

/// Everything `sim live` needs to run a scenario's strategies.
pub struct LiveRun<'a> {
    pub scenario: &'a Scenario,
    pub clips: &'a [Clip],
    pub opts: &'a LiveOptions,
    pub addrs: Vec<SocketAddr>,
    /// Where node data dirs go (removed afterwards).
    pub data_root: PathBuf,
}

impl<'a> LiveRun<'a> {
    pub fn new(scenario: &'a Scenario, clips: &'a [Clip], opts: &'a LiveOptions) -> Result<Self> {
        let addrs = match &opts.backend {
            Backend::Processes { .. } => free_addrs(scenario.nodes.len())?,
            Backend::Compose(c) => c.addrs(scenario.nodes.len())?,
        };
        let data_root = std::env::temp_dir().join(format!("vidmesh-live-{}", std::process::id()));
        Ok(LiveRun {
            scenario,
            clips,
            opts,
            addrs,
            data_root,
        })
    }

    /// Each node's seeds as node indices.
    fn seed_indices(&self) -> Vec<Vec<usize>> {
        let s = self.scenario;
        let n = s.nodes.len();
        (0..n)
            .map(|i| {
                let spec = &s.nodes[i];
                // Generated topologies get their seeds when the simulator builds them; live
                // runs use the report's ring (node i knows node i+1).
                if spec.seeds.is_empty() && s.generated_seeds.is_some() {
                    if n > 1 {
                        vec![(i + 1) % n]
                    } else {
                        vec![]
                    }
                } else {
                    spec.seeds.clone()
                }
            })
            .collect()
    }

    fn launches(&self, k: usize, zones_file: &Path) -> Vec<NodeLaunch> {
        let s = self.scenario;
        let (strategy, config) = &s.strategies[k];
        let seeds = self.seed_indices();
        s.nodes
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let zone = s.network.zones.name(spec.zone).to_string();
                let mut l = NodeLaunch::new(
                    &spec.name,
                    i as u32 + 1,
                    &zone,
                    self.addrs[i],
                    self.data_root.join(strategy).join(&spec.name),
                );
                l.seeds = seeds[i].iter().map(|&j| self.addrs[j]).collect();
                l.strategy = config.clone();
                l.gossip = s.gossip_of(strategy);
                l.workers = s.workers_of(strategy, i);
                // The same job handling as the simulated node: admission, the cost model's
                // starting curve, ffmpeg's threads.
                let adm = s.admission_of(strategy);
                if adm.deadline_aware {
                    l.extra.push(format!("--probe-slots={}", adm.probe_slots));
                    l.extra
                        .push(format!("--finish-for-cache={}", adm.finish_for_cache));
                } else {
                    l.extra.push("--admission=off".into());
                }
                let curve = s.cost.prior_curve();
                l.extra.push(format!(
                    "--cost-json={}",
                    serde_json::to_string(&curve).expect("a curve serialises")
                ));
                l.extra.push(format!(
                    "--ffmpeg-threads={}",
                    s.cost.job_threads.ceil().max(1.0)
                ));
                l.queue_cap = spec.queue_cap;
                l.cache_mb = spec.cache_bytes as f64 / 1e6;
                l.hop_limit = s.hop_limit_of(strategy);
                l.zones_file = Some(zones_file.to_path_buf());
                l.seed = vidmesh_sim::rng::splitmix(s.seed ^ ((i as u64 + 1) << 32));
                l.cpus = Some(spec.cores as f32);
                l.mem_mb = Some(spec.memory_mb);
                l.offload_timeout_ms = Some(s.network.offload_timeout_ms);
                l.connect_timeout_ms = Some(s.network.connect_timeout_ms);
                l.cluster_key = Some(run_cluster_key().to_string());
                l
            })
            .collect()
    }

    /// Runs strategy `k` on a fresh cluster and returns what it measured.
    pub async fn run_strategy(&self, k: usize) -> Result<RunResult> {
        let s = self.scenario;
        let strategy = s.strategies[k].0.clone();
        let wall = Instant::now();
        let _data = RemoveOnDrop(self.data_root.join(&strategy));
        std::fs::create_dir_all(&self.data_root)?;
        let zones_file = self.data_root.join("zones.toml");
        ZonesFile::from_table(&s.network.zones, vidmesh_core::zone::DEFAULT_UNKNOWN_RTT_MS)
            .write(&zones_file)
            .context("writing the zone table for the nodes")?;
        let log_dir = self.opts.out.join("logs").join(&strategy);
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let launches = self.launches(k, &zones_file);
        let n = launches.len();
        let logs: Vec<PathBuf> = launches
            .iter()
            .map(|l| log_dir.join(format!("{}.log", l.name)))
            .collect();
        for p in &logs {
            let _ = std::fs::remove_file(p);
        }
        let mut cluster = match &self.opts.backend {
            Backend::Processes { program, leading } => Fleet::Processes(Cluster::new(
                launches,
                logs,
                program.clone(),
                leading.clone(),
            )),
            Backend::Compose(c) => {
                let seeds: Vec<Vec<String>> = self
                    .seed_indices()
                    .iter()
                    .map(|v| v.iter().map(|&j| s.nodes[j].name.clone()).collect())
                    .collect();
                Fleet::Compose(ComposeFleet::new(
                    c,
                    &launches,
                    &seeds,
                    &zones_file,
                    log_dir.join("compose.override.yml"),
                    logs,
                )?)
            }
        };

        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_millis(500))
            .build()
            .context("building the HTTP client")?;

        // Time 0 of the run: the nodes start now.
        let mut epoch = Instant::now();
        let mut epoch_unix = unix_ms();
        let start_ms = cluster.start_all(epoch).await?;
        let mut boot_ms = 0;
        self.wait_ready(&mut cluster, &http).await?;
        println!(
            "  {strategy}: {n} nodes up after {:.1} s",
            epoch.elapsed().as_secs_f64()
        );
        if matches!(cluster, Fleet::Compose(_)) {
            // Containers take seconds to be created and started, processes a fraction of one;
            // the simulator's nodes are up at t = 0. So a compose run's time 0 is the moment
            // every node answers, and its client and faults are timed from there.
            // Gossip convergence is still measured from the containers' start (`boot_ms`
            // before time 0), or it would all have happened "before" the run.
            boot_ms = ms_since(epoch);
            epoch = Instant::now();
            epoch_unix = unix_ms();
        }

        let duration = Duration::from_millis(s.duration_ms);
        let stop = Arc::new(AtomicBool::new(false));
        let mut samples: Vec<Sample> = Vec::new();
        let mut applied: Vec<Applied> = Vec::new();

        let client = self.client_config(epoch, duration);
        let workload_start = Duration::from_millis(s.workload.start_ms);
        let client_fut = async {
            let cfg = client?;
            tokio::time::sleep_until((epoch + workload_start).into()).await;
            Some(client::run_client(cfg).await)
        };
        let faults_fut = apply_faults(s, &mut cluster, &self.addrs, epoch, &mut applied);
        let main = async {
            let (records, faults) = tokio::join!(client_fut, faults_fut);
            tokio::time::sleep_until((epoch + duration).into()).await;
            stop.store(true, Ordering::SeqCst);
            (records, faults)
        };
        let poll = async {
            let mut tick = tokio::time::interval_at(epoch.into(), POLL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let done = stop.load(Ordering::SeqCst);
                let t = ms_since(epoch);
                samples.extend(poll_all(&http, &self.addrs, t).await);
                if done {
                    break;
                }
            }
        };
        let ((records, faults), ()) = tokio::join!(main, poll);
        faults?;
        let end_ms = ms_since(epoch).max(s.duration_ms);
        cluster.finish().await?;

        Ok(self.result(
            strategy,
            records,
            samples,
            applied,
            start_ms,
            boot_ms,
            epoch_unix,
            end_ms,
            wall.elapsed().as_secs_f64(),
        ))
    }

    async fn wait_ready(&self, cluster: &mut Fleet, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut ready = vec![false; self.addrs.len()];
        while ready.iter().any(|r| !r) {
            for (i, a) in self.addrs.iter().enumerate() {
                if ready[i] {
                    continue;
                }
                if let Some(why) = cluster.exited(i).await {
                    bail!("a node did not start: {why}");
                }
                let url = format!("http://{a}/health");
                ready[i] = matches!(
                    http.get(&url).timeout(POLL_TIMEOUT).send().await,
                    Ok(r) if r.status().is_success()
                );
            }
            if Instant::now() > deadline {
                let late: Vec<&str> = ready
                    .iter()
                    .zip(&self.scenario.nodes)
                    .filter(|(r, _)| !**r)
                    .map(|(_, spec)| spec.name.as_str())
                    .collect();
                bail!(
                    "nodes {} did not answer /health within {} s (logs in {})",
                    late.join(", "),
                    READY_TIMEOUT.as_secs(),
                    self.opts.out.join("logs").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn client_config(&self, epoch: Instant, duration: Duration) -> Option<ClientConfig> {
        let s = self.scenario;
        let w = &s.workload;
        let arrivals = match w.kind {
            WorkloadKind::None => return None,
            WorkloadKind::Batch => Arrivals::Batches {
                size: w.batch_size,
                pause: Duration::from_millis(w.pause_ms),
            },
            WorkloadKind::Poisson => Arrivals::Poisson {
                rate_per_s: w.rate_per_s,
            },
        };
        let targets = w
            .targets
            .iter()
            .map(|&i| Target {
                name: s.nodes[i].name.clone(),
                zone: s.network.zones.name(s.nodes[i].zone).to_string(),
                url: format!("http://{}", self.addrs[i]),
            })
            .collect();
        Some(ClientConfig {
            targets,
            clips: self.clips.to_vec(),
            arrivals,
            duration,
            max_requests: w.batches.map(|b| b as u64 * w.batch_size as u64),
            attempt_timeout: Duration::from_millis(w.attempt_timeout_ms),
            connect_timeout: Duration::from_millis(s.network.connect_timeout_ms),
            max_attempts: w.max_attempts,
            health_check: Duration::from_millis(w.health_check_ms),
            seed: s.seed,
            epoch: Some(epoch),
            unique: false,
        })
    }
}

/// Applies the scenario's faults at their times: crash = SIGKILL to the node's process group,
/// restart = the same launch again (same data dir; the node picks a later life number),
/// pause = SIGSTOP, resume = SIGCONT.
async fn apply_faults(
    s: &Scenario,
    cluster: &mut Fleet,
    addrs: &[SocketAddr],
    epoch: Instant,
    applied: &mut Vec<Applied>,
) -> Result<()> {
    let mut plan: Vec<(u64, Action, usize)> = Vec::new();
    for f in &s.faults {
        match f.kind {
            FaultKind::Crash => {
                plan.push((f.at_ms, Action::Crash, f.node));
                if let Some(d) = f.for_ms {
                    plan.push((f.at_ms + d, Action::Restart, f.node));
                }
            }
            FaultKind::Pause => {
                plan.push((f.at_ms, Action::Pause, f.node));
                plan.push((f.at_ms + f.for_ms.unwrap_or(0), Action::Resume, f.node));
            }
            FaultKind::Drain => plan.push((f.at_ms, Action::Drain, f.node)),
        }
    }
    plan.sort_by_key(|p| (p.0, p.2));
    for (at, kind, i) in plan {
        if at >= s.duration_ms {
            break;
        }
        tokio::time::sleep_until((epoch + Duration::from_millis(at)).into()).await;
        let t_ms = ms_since(epoch);
        if kind == Action::Drain {
            // As an operator would: a signed POST /admin/drain; the node exits by itself.
            let ring = vidmesh_node::auth::Keyring::parse(run_cluster_key())
                .map_err(|e| anyhow::anyhow!(e))?;
            let http = reqwest::Client::builder().no_proxy().build()?;
            vidmesh_node::admin::request_drain(&http, &format!("http://{}", addrs[i]), Some(&ring))
                .await
                .with_context(|| format!("drain of {}", s.nodes[i].name))?;
        } else {
            cluster
                .apply(kind, i)
                .await
                .with_context(|| format!("{} of {}", kind.name(), s.nodes[i].name))?;
        }
        println!(
            "  {:>6.1} s  {} {}",
            t_ms as f64 / 1000.0,
            kind.name(),
            s.nodes[i].name
        );
        applied.push(Applied {
            t_ms,
            kind,
            node: i,
        });
    }
    Ok(())
}

/// A fresh cluster key for this run's nodes, so they sign their traffic as deployed nodes do
/// (docs/security.md) and cannot be joined by another run's.
fn run_cluster_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use std::io::Read;
        let mut b = [0u8; 24];
        let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
        if random.is_err() {
            // Only a run's isolation depends on it.
            let t = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            b[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
            b[16..20].copy_from_slice(&std::process::id().to_le_bytes());
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    })
}
