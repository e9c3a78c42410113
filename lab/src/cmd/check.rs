//! `sim check`: random fault schedules over many seeds under the protocol checker; the first
//! failing seed and its schedule, or how many runs passed.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vidmesh_sim::{check, sweep};

use super::{load, threads};

/// Returns whether every run kept every rule.
pub(crate) fn cmd_check(
    path: &Path,
    seeds: &str,
    jobs: Option<usize>,
    strategies: &[String],
) -> Result<bool> {
    let seeds = sweep::parse_seeds(seeds).map_err(anyhow::Error::msg)?;
    let s = load(path, None, strategies)?;
    let jobs = threads(jobs);
    println!(
        "check {} · seeds {}..{} · a random fault schedule per seed (crash, pause, drain, \
         partition, loss, duplication, delay) · {} strategies · {} threads",
        s.name,
        seeds[0],
        seeds[seeds.len() - 1],
        s.strategies.len(),
        jobs
    );
    if seeds.len() == 1 {
        print!(
            "schedule of seed {}:\n{}",
            seeds[0],
            check::describe_schedule(&check::with_random_faults(&s, seeds[0]))
        );
    }
    let bar = ProgressBar::with_draw_target(
        Some((seeds.len() * s.strategies.len()) as u64),
        ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} runs ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(s.name.clone());
    let started = Instant::now();
    let report = check::check_seeds(&s, &seeds, jobs, &|| {
        bar.inc(1);
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    match report.failures.first() {
        None => {
            println!(
                "no violation: {} runs ({} seeds) kept every rule, in {wall:.1} s wall",
                report.runs, report.seeds
            );
            Ok(true)
        }
        Some(f) => {
            let seeds_failing: std::collections::BTreeSet<u64> =
                report.failures.iter().map(|f| f.seed).collect();
            println!(
                "VIOLATION: first failing seed {} ({}): {}\nits schedule:\n{}\
                 {} of {} runs failed ({} seeds); replay with `sim check {} --seeds {}`",
                f.seed,
                f.strategy,
                f.what,
                f.schedule,
                report.failures.len(),
                report.runs,
                seeds_failing.len(),
                path.display(),
                f.seed
            );
            Ok(false)
        }
    }
}
