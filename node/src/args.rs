//! The node's configuration: command-line flags (with the original compose file's environment
//! variables), the zone-table file, and [`NodeLaunch`], which builds those flags for a driver
//! that starts node processes (`sim live`, tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vidmesh_core::zone::ZoneError;
use vidmesh_core::zone::{LinkSpec, DEFAULT_UNKNOWN_RTT_MS};
use vidmesh_core::{GossipConfig, StrategyConfig, ZoneTable};

/// A node flag, or a file it names, that cannot be used; the message says which and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read zone table {}: {source}", path.display())]
    ReadZones {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("zone table {}: {source}", path.display())]
    ParseZones {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("zone table{}: {source}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Zones {
        path: Option<PathBuf>,
        source: ZoneError,
    },
    #[error("cannot tell a node id from the name `{0}`: end it with a number or pass --id")]
    NodeId(String),
    #[error("--strategy-json: {0}")]
    StrategyJson(serde_json::Error),
    #[error("strategy: {0}")]
    Strategy(String),
    #[error(
        "strategy `{0}` reads every node's true state at once, which only the simulator has; a \
         live node can run `ect` or `p2c_ect`, which estimate it from load reports"
    )]
    SimulatorOnly(String),
    #[error("--gossip-json: {0}")]
    GossipJson(serde_json::Error),
    #[error("gossip periods must be positive (period_ms ≥ 1, probe_period_ms ≥ 2)")]
    GossipPeriods,
}

