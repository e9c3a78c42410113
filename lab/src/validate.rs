//! `sim validate`: how well does the simulator predict the docker-compose deployment?
//!
//! 1. live: the scenario's strategies one after another, each on a fresh compose stack (see
//!    `compose.rs`), with its client and its faults applied by docker; CSVs into `OUT/live/`;
//! 2. sim: `sim run` of the same scenario on the very clips the live client uploaded, into
//!    `OUT/sim/`;
//! 3. compare: `vidmesh-analysis compare OUT/sim OUT/live` into `OUT/compare/`.
//!
//! Exit codes: 0 when they agree, 1 when the comparison fails (ranking or goodput), 2 when the
//! validation could not run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use vidmesh_analysis::records::ScenarioData;
use vidmesh_node::catalog::Clip;
use vidmesh_sim::scenario::{Catalog as CatalogSpec, Scenario};
use vidmesh_sim::{metrics, run_scenario, summary_table, Catalog};

use crate::calibrate::{self, Calibration};
use crate::compose::ComposeOptions;
use crate::live;

/// `--short` runs this many strategies …
const SHORT_STRATEGIES: usize = 2;
/// … for at most this long each (CI budget: 15 minutes with images built).
const SHORT_DURATION_MS: u64 = 150_000;

pub struct ValidateArgs {
    pub scenario: PathBuf,
    pub short: bool,
    pub out: Option<PathBuf>,
    pub tolerance: f64,
    pub strategies: Vec<String>,
    pub charts: bool,
    pub ffmpeg: String,
    /// Keep OUT/live as it is and redo only the simulator and the comparison.
    pub reuse_live: bool,
    /// Measure ffmpeg's and ffprobe's cost in the nodes' containers and scale the model to it.
    pub calibrate: bool,
    /// Simulate this many seeds (the scenario's and the ones after it) and judge live against
    /// the spread; 1 compares with the scenario's seed alone.
    pub sim_seeds: u64,
    pub compose: ComposeOptions,
}

