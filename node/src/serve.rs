//! Assembling a node from its flags and running it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use vidmesh_core::{
    capacity_workers, AdmissionConfig, CostCurve, Node, NodeConfig, NodeId, PeerAddr,
};

use crate::args::{load_zones, AdmissionMode, ServeArgs};
use crate::auth::{Auth, Keyring};
use crate::cache::DiskCache;
use crate::driver::{Command, Driver, HttpCounters, NodeInfo, ProbeSettings};
use crate::ffmpeg::{check_installed, Transcoder};
use crate::http::{router, AppState};
use crate::profile::Profiles;
use crate::stats::SelfStats;
use crate::transport::Net;

/// A node whose socket is bound; [`BoundNode::run`] serves until shutdown.
pub struct BoundNode {
    pub local_addr: SocketAddr,
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_read_timeout: Duration,
    info: Arc<NodeInfo>,
}

/// Life numbers: tenths of a second since 2025, so a restarted node always has a larger one.
fn default_gen() -> u32 {
    const BASE_MS: u64 = 1_735_689_600_000;
    ((crate::driver::unix_ms().saturating_sub(BASE_MS)) / 100) as u32
}

async fn resolve_v4(what: &str, addr: &str) -> anyhow::Result<SocketAddr> {
    let addrs = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("{what} `{addr}` cannot be resolved"))?;
    addrs
        .into_iter()
        .find(|a| a.is_ipv4())
        .ok_or_else(|| anyhow!("{what} `{addr}` has no IPv4 address"))
}

