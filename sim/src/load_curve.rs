//! Offered load against what comes out: the scenario's cluster under open-loop (Poisson)
//! arrivals at fractions of its capacity, every strategy at every load, same draws.

use std::fmt::Write as _;
use std::path::Path;

use crate::metrics::{RunResult, WorkTotals};
use crate::scenario::{Noise, Scenario, WorkloadKind};
use crate::workload::Catalog;

/// Transcodes per second the whole cluster can finish: Σ cores × speed over the nodes, divided
/// by the mean CPU-seconds of a request (catalog items × the workload's profile mix, noise
/// included). Intake probes are not counted:
/// capacity is what transcoding alone could reach.
pub fn capacity_per_s(s: &Scenario, catalog: &Catalog) -> f64 {
    let n = catalog.videos.len().max(1) as f64;
    // Weighted over the workload's output profiles (just `360p` without a mix).
    let curve = s.cost.curve();
    let mix: Vec<(vidmesh_core::OutputShape, f64)> = if s.workload.profiles.is_empty() {
        vec![(Default::default(), 1.0)]
    } else {
        s.workload
            .profiles
            .iter()
            .map(|p| (p.shape, p.weight))
            .collect()
    };
    let total_weight: f64 = mix.iter().map(|m| m.1).sum();
    let mean_work = catalog
        .videos
        .iter()
        .map(|v| {
            mix.iter()
                .map(|(shape, w)| curve.output_cpu_s(v.width, v.height, v.frames, shape) * w)
                .sum::<f64>()
                / total_weight
        })
        .sum::<f64>()
        / n;
    let noise_mean = match s.cost.noise {
        Noise::Deterministic | Noise::Exponential => 1.0,
        Noise::Lognormal { sigma } => (sigma * sigma / 2.0).exp(),
    };
    // A node of speed 2 does two curve CPU-seconds per core-second.
    let cores: f64 = s.nodes.iter().map(|n| n.cores * n.speed).sum();
    cores / (mean_work * noise_mean)
}

/// One strategy at one offered load.
#[derive(Clone, Debug)]
pub struct CurvePoint {
    pub strategy: String,
    pub offered_pct: f64,
    pub offered_per_s: f64,
    pub requests: u64,
    pub succeeded: u64,
    pub goodput_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub work: WorkTotals,
}

/// Runs `s` with Poisson arrivals at each `loads_pct` (% of [`capacity_per_s`]).
pub fn run(s: &Scenario, loads_pct: &[f64]) -> (f64, Vec<CurvePoint>) {
    let catalog = Catalog::build(s);
    let capacity = capacity_per_s(s, &catalog);
    let mut points = Vec::new();
    for &pct in loads_pct {
        let mut one = s.clone();
        one.workload.kind = WorkloadKind::Poisson;
        one.workload.rate_per_s = capacity * pct / 100.0;
        let runs: Vec<RunResult> = crate::run_scenario(&one, &catalog, &|_, _| {});
        for r in runs {
            let sum = r.summary();
            points.push(CurvePoint {
                strategy: r.strategy.clone(),
                offered_pct: pct,
                offered_per_s: one.workload.rate_per_s,
                requests: sum.requests,
                succeeded: sum.succeeded,
                goodput_per_s: sum.goodput_per_s,
                p50_ms: sum.latency_p50_ms,
                p95_ms: sum.latency_p95_ms,
                work: r.work,
            });
        }
    }
    (capacity, points)
}

/// `load_curve.csv`: one row per strategy and load.
pub fn write_csv(dir: &Path, capacity_per_s: f64, points: &[CurvePoint]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut out = String::from(
        "strategy,offered_pct,offered_per_s,capacity_per_s,requests,succeeded,goodput_per_s,goodput_pct_of_capacity,latency_p50_ms,latency_p95_ms,transcodes_done,transcodes_aborted,transcode_cpu_s,wasted_cpu_pct\n",
    );
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
    for p in points {
        let _ = writeln!(
            out,
            "{},{:.0},{:.4},{:.4},{},{},{:.4},{:.1},{},{},{},{},{:.1},{:.1}",
            p.strategy,
            p.offered_pct,
            p.offered_per_s,
            capacity_per_s,
            p.requests,
            p.succeeded,
            p.goodput_per_s,
            100.0 * p.goodput_per_s / capacity_per_s,
            opt(p.p50_ms),
            opt(p.p95_ms),
            p.work.transcodes_done,
            p.work.transcodes_aborted,
            p.work.transcode_cpu_s,
            p.work.wasted_pct(),
        );
    }
    std::fs::write(dir.join("load_curve.csv"), out)
}
