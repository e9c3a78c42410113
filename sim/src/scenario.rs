//! Scenario files: the validated [`Scenario`] a run is built from, read from the TOML a user
//! writes (file.rs) and checked (build.rs). Errors name the file, the line and column and what
//! was wrong, whether toml or serde found it (syntax, type, unknown key) or validation did.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use vidmesh_core::{
    AdmissionConfig, CostCurve, GossipConfig, OutputShape, StrategyConfig, ZoneId, ZoneTable,
};

/// A scenario that could not be read, with where the problem is.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column of the problem, when it has a place in the file.
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

mod build;
mod faults;
mod file;

// ---- the validated scenario ---------------------------------------------------------------

/// What `sim live` needs beyond the simulated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// As written in the scenario (relative to the scenario file's folder).
    pub catalog_dir: Option<PathBuf>,
    pub clips: u32,
    pub clip_max_seconds: u32,
    pub clip_max_height: u32,
    pub duration_ms: Option<u64>,
}

/// What sending an offloaded upload to a peer costs before it arrives.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OffloadLatency {
    /// Half the zone RTT plus the transfer at the link's bandwidth (a real network).
    #[default]
    OneWay,
    /// A full zone RTT plus the transfer: the original system slept the whole emulated RTT
    /// before it posted the file.
    FullRtt,
}

/// How generated nodes pick their seeds.
#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SeedMode {
    /// Node i knows node i+1 (the report's §12 ring).
    #[default]
    Ring,
    /// `seed_count` distinct random other nodes, drawn from the topology stream.
    Random,
}

/// What one strategy entry changes besides the strategy itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategyOverrides {
    pub hop_limit: Option<u8>,
    pub admission: Option<AdmissionConfig>,
    pub workers: Option<u32>,
    pub gossip_period_ms: Option<u64>,
}

/// Multiplier applied to the cost curve's CPU seconds, drawn once per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    Deterministic,
    /// Mean 1.
    Exponential,
    /// Median 1 (mean e^(σ²/2)).
    Lognormal {
        sigma: f64,
    },
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// The report's client: `batch_size` concurrent uploads, then `pause_ms` once all ended.
    Batch,
    /// Open-loop Poisson arrivals at `rate_per_s`.
    Poisson,
    /// No client at all (membership-only experiments).
    None,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The process dies and loses all state.
    Crash,
    /// The process stops answering (receives nothing, sends nothing), then resumes with its state.
    Pause,
    /// An operator drains the node (`POST /admin/drain`): it takes no new work, finishes its
    /// own, leaves the membership and exits.
    Drain,
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub zone: ZoneId,
    /// Indices into [`Scenario::nodes`].
    pub seeds: Vec<usize>,
    pub workers: u32,
    pub queue_cap: u32,
    pub cache_bytes: u64,
    pub cores: f64,
    /// CPU-seconds of the cost curve one of this node's cores does per second (1 = the
    /// machine the curve was measured on). Live, only `cores` has a counterpart.
    pub speed: f64,
    pub memory_mb: f64,
}

#[derive(Debug, Clone)]
pub struct CostModel {
    pub base_s: f64,
    pub per_mpf_s: f64,
    pub per_frame_s: f64,
    pub per_out_mpf_s: f64,
    pub noise: Noise,
    pub job_threads: f64,
    /// CPU seconds of the intake of an uncached client upload (ffprobe), 0 = free.
    pub probe_s: f64,
    pub fail_prob: f64,
    pub output_bytes_per_frame: f64,
    pub ffmpeg_rss_mb: f64,
    pub base_mem_mb: f64,
    pub stats_period_ms: u64,
    /// What the nodes' cost models start from, relative to the true curve (0.2: the nodes
    /// believe a curve measured on a machine 5× faster, and must learn this one).
    pub prior_scale: f64,
}

impl CostModel {
    /// The curve a node's core starts from before it has measured itself: the true curve
    /// times `prior_scale`.
    pub fn prior_curve(&self) -> CostCurve {
        CostCurve {
            base_s: self.base_s * self.prior_scale,
            per_mpf_s: self.per_mpf_s * self.prior_scale,
            per_frame_s: self.per_frame_s * self.prior_scale,
            per_out_mpf_s: self.per_out_mpf_s * self.prior_scale,
        }
    }

    /// The true curve, the one the simulated machines run at (speed 1).
    pub fn curve(&self) -> CostCurve {
        CostCurve {
            base_s: self.base_s,
            per_mpf_s: self.per_mpf_s,
            per_frame_s: self.per_frame_s,
            per_out_mpf_s: self.per_out_mpf_s,
        }
    }