/// Resolves seeds (concurrently), retrying for a while: in compose, other containers' names
/// appear only once they start.
async fn resolve_seeds(seeds: &[String]) -> Vec<PeerAddr> {
    let one = |s: String| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match resolve_v4("seed", &s).await {
                Ok(a) => return PeerAddr::from_socket_addr(a),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!(error = %e, "giving up on a seed");
                    return None;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    };
    let names = seeds.iter().map(|s| s.trim()).filter(|s| !s.is_empty());
    futures_util::future::join_all(names.map(|s| one(s.to_string())))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Checks the flags, prepares the data directory, binds the socket and starts the core.
pub async fn bind(args: ServeArgs) -> anyhow::Result<BoundNode> {
    if args.exit_with_parent {
        exit_with_parent()?;
    }
    check_installed(&args.ffmpeg)?;
    check_installed(&args.ffprobe)?;
    let zones = load_zones(args.zones_file.as_deref())?;
    let zone = zones.zone(&args.zone).ok_or_else(|| {
        anyhow!(
            "zone `{}` is not in the zone table (known: {})",
            args.zone,
            zones.names().join(", ")
        )
    })?;
    let id = args.node_id()?;
    let strategy = args.strategy_config()?;
    let gossip = args.gossip_config()?;
    if args.workers == Some(0) {
        bail!("--workers must be at least 1");
    }
    if args.ffmpeg_threads == 0 {
        bail!("--ffmpeg-threads must be at least 1");
    }
    if !(args.deadline_s.is_finite() && args.deadline_s > 0.0) {
        bail!("--deadline-s must be a number of seconds > 0");
    }
    let cost: CostCurve = match &args.cost_json {
        Some(j) => serde_json::from_str(j).with_context(|| format!("--cost-json `{j}`"))?,
        None => CostCurve::default(),
    };
    // The allotment: what the flag says, else the cgroup's CPU quota, else every core.
    let cpus = args.cpus.map(f64::from).unwrap_or_else(|| {
        crate::stats::cgroup_cpus().unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as f64)
                .unwrap_or(1.0)
        })
    });
    if !(cpus.is_finite() && cpus > 0.0) {
        bail!("--cpus must be a number > 0");
    }
    if !(args.cache_mb.is_finite() && args.cache_mb >= 0.0) {
        bail!("--cache-mb must be a number ≥ 0");
    }
    if !(args.max_upload_mb.is_finite() && args.max_upload_mb > 0.0) {
        bail!("--max-upload-mb must be a number > 0");
    }
    if args.upload_idle_timeout_s == 0 || args.header_read_timeout_s == 0 {
        bail!("--upload-idle-timeout-s and --header-read-timeout-s must be at least 1");
    }
    if args.max_receiving_uploads == 0 {
        bail!("--max-receiving-uploads must be at least 1");
    }
    if !(args.transcode_timeout_s.is_finite() && args.transcode_timeout_s > 0.0) {
        bail!("--transcode-timeout-s must be a number > 0");
    }
    if !(args.stall_timeout_s.is_finite() && args.stall_timeout_s >= 1.0) {
        bail!("--stall-timeout-s must be a number of seconds ≥ 1");
    }
    // Read here rather than as a flag's env: CLUSTER_KEY must not show in `--help` defaults.
    let ring = Keyring::load(
        args.cluster_key_file.as_deref(),
        std::env::var("CLUSTER_KEY").ok().as_deref(),
    )
    .map_err(|e| anyhow!(e))?;
    match &ring {
        Some(r) => tracing::info!(keys = r.len(), "cluster authentication on"),
        None => tracing::warn!(
            "no cluster key (--cluster-key-file or CLUSTER_KEY): the cluster is open, any host \
             that reaches this node can join, report load and offload work"
        ),
    }
    let auth = Arc::new(Auth::new(ring));
    let profiles = Profiles::new(args.ffmpeg_args.as_deref(), args.profile.as_deref())?;
    let mut transcoder = Transcoder::new(
        &args.ffmpeg,
        &args.ffprobe,
        Duration::from_secs_f64(args.transcode_timeout_s),
    );
    transcoder.threads = args.ffmpeg_threads;
    transcoder.stall = Duration::from_secs_f64(args.stall_timeout_s);
    transcoder.priority = args.ffmpeg_priority;

    let listen = resolve_v4("listen address", &args.listen).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local_addr = listener.local_addr()?;
    let advertise = match &args.advertise {
        Some(a) => resolve_v4("advertised address", a).await?,
        None if local_addr.ip().is_unspecified() => {
            match resolve_v4("node name", &format!("{}:{}", args.name, local_addr.port())).await {
                Ok(a) => a,
                Err(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, local_addr.port())),
            }
        }
        None => local_addr,
    };
    let addr = PeerAddr::from_socket_addr(advertise)
        .ok_or_else(|| anyhow!("the advertised address {advertise} must be IPv4"))?;
    let seeds = resolve_seeds(&args.seeds).await;

    let data = args.data_dir();
    let work_dir = data.join("work");
    // Leftovers of a previous life are never resumed: their requests are gone.
    if work_dir.exists() {
        std::fs::remove_dir_all(&work_dir)
            .with_context(|| format!("cannot clear {}", work_dir.display()))?;
    }
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    let (cache, recovered) = DiskCache::open(&data.join("cache"))
        .with_context(|| format!("cannot open the cache in {}", data.display()))?;

    let gen = args.gen.unwrap_or_else(default_gen);
    let seed = args.seed.unwrap_or(((gen as u64) << 32) | id as u64);
    let mut core_rng = ChaCha8Rng::seed_from_u64(seed);
    core_rng.set_stream(2 * id as u64);
    let mut jitter_rng = ChaCha8Rng::seed_from_u64(seed);
    jitter_rng.set_stream(2 * id as u64 + 1);

    let mut cfg = NodeConfig::new(NodeId(id), zone, addr, zones.clone());
    cfg.gen = gen;
    cfg.cores = cpus;
    cfg.job_threads = args.ffmpeg_threads as f64;
    cfg.workers = args
        .workers
        .unwrap_or_else(|| capacity_workers(cpus, cfg.job_threads));
    cfg.cost = cost;
    cfg.admission = match args.admission {
        AdmissionMode::Deadline => AdmissionConfig {
            deadline_aware: true,
            probe_slots: args.probe_slots,
            finish_for_cache: args.finish_for_cache,
            cancel_abandoned: true,
        },
        AdmissionMode::Off => AdmissionConfig::off(),
    };
    cfg.queue_cap = args.queue_cap;
    cfg.cache_bytes = (args.cache_mb * 1_000_000.0) as u64;
    cfg.hop_limit = args.hop_limit;
    cfg.strategy = strategy;
    cfg.gossip = gossip;
    cfg.seeds = seeds;
    tracing::info!(
        name = %args.name, id, zone = %args.zone, %addr, gen, seeds = ?cfg.seeds,
        strategy = ?cfg.strategy, cached = recovered.len(), cpus, workers = cfg.workers,
        admission = ?args.admission, profile = %profiles.default_profile().name,
        "starting node"
    );

    let info = Arc::new(NodeInfo {
        name: args.name.clone(),
        id: NodeId(id),
        zone_code: args.zone.clone(),
        work_dir,
        cache,
        http: HttpCounters::default(),
        next_job: AtomicU64::new(1),
        lifecycle: AtomicU8::new(crate::driver::SERVING),
        exit: tokio::sync::Notify::new(),
    });
    let mut net = Net::new(
        zones.clone(),
        NodeId(id),
        zone,
        Duration::from_millis(args.connect_timeout_ms),
        Duration::from_millis(args.offload_timeout_ms),
        jitter_rng,
    );
    net.offload_full_rtt = args.offload_latency == crate::args::OffloadLatency::FullRtt;
    net.auth = auth.clone();
    let net = Arc::new(net);
    let children = transcoder.children.clone();
    let node = Node::new(cfg, core_rng).map_err(|e| anyhow!(e))?;
    let probe = ProbeSettings {
        ffprobe: args.ffprobe.clone(),
        timeout: Duration::from_secs(15),
    };
    let (driver, tx) = Driver::new(node, info.clone(), net, Arc::new(transcoder), probe);
    tokio::spawn(driver.run(recovered, Duration::from_millis(args.seed_wait_ms)));

    // Self-measurement on its own thread: sysinfo reads /proc synchronously.
    let cpus = cpus as f32;
    let mem_bytes = (args.mem_mb * 1_000_000.0) as u64;
    let interval = Duration::from_millis(args.stats_interval_ms.max(100));
    let stats_tx = tx.clone();
    let stats_children = children.clone();
    std::thread::Builder::new()
        .name("self-stats".into())
        .spawn(move || {
            let mut stats = SelfStats::new(stats_children, cpus, mem_bytes);
            loop {
                std::thread::sleep(interval);
                let (cpu_pct, mem_pct) = stats.sample();
                if stats_tx
                    .blocking_send(Command::Stats { cpu_pct, mem_pct })
                    .is_err()
                {
                    break;
                }
            }
        })?;

    let state = Arc::new(AppState {
        info: info.clone(),
        tx,
        zones,
        max_upload: (args.max_upload_mb * 1_000_000.0) as u64,
        ffprobe: args.ffprobe.clone(),
        probe_timeout: Duration::from_secs(15),
        default_deadline: Duration::from_secs_f64(args.deadline_s),
        children,
        profiles: Arc::new(profiles),
        auth,
        upload_idle: Duration::from_secs(args.upload_idle_timeout_s),
        max_receiving: args.max_receiving_uploads,
        receiving: AtomicUsize::new(0),
    });
    Ok(BoundNode {
        local_addr,
        listener,
        app: router(state),
        header_read_timeout: Duration::from_secs(args.header_read_timeout_s),
        info,
    })
}