/// `vidmesh-node serve` flags. Every flag also reads an environment variable.
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// This node's name; its id is the number in it unless --id is given (`node3` = 3).
    #[arg(long, env = "NODE_NAME", default_value = "node1")]
    pub name: String,
    #[arg(long, env = "NODE_ID")]
    pub id: Option<u32>,
    /// Zone code, one of the zone table's.
    #[arg(long, env = "NODE_ZONE", default_value = "FRA")]
    pub zone: String,
    /// Peers to join through, `host:port`, comma-separated (host names are resolved).
    #[arg(long, env = "SEED_NODES", value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Address to listen on for clients and peers.
    #[arg(long, env = "LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: String,
    /// Address peers reach this node at (default: the listen address, or NODE_NAME:port when
    /// listening on 0.0.0.0).
    #[arg(long, env = "ADVERTISE")]
    pub advertise: Option<String>,
    /// Strategy name: `random`, `round_robin`, `score`, `least_loaded`, `p2c`, `ect`,
    /// `p2c_ect` or `prequal` (docs/strategies.md); the weights below apply to `score`, other
    /// parameters go in `--strategy-json`.
    #[arg(long, env = "STRATEGY", default_value = "score")]
    pub strategy: String,
    #[arg(long, env = "W_LOAD")]
    pub w_load: Option<f64>,
    #[arg(long, env = "W_RTT")]
    pub w_rtt: Option<f64>,
    #[arg(long)]
    pub min_rtt_ms: Option<f64>,
    #[arg(long)]
    pub max_rtt_ms: Option<f64>,
    #[arg(long)]
    pub max_load: Option<f64>,
    /// A whole strategy as JSON (`{"kind":"score","w_load":0.8,"w_rtt":0.2}`); overrides the
    /// flags above.
    #[arg(long, env = "STRATEGY_JSON")]
    pub strategy_json: Option<String>,
    /// Transcodes run at once; default: as many as the CPU allotment sustains (`--cpus` ÷
    /// `--ffmpeg-threads`, at least 1).
    #[arg(long, env = "WORKERS")]
    pub workers: Option<u32>,
    /// Threads one ffmpeg uses (its `-threads`): the cores one transcode keeps busy.
    #[arg(long, env = "FFMPEG_THREADS", default_value_t = 1)]
    pub ffmpeg_threads: u32,
    /// CPU priority of ffmpeg next to the node's own work: `nice` (nice 10), `idle`
    /// (SCHED_IDLE, for a machine or container of its own) or `normal`.
    #[arg(long, env = "FFMPEG_PRIORITY", value_enum, default_value_t = crate::ffmpeg::Priority::Nice)]
    pub ffmpeg_priority: crate::ffmpeg::Priority,
    /// `deadline`: admit only uploads predicted to finish before their deadline, offload or
    /// refuse (503 + Retry-After) the rest at once, and stop work whose client has left.
    /// `off`: the report's behaviour (queue until the cap, finish everything).
    #[arg(long, env = "ADMISSION", value_enum, default_value_t = AdmissionMode::Deadline)]
    pub admission: AdmissionMode,
    /// The deadline of an upload that names none in `X-Vidmesh-Deadline-Ms`, in seconds
    /// (the report's client gave up after 40 s).
    #[arg(long, env = "DEADLINE_S", default_value_t = 40.0)]
    pub deadline_s: f64,
    /// ffprobe runs at once (0: one per core of the allotment, at least 1).
    #[arg(long, env = "PROBE_SLOTS", default_value_t = 0)]
    pub probe_slots: u32,
    /// A transcode whose client left is finished for the cache when at least this far along
    /// (fraction of its predicted time; above 1: never).
    #[arg(long, env = "FINISH_FOR_CACHE", default_value_t = 0.9)]
    pub finish_for_cache: f64,
    /// The transcode cost curve the node starts from, as JSON
    /// (`{"base_s":0.11,"per_mpf_s":0.00274,"per_frame_s":0.00405}`); it calibrates online.
    #[arg(long, env = "COST_JSON")]
    pub cost_json: Option<String>,
    #[arg(long, env = "QUEUE_CAP", default_value_t = 20)]
    pub queue_cap: u32,
    /// Content cache bound in MB (10^6 bytes; 0 = no cache).
    #[arg(long, env = "CACHE_MB", default_value_t = 1024.0)]
    pub cache_mb: f64,
    #[arg(long, env = "HOP_LIMIT", default_value_t = 1)]
    pub hop_limit: u8,
    /// Gossip and membership timing as JSON (fields of the scenario's `[gossip]`).
    #[arg(long, env = "GOSSIP_JSON")]
    pub gossip_json: Option<String>,
    #[arg(long, env = "GOSSIP_PERIOD_MS")]
    pub gossip_period_ms: Option<u64>,
    /// Zone table TOML (`zones`, `links`, `unknown_rtt_ms`, as a scenario's `[network]`);
    /// default: the report's FRA/IAD/BOM table.
    #[arg(long, env = "ZONES_FILE")]
    pub zones_file: Option<PathBuf>,
    /// Where uploads, work files and the cache live (default `./vidmesh-data/<name>`).
    #[arg(long, env = "DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Largest upload accepted, in MB (10^6 bytes, as every size flag here).
    #[arg(long, env = "MAX_UPLOAD_MB", default_value_t = 100.0)]
    pub max_upload_mb: f64,
    /// An upload that sends no bytes for this many seconds is given up (408) and its temp
    /// file removed.
    #[arg(long, env = "UPLOAD_IDLE_TIMEOUT_S", default_value_t = 10)]
    pub upload_idle_timeout_s: u64,
    /// Uploads this node receives at once; more get 503 with Retry-After.
    #[arg(long, env = "MAX_RECEIVING_UPLOADS", default_value_t = 64)]
    pub max_receiving_uploads: usize,
    /// A connection that has not sent a whole request head within this many seconds is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_S", default_value_t = 10)]
    pub header_read_timeout_s: u64,
    #[arg(long, env = "FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: String,
    #[arg(long, env = "FFPROBE", default_value = "ffprobe")]
    pub ffprobe: String,
    /// A custom transcode: ffmpeg arguments, whitespace-separated, with `{in}` and `{out}`
    /// placeholders. It becomes the profile `custom` and, unless --profile says otherwise, the
    /// node's default.
    #[arg(long, env = "FFMPEG_ARGS", allow_hyphen_values = true)]
    pub ffmpeg_args: Option<String>,
    /// The output profile for requests that name none (`360p`, `720p`, `1080p`, `copy-audio`,
    /// `no-audio`, `hls`, or `custom` with --ffmpeg-args); default `360p`.
    #[arg(long, env = "DEFAULT_PROFILE")]
    pub profile: Option<String>,
    /// Per-job limit; ffmpeg is killed past it.
    #[arg(long, env = "TRANSCODE_TIMEOUT_S", default_value_t = 120.0)]
    pub transcode_timeout_s: f64,
    /// ffmpeg is killed when its progress report (`-progress`) has not moved for this long;
    /// the job is retried once (on a peer if one can make the deadline) and otherwise fails
    /// as stalled (504).
    #[arg(long, env = "STALL_TIMEOUT_S", default_value_t = 30.0)]
    pub stall_timeout_s: f64,
    /// How long an offload may take end to end before the job falls back to this node.
    #[arg(long, env = "OFFLOAD_TIMEOUT_MS", default_value_t = 60_000)]
    pub offload_timeout_ms: u64,
    #[arg(long, env = "CONNECT_TIMEOUT_MS", default_value_t = 1_000)]
    pub connect_timeout_ms: u64,
    /// What an offloaded upload waits before it leaves: `one-way` (RTT/2 + size/bandwidth) or
    /// `full-rtt` (a whole RTT + size/bandwidth, as the original system slept before posting).
    #[arg(long, env = "OFFLOAD_LATENCY", value_enum, default_value_t = OffloadLatency::OneWay)]
    pub offload_latency: OffloadLatency,
    /// CPU cores this node may use (its CPU % is measured against this); default: all.
    #[arg(long, env = "CPUS")]
    pub cpus: Option<f32>,
    /// Memory this node may use, in MB (10^6 bytes; its memory % is measured against this).
    #[arg(long, env = "MEM_MB", default_value_t = 2048.0)]
    pub mem_mb: f64,
    #[arg(long, env = "STATS_INTERVAL_MS", default_value_t = 1_000)]
    pub stats_interval_ms: u64,
    /// At start, wait up to this long for the seeds to answer /health before announcing to
    /// them: an announce to a node not listening yet is lost, and the core retries only once
    /// per gossip round.
    #[arg(long, env = "SEED_WAIT_MS", default_value_t = 3_000)]
    pub seed_wait_ms: u64,
    /// Die when the process that started this node dies (Linux). The signal comes when the
    /// starting *thread* exits, so spawn from a thread that lives as long as the node should.
    #[arg(long)]
    pub exit_with_parent: bool,
    /// Seed of this node's core RNG (default: drawn from the life number).
    #[arg(long, env = "SEED")]
    pub seed: Option<u64>,
    /// Life number; must grow across restarts (default: tenths of seconds since 2025).
    #[arg(long, env = "NODE_GEN")]
    pub gen: Option<u32>,
    /// Cluster keys, one per line, the first signs (rotation: put the new key first on every
    /// node, then drop the old one). With a key, node-to-node traffic must be signed; without
    /// one (and no CLUSTER_KEY) the cluster is open. See docs/security.md.
    #[arg(long, env = "CLUSTER_KEY_FILE")]
    pub cluster_key_file: Option<PathBuf>,
}

