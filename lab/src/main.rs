//! `sim`: run vidmesh scenarios in the discrete-event simulator (`run`, `sweep`, `bench`), as
//! real node processes or docker-compose containers (`live`), or both side by side
//! (`validate`).

mod calibrate;
mod compose;
mod fleet;
mod live;
mod soak;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vidmesh_sim::{
    metrics, run_scenario, select_strategies, summary_table, sweep, Catalog, Scenario,
};

#[derive(Parser)]
#[command(
    name = "sim",
    about = "vidmesh's deterministic discrete-event simulator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario: print a per-strategy table and write the CSV files.
    Run {
        /// The scenario TOML file.
        scenario: PathBuf,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory (default: results/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Do not render charts after writing the CSVs.
        #[arg(long)]
        no_charts: bool,
        /// Also write report.md (the report's published numbers next to this run's).
        #[arg(long)]
        report: bool,
    },
    /// Run the scenario's cluster as real vidmesh-node processes on loopback (real ffmpeg), with
    /// the scenario's client and faults; writes the same CSV files as `run`.
    Live {
        /// The scenario TOML file.
        scenario: PathBuf,
        /// Output directory (default: results/<scenario name>-live/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Do not render charts after writing the CSVs.
        #[arg(long)]
        no_charts: bool,
        /// Start the live dashboard beside the run (default address 127.0.0.1:8005).
        #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8005")]
        dashboard: Option<String>,
        /// The ffmpeg used to generate clips (the nodes find theirs on PATH).
        #[arg(long, default_value = "ffmpeg")]
        ffmpeg: String,
        /// Run the nodes as the compose file's services instead of local processes.
        #[arg(long)]
        docker: bool,
        #[command(flatten)]
        compose: ComposeArgs,
    },
    /// Validate the simulator on docker-compose: the scenario's workload and faults on the
    /// compose stack (one fresh stack per strategy), `sim run` of the same scenario on the same
    /// clips, and `vidmesh-analysis compare` of the two. Exits 1 when they disagree.
    Validate {
        /// The scenario TOML file (its nodes must be services of the compose file).
        #[arg(default_value = "docker/validation.toml")]
        scenario: PathBuf,
        /// CI mode: the first two strategies, each for at most 150 s.
        #[arg(long)]
        short: bool,
        /// Output directory (default: results/live/<scenario name>/): live/, sim/, compare/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Relative goodput error accepted, and the margin within which two strategies count
        /// as tied when rankings are compared.
        #[arg(long, default_value_t = 0.15)]
        tolerance: f64,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Do not render charts.
        #[arg(long)]
        no_charts: bool,
        /// The ffmpeg used to generate clips on the host.
        #[arg(long, default_value = "ffmpeg")]
        ffmpeg: String,
        /// Keep the live run already in OUT/live (and its clips) and redo only `sim run` and
        /// the comparison: to compare a changed cost model without running the stack again.
        #[arg(long)]
        reuse_live: bool,
        /// Simulate with the scenario's cost model as written, instead of first measuring what
        /// ffmpeg and ffprobe cost in the nodes' containers on this host and scaling it to that.
        #[arg(long)]
        no_calibrate: bool,
        /// Simulate this many seeds (the scenario's and the ones after it) and accept a live
        /// value within the tolerance of any of them: one run of either executor is one draw of
        /// its randomness. 1 compares with the scenario's seed alone.
        #[arg(long, default_value_t = 10)]
        sim_seeds: u64,
        #[command(flatten)]
        compose: ComposeArgs,
    },
    /// The shipped docker-compose deployment (five nodes, the report's client, the dashboard)
    /// left to run under its client, watched from outside: every node's /health latency each
    /// second, SWIM suspicions, docker's health verdict, the dashboard's view. Exits 1 when a
    /// node was unhealthy at any point (docker/README.md).
    Soak {
        /// How long to watch once every node is up, in seconds.
        #[arg(long, default_value_t = 600)]
        duration_s: u64,
        /// Output directory: soak.txt, soak_summary.csv, soak_health.csv, compose.log.
        #[arg(long, default_value = "target/soak")]
        out: PathBuf,
        /// The /health p99 every node must stay under, in ms.
        #[arg(long, default_value_t = 200.0)]
        health_p99_ms: f64,
        /// KEY=VALUE for docker-compose (repeatable): `--env VIDMESH_WORKERS=5 --env
        /// VIDMESH_ADMISSION=off` soaks the report's job handling.
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        #[command(flatten)]
        compose: ComposeArgs,
    },
    /// Independent replications under a range of seeds, in parallel: sweep.csv (mean and 95 %
    /// CI per strategy and metric) and an error-bar chart.
    Sweep {
        /// The scenario TOML file.
        scenario: PathBuf,
        /// Seeds to run: A..B (both included), A..=B, or one seed.
        #[arg(long)]
        seeds: String,
        /// Output directory (default: results/<scenario name>/sweep/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Do not render the chart.
        #[arg(long)]
        no_charts: bool,
    },
    /// Goodput and latency against offered load: the scenario's cluster under Poisson arrivals
    /// at percentages of its capacity (Σ cores × speed ÷ mean CPU-s of a catalog job), every
    /// strategy at every load (load_curve.csv and a chart). With --seeds, a sweep: every load
    /// under every seed, mean and 95 % CI of goodput and p50/p95/p99 latency
    /// (load_curve_runs.csv, load_curve_ci.csv and an error-bar chart).
    LoadCurve {
        /// The scenario TOML file.
        scenario: PathBuf,
        /// Offered loads, % of the cluster's capacity, comma-separated.
        #[arg(long, default_value = "50,75,100,115,150,200,300,400,600")]
        loads: String,
        /// Replicate every load under these seeds: A..B (both included), A..=B, or one seed.
        #[arg(long)]
        seeds: Option<String>,
        /// Worker threads for --seeds (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output directory (default: results/<scenario name>/load_curve/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Do not render the chart.
        #[arg(long)]
        no_charts: bool,
    },
    /// Measure the simulator: events per second and wall time of a scenario (scale_1000 by
    /// default), median of several runs. Writes no files.
    Bench {
        #[arg(default_value = "scenarios/scale_1000.toml")]
        scenario: PathBuf,
        /// How many runs to take the median of.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only measure the event queue (no scenario run).
        #[arg(long)]
        queue_only: bool,
        /// Simulate this long instead of the scenario's duration (a longer run amortises set-up).
        #[arg(long)]
        duration_s: Option<f64>,
        /// Measure this strategy (default: the scenario's first).
        #[arg(long)]
        strategy: Option<String>,
    },
}

