//! The scenario file as written: serde's view of the TOML, every table refusing unknown keys,
//! with the defaults a missing key gets. Nothing here is checked beyond its type; build.rs
//! validates it into a [`Scenario`](super::Scenario).

use serde::Deserialize;
use toml::Spanned;
use vidmesh_core::zone::LinkSpec;
use vidmesh_core::{AdmissionConfig, GossipConfig, StrategyConfig};

use super::{OffloadLatency, SeedMode, WorkloadKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenarioFile {
    pub(super) name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default = "default_seed")]
    pub(super) seed: u64,
    pub(super) duration_s: Spanned<f64>,
    #[serde(default = "default_hop_limit")]
    pub(super) hop_limit: u8,
    pub(super) network: NetworkFile,
    #[serde(default)]
    pub(super) node_defaults: NodeParamsFile,
    #[serde(default)]
    pub(super) nodes: Vec<NodeFile>,
    pub(super) generate: Option<GenerateFile>,
    #[serde(default = "d_gossip")]
    pub(super) gossip: Spanned<GossipConfig>,
    pub(super) strategies: Spanned<Vec<StrategyFile>>,
    #[serde(default)]
    pub(super) cost: CostFile,
    #[serde(default = "d_admission")]
    pub(super) admission: Spanned<AdmissionFile>,
    pub(super) workload: WorkloadFile,
    #[serde(default)]
    pub(super) catalog: CatalogFile,
    #[serde(default)]
    pub(super) faults: Vec<FaultFile>,
    #[serde(default)]
    pub(super) output: OutputFile,
    #[serde(default)]
    pub(super) live: LiveFile,
}

/// `admission = "off"` (the report's system), `admission = "deadline"` (vidmesh's default), or
/// a table of [`AdmissionConfig`]'s fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum AdmissionFile {
    Preset(String),
    Table(AdmissionConfig),
}

/// Why an `admission` value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum AdmissionError {
    #[error("unknown preset `{0}`: use \"off\", \"deadline\" or a table")]
    UnknownPreset(String),
    #[error("finish_for_cache must be ≥ 0, got {0}")]
    FinishForCache(f64),
}

pub(super) fn check_admission(
    a: &Spanned<AdmissionFile>,
) -> Result<AdmissionConfig, AdmissionError> {
    let cfg = match a.get_ref() {
        AdmissionFile::Preset(p) if p == "off" => AdmissionConfig::off(),
        AdmissionFile::Preset(p) if p == "deadline" => AdmissionConfig::default(),
        AdmissionFile::Preset(p) => return Err(AdmissionError::UnknownPreset(p.clone())),
        AdmissionFile::Table(t) => t.clone(),
    };
    let f = cfg.finish_for_cache;
    if !(f.is_finite() && f >= 0.0) {
        return Err(AdmissionError::FinishForCache(f));
    }
    Ok(cfg)
}

pub(super) fn d_admission() -> Spanned<AdmissionFile> {
    Spanned::new(0..0, AdmissionFile::Table(AdmissionConfig::default()))
}
pub(super) fn d_gossip() -> Spanned<GossipConfig> {
    Spanned::new(0..0, GossipConfig::default())
}
pub(super) fn default_seed() -> u64 {
    1
}
pub(super) fn default_hop_limit() -> u8 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkFile {
    pub(super) zones: Spanned<Vec<String>>,
    #[serde(default)]
    pub(super) links: Vec<Spanned<LinkSpec>>,
    #[serde(default = "default_unknown_rtt")]
    pub(super) unknown_rtt_ms: f64,
    #[serde(default = "default_connect_timeout")]
    pub(super) connect_timeout_ms: u64,
    #[serde(default = "default_offload_timeout")]
    pub(super) offload_timeout_ms: u64,
    #[serde(default)]
    pub(super) offload_latency: OffloadLatency,
    pub(super) client_zone: Option<Spanned<String>>,
    pub(super) client_bandwidth_mbps: Option<Spanned<f64>>,
}

