//! `sim load-curve`: goodput and latency against offered load, once or under a range of seeds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vidmesh_sim::sweep;

use super::{load, threads};

pub(crate) fn cmd_load_curve(
    path: &Path,
    loads: &str,
    out: Option<PathBuf>,
    strategies: &[String],
    no_charts: bool,
) -> Result<()> {
    let s = load(path, None, strategies)?;
    let loads = parse_loads(loads)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name).join("load_curve"));
    let (capacity, points) = vidmesh_sim::load_curve::run(&s, &loads);
    println!(
        "scenario {} · capacity {:.3} transcodes/s · Poisson arrivals",
        s.name, capacity
    );
    println!(
        "{:<12} {:>8} {:>9} {:>9} {:>8} {:>9} {:>9} {:>8}",
        "strategy", "offered", "goodput/s", "% of cap", "ok", "p50 ms", "p95 ms", "wasted"
    );
    for p in &points {
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:>7.0}% {:>9.3} {:>8.1}% {:>8} {:>9} {:>9} {:>7.1}%",
            p.strategy,
            p.offered_pct,
            p.goodput_per_s,
            100.0 * p.goodput_per_s / capacity,
            p.succeeded,
            ms(p.p50_ms),
            ms(p.p95_ms),
            p.work.wasted_pct()
        );
    }
    vidmesh_sim::load_curve::write_csv(&dir, capacity, &points)
        .with_context(|| format!("writing {}", dir.display()))?;
    if !no_charts {
        let pts: Vec<vidmesh_analysis::charts::LoadPoint> = points
            .iter()
            .map(|p| vidmesh_analysis::charts::LoadPoint {
                strategy: p.strategy.clone(),
                offered_pct: p.offered_pct,
                goodput_per_s: p.goodput_per_s,
                p95_ms: p.p95_ms,
            })
            .collect();
        let opts = vidmesh_analysis::charts::ChartOptions {
            title_prefix: Some(s.name.clone()),
            ..Default::default()
        };
        vidmesh_analysis::charts::render_load_curve(&dir, &pts, capacity, &opts)
            .with_context(|| format!("drawing the load curve into {}", dir.display()))?;
    }
    println!("wrote {}", dir.display());
    Ok(())
}

fn parse_loads(loads: &str) -> Result<Vec<f64>> {
    loads
        .split(',')
        .map(|v| {
            let v = v.trim();
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(anyhow::anyhow!(
                    "--loads: `{v}` is not a percentage > 0 (e.g. 50,100,200)"
                )),
            }
        })
        .collect()
}

/// `sim load-curve --seeds`: every strategy at every load under every seed.
pub(crate) fn cmd_load_curve_seeds(
    path: &Path,
    loads: &str,
    seeds: &str,
    jobs: Option<usize>,
    out: Option<PathBuf>,
    strategies: &[String],
    no_charts: bool,
) -> Result<()> {
    let s = load(path, None, strategies)?;
    let loads = parse_loads(loads)?;
    let seeds = sweep::parse_seeds(seeds).map_err(anyhow::Error::msg)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name).join("load_curve"));
    let jobs = threads(jobs);
    let total = loads.len() * seeds.len() * s.strategies.len();
    println!(
        "load curve {} · loads {:?} % of capacity · seeds {}..{} · {} runs on {} threads",
        s.name,
        loads,
        seeds[0],
        seeds[seeds.len() - 1],
        total,
        jobs
    );
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{bar:30}] {pos}/{len} runs ({elapsed}, about {eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let points = vidmesh_sim::load_curve::run_seeds(&s, &loads, &seeds, jobs, &|| bar.inc(1));
    bar.finish_and_clear();
    let ci = vidmesh_sim::load_curve::ci_points(&points);
    println!(
        "{:<12} {:>8} {:>16} {:>18} {:>18} {:>18}",
        "strategy", "offered", "goodput % cap", "p50 s", "p95 s", "p99 s"
    );
    let show = |c: Option<vidmesh_analysis::charts::MeanCi>, scale: f64| {
        c.map(|c| format!("{:.2} ± {:.2}", c.mean * scale, (c.high - c.mean) * scale))
            .unwrap_or_else(|| "-".into())
    };
    for p in &ci {
        println!(
            "{:<12} {:>7.0}% {:>16} {:>18} {:>18} {:>18}",
            p.strategy,
            p.offered_pct,
            show(p.goodput_pct, 1.0),
            show(p.p50_ms, 1e-3),
            show(p.p95_ms, 1e-3),
            show(p.p99_ms, 1e-3)
        );
    }
    vidmesh_sim::load_curve::write_seed_csvs(&dir, &points)
        .with_context(|| format!("writing {}", dir.display()))?;
    if !no_charts {
        let opts = vidmesh_analysis::charts::ChartOptions {
            title_prefix: Some(s.name.clone()),
            ..Default::default()
        };
        vidmesh_analysis::charts::render_load_curve_ci(&dir, &ci, seeds.len(), &opts)
            .with_context(|| format!("drawing the load curve into {}", dir.display()))?;
    }
    println!(
        "wrote {} in {:.1} s wall",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