/// How a node admits work (see [`ServeArgs::admission`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdmissionMode {
    #[default]
    Deadline,
    Off,
}

/// The emulated cost of sending an offloaded upload (a scenario's `network.offload_latency`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffloadLatency {
    #[default]
    OneWay,
    FullRtt,
}

/// A zone table as written in a file: the same fields as a scenario's `[network]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ZonesFile {
    pub zones: Vec<String>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default = "default_unknown")]
    pub unknown_rtt_ms: f64,
}

fn default_unknown() -> f64 {
    DEFAULT_UNKNOWN_RTT_MS
}

impl ZonesFile {
    pub fn table(&self) -> Result<ZoneTable, ConfigError> {
        ZoneTable::new(&self.zones, &self.links, self.unknown_rtt_ms)
            .map_err(|source| ConfigError::Zones { path: None, source })
    }

    /// Every configured pair of `table`, for writing a file that rebuilds it.
    pub fn from_table(table: &ZoneTable, unknown_rtt_ms: f64) -> ZonesFile {
        let names = table.names().to_vec();
        let mut links = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate().skip(i) {
                let l = table.link(
                    vidmesh_core::ZoneId(i as u16),
                    vidmesh_core::ZoneId(j as u16),
                );
                links.push(LinkSpec {
                    zones: [a.clone(), b.clone()],
                    rtt_ms: l.rtt_ms,
                    bandwidth_mbps: l.bandwidth_mbps,
                    jitter_ms: (l.jitter_ms > 0.0).then_some(l.jitter_ms),
                });
            }
        }
        ZonesFile {
            zones: names,
            links,
            unknown_rtt_ms,
        }
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

pub fn load_zones(path: Option<&Path>) -> Result<Arc<ZoneTable>, ConfigError> {
    let Some(path) = path else {
        return Ok(Arc::new(ZoneTable::report_default()));
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadZones {
        path: path.to_path_buf(),
        source,
    })?;
    let file: ZonesFile = toml::from_str(&text).map_err(|source| ConfigError::ParseZones {
        path: path.to_path_buf(),
        source,
    })?;
    ZoneTable::new(&file.zones, &file.links, file.unknown_rtt_ms)
        .map(Arc::new)
        .map_err(|source| ConfigError::Zones {
            path: Some(path.to_path_buf()),
            source,
        })
}

impl ServeArgs {
    /// The node id: --id, or the digits at the end of the name.
    pub fn node_id(&self) -> Result<u32, ConfigError> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let digits: String = self
            .name
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits
            .parse()
            .map_err(|_| ConfigError::NodeId(self.name.clone()))
    }

