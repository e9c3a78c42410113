//! Scenario files: the TOML a user writes, and the validated [`Scenario`] a run is built from.
//!
//! Every table rejects unknown keys. Errors name the file, the line and column and what was
//! wrong, whether toml or serde found it (syntax, type, unknown key) or validation did (a node in
//! an unknown zone, a seed nobody is called).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use vidmesh_core::zone::LinkSpec;
use vidmesh_core::{
    capacity_workers, AdmissionConfig, CostCurve, GossipConfig, OutputShape, StrategyConfig,
    ZoneId, ZoneTable,
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

// ---- the file as written ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<Spanned<String>>,
    #[serde(default)]
    description: String,
    #[serde(default = "default_seed")]
    seed: u64,
    duration_s: Spanned<f64>,
    #[serde(default = "default_hop_limit")]
    hop_limit: u8,
    network: NetworkFile,
    #[serde(default)]
    node_defaults: NodeParamsFile,
    #[serde(default)]
    nodes: Vec<NodeFile>,
    generate: Option<GenerateFile>,
    #[serde(default = "d_gossip")]
    gossip: Spanned<GossipConfig>,
    strategies: Spanned<Vec<StrategyFile>>,
    #[serde(default)]
    cost: CostFile,
    #[serde(default = "d_admission")]
    admission: Spanned<AdmissionFile>,
    workload: WorkloadFile,
    #[serde(default)]
    catalog: CatalogFile,
    #[serde(default)]
    faults: Vec<FaultFile>,
    #[serde(default)]
    output: OutputFile,
    #[serde(default)]
    live: LiveFile,
}

/// `admission = "off"` (the report's system), `admission = "deadline"` (vidmesh's default), or
/// a table of [`AdmissionConfig`]'s fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum AdmissionFile {
    Preset(String),
    Table(AdmissionConfig),
}

fn check_admission(a: &Spanned<AdmissionFile>) -> Result<AdmissionConfig, String> {
    let cfg = match a.get_ref() {
        AdmissionFile::Preset(p) if p == "off" => AdmissionConfig::off(),
        AdmissionFile::Preset(p) if p == "deadline" => AdmissionConfig::default(),
        AdmissionFile::Preset(p) => {
            return Err(format!(
                "unknown preset `{p}`: use \"off\", \"deadline\" or a table"
            ))
        }
        AdmissionFile::Table(t) => t.clone(),
    };
    let f = cfg.finish_for_cache;
    if !(f.is_finite() && f >= 0.0) {
        return Err(format!("finish_for_cache must be ≥ 0, got {f}"));
    }
    Ok(cfg)
}

fn d_admission() -> Spanned<AdmissionFile> {
    Spanned::new(0..0, AdmissionFile::Table(AdmissionConfig::default()))
}
fn d_gossip() -> Spanned<GossipConfig> {
    Spanned::new(0..0, GossipConfig::default())
}
fn default_seed() -> u64 {
    1
}
fn default_hop_limit() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    zones: Spanned<Vec<String>>,
    #[serde(default)]
    links: Vec<Spanned<LinkSpec>>,
    #[serde(default = "default_unknown_rtt")]
    unknown_rtt_ms: f64,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_ms: u64,
    #[serde(default = "default_offload_timeout")]
    offload_timeout_ms: u64,
    #[serde(default)]
    offload_latency: OffloadLatency,
    client_zone: Option<Spanned<String>>,
    client_bandwidth_mbps: Option<Spanned<f64>>,
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