/// Where the compose stack of `live --docker` and `validate` comes from.
#[derive(Args, Clone, Debug)]
struct ComposeArgs {
    /// The compose file whose node1…nodeN services run the nodes.
    #[arg(long, default_value = "docker-compose.yml")]
    compose_file: PathBuf,
    /// Compose project name (kept apart from a stack started by hand).
    #[arg(long, default_value = "vidmesh-sim")]
    project: String,
    /// Node i is published on 127.0.0.1:(port-base + i).
    #[arg(long, default_value_t = 18100)]
    port_base: u16,
    /// The image the services run.
    #[arg(long, env = "VIDMESH_IMAGE", default_value = "vidmesh:latest")]
    image: String,
}

/// `KEY=VALUE`, for `--env`.
fn parse_env(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => anyhow::bail!("`{s}`: write KEY=VALUE"),
    }
}

impl ComposeArgs {
    fn options(&self) -> compose::ComposeOptions {
        compose::ComposeOptions {
            file: self.compose_file.clone(),
            project: self.project.clone(),
            port_base: self.port_base,
            image: self.image.clone(),
        }
    }
}

fn main() -> ExitCode {
    // `sim node serve …` is a vidmesh-node, so `sim live` needs no second binary.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "node") {
        return vidmesh_node::cli::run(
            std::iter::once(std::ffi::OsString::from("vidmesh-node")).chain(args[2..].to_vec()),
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIDMESH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Run {
            scenario,
            seed,
            out,
            strategies,
            no_charts,
            report,
        } => cmd_run(&scenario, seed, out, &strategies, no_charts, report),
        Cmd::Live {
            scenario,
            out,
            strategies,
            seed,
            no_charts,
            dashboard,
            ffmpeg,
            docker,
            compose,
        } => cmd_live(
            &scenario,
            seed,
            out,
            &strategies,
            no_charts,
            dashboard,
            ffmpeg,
            docker.then(|| compose.options()),
        ),
        Cmd::Validate {
            scenario,
            short,
            out,
            tolerance,
            strategies,
            no_charts,
            ffmpeg,
            reuse_live,
            no_calibrate,
            sim_seeds,
            compose,
        } => {
            return validate::cmd_validate(&validate::ValidateArgs {
                scenario,
                short,
                out,
                tolerance,
                strategies,
                charts: !no_charts,
                ffmpeg,
                reuse_live,
                calibrate: !no_calibrate,
                sim_seeds,
                compose: compose.options(),
            })
        }
        Cmd::Soak {
            duration_s,
            out,
            health_p99_ms,
            env,
            compose,
        } => {
            let args = soak::SoakArgs {
                duration_s,
                out,
                health_p99_ms,
                env,
                compose: compose.options(),
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: starting the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            return match rt.block_on(soak::soak(&args)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Cmd::Sweep {
            scenario,
            seeds,
            out,
            jobs,
            strategies,
            no_charts,
        } => cmd_sweep(&scenario, &seeds, out, jobs, &strategies, no_charts),
        Cmd::LoadCurve {
            scenario,
            loads,
            seeds,
            jobs,
            out,
            strategies,
            no_charts,
        } => match seeds {
            Some(seeds) => {
                cmd_load_curve_seeds(&scenario, &loads, &seeds, jobs, out, &strategies, no_charts)
            }
            None => cmd_load_curve(&scenario, &loads, out, &strategies, no_charts),
        },
        Cmd::Bench {
            scenario,
            runs,
            queue_only,
            duration_s,
            strategy,
        } => cmd_bench(&scenario, runs, queue_only, duration_s, strategy),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn load(path: &Path, seed: Option<u64>, strategies: &[String]) -> Result<Scenario> {
    let mut s = Scenario::load(path)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    select_strategies(&mut s, strategies).map_err(anyhow::Error::msg)?;
    Ok(s)
}

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

fn cmd_run(
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
    Ok(())
}

fn cmd_load_curve(
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
fn cmd_load_curve_seeds(
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
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    });
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

#[allow(clippy::too_many_arguments)]
fn cmd_live(
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

fn cmd_sweep(
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
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|p| p.get())
            .unwrap_or(1)
    });
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

fn cmd_bench(
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
