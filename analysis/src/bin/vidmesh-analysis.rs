//! Command line over the library, for result folders that already exist (a live run, a folder
//! copied from elsewhere): `sim run` calls the library directly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vidmesh_analysis::{compare, records, sweep, ChartOptions};

#[derive(Parser)]
#[command(
    name = "vidmesh-analysis",
    about = "Charts, reports, sweeps and sim-vs-live comparisons of vidmesh result folders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ChartArgs {
    /// Do not write PNG files.
    #[arg(long)]
    no_png: bool,
    /// Do not write SVG files.
    #[arg(long)]
    no_svg: bool,
    /// Chart size in pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1200x700")]
    size: String,
    /// Client timeout to mark on latency charts (default: inferred from timed-out requests).
    #[arg(long)]
    timeout_ms: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Draw every chart whose CSV is in DIR, next to it.
    Charts {
        dir: PathBuf,
        #[command(flatten)]
        chart: ChartArgs,
    },
    /// Charts plus report.md (the report's numbers next to ours) for DIR.
    Report {
        dir: PathBuf,
        /// Scenario name for the published numbers (default: DIR's name).
        #[arg(long)]
        scenario: Option<String>,
        #[command(flatten)]
        chart: ChartArgs,
    },
    /// Aggregate summary.csv of several seed folders into OUT/sweep.csv and a chart. A folder's
    /// seed is the number its name ends with (e.g. seed-7), else its position.
    Sweep {
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        chart: ChartArgs,
    },
    /// Compare a simulated and a live result folder of one scenario: prints sim, live, relative
    /// error per strategy and metric (recovery after faults and failure detection included), the
    /// rankings and a verdict; writes OUT/compare.csv, compare_ranking.csv and an overlay chart.
    Compare {
        sim: PathBuf,
        live: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Relative goodput error accepted per strategy (0.15 = 15 %), and the margin within
        /// which two strategies tie in a ranking. Exit status 1 when a strategy's goodput is off
        /// by more, or when the success-rate or goodput ranking puts a pair of strategies the
        /// other way round beyond it; the other metrics are reported, not gated. 2 on errors.
        #[arg(long, default_value_t = 0.15)]
        tolerance: f64,
        #[command(flatten)]
        chart: ChartArgs,
    },
}

fn options(
    a: &ChartArgs,
    title: Option<String>,
) -> Result<ChartOptions, Box<dyn std::error::Error>> {
    let (w, h) = a
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| format!("--size must look like 1200x700, got {:?}", a.size))?;
    Ok(ChartOptions {
        width: w,
        height: h,
        png: !a.no_png,
        svg: !a.no_svg,
        client_timeout_ms: a.timeout_ms,
        title_prefix: title,
    })
}

fn dir_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn run(cli: Cli) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    Ok(match cli.command {
        Command::Charts { dir, chart } => {
            vidmesh_analysis::render_all(&dir, &options(&chart, None)?)?
        }
        Command::Report {
            dir,
            scenario,
            chart,
        } => {
            let scenario = scenario.unwrap_or_else(|| dir_name(&dir));
            let mut written =
                vidmesh_analysis::render_all(&dir, &options(&chart, Some(scenario.clone()))?)?;
            written.push(vidmesh_analysis::write_report(&dir, &scenario)?);
            written
        }
        Command::Sweep { out, dirs, chart } => {
            let mut per_seed = Vec::new();
            for (i, d) in dirs.iter().enumerate() {
                let name = dir_name(d);
                let digits: String = name
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let seed = digits.parse().unwrap_or(i as u64);
                per_seed.push((seed, records::read_summary(&d.join("summary.csv"))?));
            }
            sweep::write_sweep(&out, &per_seed, &options(&chart, None)?)?
        }
        Command::Compare {
            sim,
            live,
            out,
            tolerance,
            chart,
        } => {
            let s = records::ScenarioData::load(&sim)?;
            let l = records::ScenarioData::load(&live)?;
            let c = compare::compare_data(&s, &l, tolerance)?;
            let written = compare::write_comparison(&out, &c, &s, &l, &options(&chart, None)?)?;
            print!("{}", c.table());
            if !c.verdict_ok() {
                for p in &written {
                    println!("{}", p.display());
                }
                return Err(Mismatch(c.failures()).into());
            }
            written
        }
    })
}

/// `compare` found the simulator and the live run disagreeing, for these reasons (its files are
/// still written).
#[derive(Debug)]
struct Mismatch(Vec<String>);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sim and live disagree on {} gated check(s): {}",
            self.0.len(),
            self.0.join("; ")
        )
    }
}

impl std::error::Error for Mismatch {}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(written) => {
            for p in written {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<Mismatch>() => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
