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

/// One strategy at one offered load under one seed.
#[derive(Clone, Debug)]
pub struct SeedPoint {
    pub strategy: String,
    pub offered_pct: f64,
    pub seed: u64,
    /// This seed's capacity (its catalog's mean cost), transcodes per second.
    pub capacity_per_s: f64,
    pub offered_per_s: f64,
    pub summary: crate::Summary,
    pub work: WorkTotals,
}

impl SeedPoint {
    /// Goodput as % of this seed's capacity.
    pub fn goodput_pct(&self) -> f64 {
        100.0 * self.summary.goodput_per_s / self.capacity_per_s
    }
}

/// Runs every strategy of `s` at every load (% of capacity) under every seed, on `jobs`
/// threads. Each run depends only on (load, seed, strategy), and the result is ordered by
/// strategy, load, seed, so it is the same whatever the number of threads. Under each seed the
/// offered rate is that seed's own capacity (its catalog) times the load.
pub fn run_seeds(
    s: &Scenario,
    loads_pct: &[f64],
    seeds: &[u64],
    jobs: usize,
    progress: &(dyn Fn() + Sync),
) -> Vec<SeedPoint> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let k_count = s.strategies.len();
    let total = loads_pct.len() * seeds.len() * k_count;
    // Catalogs and capacities per seed, built once.
    let per_seed: Vec<(Scenario, Catalog, f64)> = seeds
        .iter()
        .map(|&seed| {
            let mut one = s.clone();
            one.seed = seed;
            one.workload.kind = WorkloadKind::Poisson;
            let catalog = Catalog::build(&one);
            let cap = capacity_per_s(&one, &catalog);
            (one, catalog, cap)
        })
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<SeedPoint>>> = Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= total {
                    break;
                }
                // j = ((k · loads) + l) · seeds + si: strategy, then load, then seed.
                let si = j % seeds.len();
                let l = (j / seeds.len()) % loads_pct.len();
                let k = j / (seeds.len() * loads_pct.len());
                let (base, catalog, cap) = &per_seed[si];
                let mut one = base.clone();
                one.workload.rate_per_s = cap * loads_pct[l] / 100.0;
                let r = crate::engine::Run::new(&one, k, catalog).run(&mut |_| {});
                let point = SeedPoint {
                    strategy: r.strategy.clone(),
                    offered_pct: loads_pct[l],
                    seed: seeds[si],
                    capacity_per_s: *cap,
                    offered_per_s: one.workload.rate_per_s,
                    summary: r.summary(),
                    work: r.work,
                };
                results.lock().expect("no panics while holding the lock")[j] = Some(point);
                progress();
            });
        }
    });
    results
        .into_inner()
        .expect("no panics while holding the lock")
        .into_iter()
        .map(|p| p.expect("every run ran"))
        .collect()
}

/// The metrics `load_curve_ci.csv` aggregates over seeds, in its order.
type SeedMetric = fn(&SeedPoint) -> Option<f64>;
const CI_METRICS: &[(&str, SeedMetric)] = &[
    ("offered_per_s", |p| Some(p.offered_per_s)),
    ("goodput_per_s", |p| Some(p.summary.goodput_per_s)),
    ("goodput_pct_of_capacity", |p| Some(p.goodput_pct())),
    ("success_rate", |p| Some(p.summary.success_rate)),
    ("latency_p50_ms", |p| p.summary.latency_p50_ms),
    ("latency_p95_ms", |p| p.summary.latency_p95_ms),
    ("latency_p99_ms", |p| p.summary.latency_p99_ms),
    ("wasted_cpu_pct", |p| Some(p.work.wasted_pct())),
];

/// Groups `points` (as [`run_seeds`] orders them) by strategy and load.
fn groups(points: &[SeedPoint]) -> Vec<&[SeedPoint]> {
    points
        .chunk_by(|a, b| a.strategy == b.strategy && a.offered_pct == b.offered_pct)
        .collect()
}

