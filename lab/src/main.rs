//! `sim`: run vidmesh scenarios in the discrete-event simulator (`run`, `sweep`, `bench`), as
//! real node processes or docker-compose containers (`live`), or both side by side
//! (`validate`).

mod calibrate;
mod cmd;
mod compose;
mod drill;
mod fleet;
mod live;
mod soak;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

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
    /// Chaos drills on the docker-compose deployment under the report's client: kill -9 of an
    /// entry node with an offload unanswered, of a target mid-transcode, SIGSTOP of a busy node
    /// for 15 s, the BOM zone partitioned for 30 s. The chaos checker judges each (nothing
    /// lost, nothing answered twice, nothing left on a node) and the membership must heal.
    /// Writes drills.csv and drills.md; exits 1 when a drill fails (docs/reliability.md).
    Drill {
        /// Run only this drill (repeatable; default: all four).
        #[arg(long = "drill", value_enum)]
        drills: Vec<drill::Drill>,
        /// How long the client submits batches, in seconds.
        #[arg(long, default_value_t = 90)]
        run_s: u64,
        /// Output directory: drills.csv, drills.md, and per drill requests.csv and node logs.
        #[arg(long, default_value = "target/drills")]
        out: PathBuf,
        /// The clips (generated there with ffmpeg when it holds no catalog).
        #[arg(long, default_value = "target/drills/catalog")]
        catalog: PathBuf,
        /// The ffmpeg used to generate clips on the host.
        #[arg(long, default_value = "ffmpeg")]
        ffmpeg: String,
        /// KEY=VALUE for docker-compose (repeatable), e.g. `--env VIDMESH_STRATEGY=p2c_ect`.
        #[arg(long = "env", value_parser = parse_env)]
        env: Vec<(String, String)>,
        #[command(flatten)]
        compose: ComposeArgs,
    },
    /// Hunt for protocol bugs: every seed gets its own random fault schedule (crashes, pauses,
    /// drains, partitions, message loss, duplication, delay) on the scenario's cluster, and
    /// every run is checked (each upload answered once or held, no hop past the limit, no
    /// answer lost, the membership whole after a partition heals, every request ended once).
    /// Prints the first failing seed and its schedule; exits 1 when one fails.
    Check {
        /// The scenario TOML file (its own faults are replaced).
        #[arg(default_value = "scenarios/partition.toml")]
        scenario: PathBuf,
        /// Seeds to run: A..B (both included), A..=B, or one seed.
        #[arg(long, default_value = "1..1000")]
        seeds: String,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only this strategy (repeatable).
        #[arg(long = "strategy")]
        strategies: Vec<String>,
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
        } => cmd::run::cmd_run(&scenario, seed, out, &strategies, no_charts, report),
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
        } => cmd::live::cmd_live(
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
            return soak::cmd_soak(&args);
        }
        Cmd::Drill {
            drills,
            run_s,
            out,
            catalog,
            ffmpeg,
            env,
            compose,
        } => {
            let args = drill::DrillArgs {
                drills: if drills.is_empty() {
                    drill::Drill::ALL.to_vec()
                } else {
                    drills
                },
                run_s,
                out,
                catalog,
                ffmpeg,
                env,
                compose: compose.options(),
            };
            return drill::cmd_drill(&args);
        }
        Cmd::Check {
            scenario,
            seeds,
            jobs,
            strategies,
        } => {
            return match cmd::check::cmd_check(&scenario, &seeds, jobs, &strategies) {
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
        } => cmd::sweep::cmd_sweep(&scenario, &seeds, out, jobs, &strategies, no_charts),
        Cmd::LoadCurve {
            scenario,
            loads,
            seeds,
            jobs,
            out,
            strategies,
            no_charts,
        } => match seeds {
            Some(seeds) => cmd::load_curve::cmd_load_curve_seeds(
                &scenario,
                &loads,
                &seeds,
                jobs,
                out,
                &strategies,
                no_charts,
            ),
            None => cmd::load_curve::cmd_load_curve(&scenario, &loads, out, &strategies, no_charts),
        },
        Cmd::Bench {
            scenario,
            runs,
            queue_only,
            duration_s,
            strategy,
        } => cmd::bench::cmd_bench(&scenario, runs, queue_only, duration_s, strategy),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
