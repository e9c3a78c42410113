//! `sim run`: every strategy of a scenario in the simulator, a summary table, the CSV files.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vidmesh_sim::{metrics, run_scenario, summary_table, Catalog, Scenario};

use super::{load, render_charts};

/// Progress bars that appear only once a run has taken more than a second, and only on a
/// terminal (indicatif hides them otherwise).
struct Progress {
    multi: MultiProgress,
    bars: Mutex<Vec<Option<ProgressBar>>>,
    names: Vec<String>,
    total_ms: u64,
    started: Instant,
}

impl Progress {
    fn new(s: &Scenario) -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(vec![None; s.strategies.len()]),
            names: s.strategies.iter().map(|(n, _)| n.clone()).collect(),
            total_ms: s.duration_ms,
            started: Instant::now(),
        }
    }

    fn update(&self, k: usize, t: u64) {
        if self.started.elapsed() < Duration::from_secs(1) {
            return;
        }
        let mut bars = self.bars.lock().expect("progress lock");
        let bar = bars[k].get_or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new(self.total_ms / 1000));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} [{bar:30}] {pos}/{len} s simulated ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(self.names[k].clone());
            b
        });
        bar.set_position((t / 1000).min(self.total_ms / 1000));
    }

    fn finish(&self) {
        for b in self.bars.lock().expect("progress lock").iter().flatten() {
            b.finish_and_clear();
        }
    }
}

pub(crate) fn cmd_run(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    strategies: &[String],
    no_charts: bool,
    report: bool,
) -> Result<()> {
    let s = load(path, seed, strategies)?;
    let catalog = Catalog::build(&s);
    let dir = out.unwrap_or_else(|| PathBuf::from("results").join(&s.name));
    println!(
        "scenario {} · seed {} · {} nodes · {} s · strategies: {}",
        s.name,
        s.seed,
        s.nodes.len(),
        s.duration_ms / 1000,
        s.strategies
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let progress = Progress::new(&s);
    let started = Instant::now();
    let runs = run_scenario(&s, &catalog, &|k, t| progress.update(k, t));
    progress.finish();
    let wall = started.elapsed().as_secs_f64();
    print!("{}", summary_table(&runs));
    for r in &runs {
        println!(
            "{}: {} transcodes finished, {} stopped; {:.0} CPU-s transcoding, {:.1} % of it for no client",
            r.strategy,
            r.work.transcodes_done,
            r.work.transcodes_aborted,
            r.work.transcode_cpu_s,
            r.work.wasted_pct()
        );
    }
    let broken: Vec<String> = runs
        .iter()
        .filter_map(|r| Some(format!("{}: {}", r.strategy, r.violation.as_ref()?)))
        .collect();
    if broken.is_empty() {
        println!("checked: no node broke a rule of the job protocol");
    }
    for b in &broken {
        println!("PROTOCOL VIOLATION (the run stopped there) {b}");
    }
    let events: u64 = runs.iter().map(|r| r.events).sum();
    println!("seed {} · {} events in {:.2} s wall", s.seed, events, wall);
    metrics::write_all(&dir, &s, &catalog, &runs)
        .with_context(|| format!("writing results into {}", dir.display()))?;
    println!("wrote {}", dir.display());
    if !no_charts {
        render_charts(&dir, &s);
    }
    if report {
        let p = vidmesh_analysis::write_report(&dir, &s.name)
            .with_context(|| format!("writing report.md into {}", dir.display()))?;
        println!("wrote {}", p.display());
    }
    if !broken.is_empty() {
        anyhow::bail!(
            "{} run(s) broke the job protocol (above); the files are written for inspection",
            broken.len()
        );
    }
    Ok(())
}