    /// The strategy these flags name, checked.
    pub fn strategy_config(&self) -> Result<StrategyConfig, ConfigError> {
        let value = match &self.strategy_json {
            Some(json) => serde_json::from_str::<serde_json::Value>(json)
                .map_err(ConfigError::StrategyJson)?,
            None => {
                // Built as data so that every strategy the core knows is accepted by name.
                let mut m = serde_json::Map::new();
                m.insert("kind".into(), self.strategy.replace('-', "_").into());
                for (k, v) in [
                    ("w_load", self.w_load),
                    ("w_rtt", self.w_rtt),
                    ("min_rtt_ms", self.min_rtt_ms),
                    ("max_rtt_ms", self.max_rtt_ms),
                    ("max_load", self.max_load),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v.into());
                    }
                }
                serde_json::Value::Object(m)
            }
        };
        let cfg: StrategyConfig =
            serde_json::from_value(value).map_err(|e| ConfigError::Strategy(e.to_string()))?;
        cfg.validate()
            .map_err(|e| ConfigError::Strategy(e.to_string()))?;
        if cfg.simulator_only() {
            return Err(ConfigError::SimulatorOnly(cfg.kind().to_string()));
        }
        Ok(cfg)
    }

    pub fn gossip_config(&self) -> Result<GossipConfig, ConfigError> {
        let mut g = match &self.gossip_json {
            Some(json) => serde_json::from_str(json).map_err(ConfigError::GossipJson)?,
            None => GossipConfig::default(),
        };
        if let Some(p) = self.gossip_period_ms {
            g.period_ms = p;
        }
        if g.period_ms == 0 || g.probe_period_ms < 2 {
            return Err(ConfigError::GossipPeriods);
        }
        Ok(g)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("vidmesh-data").join(&self.name))
    }
}

/// Everything needed to start one node process; [`NodeLaunch::args`] gives its flags.
#[derive(Clone, Debug)]
pub struct NodeLaunch {
    pub name: String,
    pub id: u32,
    pub zone: String,
    pub listen: SocketAddr,
    pub seeds: Vec<SocketAddr>,
    pub strategy: StrategyConfig,
    pub gossip: GossipConfig,
    pub workers: u32,
    pub queue_cap: u32,
    pub cache_mb: f64,
    pub hop_limit: u8,
    /// Written with [`ZonesFile::write`]; `None` = the report's table.
    pub zones_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub seed: u64,
    pub cpus: Option<f32>,
    pub mem_mb: Option<f64>,
    pub max_upload_mb: Option<f64>,
    pub transcode_timeout_s: Option<f64>,
    pub offload_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub offload_latency: OffloadLatency,
    pub ffmpeg_args: Option<String>,
    /// `--profile`: the output profile for requests that name none.
    pub profile: Option<String>,
    /// Pass `--exit-with-parent` (see [`ServeArgs::exit_with_parent`]).
    pub exit_with_parent: bool,
    /// Cluster keys (the primary first), passed in the `CLUSTER_KEY` environment variable so
    /// they do not show in the process list; `None` = an open cluster.
    pub cluster_key: Option<String>,
    /// Further flags, appended as given.
    pub extra: Vec<String>,
}

