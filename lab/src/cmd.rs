//! The bodies of `sim`'s subcommands (`validate` and `soak` have their own modules), and what
//! they share: loading a scenario as the flags select it, and drawing a run's charts.

pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod live;
pub(crate) mod load_curve;
pub(crate) mod run;
pub(crate) mod sweep;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use vidmesh_sim::{select_strategies, Scenario};

/// `--jobs`, or every core.
pub(crate) fn threads(jobs: Option<usize>) -> usize {
    jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    })
}

pub(crate) fn load(path: &Path, seed: Option<u64>, strategies: &[String]) -> Result<Scenario> {
    let mut s = Scenario::load(path)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    select_strategies(&mut s, strategies).map_err(anyhow::Error::msg)?;
    Ok(s)
}

pub(crate) fn render_charts(dir: &Path, s: &Scenario) {
    let opts = vidmesh_analysis::ChartOptions {
        client_timeout_ms: Some(s.workload.attempt_timeout_ms),
        title_prefix: Some(s.name.clone()),
        ..Default::default()
    };
    // The CSVs are the result; a chart that cannot be drawn is worth a warning, not a failure.
    match vidmesh_analysis::render_all(dir, &opts) {
        Ok(files) => println!("rendered {} charts", files.len()),
        Err(e) => tracing::warn!("charts not rendered: {e}"),
    }
}

/// Runs a check that passes or fails on an async runtime: exit 0 when it passed, 1 when it
/// failed, 2 when it could not run (the error printed). `threads` > 1 gives a multi-threaded
/// runtime (work that must not wait behind a busy poll loop).
pub(crate) fn run_check(threads: usize, check: impl Future<Output = Result<bool>>) -> ExitCode {
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