    /// CPU seconds of one transcode before noise: 0.11 + 0.00274·MPF + 0.00405·frames.
    pub fn cpu_s(&self, width: u32, height: u32, frames: u32) -> f64 {
        let mpf = width as f64 * height as f64 * frames as f64 / 1e6;
        self.base_s + self.per_mpf_s * mpf + self.per_frame_s * frames as f64
    }
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// Batch client: how many batches at most.
    pub batches: Option<u32>,
    pub block_failed_nodes: bool,
    /// Indices of the nodes the client sends to.
    pub targets: Vec<usize>,
    pub batch_size: u32,
    pub pause_ms: u64,
    pub rate_per_s: f64,
    pub attempt_timeout_ms: u64,
    pub max_attempts: u8,
    pub health_check_ms: u64,
    pub start_ms: u64,
    /// The output profile mix (empty: every request is `360p`).
    pub profiles: Vec<ProfileWeight>,
}

/// One output profile of the workload's mix.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileWeight {
    pub name: String,
    /// What the profile renders, as the core's cost model sees it.
    pub shape: OutputShape,
    pub weight: f64,
}

/// The output profiles a scenario may name: the live node's built-ins.
pub const PROFILES: &[&str] = &["360p", "720p", "1080p", "copy-audio", "no-audio", "hls"];

#[derive(Debug, Clone)]
pub enum Catalog {
    Generated {
        files: u32,
        resolutions: Vec<[u32; 2]>,
        fps: f64,
        duration_s: [f64; 2],
        bits_per_pixel: f64,
        /// When set, sizes follow a bitrate drawn per file instead of `bits_per_pixel`.
        bitrate_mbps: Option<[f64; 2]>,
        size_mb: [f64; 2],
    },
    Explicit(Vec<Video>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub size_bytes: u64,
    pub duration_ms: u32,
}

/// A fault of the network between the nodes (the client's connections are not affected: they
/// are TCP to a node, whose loss shows as delay, and the report's client sits beside the nodes).
#[derive(Debug, Clone, PartialEq)]
pub struct NetFault {
    pub at_ms: u64,
    /// When it ends; `None`: at the end of the run.
    pub until_ms: Option<u64>,
    pub kind: NetFaultKind,
}

impl NetFault {
    pub fn active(&self, now: u64) -> bool {
        self.at_ms <= now && self.until_ms.is_none_or(|u| now < u)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetFaultKind {
    /// Nothing passes between the nodes on `side` (true) and the others, either way: datagrams
    /// are dropped, connections fail, answers on their way are lost.
    Partition { side: Vec<bool> },
    /// Each gossip or membership datagram is lost with probability `p`.
    Loss { p: f64 },
    /// Each gossip or membership datagram arrives twice with probability `p`.
    Duplicate { p: f64 },
    /// Every message to or from a node on `side` (every message when `None`) takes `extra_ms`
    /// longer: datagrams, offloads and their answers.
    Delay {
        extra_ms: u64,
        side: Option<Vec<bool>>,
    },
}

impl NetFaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            NetFaultKind::Partition { .. } => "partition",
            NetFaultKind::Loss { .. } => "loss",
            NetFaultKind::Duplicate { .. } => "duplicate",
            NetFaultKind::Delay { .. } => "delay",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub at_ms: u64,
    pub node: usize,
    pub kind: FaultKind,
    pub for_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub zones: Arc<ZoneTable>,
    pub connect_timeout_ms: u64,
    pub offload_timeout_ms: u64,
    pub offload_latency: OffloadLatency,
    pub client_zone: Option<ZoneId>,
    pub client_bandwidth_mbps: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub window_ms: u64,
    pub requests_csv: bool,
    pub node_windows_csv: bool,
}

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration_ms: u64,
    pub hop_limit: u8,
    /// Strategies whose `hop_limit` differs from the scenario's.
    pub strategy_overrides: Vec<(String, StrategyOverrides)>,
    pub network: Network,
    pub nodes: Vec<NodeSpec>,
    /// How generated nodes pick seeds (resolved when the run builds its topology).
    pub generated_seeds: Option<(SeedMode, u32)>,
    pub gossip: GossipConfig,
    pub strategies: Vec<(String, StrategyConfig)>,
    pub cost: CostModel,
    /// Admission, deadlines and cancellation (per strategy: [`Scenario::admission_of`]).
    pub admission: AdmissionConfig,
    pub workload: Workload,
    pub catalog: Catalog,
    pub faults: Vec<Fault>,
    /// Faults of the network between the nodes, in `at_ms` order.
    pub net_faults: Vec<NetFault>,
    pub output: Output,
    pub live: Live,
}

impl Scenario {
    /// The hop limit the named strategy runs with.
    fn overrides_of(&self, strategy: &str) -> Option<&StrategyOverrides> {
        self.strategy_overrides
            .iter()
            .find(|(n, _)| n == strategy)
            .map(|(_, o)| o)
    }

