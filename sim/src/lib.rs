//! vidmesh's deterministic discrete-event simulator.
//!
//! A [`Scenario`] (one TOML file) describes zones, nodes, the client, faults and the strategies
//! to compare; [`run_scenario`] runs each strategy over the same workload draws in virtual time,
//! driving the very cores a live node runs, and [`metrics::write_all`] writes the CSV files of
//! docs/metrics.md.
//!
//! The `sim` command and the live runs it compares with are vidmesh-lab's (lab/): this library
//! runs no async runtime and no node, so the simulator builds and tests on its own.

pub mod check;
pub mod engine;
pub mod load_curve;
pub mod metrics;
mod nodes;
pub mod queue;
mod record;
pub mod rng;
mod routes;
pub mod scenario;
pub mod sweep;
pub mod workload;
mod world;

use std::sync::Mutex;

pub use metrics::{RunResult, Summary};
pub use scenario::{Scenario, ScenarioError};
pub use workload::Catalog;

/// Runs the scenario's strategies (all, or those named in `only`), each on its own thread, and
/// returns their results in the scenario's strategy order. `progress(strategy index, virtual
/// ms)` is called now and then from the running threads.
pub fn run_scenario(
    scenario: &Scenario,
    catalog: &Catalog,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> Vec<RunResult> {
    let n = scenario.strategies.len();
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(1)
        .clamp(1, n.max(1));
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; n]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = {
                    let mut g = next.lock().expect("no panics while holding the lock");
                    let k = *g;
                    *g += 1;
                    k
                };
                if k >= n {
                    break;
                }
                let run = engine::Run::new(scenario, k, catalog);
                let r = run.run(&mut |t| progress(k, t));
                results.lock().expect("no panics while holding the lock")[k] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no panics while holding the lock")
        .into_iter()
        .map(|r| r.expect("every strategy ran"))
        .collect()
}

/// A strategy name the scenario does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario `{scenario}` has no strategy `{name}` (it has: {})", known.join(", "))]
pub struct UnknownStrategy {
    pub scenario: String,
    pub name: String,
    pub known: Vec<String>,
}

/// Keeps only the named strategies, in the scenario's order; an unknown name is an error.
pub fn select_strategies(scenario: &mut Scenario, names: &[String]) -> Result<(), UnknownStrategy> {
    if names.is_empty() {
        return Ok(());
    }
    for n in names {
        if !scenario.strategies.iter().any(|(s, _)| s == n) {
            return Err(UnknownStrategy {
                scenario: scenario.name.clone(),
                name: n.clone(),
                known: scenario.strategies.iter().map(|(s, _)| s.clone()).collect(),
            });
        }
    }
    scenario.strategies.retain(|(s, _)| names.contains(s));
    Ok(())
}

/// The per-strategy table `sim run` prints.
pub fn summary_table(runs: &[RunResult]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = runs
        .iter()
        .map(|r| r.strategy.len())
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(
        out,
        "{:<w$} {:>8} {:>8} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>6} {:>8} {:>7}",
        "strategy",
        "requests",
        "ok",
        "success",
        "goodput/s",
        "timeouts",
        "rejected",
        "mean ms",
        "p50 ms",
        "p95 ms",
        "off-in",
        "off-x",
        "cache",
        "attempts",
        "att-ok"
    )
    .ok();
    let o = |v: Option<f64>| v.map(|x| format!("{x:.0}")).unwrap_or_else(|| "-".into());
    for r in runs {
        let s = r.summary();
        writeln!(
            out,
            "{:<w$} {:>8} {:>8} {:>6.1}% {:>8.3} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>6} {:>8} {:>7}",
            s.strategy,
            s.requests,
            s.succeeded,
            100.0 * s.success_rate,
            s.goodput_per_s,
            s.timeouts,
            s.rejected,
            o(s.latency_mean_ms),
            o(s.latency_p50_ms),
            o(s.latency_p95_ms),
            s.offloads_same_zone,
            s.offloads_cross_zone,
            s.cache_hits,
            s.attempts.map_or_else(|| "-".into(), |a| a.to_string()),
            // The report's "throughput %": successful attempts / attempts.
            s.attempt_success_pct
                .map_or_else(|| "-".into(), |p| format!("{p:.1}%"))
        )
        .ok();
    }
    out
}
