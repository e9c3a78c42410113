//! `sim bench`: the simulator's speed, in events per second and wall time.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use vidmesh_sim::{run_scenario, Catalog};

use super::load;

pub(crate) fn cmd_bench(
    path: &Path,
    runs: usize,
    queue_only: bool,
    duration_s: Option<f64>,
    strategy: Option<String>,
) -> Result<()> {
    let eps = vidmesh_sim::queue::hold_benchmark(50_000, 20_000_000);
    println!("event queue alone (hold model, 50 000 pending): {eps:.0} events/s");
    if queue_only {
        return Ok(());
    }
    let mut s = load(path, None, &strategy.into_iter().collect::<Vec<_>>())?;
    if let Some(d) = duration_s {
        if !(d.is_finite() && d > 0.0) {
            anyhow::bail!("--duration-s must be a positive number of seconds, got {d}");
        }
        s.duration_ms = (d * 1000.0).round() as u64;
    }
    let catalog = Catalog::build(&s);
    let mut samples = Vec::new();
    for k in 0..runs.max(1) {
        let mut one = s.clone();
        one.strategies.truncate(1);
        let started = Instant::now();
        let mut result = run_scenario(&one, &catalog, &|_, _| {});
        let wall = started.elapsed().as_secs_f64();
        let r = result.remove(0);
        let eps = r.events as f64 / r.wall_s;
        println!(
            "run {}: {} events, {} requests, {:.2} s wall, {:.0} events/s",
            k + 1,
            r.events,
            r.requests.len(),
            wall,
            eps
        );
        samples.push((wall, eps));
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, _) = samples[samples.len() / 2];
    let mut eps: Vec<f64> = samples.iter().map(|x| x.1).collect();
    eps.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}: median wall {:.2} s, median {:.0} events/s (strategy {})",
        s.name,
        wall,
        eps[eps.len() / 2],
        s.strategies[0].0
    );
    Ok(())
}