    /// The admission settings `strategy` runs with.
    pub fn admission_of(&self, strategy: &str) -> AdmissionConfig {
        self.overrides_of(strategy)
            .and_then(|o| o.admission.clone())
            .unwrap_or_else(|| self.admission.clone())
    }

    /// Node `i`'s worker count under `strategy`.
    pub fn workers_of(&self, strategy: &str, i: usize) -> u32 {
        self.overrides_of(strategy)
            .and_then(|o| o.workers)
            .unwrap_or(self.nodes[i].workers)
    }

    /// The gossip settings `strategy` runs with.
    pub fn gossip_of(&self, strategy: &str) -> GossipConfig {
        let mut g = self.gossip.clone();
        if let Some(p) = self.overrides_of(strategy).and_then(|o| o.gossip_period_ms) {
            g.period_ms = p;
        }
        g
    }

    pub fn hop_limit_of(&self, strategy: &str) -> u8 {
        self.overrides_of(strategy)
            .and_then(|o| o.hop_limit)
            .unwrap_or(self.hop_limit)
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: None,
            col: None,
            message: format!("cannot read: {e}"),
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        Scenario::parse(&text, path, &stem)
    }

    /// Parses scenario text; `file` is only used in messages, `default_name` when the file
    /// has no `name`.
    pub fn parse(text: &str, file: &Path, default_name: &str) -> Result<Scenario, ScenarioError> {
        let err = |span: Option<Range<usize>>, message: String| {
            let (line, col) = match span {
                Some(s) if !(s.start == 0 && s.end == 0) => {
                    let (l, c) = line_col(text, s.start);
                    (Some(l), Some(c))
                }
                _ => (None, None),
            };
            ScenarioError {
                file: file.to_path_buf(),
                line,
                col,
                message,
            }
        };
        let raw: file::ScenarioFile = toml::from_str(text).map_err(|e| {
            err(
                e.span(),
                e.message().trim_end().replace('\n', "; ").to_string(),
            )
        })?;
        build::build(raw, default_name, &err)
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
duration_s = 10
[network]
zones = ["FRA"]
[[nodes]]
name = "node1"
zone = "FRA"
[[strategies]]
name = "score"
strategy = { kind = "score" }
[workload]
kind = "batch"
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("x.toml"), "x")
    }

    #[test]
    fn a_minimal_scenario_gets_the_reports_defaults_and_vidmesh_admission() {
        let s = parse(MINIMAL).unwrap();
        // Workers follow the allotment: 2 cores, one ffmpeg keeping 2 busy.
        assert_eq!(s.nodes[0].workers, 1);
        assert!(s.admission.deadline_aware);
        assert_eq!(s.admission_of("score"), AdmissionConfig::default());
        assert_eq!(s.nodes[0].queue_cap, 20);
        assert_eq!(s.workload.batch_size, 100);
        assert_eq!(s.workload.attempt_timeout_ms, 40_000);
        assert_eq!(s.workload.max_attempts, 5);
        assert_eq!(s.hop_limit, 1);
        assert_eq!(s.name, "x");
    }

    #[test]
    fn admission_presets_tables_and_per_strategy_overrides() {
        let text = MINIMAL.replace(
            "[[strategies]]\nname = \"score\"",
            "[[strategies]]\nname = \"old\"\nadmission = \"off\"\nworkers = 5\nstrategy = { kind = \"score\" }\n[[strategies]]\nname = \"score\"",
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.admission_of("old"), AdmissionConfig::off());
        assert_eq!(s.workers_of("old", 0), 5);
        assert_eq!(s.workers_of("score", 0), 1);
        assert!(s.admission_of("score").deadline_aware);
        let bad = MINIMAL.replace("[workload]", "admission = \"sometimes\"\n[workload]");
        // A top-level key after a table lands in that table; put it first.
        let bad = format!(
            "admission = \"sometimes\"\n{}",
            bad.replace("admission = \"sometimes\"\n", "")
        );
        let e = parse(&bad).unwrap_err();
        assert!(e.to_string().contains("unknown preset `sometimes`"), "{e}");
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("kind = \"batch\"", "kind = \"batch\"\nbach_size = 3");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(13), "{e}");
        assert!(e.to_string().starts_with("x.toml:13:"), "{e}");
        assert!(e.message.contains("bach_size"), "{e}");
    }

    #[test]
    fn a_node_in_an_unknown_zone_points_at_the_zone() {
        let text = MINIMAL.replace("zone = \"FRA\"", "zone = \"XYZ\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("XYZ"), "{e}");
    }

    #[test]
    fn a_strategy_can_override_the_hop_limit() {
        let text = MINIMAL.replace(
            "[[strategies]]\nname = \"score\"",
            "[[strategies]]\nname = \"free\"\nhop_limit = 255\nstrategy = { kind = \"random\" }\n[[strategies]]\nname = \"score\"",
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.hop_limit_of("free"), 255);
        assert_eq!(s.hop_limit_of("score"), 1);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
