//! `sim live`: the scenario on real nodes (processes or compose), written as `sim run` writes.
//! `run_live` is shared with `sim validate`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use vidmesh_sim::{metrics, summary_table, Scenario};

use super::{load, render_charts};
use crate::{compose, live};

#[allow(clippy::too_many_arguments)]
pub(crate) fn cmd_live(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    strategies: &[String],
    no_charts: bool,
    dashboard: Option<String>,
    ffmpeg: String,
    compose: Option<compose::ComposeOptions>,
) -> Result<()> {
    let s = live::live_scenario(&load(path, seed, strategies)?)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(format!("{}-live", s.name)));
    let backend = match compose {
        Some(c) => live::Backend::Compose(c),
        None => live::Backend::Processes {
            program: std::env::current_exe().context("finding the sim executable")?,
            leading: vec!["node".into()],
        },
    };
    let (runs, clips) = run_live(&s, path, &dir, dashboard, ffmpeg, backend)?;
    metrics::write_all(&dir, &s, &live::sim_catalog(&clips), &runs)
        .with_context(|| format!("writing results into {}", dir.display()))?;
    println!("wrote {}", dir.display());
    if !no_charts {
        render_charts(&dir, &s);
    }
    Ok(())
}

/// Runs every strategy of `s` live (processes or compose) with output into `dir`; returns the
/// runs and the clips they uploaded.
pub(crate) fn run_live(
    s: &Scenario,
    path: &Path,
    dir: &Path,
    dashboard: Option<String>,
    ffmpeg: String,
    backend: live::Backend,
) -> Result<(Vec<metrics::RunResult>, Vec<vidmesh_node::catalog::Clip>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let opts = live::LiveOptions {
        out: dir.to_path_buf(),
        scenario_dir: path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        backend,
        dashboard,
        ffmpeg,
    };
    vidmesh_node::ffmpeg::check_installed(&opts.ffmpeg).map_err(anyhow::Error::msg)?;
    let (_, clips) = live::prepare_catalog(s, &opts)?;
    println!(
        "live scenario {} · seed {} · {} nodes ({}) · {} s per strategy · {} clips · strategies: {}",
        s.name,
        s.seed,
        s.nodes.len(),
        match &opts.backend {
            live::Backend::Processes { .. } => "processes".to_string(),
            live::Backend::Compose(c) => format!("docker-compose project {}", c.project),
        },
        s.duration_ms / 1000,
        clips.len(),
        s.strategies
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let started = Instant::now();
    // One thread: node processes are spawned from it, and it lives as long as the run (the
    // nodes are told to die with it).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let runs = rt.block_on(async {
        if let live::Backend::Compose(c) = &opts.backend {
            let names: Vec<String> = s.nodes.iter().map(|n| n.name.clone()).collect();
            c.check(&names).await?;
        }
        let run = live::LiveRun::new(s, &clips, &opts)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut observer = None;
        if let Some(addr) = &opts.dashboard {
            let metrics_addr = vidmesh_node::client_metrics::serve("127.0.0.1:0").await?;
            let o = vidmesh_observer::bind(vidmesh_observer::Config {
                listen: addr.clone(),
                seeds: run.addrs.iter().map(|a| a.to_string()).collect(),
                client: Some(metrics_addr.to_string()),
                ..Default::default()
            })
            .await?;
            println!("dashboard: http://{}/", o.local_addr);
            observer = Some(tokio::spawn(o.run(async {
                let _ = stop_rx.await;
            })));
        }
        let work = async {
            let mut runs = Vec::new();
            for k in 0..s.strategies.len() {
                runs.push(run.run_strategy(k).await?);
            }
            anyhow::Ok(runs)
        };
        // Ctrl-C or SIGTERM drops the run, and with it every node process or container.
        let result = tokio::select! {
            r = work => r,
            _ = vidmesh_observer::shutdown_signal() => {
                Err(anyhow::anyhow!("interrupted; every node was stopped"))
            }
        };
        let _ = stop_tx.send(());
        if let Some(o) = observer {
            let _ = o.await;
        }
        let _ = std::fs::remove_dir_all(&run.data_root);
        result
    })?;
    let wall = started.elapsed().as_secs_f64();
    print!("{}", summary_table(&runs));
    println!("live run took {wall:.1} s wall");
    Ok((runs, clips))
}