fn default_unknown_rtt() -> f64 {
    vidmesh_core::zone::DEFAULT_UNKNOWN_RTT_MS
}
fn default_connect_timeout() -> u64 {
    1_000
}
fn default_offload_timeout() -> u64 {
    60_000
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeParamsFile {
    workers: Option<u32>,
    queue_cap: Option<u32>,
    cache_mb: Option<f64>,
    cores: Option<Spanned<f64>>,
    speed: Option<Spanned<f64>>,
    memory_mb: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    name: Spanned<String>,
    zone: Spanned<String>,
    #[serde(default)]
    seeds: Vec<Spanned<String>>,
    workers: Option<u32>,
    queue_cap: Option<u32>,
    cache_mb: Option<f64>,
    cores: Option<Spanned<f64>>,
    /// How fast this node's cores are against the cost curve's (2 = a transcode takes half
    /// the time). Simulator only: a live node's speed is its machine's.
    speed: Option<Spanned<f64>>,
    memory_mb: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    count: Spanned<u32>,
    /// Zones the generated nodes are dealt over, round robin; default: every zone.
    zones: Option<Vec<Spanned<String>>>,
    #[serde(default = "default_prefix")]
    name_prefix: String,
    #[serde(default)]
    seed_mode: SeedMode,
    #[serde(default = "default_seed_count")]
    seed_count: u32,
}

fn default_prefix() -> String {
    "node".into()
}
fn default_seed_count() -> u32 {
    3
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyFile {
    name: Spanned<String>,
    strategy: Spanned<StrategyConfig>,
    /// Overrides the scenario's `hop_limit` for this strategy.
    hop_limit: Option<Spanned<u8>>,
    /// Overrides `[admission]` for this strategy (e.g. the report's behaviour next to ours).
    admission: Option<Spanned<AdmissionFile>>,
    /// Overrides every node's worker count for this strategy.
    workers: Option<Spanned<u32>>,
    /// Overrides `gossip.period_ms` for this strategy (how stale load reports get).
    gossip_period_ms: Option<Spanned<u64>>,
}

/// What one strategy entry changes besides the strategy itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategyOverrides {
    pub hop_limit: Option<u8>,
    pub admission: Option<AdmissionConfig>,
    pub workers: Option<u32>,
    pub gossip_period_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CostFile {
    #[serde(default = "d_base")]
    base_s: f64,
    #[serde(default = "d_mpf")]
    per_mpf_s: f64,
    #[serde(default = "d_frame")]
    per_frame_s: f64,
    /// CPU-s per output megapixel-frame beyond the default `360p` output (other profiles).
    #[serde(default = "d_out_mpf")]
    per_out_mpf_s: f64,
    #[serde(default = "d_noise")]
    noise: Spanned<NoiseFile>,
    /// Cores one ffmpeg can keep busy on its own.
    #[serde(default = "d_threads")]
    job_threads: Spanned<f64>,
    /// CPU seconds a node spends on an uncached client upload before it can route it (the live
    /// node runs ffprobe on it; offloaded uploads carry the entry node's probe).
    #[serde(default = "d_zero")]
    probe_s: Spanned<f64>,
    /// Probability that a transcode fails (bad input).
    #[serde(default = "d_zero")]
    fail_prob: Spanned<f64>,
    /// Size of the 640x360 output per input frame.
    #[serde(default = "d_out")]
    output_bytes_per_frame: f64,
    /// Resident memory of one running ffmpeg (the report measured 100–150 MB).
    #[serde(default = "d_rss")]
    ffmpeg_rss_mb: f64,
    /// Memory a node uses with nothing to do.
    #[serde(default = "d_base_mem")]
    base_mem_mb: f64,
    /// How often each node's CPU % and memory % are measured and handed to its core.
    #[serde(default = "d_stats")]
    stats_period_ms: Spanned<u64>,
    /// The nodes' starting cost curve relative to this one (they calibrate from there).
    #[serde(default = "d_one")]
    prior_scale: Spanned<f64>,
}

fn d_one() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

fn d_noise() -> Spanned<NoiseFile> {
    Spanned::new(0..0, NoiseFile::default())
}
fn d_zero() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}
fn d_base() -> f64 {
    0.11
}
fn d_mpf() -> f64 {
    0.00274
}
fn d_frame() -> f64 {
    0.00405
}
fn d_out_mpf() -> f64 {
    vidmesh_core::cost::PER_OUT_MPF_S
}
fn d_threads() -> Spanned<f64> {
    Spanned::new(0..0, 2.0)
}
fn d_out() -> f64 {
    2_000.0
}
fn d_rss() -> f64 {
    125.0
}
fn d_base_mem() -> f64 {
    200.0
}
fn d_stats() -> Spanned<u64> {
    Spanned::new(0..0, 1_000)
}

impl Default for CostFile {
    fn default() -> Self {
        CostFile {
            base_s: d_base(),
            per_mpf_s: d_mpf(),
            per_frame_s: d_frame(),
            per_out_mpf_s: d_out_mpf(),
            noise: Spanned::new(0..0, NoiseFile::default()),
            job_threads: d_threads(),
            probe_s: d_zero(),
            fail_prob: Spanned::new(0..0, 0.0),
            output_bytes_per_frame: d_out(),
            ffmpeg_rss_mb: d_rss(),
            base_mem_mb: d_base_mem(),
            stats_period_ms: d_stats(),
            prior_scale: d_one(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoiseFile {
    kind: NoiseKind,
    /// Standard deviation of the log of the multiplier (lognormal only).
    sigma: Option<f64>,
}

impl Default for NoiseFile {
    fn default() -> Self {
        NoiseFile {
            kind: NoiseKind::Lognormal,
            sigma: Some(0.2),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum NoiseKind {
    Deterministic,
    Exponential,
    Lognormal,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    kind: WorkloadKind,
    /// Node names the client sends to; default every node.
    targets: Option<Vec<Spanned<String>>>,
    #[serde(default = "d_batch")]
    batch_size: Spanned<u32>,
    #[serde(default = "d_pause")]
    pause_ms: u64,
    rate_per_s: Option<Spanned<f64>>,
    #[serde(default = "d_timeout")]
    attempt_timeout_ms: Spanned<u64>,
    #[serde(default = "d_attempts")]
    max_attempts: Spanned<u8>,
    #[serde(default = "d_health")]
    health_check_ms: Spanned<u64>,
    #[serde(default)]
    start_s: f64,
    /// Batch client: stop after this many batches (absent = until `duration_s`).
    batches: Option<Spanned<u32>>,
    /// Whether a node an attempt failed on is avoided by every request until it answers a
    /// health check or a request (the report's client) or only by the request that failed.
    #[serde(default = "d_true")]
    block_failed_nodes: bool,
    /// Output profiles the requests ask for, with weights (`{ "360p" = 3, hls = 1 }`); each
    /// request draws one. Absent: every request is `360p`.
    profiles: Option<Spanned<std::collections::BTreeMap<String, f64>>>,
}

fn d_batch() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}
fn d_pause() -> u64 {
    5_000
}
fn d_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 40_000)
}
fn d_attempts() -> Spanned<u8> {
    Spanned::new(0..0, 5)
}
fn d_health() -> Spanned<u64> {
    Spanned::new(0..0, 5_000)
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default = "d_files")]
    files: Spanned<u32>,
    #[serde(default = "d_res")]
    resolutions: Vec<[u32; 2]>,
    #[serde(default = "d_fps")]
    fps: f64,
    #[serde(default = "d_dur")]
    duration_s: Spanned<[f64; 2]>,
    /// Encoded input bits per pixel per frame (size = w·h·frames·bpp/8, then clamped).
    #[serde(default = "d_bpp")]
    bits_per_pixel: f64,
    #[serde(default = "d_size")]
    size_mb: Spanned<[f64; 2]>,
    /// Explicit videos; when given, `files`/`resolutions`/`duration_s` are not used.
    #[serde(default)]
    videos: Vec<VideoFile>,
}

fn d_files() -> Spanned<u32> {
    Spanned::new(0..0, 60)
}
fn d_res() -> Vec<[u32; 2]> {
    vec![[640, 360], [1280, 720], [1920, 1080]]
}
fn d_fps() -> f64 {
    30.0
}
fn d_dur() -> Spanned<[f64; 2]> {
    Spanned::new(0..0, [5.0, 30.0])
}
fn d_bpp() -> f64 {
    0.1
}
fn d_size() -> Spanned<[f64; 2]> {
    Spanned::new(0..0, [2.0, 50.0])
}

impl Default for CatalogFile {
    fn default() -> Self {
        CatalogFile {
            files: d_files(),
            resolutions: d_res(),
            fps: d_fps(),
            duration_s: d_dur(),
            bits_per_pixel: d_bpp(),
            size_mb: d_size(),
            videos: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct VideoFile {
    width: u32,
    height: u32,
    frames: u32,
    size_mb: f64,
    #[serde(default = "d_fps")]
    fps: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    at_s: Spanned<f64>,
    node: Spanned<String>,
    kind: FaultKind,
    /// Crash: restart after this long (absent = stays down). Pause: required.
    for_s: Option<Spanned<f64>>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputFile {
    #[serde(default = "d_window")]
    window_s: Spanned<u64>,
    #[serde(default = "d_true")]
    requests_csv: bool,
    #[serde(default = "d_true")]
    node_windows_csv: bool,
}

fn d_window() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}
fn d_true() -> bool {
    true
}

impl Default for OutputFile {
    fn default() -> Self {
        OutputFile {
            window_s: d_window(),
            requests_csv: true,
            node_windows_csv: true,
        }
    }
}

/// `[live]`: settings only `sim live` reads (real node processes, real clips).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveFile {
    /// Folder of clips with a `catalog.csv`; generated there when missing. Relative paths are
    /// taken from the scenario file's folder.
    catalog_dir: Option<String>,
    /// Clips to generate (default 8).
    clips: Option<Spanned<u32>>,
    /// Longest generated clip in seconds (default 2) and largest frame height (default 480).
    clip_max_seconds: Option<Spanned<u32>>,
    clip_max_height: Option<Spanned<u32>>,
    /// Run length of a live run, if shorter than `duration_s`.
    duration_s: Option<Spanned<f64>>,
}

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

// ---- the validated scenario ---------------------------------------------------------------

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
        let raw: ScenarioFile = toml::from_str(text).map_err(|e| {
            err(
                e.span(),
                e.message().trim_end().replace('\n', "; ").to_string(),
            )
        })?;
        build(raw, default_name, &err)
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

type ErrFn<'a> = dyn Fn(Option<Range<usize>>, String) -> ScenarioError + 'a;

fn build(
    raw: ScenarioFile,
    default_name: &str,
    err: &ErrFn<'_>,
) -> Result<Scenario, ScenarioError> {
    let at = |s: &Range<usize>| Some(s.clone());
    let name = raw
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_else(|| default_name.to_string());
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(err(
            raw.name.as_ref().map(|n| n.span()),
            format!("name `{name}` must be non-empty and contain no path separators"),
        ));
    }
    let duration_s = *raw.duration_s.get_ref();
    if !(duration_s.is_finite() && duration_s > 0.0) {
        return Err(err(
            at(&raw.duration_s.span()),
            format!("duration_s must be a positive number of seconds, got {duration_s}"),
        ));
    }

    // Network.
    let net = &raw.network;
    let zone_names = net.zones.get_ref().clone();
    if zone_names.is_empty() {
        return Err(err(at(&net.zones.span()), "network.zones is empty".into()));
    }
    if !(net.unknown_rtt_ms.is_finite() && net.unknown_rtt_ms >= 0.0) {
        return Err(err(None, "network.unknown_rtt_ms must be ≥ 0".into()));
    }
    let links: Vec<LinkSpec> = net.links.iter().map(|l| l.get_ref().clone()).collect();
    let zones = ZoneTable::new(&zone_names, &links, net.unknown_rtt_ms).map_err(|e| {
        // Point at the offending link where we can tell which one it is.
        let span = net
            .links
            .iter()
            .find(|l| ZoneTable::new(&zone_names, &[l.get_ref().clone()], 100.0).is_err())
            .map(|l| l.span())
            .unwrap_or_else(|| net.zones.span());
        err(Some(span), format!("network: {e}"))
    })?;
    let zone_of = |s: &Spanned<String>, what: &str| {
        zones.zone(s.get_ref()).ok_or_else(|| {
            err(
                at(&s.span()),
                format!(
                    "{what} names zone `{}`, which is not in network.zones {:?}",
                    s.get_ref(),
                    zone_names
                ),
            )
        })
    };
    let client_zone = match &net.client_zone {
        Some(z) => Some(zone_of(z, "network.client_zone")?),
        None => None,
    };
    if let Some(bw) = &net.client_bandwidth_mbps {
        if !(bw.get_ref().is_finite() && *bw.get_ref() > 0.0) {
            return Err(err(
                at(&bw.span()),
                "network.client_bandwidth_mbps must be > 0".into(),
            ));
        }
    }

    // Nodes.
    let d = &raw.node_defaults;
    let pos = |v: &Option<Spanned<f64>>, default: f64, what: &str| -> Result<f64, ScenarioError> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => Ok(*s.get_ref()),
            Some(s) => Err(err(
                at(&s.span()),
                format!("{what} must be a positive number, got {}", s.get_ref()),
            )),
        }
    };
    let def_cores = pos(&d.cores, 2.0, "node_defaults.cores")?;
    let def_speed = pos(&d.speed, 1.0, "node_defaults.speed")?;
    let def_mem = pos(&d.memory_mb, 2048.0, "node_defaults.memory_mb")?;
    // By default a node runs as many transcodes as its cores sustain (`capacity_workers`).
    let job_threads = *raw.cost.job_threads.get_ref();
    let auto_workers = |cores: f64| capacity_workers(cores, job_threads);
    let def_workers_set = d.workers;
    let def_queue = d.queue_cap.unwrap_or(20);
    let def_cache = d.cache_mb.unwrap_or(1024.0);
    if def_workers_set == Some(0) {
        return Err(err(None, "node_defaults.workers must be at least 1".into()));
    }
    let mb = |v: f64| (v.max(0.0) * 1e6) as u64;

    let mut nodes: Vec<NodeSpec> = Vec::new();
    let mut seed_names: Vec<Vec<Spanned<String>>> = Vec::new();
    for n in &raw.nodes {
        let name = n.name.get_ref().clone();
        if nodes.iter().any(|x| x.name == name) {
            return Err(err(
                at(&n.name.span()),
                format!("node `{name}` is listed twice"),
            ));
        }
        let cores = pos(&n.cores, def_cores, &format!("node `{name}`: cores"))?;
        let speed = pos(&n.speed, def_speed, &format!("node `{name}`: speed"))?;
        let memory_mb = pos(&n.memory_mb, def_mem, &format!("node `{name}`: memory_mb"))?;
        let workers = n
            .workers
            .or(def_workers_set)
            .unwrap_or_else(|| auto_workers(cores));
        if workers == 0 {
            return Err(err(
                at(&n.name.span()),
                format!("node `{name}`: workers must be at least 1"),
            ));
        }
        nodes.push(NodeSpec {
            zone: zone_of(&n.zone, &format!("node `{name}`"))?,
            name,
            seeds: Vec::new(),
            workers,
            queue_cap: n.queue_cap.unwrap_or(def_queue),
            cache_bytes: mb(n.cache_mb.unwrap_or(def_cache)),
            cores,
            speed,
            memory_mb,
        });
        seed_names.push(n.seeds.clone());
    }
    let mut generated_seeds = None;
    if let Some(g) = &raw.generate {
        let count = *g.count.get_ref();
        if count == 0 || count > 60_000 {
            return Err(err(
                at(&g.count.span()),
                format!("generate.count must be within 1..=60000, got {count}"),
            ));
        }
        let gz: Vec<ZoneId> = match &g.zones {
            Some(list) if !list.is_empty() => list
                .iter()
                .map(|z| zone_of(z, "generate.zones"))
                .collect::<Result<_, _>>()?,
            _ => (0..zone_names.len()).map(|i| ZoneId(i as u16)).collect(),
        };
        let first = nodes.len();
        for i in 0..count as usize {
            nodes.push(NodeSpec {
                name: format!("{}{}", g.name_prefix, first + i + 1),
                zone: gz[i % gz.len()],
                seeds: Vec::new(),
                workers: def_workers_set.unwrap_or_else(|| auto_workers(def_cores)),
                queue_cap: def_queue,
                cache_bytes: mb(def_cache),
                cores: def_cores,
                speed: def_speed,
                memory_mb: def_mem,
            });
            seed_names.push(Vec::new());
        }
        generated_seeds = Some((g.seed_mode, g.seed_count));
    }
    if nodes.is_empty() {
        return Err(err(None, "no nodes: give [[nodes]] or [generate]".into()));
    }
    if nodes.len() > u16::MAX as usize - 1 {
        return Err(err(
            None,
            "too many nodes (the simulated address space is 16-bit)".into(),
        ));
    }
    let node_index = |nodes: &[NodeSpec], s: &Spanned<String>, what: &str| {
        nodes
            .iter()
            .position(|n| &n.name == s.get_ref())
            .ok_or_else(|| {
                err(
                    at(&s.span()),
                    format!("{what} names unknown node `{}`", s.get_ref()),
                )
            })
    };
    let mut resolved = Vec::with_capacity(nodes.len());
    for (i, names) in seed_names.iter().enumerate() {
        let mut v = Vec::new();
        for s in names {
            v.push(node_index(
                &nodes,
                s,
                &format!("seeds of node `{}`", nodes[i].name),
            )?);
        }
        resolved.push(v);
    }

    for (n, s) in nodes.iter_mut().zip(resolved) {
        n.seeds = s;
    }

    // Gossip.
    let g = raw.gossip.get_ref().clone();
    if g.period_ms == 0 || g.probe_period_ms < 2 || g.fanout == 0 {
        return Err(err(
            at(&raw.gossip.span()),
            "gossip: period_ms and fanout must be ≥ 1 and probe_period_ms ≥ 2".into(),
        ));
    }

    // Strategies.
    let mut strategies: Vec<(String, StrategyConfig)> = Vec::new();
    let mut strategy_overrides: Vec<(String, StrategyOverrides)> = Vec::new();
    if raw.strategies.get_ref().is_empty() {
        return Err(err(
            at(&raw.strategies.span()),
            "no strategies listed".into(),
        ));
    }
    for s in raw.strategies.get_ref() {
        let name = s.name.get_ref().clone();
        if name.is_empty() || name.contains([',', '"', '\n']) {
            return Err(err(
                at(&s.name.span()),
                format!("strategy name `{name}` must be non-empty without commas or quotes"),
            ));
        }
        if strategies.iter().any(|(n, _)| *n == name) {
            return Err(err(
                at(&s.name.span()),
                format!("strategy `{name}` is listed twice"),
            ));
        }
        s.strategy
            .get_ref()
            .validate()
            .map_err(|m| err(at(&s.strategy.span()), format!("strategy `{name}`: {m}")))?;
        let admission =
            match &s.admission {
                Some(a) => Some(check_admission(a).map_err(|m| {
                    err(at(&a.span()), format!("strategy `{name}`: admission: {m}"))
                })?),
                None => None,
            };
        if let Some(g) = &s.gossip_period_ms {
            if *g.get_ref() == 0 {
                return Err(err(
                    at(&g.span()),
                    format!("strategy `{name}`: gossip_period_ms must be at least 1"),
                ));
            }
        }
        if let Some(w) = &s.workers {
            if *w.get_ref() == 0 {
                return Err(err(
                    at(&w.span()),
                    format!("strategy `{name}`: workers must be at least 1"),
                ));
            }
        }
        strategy_overrides.push((
            name.clone(),
            StrategyOverrides {
                hop_limit: s.hop_limit.as_ref().map(|h| *h.get_ref()),
                admission,
                workers: s.workers.as_ref().map(|w| *w.get_ref()),
                gossip_period_ms: s.gossip_period_ms.as_ref().map(|g| *g.get_ref()),
            },
        ));
        strategies.push((name, s.strategy.get_ref().clone()));
    }

    // Cost model.
    let c = &raw.cost;
    let noise = match c.noise.get_ref().kind {
        NoiseKind::Deterministic => Noise::Deterministic,
        NoiseKind::Exponential => Noise::Exponential,
        NoiseKind::Lognormal => {
            let sigma = c.noise.get_ref().sigma.unwrap_or(0.2);
            if !(sigma.is_finite() && sigma >= 0.0) {
                return Err(err(
                    at(&c.noise.span()),
                    "cost.noise.sigma must be ≥ 0".into(),
                ));
            }
            Noise::Lognormal { sigma }
        }
    };
    if c.noise.get_ref().sigma.is_some() && c.noise.get_ref().kind != NoiseKind::Lognormal {
        return Err(err(
            at(&c.noise.span()),
            "cost.noise.sigma only applies to kind = \"lognormal\"".into(),
        ));
    }
    for (what, v) in [
        ("base_s", c.base_s),
        ("per_mpf_s", c.per_mpf_s),
        ("per_frame_s", c.per_frame_s),
        ("per_out_mpf_s", c.per_out_mpf_s),
        ("output_bytes_per_frame", c.output_bytes_per_frame),
        ("ffmpeg_rss_mb", c.ffmpeg_rss_mb),
        ("base_mem_mb", c.base_mem_mb),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(
                None,
                format!("cost.{what} must be a number ≥ 0, got {v}"),
            ));
        }
    }
    if !(c.job_threads.get_ref().is_finite() && *c.job_threads.get_ref() > 0.0) {
        return Err(err(
            at(&c.job_threads.span()),
            "cost.job_threads must be > 0".into(),
        ));
    }
    let probe_s = *c.probe_s.get_ref();
    if !(probe_s.is_finite() && probe_s >= 0.0) {
        return Err(err(
            at(&c.probe_s.span()),
            format!("cost.probe_s must be a number of seconds ≥ 0, got {probe_s}"),
        ));
    }
    let fp = *c.fail_prob.get_ref();
    if !(0.0..=1.0).contains(&fp) {
        return Err(err(
            at(&c.fail_prob.span()),
            format!("cost.fail_prob must be within 0..=1, got {fp}"),
        ));
    }
    if *c.stats_period_ms.get_ref() == 0 {
        return Err(err(
            at(&c.stats_period_ms.span()),
            "cost.stats_period_ms must be ≥ 1".into(),
        ));
    }
    let ps = *c.prior_scale.get_ref();
    if !(ps.is_finite() && ps > 0.0) {
        return Err(err(
            at(&c.prior_scale.span()),
            format!("cost.prior_scale must be > 0, got {ps}"),
        ));
    }
    let admission = check_admission(&raw.admission)
        .map_err(|m| err(at(&raw.admission.span()), format!("admission: {m}")))?;
    let cost = CostModel {
        base_s: c.base_s,
        per_mpf_s: c.per_mpf_s,
        per_frame_s: c.per_frame_s,
        per_out_mpf_s: c.per_out_mpf_s,
        noise,
        job_threads: *c.job_threads.get_ref(),
        probe_s,
        fail_prob: fp,
        output_bytes_per_frame: c.output_bytes_per_frame,
        ffmpeg_rss_mb: c.ffmpeg_rss_mb,
        base_mem_mb: c.base_mem_mb,
        stats_period_ms: *c.stats_period_ms.get_ref(),
        prior_scale: *c.prior_scale.get_ref(),
    };

    // Workload.
    let w = &raw.workload;
    let targets = match &w.targets {
        Some(list) => {
            let mut t = Vec::new();
            for s in list {
                let i = node_index(&nodes, s, "workload.targets")?;
                if !t.contains(&i) {
                    t.push(i);
                }
            }
            if t.is_empty() {
                return Err(err(None, "workload.targets is empty".into()));
            }
            t
        }
        None => (0..nodes.len()).collect(),
    };
    let rate_per_s = match (w.kind, &w.rate_per_s) {
        (WorkloadKind::Poisson, None) => {
            return Err(err(
                None,
                "workload: kind = \"poisson\" needs rate_per_s".into(),
            ))
        }
        (_, Some(r)) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
            return Err(err(at(&r.span()), "workload.rate_per_s must be > 0".into()))
        }
        (_, Some(r)) => *r.get_ref(),
        (_, None) => 0.0,
    };
    if *w.batch_size.get_ref() == 0 {
        return Err(err(
            at(&w.batch_size.span()),
            "workload.batch_size must be ≥ 1".into(),
        ));
    }
    if *w.max_attempts.get_ref() == 0 {
        return Err(err(
            at(&w.max_attempts.span()),
            "workload.max_attempts must be ≥ 1".into(),
        ));
    }
    if *w.attempt_timeout_ms.get_ref() == 0 {
        return Err(err(
            at(&w.attempt_timeout_ms.span()),
            "workload.attempt_timeout_ms must be ≥ 1".into(),
        ));
    }
    if *w.health_check_ms.get_ref() == 0 {
        return Err(err(
            at(&w.health_check_ms.span()),
            "workload.health_check_ms must be ≥ 1".into(),
        ));
    }
    if !(w.start_s.is_finite() && w.start_s >= 0.0) {
        return Err(err(None, "workload.start_s must be ≥ 0".into()));
    }
    if let Some(b) = &w.batches {
        if *b.get_ref() == 0 {
            return Err(err(at(&b.span()), "workload.batches must be ≥ 1".into()));
        }
    }
    let mut profiles = Vec::new();
    if let Some(mix) = &w.profiles {
        let here = at(&mix.span());
        for (name, &weight) in mix.get_ref() {
            let shape = OutputShape::builtin(name)
                .filter(|_| PROFILES.contains(&name.as_str()))
                .ok_or_else(|| {
                    err(
                        here.clone(),
                        format!(
                            "workload.profiles: unknown profile `{name}` (known: {})",
                            PROFILES.join(", ")
                        ),
                    )
                })?;
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(err(
                    here.clone(),
                    format!("workload.profiles.{name}: the weight must be ≥ 0, got {weight}"),
                ));
            }
            profiles.push(ProfileWeight {
                name: name.clone(),
                shape,
                weight,
            });
        }
        if profiles.iter().map(|p| p.weight).sum::<f64>() <= 0.0 {
            return Err(err(
                here,
                "workload.profiles: give at least one profile a weight > 0".into(),
            ));
        }
    }
    let workload = Workload {
        kind: w.kind,
        profiles,
        batches: w.batches.as_ref().map(|b| *b.get_ref()),
        block_failed_nodes: w.block_failed_nodes,
        targets,
        batch_size: *w.batch_size.get_ref(),
        pause_ms: w.pause_ms,
        rate_per_s,
        attempt_timeout_ms: *w.attempt_timeout_ms.get_ref(),
        max_attempts: *w.max_attempts.get_ref(),
        health_check_ms: *w.health_check_ms.get_ref(),
        start_ms: (w.start_s * 1000.0).round() as u64,
    };

    // Catalog.
    let k = &raw.catalog;
    let catalog = if !k.videos.is_empty() {
        let mut v = Vec::new();
        for f in &k.videos {
            if f.width == 0
                || f.height == 0
                || f.frames == 0
                || f.size_mb.is_nan()
                || f.size_mb <= 0.0
                || f.fps.is_nan()
                || f.fps <= 0.0
            {
                return Err(err(
                    None,
                    "catalog.videos: width, height, frames, size_mb and fps must be > 0".into(),
                ));
            }
            v.push(Video {
                width: f.width,
                height: f.height,
                frames: f.frames,
                size_bytes: mb(f.size_mb),
                duration_ms: (f.frames as f64 / f.fps * 1000.0) as u32,
            });
        }
        Catalog::Explicit(v)
    } else {
        let files = *k.files.get_ref();
        if files == 0 {
            return Err(err(at(&k.files.span()), "catalog.files must be ≥ 1".into()));
        }
        if k.resolutions.is_empty() || k.resolutions.iter().any(|r| r[0] == 0 || r[1] == 0) {
            return Err(err(
                None,
                "catalog.resolutions must be non-empty with sizes > 0".into(),
            ));
        }
        let [d0, d1] = *k.duration_s.get_ref();
        if !(d0 > 0.0 && d1 >= d0 && d1.is_finite()) {
            return Err(err(
                at(&k.duration_s.span()),
                "catalog.duration_s must be [min, max] with 0 < min ≤ max".into(),
            ));
        }
        let [s0, s1] = *k.size_mb.get_ref();
        if !(s0 > 0.0 && s1 >= s0 && s1.is_finite()) {
            return Err(err(
                at(&k.size_mb.span()),
                "catalog.size_mb must be [min, max] with 0 < min ≤ max".into(),
            ));
        }
        if !(k.fps > 0.0 && k.fps.is_finite() && k.bits_per_pixel > 0.0) {
            return Err(err(
                None,
                "catalog.fps and bits_per_pixel must be > 0".into(),
            ));
        }
        Catalog::Generated {
            files,
            resolutions: k.resolutions.clone(),
            fps: k.fps,
            duration_s: [d0, d1],
            bits_per_pixel: k.bits_per_pixel,
            size_mb: [s0, s1],
        }
    };

    // Faults.
    let mut faults = Vec::new();
    for f in &raw.faults {
        let at_s = *f.at_s.get_ref();
        if !(at_s.is_finite() && at_s >= 0.0) {
            return Err(err(at(&f.at_s.span()), "faults.at_s must be ≥ 0".into()));
        }
        let node = node_index(&nodes, &f.node, "fault")?;
        let for_ms = match &f.for_s {
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => {
                Some((s.get_ref() * 1000.0).round() as u64)
            }
            Some(s) => return Err(err(at(&s.span()), "faults.for_s must be > 0".into())),
            None => None,
        };
        if f.kind == FaultKind::Pause && for_ms.is_none() {
            return Err(err(at(&f.at_s.span()), "a pause fault needs for_s".into()));
        }
        if let (FaultKind::Drain, Some(s)) = (f.kind, &f.for_s) {
            return Err(err(
                at(&s.span()),
                "a drain fault takes no for_s: the drained node exits once its jobs are done"
                    .into(),
            ));
        }
        faults.push(Fault {
            at_ms: (at_s * 1000.0).round() as u64,
            node,
            kind: f.kind,
            for_ms,
        });
    }
    // Overlapping faults on one node would make "down" ambiguous.
    for (i, a) in faults.iter().enumerate() {
        for b in &faults[i + 1..] {
            if a.node != b.node {
                continue;
            }
            let end = |f: &Fault| f.for_ms.map(|d| f.at_ms + d).unwrap_or(u64::MAX);
            if a.at_ms < end(b) && b.at_ms < end(a) {
                return Err(err(
                    at(&raw.faults[i].at_s.span()),
                    format!("faults on node `{}` overlap", nodes[a.node].name),
                ));
            }
        }
    }
    faults.sort_by_key(|f| (f.at_ms, f.node));

    let l = &raw.live;
    let positive = |v: &Option<Spanned<u32>>, default: u32, min: u32, what: &str| match v {
        None => Ok(default),
        Some(x) if *x.get_ref() >= min => Ok(*x.get_ref()),
        Some(x) => Err(err(
            at(&x.span()),
            format!("live.{what} must be ≥ {min}, got {}", x.get_ref()),
        )),
    };
    let live = Live {
        catalog_dir: l.catalog_dir.as_ref().map(PathBuf::from),
        clips: positive(&l.clips, 8, 1, "clips")?,
        clip_max_seconds: positive(&l.clip_max_seconds, 2, 1, "clip_max_seconds")?,
        clip_max_height: positive(&l.clip_max_height, 480, 240, "clip_max_height")?,
        duration_ms: match &l.duration_s {
            None => None,
            Some(d) if d.get_ref().is_finite() && *d.get_ref() > 0.0 => {
                Some((d.get_ref() * 1000.0).round() as u64)
            }
            Some(d) => {
                return Err(err(
                    at(&d.span()),
                    "live.duration_s must be a positive number of seconds".into(),
                ))
            }
        },
    };

    let window_s = *raw.output.window_s.get_ref();
    if window_s == 0 {
        return Err(err(
            at(&raw.output.window_s.span()),
            "output.window_s must be ≥ 1".into(),
        ));
    }

    Ok(Scenario {
        name,
        description: raw.description,
        seed: raw.seed,
        duration_ms: (duration_s * 1000.0).round() as u64,
        hop_limit: raw.hop_limit,
        strategy_overrides,
        admission,
        network: Network {
            zones: Arc::new(zones),
            connect_timeout_ms: net.connect_timeout_ms,
            offload_timeout_ms: net.offload_timeout_ms,
            offload_latency: net.offload_latency,
            client_zone,
            client_bandwidth_mbps: net.client_bandwidth_mbps.as_ref().map(|b| *b.get_ref()),
        },
        nodes,
        generated_seeds,
        gossip: g,
        strategies,
        cost,
        workload,
        catalog,
        faults,
        output: Output {
            window_ms: window_s * 1000,
            requests_csv: raw.output.requests_csv,
            node_windows_csv: raw.output.node_windows_csv,
        },
        live,
    })
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