/// Mean and 95 % CI per strategy, load and metric (rows of `load_curve_ci.csv`).
pub fn aggregate(points: &[SeedPoint]) -> Vec<(f64, vidmesh_analysis::SweepRow)> {
    let mut out = Vec::new();
    for g in groups(points) {
        for (metric, get) in CI_METRICS {
            let values: Vec<f64> = g.iter().filter_map(get).collect();
            if let Some(row) = vidmesh_analysis::sweep::describe(&g[0].strategy, metric, &values) {
                out.push((g[0].offered_pct, row));
            }
        }
    }
    out
}

/// The chart's points: the mean and CI of goodput % and latency percentiles.
pub fn ci_points(points: &[SeedPoint]) -> Vec<vidmesh_analysis::charts::LoadCiPoint> {
    use vidmesh_analysis::charts::{LoadCiPoint, MeanCi};
    let agg = aggregate(points);
    groups(points)
        .into_iter()
        .map(|g| {
            let find = |metric: &str| {
                agg.iter()
                    .find(|(pct, r)| {
                        *pct == g[0].offered_pct
                            && r.strategy == g[0].strategy
                            && r.metric == metric
                    })
                    .map(|(_, r)| {
                        let (low, high) = r.ci95().unwrap_or((r.mean, r.mean));
                        MeanCi {
                            mean: r.mean,
                            low,
                            high,
                        }
                    })
            };
            LoadCiPoint {
                strategy: g[0].strategy.clone(),
                offered_pct: g[0].offered_pct,
                goodput_pct: find("goodput_pct_of_capacity"),
                p50_ms: find("latency_p50_ms"),
                p95_ms: find("latency_p95_ms"),
                p99_ms: find("latency_p99_ms"),
            }
        })
        .collect()
}

/// Writes `load_curve_runs.csv` (one row per strategy, load and seed) and `load_curve_ci.csv`
/// (mean, standard deviation and 95 % CI per strategy, load and metric).
pub fn write_seed_csvs(dir: &Path, points: &[SeedPoint]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let f3 = vidmesh_analysis::csvio::f3;
    let o3 = vidmesh_analysis::csvio::opt_f3;
    let mut runs = String::from(
        "strategy,offered_pct,seed,capacity_per_s,offered_per_s,requests,succeeded,success_rate,goodput_per_s,goodput_pct_of_capacity,latency_p50_ms,latency_p95_ms,latency_p99_ms,wasted_cpu_pct\n",
    );
    for p in points {
        let q = &p.summary;
        let _ = writeln!(
            runs,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.strategy,
            f3(p.offered_pct),
            p.seed,
            f3(p.capacity_per_s),
            f3(p.offered_per_s),
            q.requests,
            q.succeeded,
            f3(q.success_rate),
            f3(q.goodput_per_s),
            f3(p.goodput_pct()),
            o3(q.latency_p50_ms),
            o3(q.latency_p95_ms),
            o3(q.latency_p99_ms),
            f3(p.work.wasted_pct()),
        );
    }
    std::fs::write(dir.join("load_curve_runs.csv"), runs)?;
    let mut ci = String::from(
        "strategy,offered_pct,metric,n,mean,std_dev,ci95_low,ci95_high,ci95_half_width,min,max\n",
    );
    for (pct, r) in aggregate(points) {
        let c = r.ci95();
        let _ = writeln!(
            ci,
            "{},{},{},{},{},{},{},{},{},{},{}",
            r.strategy,
            f3(pct),
            r.metric,
            r.n,
            f3(r.mean),
            o3(r.std_dev),
            o3(c.map(|c| c.0)),
            o3(c.map(|c| c.1)),
            o3(r.ci95_half_width),
            f3(r.min),
            f3(r.max),
        );
    }
    std::fs::write(dir.join("load_curve_ci.csv"), ci)
}
