//! `sim sweep`: independent replications of a scenario under a range of seeds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use vidmesh_sim::sweep;

use super::{load, threads};

pub(crate) fn cmd_sweep(
    path: &Path,
    seeds: &str,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    strategies: &[String],
    no_charts: bool,
) -> Result<()> {
    let seeds = sweep::parse_seeds(seeds).map_err(anyhow::Error::msg)?;
    let s = load(path, None, strategies)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name).join("sweep"));
    let jobs = threads(jobs);
    println!(
        "sweep {} · seeds {}..{} ({} replications × {} strategies) · {} threads",
        s.name,
        seeds[0],
        seeds[seeds.len() - 1],
        seeds.len(),
        s.strategies.len(),
        jobs
    );
    let started = Instant::now();
    sweep::run_sweep(&s, &seeds, &dir, jobs, !no_charts)?;
    println!(
        "wrote {} in {:.2} s wall",
        dir.join("sweep.csv").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