impl NodeLaunch {
    /// A node with the report's defaults listening on `listen`.
    pub fn new(name: &str, id: u32, zone: &str, listen: SocketAddr, data_dir: PathBuf) -> Self {
        NodeLaunch {
            name: name.into(),
            id,
            zone: zone.into(),
            listen,
            seeds: Vec::new(),
            strategy: StrategyConfig::default(),
            gossip: GossipConfig::default(),
            workers: 5,
            queue_cap: 20,
            cache_mb: 1024.0,
            hop_limit: 1,
            zones_file: None,
            data_dir,
            seed: id as u64,
            cpus: None,
            mem_mb: None,
            max_upload_mb: None,
            transcode_timeout_s: None,
            offload_timeout_ms: None,
            connect_timeout_ms: None,
            offload_latency: OffloadLatency::OneWay,
            ffmpeg_args: None,
            profile: None,
            exit_with_parent: false,
            cluster_key: None,
            extra: Vec::new(),
        }
    }

    /// The `serve` subcommand and its flags (no environment is needed).
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["serve".into()];
        // `--flag=value`, so values that start with `-` (ffmpeg arguments) stay values.
        let mut flag = |k: &str, v: String| a.push(format!("--{k}={v}"));
        flag("name", self.name.clone());
        flag("id", self.id.to_string());
        flag("zone", self.zone.clone());
        flag("listen", self.listen.to_string());
        flag("advertise", self.listen.to_string());
        if !self.seeds.is_empty() {
            let s: Vec<String> = self.seeds.iter().map(|s| s.to_string()).collect();
            flag("seeds", s.join(","));
        }
        flag(
            "strategy-json",
            serde_json::to_string(&self.strategy).expect("strategy serialises"),
        );
        flag(
            "gossip-json",
            serde_json::to_string(&self.gossip).expect("gossip config serialises"),
        );
        flag("workers", self.workers.to_string());
        flag("queue-cap", self.queue_cap.to_string());
        flag("cache-mb", self.cache_mb.to_string());
        flag("hop-limit", self.hop_limit.to_string());
        if let Some(z) = &self.zones_file {
            flag("zones-file", z.display().to_string());
        }
        flag("data-dir", self.data_dir.display().to_string());
        flag("seed", self.seed.to_string());
        if let Some(v) = self.cpus {
            flag("cpus", v.to_string());
        }
        if let Some(v) = self.mem_mb {
            flag("mem-mb", v.to_string());
        }
        if let Some(v) = self.max_upload_mb {
            flag("max-upload-mb", v.to_string());
        }
        if let Some(v) = self.transcode_timeout_s {
            flag("transcode-timeout-s", v.to_string());
        }
        if let Some(v) = self.offload_timeout_ms {
            flag("offload-timeout-ms", v.to_string());
        }
        if let Some(v) = self.connect_timeout_ms {
            flag("connect-timeout-ms", v.to_string());
        }
        if self.offload_latency == OffloadLatency::FullRtt {
            flag("offload-latency", "full-rtt".into());
        }
        if let Some(v) = &self.ffmpeg_args {
            flag("ffmpeg-args", v.clone());
        }
        if let Some(v) = &self.profile {
            flag("profile", v.clone());
        }
        if self.exit_with_parent {
            a.push("--exit-with-parent".into());
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// A command that starts this node from the `vidmesh-node` binary at `bin`, in a process
    /// group of its own, with the environment variables the flags would otherwise read removed.
    pub fn command(&self, bin: &Path) -> std::process::Command {
        self.command_via(bin, &[])
    }

    /// Like [`NodeLaunch::command`] for a program that hands its arguments after `leading` to
    /// [`crate::cli::run`] (e.g. `sim` with a hidden `node` subcommand:
    /// `command_via(&std::env::current_exe()?, &["node"])`).
    pub fn command_via(&self, program: &Path, leading: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        // Its own process group, so a driver can signal the node with its ffmpeg children
        // (`kill(-pid, SIGSTOP)` pauses the whole node).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(leading);
        for v in [
            "NODE_NAME",
            "NODE_ID",
            "NODE_ZONE",
            "SEED_NODES",
            "LISTEN",
            "ADVERTISE",
            "STRATEGY",
            "STRATEGY_JSON",
            "GOSSIP_JSON",
            "ZONES_FILE",
            "DATA_DIR",
            "FFMPEG_ARGS",
            "DEFAULT_PROFILE",
            "NODE_GEN",
            "CLUSTER_KEY",
            "CLUSTER_KEY_FILE",
        ] {
            cmd.env_remove(v);
        }
        if let Some(k) = &self.cluster_key {
            cmd.env("CLUSTER_KEY", k);
        }
        cmd.args(self.args());
        cmd
    }
}

/// Finds the `vidmesh-node` binary: `$VIDMESH_NODE_BIN`, else next to the running executable
/// (or its parent, for test and bench binaries in `target/*/deps`).
pub fn node_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIDMESH_NODE_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("vidmesh-node"), dir.parent()?.join("vidmesh-node")]
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(clap::Subcommand)]
    enum Cmd {
        Serve(ServeArgs),
    }

    fn parse(args: &[String]) -> ServeArgs {
        let argv = std::iter::once("vidmesh-node".to_string()).chain(args.iter().cloned());
        let Cmd::Serve(a) = Wrap::try_parse_from(argv).unwrap().cmd;
        a
    }

    #[test]
    fn a_launch_round_trips_through_the_command_line() {
        let mut l = NodeLaunch::new(
            "node3",
            3,
            "BOM",
            "127.0.0.1:8003".parse().unwrap(),
            "/tmp/n3".into(),
        );
        l.seeds = vec!["127.0.0.1:8004".parse().unwrap()];
        l.strategy = StrategyConfig::Score {
            w_load: 0.8,
            w_rtt: 0.2,
            min_rtt_ms: 10.0,
            max_rtt_ms: 250.0,
            max_load: Some(300.0),
        };
        l.gossip.period_ms = 750;
        l.gossip.fanout = 3;
        l.hop_limit = 2;
        l.offload_latency = OffloadLatency::FullRtt;
        l.ffmpeg_args = Some("-nostdin -i {in} -c:v libx264 {out}".into());
        l.profile = Some("720p".into());
        let a = parse(&l.args());
        assert_eq!(a.node_id().unwrap(), 3);
        assert_eq!(a.zone, "BOM");
        assert_eq!(a.seeds, vec!["127.0.0.1:8004".to_string()]);
        assert_eq!(a.strategy_config().unwrap(), l.strategy);
        assert_eq!(a.gossip_config().unwrap(), l.gossip);
        assert_eq!(a.hop_limit, 2);
        assert_eq!(a.offload_latency, OffloadLatency::FullRtt);
        assert_eq!(
            a.ffmpeg_args.as_deref(),
            Some("-nostdin -i {in} -c:v libx264 {out}")
        );
        assert_eq!(a.profile.as_deref(), Some("720p"));
        assert_eq!(a.data_dir(), PathBuf::from("/tmp/n3"));
    }

    #[test]
    fn strategies_are_named_and_weighted_by_flags_and_bad_ones_say_why() {
        let a = parse(&["serve".into(), "--strategy=round-robin".into()]);
        assert_eq!(a.strategy_config().unwrap(), StrategyConfig::RoundRobin {});
        let a = parse(&[
            "serve".into(),
            "--strategy=score".into(),
            "--w-load=0.8".into(),
            "--w-rtt=0.2".into(),
        ]);
        match a.strategy_config().unwrap() {
            StrategyConfig::Score { w_load, w_rtt, .. } => assert_eq!((w_load, w_rtt), (0.8, 0.2)),
            other => panic!("{other:?}"),
        }
        let a = parse(&["serve".into(), "--strategy=oracle".into()]);
        let e = a.strategy_config().unwrap_err().to_string();
        assert!(e.contains("only the simulator"), "{e}");
        let a = parse(&["serve".into(), "--strategy=p2c-ect".into()]);
        assert_eq!(
            a.strategy_config().unwrap(),
            StrategyConfig::P2cEct { d: 2 }
        );
        let a = parse(&["serve".into(), "--strategy=fastest".into()]);
        let e = a.strategy_config().unwrap_err().to_string();
        assert!(e.contains("fastest") && e.contains("score"), "{e}");
        let a = parse(&["serve".into(), "--w-rtt=-1".into()]);
        assert!(a
            .strategy_config()
            .unwrap_err()
            .to_string()
            .contains("w_rtt"));
        let a = parse(&["serve".into(), "--name=edge".into()]);
        assert!(a.node_id().unwrap_err().to_string().contains("--id"));
    }

    #[test]
    fn a_zones_file_rebuilds_its_table() {
        let t = ZoneTable::report_default();
        let f = ZonesFile::from_table(&t, 100.0);
        let text = toml::to_string(&f).unwrap();
        let back: ZonesFile = toml::from_str(&text).unwrap();
        assert_eq!(back.table().unwrap(), t);
    }
}