pub(super) fn default_unknown_rtt() -> f64 {
    vidmesh_core::zone::DEFAULT_UNKNOWN_RTT_MS
}
pub(super) fn default_connect_timeout() -> u64 {
    1_000
}
pub(super) fn default_offload_timeout() -> u64 {
    60_000
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeParamsFile {
    pub(super) workers: Option<u32>,
    pub(super) queue_cap: Option<u32>,
    pub(super) cache_mb: Option<f64>,
    pub(super) cores: Option<Spanned<f64>>,
    pub(super) speed: Option<Spanned<f64>>,
    pub(super) memory_mb: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeFile {
    pub(super) name: Spanned<String>,
    pub(super) zone: Spanned<String>,
    #[serde(default)]
    pub(super) seeds: Vec<Spanned<String>>,
    pub(super) workers: Option<u32>,
    pub(super) queue_cap: Option<u32>,
    pub(super) cache_mb: Option<f64>,
    pub(super) cores: Option<Spanned<f64>>,
    /// How fast this node's cores are against the cost curve's (2 = a transcode takes half
    /// the time). Simulator only: a live node's speed is its machine's.
    pub(super) speed: Option<Spanned<f64>>,
    pub(super) memory_mb: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GenerateFile {
    pub(super) count: Spanned<u32>,
    /// Zones the generated nodes are dealt over, round robin; default: every zone.
    pub(super) zones: Option<Vec<Spanned<String>>>,
    #[serde(default = "default_prefix")]
    pub(super) name_prefix: String,
    #[serde(default)]
    pub(super) seed_mode: SeedMode,
    #[serde(default = "default_seed_count")]
    pub(super) seed_count: u32,
}

pub(super) fn default_prefix() -> String {
    "node".into()
}
pub(super) fn default_seed_count() -> u32 {
    3
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StrategyFile {
    pub(super) name: Spanned<String>,
    pub(super) strategy: Spanned<StrategyConfig>,
    /// Overrides the scenario's `hop_limit` for this strategy.
    pub(super) hop_limit: Option<Spanned<u8>>,
    /// Overrides `[admission]` for this strategy (e.g. the report's behaviour next to ours).
    pub(super) admission: Option<Spanned<AdmissionFile>>,
    /// Overrides every node's worker count for this strategy.
    pub(super) workers: Option<Spanned<u32>>,
    /// Overrides `gossip.period_ms` for this strategy (how stale load reports get).
    pub(super) gossip_period_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CostFile {
    #[serde(default = "d_base")]
    pub(super) base_s: f64,
    #[serde(default = "d_mpf")]
    pub(super) per_mpf_s: f64,
    #[serde(default = "d_frame")]
    pub(super) per_frame_s: f64,
    /// CPU-s per output megapixel-frame beyond the default `360p` output (other profiles).
    #[serde(default = "d_out_mpf")]
    pub(super) per_out_mpf_s: f64,
    #[serde(default = "d_noise")]
    pub(super) noise: Spanned<NoiseFile>,
    /// Cores one ffmpeg can keep busy on its own.
    #[serde(default = "d_threads")]
    pub(super) job_threads: Spanned<f64>,
    /// CPU seconds a node spends on an uncached client upload before it can route it (the live
    /// node runs ffprobe on it; offloaded uploads carry the entry node's probe).
    #[serde(default = "d_zero")]
    pub(super) probe_s: Spanned<f64>,
    /// Probability that a transcode fails (bad input).
    #[serde(default = "d_zero")]
    pub(super) fail_prob: Spanned<f64>,
    /// Size of the 640x360 output per input frame.
    #[serde(default = "d_out")]
    pub(super) output_bytes_per_frame: f64,
    /// Resident memory of one running ffmpeg (the report measured 100–150 MB).
    #[serde(default = "d_rss")]
    pub(super) ffmpeg_rss_mb: f64,
    /// Memory a node uses with nothing to do.
    #[serde(default = "d_base_mem")]
    pub(super) base_mem_mb: f64,
    /// How often each node's CPU % and memory % are measured and handed to its core.
    #[serde(default = "d_stats")]
    pub(super) stats_period_ms: Spanned<u64>,
    /// The nodes' starting cost curve relative to this one (they calibrate from there).
    #[serde(default = "d_one")]
    pub(super) prior_scale: Spanned<f64>,
}

pub(super) fn d_one() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

pub(super) fn d_noise() -> Spanned<NoiseFile> {
    Spanned::new(0..0, NoiseFile::default())
}
pub(super) fn d_zero() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}
pub(super) fn d_base() -> f64 {
    0.11
}
pub(super) fn d_mpf() -> f64 {
    0.00274
}
pub(super) fn d_frame() -> f64 {
    0.00405
}
pub(super) fn d_out_mpf() -> f64 {
    vidmesh_core::cost::PER_OUT_MPF_S
}
pub(super) fn d_threads() -> Spanned<f64> {
    Spanned::new(0..0, 2.0)
}
pub(super) fn d_out() -> f64 {
    2_000.0
}
pub(super) fn d_rss() -> f64 {
    125.0
}
pub(super) fn d_base_mem() -> f64 {
    200.0
}
pub(super) fn d_stats() -> Spanned<u64> {
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
pub(super) struct NoiseFile {
    pub(super) kind: NoiseKind,
    /// Standard deviation of the log of the multiplier (lognormal only).
    pub(super) sigma: Option<f64>,
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
pub(super) enum NoiseKind {
    Deterministic,
    Exponential,
    Lognormal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadFile {
    pub(super) kind: WorkloadKind,
    /// Node names the client sends to; default every node.
    pub(super) targets: Option<Vec<Spanned<String>>>,
    #[serde(default = "d_batch")]
    pub(super) batch_size: Spanned<u32>,
    #[serde(default = "d_pause")]
    pub(super) pause_ms: u64,
    pub(super) rate_per_s: Option<Spanned<f64>>,
    #[serde(default = "d_timeout")]
    pub(super) attempt_timeout_ms: Spanned<u64>,
    #[serde(default = "d_attempts")]
    pub(super) max_attempts: Spanned<u8>,
    #[serde(default = "d_health")]
    pub(super) health_check_ms: Spanned<u64>,
    #[serde(default)]
    pub(super) start_s: f64,
    /// Batch client: stop after this many batches (absent = until `duration_s`).
    pub(super) batches: Option<Spanned<u32>>,
    /// Whether a node an attempt failed on is avoided by every request until it answers a
    /// health check or a request (the report's client) or only by the request that failed.
    #[serde(default = "d_true")]
    pub(super) block_failed_nodes: bool,
    /// Output profiles the requests ask for, with weights (`{ "360p" = 3, hls = 1 }`); each
    /// request draws one. Absent: every request is `360p`.
    pub(super) profiles: Option<Spanned<std::collections::BTreeMap<String, f64>>>,
}

pub(super) fn d_batch() -> Spanned<u32> {
    Spanned::new(0..0, 100)
}
pub(super) fn d_pause() -> u64 {
    5_000
}
pub(super) fn d_timeout() -> Spanned<u64> {
    Spanned::new(0..0, 40_000)
}
pub(super) fn d_attempts() -> Spanned<u8> {
    Spanned::new(0..0, 5)
}
pub(super) fn d_health() -> Spanned<u64> {
    Spanned::new(0..0, 5_000)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CatalogFile {
    #[serde(default = "d_files")]
    pub(super) files: Spanned<u32>,
    #[serde(default = "d_res")]
    pub(super) resolutions: Vec<[u32; 2]>,
    #[serde(default = "d_fps")]
    pub(super) fps: f64,
    #[serde(default = "d_dur")]
    pub(super) duration_s: Spanned<[f64; 2]>,
    /// Encoded input bits per pixel per frame (size = w·h·frames·bpp/8, then clamped).
    #[serde(default = "d_bpp")]
    pub(super) bits_per_pixel: f64,
    /// Instead of `bits_per_pixel`: each file's bitrate drawn from [min, max] Mbit/s whatever
    /// its picture (size = duration · bitrate / 8, then clamped), as phones encode.
    #[serde(default)]
    pub(super) bitrate_mbps: Option<Spanned<[f64; 2]>>,
    #[serde(default = "d_size")]
    pub(super) size_mb: Spanned<[f64; 2]>,
    /// Explicit videos; when given, `files`/`resolutions`/`duration_s` are not used.
    #[serde(default)]
    pub(super) videos: Vec<VideoFile>,
}

pub(super) fn d_files() -> Spanned<u32> {
    Spanned::new(0..0, 60)
}
pub(super) fn d_res() -> Vec<[u32; 2]> {
    vec![[640, 360], [1280, 720], [1920, 1080]]
}
pub(super) fn d_fps() -> f64 {
    30.0
}
pub(super) fn d_dur() -> Spanned<[f64; 2]> {
    Spanned::new(0..0, [5.0, 30.0])
}
pub(super) fn d_bpp() -> f64 {
    0.1
}
pub(super) fn d_size() -> Spanned<[f64; 2]> {
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
            bitrate_mbps: None,
            size_mb: d_size(),
            videos: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(super) struct VideoFile {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) frames: u32,
    pub(super) size_mb: f64,
    #[serde(default = "d_fps")]
    pub(super) fps: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultFile {
    pub(super) at_s: Spanned<f64>,
    /// Crash, pause, drain: the node.
    pub(super) node: Option<Spanned<String>>,
    pub(super) kind: Spanned<FaultFileKind>,
    /// Crash: restart after this long (absent = stays down). Pause, partition: required. Loss,
    /// duplicate, delay: absent = to the end of the run.
    pub(super) for_s: Option<Spanned<f64>>,
    /// Partition, delay: one side, by node names and/or zone names.
    pub(super) nodes: Option<Vec<Spanned<String>>>,
    pub(super) zones: Option<Vec<Spanned<String>>>,
    /// Loss, duplicate: the share of datagrams affected, in %.
    pub(super) percent: Option<Spanned<f64>>,
    /// Delay: added to every message to or from the side (or every message), in ms.
    pub(super) extra_ms: Option<Spanned<f64>>,
}

/// Every kind a `[[faults]]` entry may have: the node faults, then the network's.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum FaultFileKind {
    Crash,
    Pause,
    Drain,
    Partition,
    Loss,
    Duplicate,
    Delay,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputFile {
    #[serde(default = "d_window")]
    pub(super) window_s: Spanned<u64>,
    #[serde(default = "d_true")]
    pub(super) requests_csv: bool,
    #[serde(default = "d_true")]
    pub(super) node_windows_csv: bool,
}

pub(super) fn d_window() -> Spanned<u64> {
    Spanned::new(0..0, 5)
}
pub(super) fn d_true() -> bool {
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
pub(super) struct LiveFile {
    /// Folder of clips with a `catalog.csv`; generated there when missing. Relative paths are
    /// taken from the scenario file's folder.
    pub(super) catalog_dir: Option<String>,
    /// Clips to generate (default 8).
    pub(super) clips: Option<Spanned<u32>>,
    /// Longest generated clip in seconds (default 2) and largest frame height (default 480).
    pub(super) clip_max_seconds: Option<Spanned<u32>>,
    pub(super) clip_max_height: Option<Spanned<u32>>,
    /// Run length of a live run, if shorter than `duration_s`.
    pub(super) duration_s: Option<Spanned<f64>>,
}