impl BoundNode {
    /// Serves until `shutdown` resolves, or until the node drained and left the cluster (a
    /// rolling restart's supervisor then starts the new version).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // hyper's own loop rather than `axum::serve`, which has no header read timeout: a
        // client that opens connections and sends a request head byte by byte would hold them.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
        let mut shutdown = std::pin::pin!(shutdown);
        let info = self.info.clone();
        let mut left = std::pin::pin!(info.exit.notified());
        loop {
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
                _ = &mut left => {
                    tracing::info!("drained and left: stopping the server");
                    break;
                }
            };
            let _ = stream.set_nodelay(true);
            // The peer's address, for endpoints only this host may call (`/admin/drain`
            // without a cluster key).
            let app = self.app.clone();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower_service::Service::call(&mut app.clone(), req)
            });
            let mut stop = stop_rx.clone();
            let timeout = self.header_read_timeout;
            tokio::spawn(async move {
                let mut http = hyper::server::conn::http1::Builder::new();
                http.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(timeout);
                let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "connection ended");
                        }
                        return;
                    }
                    _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                }
                let _ = conn.await;
                drop(stop);
            });
        }
        drop((self.listener, stop_rx));
        // Connections finish their current request, then close.
        stop_tx.send_replace(());
        stop_tx.closed().await;
        Ok(())
    }
}

/// Asks the kernel to kill this process when its parent goes (so an interrupted driver leaves
/// no node behind); its ffmpeg children follow through their own death signal.
fn exit_with_parent() -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls without pointers.
        let parent_gone = unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error().into());
            }
            libc::getppid() == 1
        };
        if parent_gone {
            bail!("the process that started this node has already exited");
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    bail!("--exit-with-parent is only supported on Linux")
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