pub fn cmd_validate(a: &ValidateArgs) -> ExitCode {
    match validate(a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The scenario as validated: `--short` limits applied, faults past the end dropped.
fn plan(a: &ValidateArgs) -> Result<Scenario> {
    if !(a.tolerance.is_finite() && a.tolerance >= 0.0) {
        anyhow::bail!("--tolerance must be a number ≥ 0, got {}", a.tolerance);
    }
    if a.sim_seeds == 0 {
        anyhow::bail!("--sim-seeds must be at least 1 (the scenario's own seed)");
    }
    let mut s = crate::cmd::load(&a.scenario, None, &a.strategies)?;
    if a.short {
        s.strategies.truncate(SHORT_STRATEGIES);
        s.duration_ms = s.duration_ms.min(SHORT_DURATION_MS);
        if let Some(d) = s.live.duration_ms {
            s.live.duration_ms = Some(d.min(SHORT_DURATION_MS));
        }
    }
    let s = live::live_scenario(&s)?;
    let cores: f64 = s.nodes.iter().map(|n| n.cores).sum();
    let host = std::thread::available_parallelism().map_or(1, |p| p.get()) as f64;
    if cores > host {
        tracing::warn!(
            "the nodes are allotted {cores} CPUs on a {host}-core host: they will not get their \
             allotment and the live run will be slower than the simulated one"
        );
    }
    Ok(s)
}

/// The scenario with the live clips as its explicit catalog, so both executors draw from one
/// workload (same sizes, resolutions and frame counts, same order).
fn with_clips(s: &Scenario, clips: &[Clip]) -> Scenario {
    let mut sim = s.clone();
    sim.catalog = CatalogSpec::Explicit(live::clip_videos(clips));
    sim
}

fn validate(a: &ValidateArgs) -> Result<bool> {
    let started = Instant::now();
    let s = plan(a)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results").join("live").join(&s.name));
    let (live_dir, sim_dir, cmp_dir) = (out.join("live"), out.join("sim"), out.join("compare"));
    println!(
        "validate {}{}: {} strategies × {} s live on docker-compose ({}), then sim run, then compare (tolerance {:.0} %)",
        s.name,
        if a.short { " (short)" } else { "" },
        s.strategies.len(),
        s.duration_ms / 1000,
        a.compose.file.display(),
        a.tolerance * 100.0
    );

    // 1. live
    let clips = if a.reuse_live {
        let catalog_dir = live_dir.join("catalog");
        let clips = vidmesh_node::catalog::load(&catalog_dir).with_context(|| {
            format!(
                "--reuse-live needs an earlier live run in {}",
                live_dir.display()
            )
        })?;
        println!(
            "reusing the live run in {} ({} clips)",
            live_dir.display(),
            clips.len()
        );
        clips
    } else {
        let (runs, clips) = crate::cmd::live::run_live(
            &s,
            &a.scenario,
            &live_dir,
            None,
            a.ffmpeg.clone(),
            live::Backend::Compose(a.compose.clone()),
        )?;
        metrics::write_all(&live_dir, &s, &live::sim_catalog(&clips), &runs)
            .with_context(|| format!("writing {}", live_dir.display()))?;
        clips
    };

    // 2. what a job costs in the nodes' containers here, then sim on the same clips
    let mut sim = with_clips(&s, &clips);
    if a.calibrate {
        let cal = calibration(a, &s, &out, &live_dir, &clips)?;
        cal.apply(&mut sim.cost);
    }
    let catalog = Catalog::build(&sim);
    let sim_runs = run_scenario(&sim, &catalog, &|_, _| {});
    println!("sim run of the same scenario and clips:");
    print!("{}", summary_table(&sim_runs));
    metrics::write_all(&sim_dir, &sim, &catalog, &sim_runs)
        .with_context(|| format!("writing {}", sim_dir.display()))?;
    if a.charts {
        if !a.reuse_live {
            crate::cmd::render_charts(&live_dir, &s);
        }
        crate::cmd::render_charts(&sim_dir, &sim);
    }

    // 3. compare, live against the simulator's spread over seeds
    let spread = sim_spread(&sim, a.sim_seeds);
    let ok = compare(&sim_dir, &live_dir, &cmp_dir, a.tolerance, &s, &spread)?;
    println!(
        "validation {} in {:.0} s: {}",
        if ok { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(ok)
}

/// Measures the cost of the live clips in containers like the nodes' (or, with
/// `--reuse-live`, reads the measurement taken with that live run) and writes
/// OUT/calibration.csv.
fn calibration(
    a: &ValidateArgs,
    s: &Scenario,
    out: &Path,
    live_dir: &Path,
    clips: &[Clip],
) -> Result<Calibration> {
    let file = out.join("calibration.csv");
    let cal = if a.reuse_live && file.exists() {
        // The measurement stands; the curve it scales may have changed since.
        let mut cal = Calibration::read(&file)?;
        cal.model_cpu_s = calibrate::model_cpu_s(&s.cost, clips);
        cal
    } else {
        println!(
            "calibrating: {} clips probed and transcoded in {} containers at once ({} CPU each)",
            clips.len(),
            s.nodes.len(),
            s.nodes
                .iter()
                .map(|n| n.cores.to_string())
                .collect::<Vec<_>>()
                .join("/")
        );
        let cores: Vec<f64> = s.nodes.iter().map(|n| n.cores).collect();
        let lanes = s.nodes.iter().map(|n| n.workers).min().unwrap_or(1).min(2) as usize;
        let cal = calibrate::measure(
            &a.compose.image,
            &a.compose.project,
            &live_dir.join("catalog"),
            clips,
            &cores,
            lanes,
            &s.cost,
        )
        .context("calibrating the cost model (--no-calibrate skips it)")?;
        std::fs::write(&file, cal.to_csv())
            .with_context(|| format!("writing {}", file.display()))?;
        cal
    };
    println!(
        "  ffmpeg {:.3} CPU-s per clip here vs {:.3} by the scenario's curve (× {:.2}); ffprobe {:.3} CPU-s",
        cal.ffmpeg_cpu_s,
        cal.model_cpu_s,
        cal.factor(),
        cal.probe_cpu_s
    );
    Ok(cal)
}

/// Per strategy and metric, the least and greatest value over `seeds` runs of `sim` (its own
/// seed and the following ones). Both executors draw from randomness the other does not share
/// (which peer `random` picks, each clip's cost noise, when a fault lands within a batch), so one
/// simulated run is one sample of what the simulator predicts; with batches of uploads, a single
/// slow batch moves a 150 s run's goodput by a sixth.
fn sim_spread(sim: &Scenario, seeds: u64) -> Vec<SpreadRow> {
    if seeds <= 1 {
        return Vec::new();
    }
    let mut per: Vec<(String, [Vec<f64>; 4])> = Vec::new();
    for k in 0..seeds {
        let mut s = sim.clone();
        s.seed = sim.seed.wrapping_add(k);
        let catalog = Catalog::build(&s);
        for run in run_scenario(&s, &catalog, &|_, _| {}) {
            let m = run.summary();
            let slot = match per.iter().position(|(n, _)| *n == m.strategy) {
                Some(i) => i,
                None => {
                    per.push((m.strategy.clone(), Default::default()));
                    per.len() - 1
                }
            };
            let v = &mut per[slot].1;
            v[0].push(m.success_rate);
            v[1].push(m.goodput_per_s);
            v[2].extend(m.latency_p50_ms);
            v[3].extend(m.latency_p95_ms);
        }
    }
    let metrics = [
        "success_rate",
        "goodput_per_s",
        "latency_p50_ms",
        "latency_p95_ms",
    ];
    let mut out = Vec::new();
    for (strategy, values) in per {
        for (metric, v) in metrics.iter().zip(values) {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() && hi.is_finite() {
                out.push(SpreadRow {
                    strategy: strategy.clone(),
                    metric,
                    min: lo,
                    max: hi,
                });
            }
        }
    }
    println!(
        "simulator spread over seeds {}..={}: {}",
        sim.seed,
        sim.seed.wrapping_add(seeds - 1),
        out.iter()
            .filter(|r| r.metric == "goodput_per_s")
            .map(|r| format!("{} goodput {:.3}–{:.3}/s", r.strategy, r.min, r.max))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

struct SpreadRow {
    strategy: String,
    metric: &'static str,
    min: f64,
    max: f64,
}

fn compare(
    sim_dir: &Path,
    live_dir: &Path,
    out: &Path,
    tolerance: f64,
    s: &Scenario,
    spread: &[SpreadRow],
) -> Result<bool> {
    let sim = ScenarioData::load(sim_dir)?;
    let live = ScenarioData::load(live_dir)?;
    let mut c = vidmesh_analysis::compare::compare_data(&sim, &live, tolerance)?;
    for r in spread {
        c.widen_to_sim_spread(&r.strategy, r.metric, r.min, r.max);
    }
    let opts = vidmesh_analysis::ChartOptions {
        client_timeout_ms: Some(s.workload.attempt_timeout_ms),
        title_prefix: Some(s.name.clone()),
        ..Default::default()
    };
    vidmesh_analysis::write_comparison(out, &c, &sim, &live, &opts)
        .with_context(|| format!("writing {}", out.display()))?;
    print!("{}", c.table());
    Ok(c.verdict_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(short: bool) -> ValidateArgs {
        ValidateArgs {
            scenario: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../docker/validation.toml"
            )),
            short,
            out: None,
            tolerance: 0.15,
            strategies: Vec::new(),
            charts: false,
            ffmpeg: "ffmpeg".into(),
            reuse_live: false,
            calibrate: false,
            sim_seeds: 10,
            compose: ComposeOptions {
                file: "docker-compose.yml".into(),
                project: "t".into(),
                port_base: 18100,
                image: "vidmesh:latest".into(),
            },
        }
    }

    #[test]
    fn short_keeps_two_strategies_and_the_faults_inside_150_s() {
        let full = plan(&args(false)).unwrap();
        let short = plan(&args(true)).unwrap();
        assert!(full.strategies.len() >= 2);
        assert_eq!(short.strategies.len(), 2);
        assert_eq!(short.duration_ms, 150_000);
        // One node stopped and restarted inside the short run (the CI drill).
        assert!(short
            .faults
            .iter()
            .any(|f| f.for_ms.is_some_and(|d| f.at_ms + d < 150_000)));
    }

    #[test]
    fn a_bad_tolerance_is_refused() {
        let mut a = args(true);
        a.tolerance = -1.0;
        let e = plan(&a).unwrap_err().to_string();
        assert!(e.contains("--tolerance"), "{e}");
    }

    #[test]
    fn reuse_live_without_a_live_run_says_so() {
        let dir = std::env::temp_dir().join(format!("vidmesh-reuse-{}", std::process::id()));
        let mut a = args(true);
        a.reuse_live = true;
        a.out = Some(dir.clone());
        let e = format!("{:#}", validate(&a).unwrap_err());
        assert!(e.contains("--reuse-live needs an earlier live run"), "{e}");
        assert!(e.contains("catalog.csv"), "{e}");
        assert!(!dir.join("sim").exists(), "nothing written");
    }

    #[test]
    fn the_sim_draws_from_the_live_clips() {
        let s = plan(&args(true)).unwrap();
        let clips = vec![Clip {
            path: "a.mp4".into(),
            width: 640,
            height: 360,
            frames: 50,
            duration_ms: 2000,
            size_bytes: 123_456,
        }];
        let sim = with_clips(&s, &clips);
        let cat = Catalog::build(&sim);
        assert_eq!(cat.videos.len(), 1);
        assert_eq!(cat.videos[0].size_bytes, 123_456);
    }
}
