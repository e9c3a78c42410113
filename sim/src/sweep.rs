//! `sim sweep`: independent replications of a scenario under a range of seeds, in parallel,
//! summarised per strategy and metric (mean and 95 % CI) by `vidmesh_analysis::write_sweep`.
//!
//! Every (seed, strategy) pair is one job on a pool of threads. A replication depends only on
//! its seed, each seed's files are written by the shared CSV writer, and the aggregate reads
//! them back sorted by seed, so the output is byte-identical whatever the number of threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::{engine, metrics, Catalog, RunResult, Scenario};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A `--seeds` value that names no range of seeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedsError {
    #[error("--seeds must look like 1..10 (both included) or 7, got `{0}`")]
    Malformed(String),
    #[error("--seeds {0}: the last seed is below the first")]
    Reversed(String),
    #[error("--seeds {0}: more than 100 000 replications")]
    TooMany(String),
}

/// Parses `A..B` (both included), `A..=B` or a single seed `A`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, SeedsError> {
    let bad = || SeedsError::Malformed(text.to_string());
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
        None => (text, text),
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(SeedsError::Reversed(text.to_string()));
    }
    if b - a >= 100_000 {
        return Err(SeedsError::TooMany(text.to_string()));
    }
    Ok((a..=b).collect())
}

/// The folder one seed's CSV files go to.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join("seeds").join(format!("seed-{seed}"))
}

/// Runs every strategy of `s` under every seed on `jobs` threads, writes each seed's CSVs
/// (without the per-request and per-node logs) under `<out>/seeds/seed-N/`, then
/// `<out>/sweep.csv` and, with `charts`, the error-bar chart.
pub fn run_sweep(s: &Scenario, seeds: &[u64], out: &Path, jobs: usize, charts: bool) -> Result<()> {
    if seeds.is_empty() {
        bail!("no seeds to run");
    }
    let k_count = s.strategies.len();
    let total = seeds.len() * k_count;
    let jobs = jobs.clamp(1, total);
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} runs ({elapsed}, about {eta} left)",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(s.name.clone());

    // Per seed: the finished strategies, written out once all are in.
    let pending: Mutex<Vec<Vec<Option<RunResult>>>> =
        Mutex::new(seeds.iter().map(|_| vec![None; k_count]).collect());
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= total || first_error.lock().expect("error lock").is_some() {
                    break;
                }
                let (si, k) = (j / k_count, j % k_count);
                let mut one = s.clone();
                one.seed = seeds[si];
                let catalog = Catalog::build(&one);
                let r = engine::Run::new(&one, k, &catalog).run(&mut |_| {});
                bar.inc(1);
                let complete = {
                    let mut p = pending.lock().expect("pending lock");
                    p[si][k] = Some(r);
                    if p[si].iter().all(Option::is_some) {
                        Some(std::mem::take(&mut p[si]))
                    } else {
                        None
                    }
                };
                if let Some(runs) = complete {
                    let runs: Vec<RunResult> = runs.into_iter().flatten().collect();
                    if let Err(e) = write_seed(&one, &catalog, &runs, out) {
                        first_error.lock().expect("error lock").get_or_insert(e);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }

    let mut per_seed = Vec::new();
    for &seed in seeds {
        let path = seed_dir(out, seed).join("summary.csv");
        let rows = vidmesh_analysis::records::read_summary(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        per_seed.push((seed, rows));
    }
    let opts = vidmesh_analysis::ChartOptions {
        title_prefix: Some(s.name.clone()),
        png: charts,
        svg: charts,
        ..Default::default()
    };
    vidmesh_analysis::write_sweep(out, &per_seed, &opts)
        .with_context(|| format!("writing the sweep into {}", out.display()))?;
    Ok(())
}

fn write_seed(s: &Scenario, catalog: &Catalog, runs: &[RunResult], out: &Path) -> Result<()> {
    let mut small = s.clone();
    small.output.requests_csv = false;
    small.output.node_windows_csv = false;
    let dir = seed_dir(out, s.seed);
    metrics::write_all(&dir, &small, catalog, runs)
        .with_context(|| format!("writing {}", dir.display()))
}
