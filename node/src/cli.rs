//! The `vidmesh-node` command line, callable from another binary too: a driver that wants node
//! processes without shipping this binary can re-run itself with a hidden subcommand that calls
//! [`run`] (see [`crate::args::NodeLaunch::command_via`]).

use std::path::PathBuf;

use crate::args::ServeArgs;
use crate::catalog::{self, CatalogSpec};
use crate::ffmpeg::Transcoder;
use crate::profile::Profiles;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vidmesh-node",
    version,
    about = "A vidmesh transcoding node, its load client and its clip generator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a node (configured by flags or NODE_NAME, NODE_ZONE, SEED_NODES, …).
    Serve(Box<ServeArgs>),
    /// Generate test clips with ffmpeg and their catalog.csv.
    Catalog {
        #[arg(long, default_value = "catalog")]
        out: PathBuf,
        #[arg(long, default_value_t = 12)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Longest clip in seconds.
        #[arg(long, default_value_t = 4)]
        max_seconds: u32,
        /// Largest frame height (240, 360, 480, 720 or 1080).
        #[arg(long, default_value_t = 1080)]
        max_height: u32,
        /// Shortest clip in seconds.
        #[arg(long, default_value_t = 1)]
        min_seconds: u32,
        /// Smallest frame height.
        #[arg(long, default_value_t = 240)]
        min_height: u32,
        /// Film grain (ffmpeg's temporal noise strength, 0–100): camera-like clips that cost
        /// what real footage costs to transcode, instead of clean synthetic pictures.
        #[arg(long, default_value_t = 0)]
        grain: u32,
        /// Copies of each clip that differ only in their metadata (a remux, no re-encode): as
        /// many distinct uploads, cold for the cache, at the cost of one encode.
        #[arg(long, default_value_t = 1)]
        variants: u32,
        #[arg(long, default_value = "ffmpeg")]
        ffmpeg: String,
    },
    /// Drain a node: it takes no new work, finishes its jobs, leaves the cluster and exits 0
    /// (`POST /admin/drain`, signed with the cluster key when there is one).
    Drain(crate::admin::DrainArgs),
    /// Run the load client against running nodes and write requests.csv.
    Client(crate::client::ClientArgs),
    /// List the output profiles; with --input, print the ffmpeg command each would run on that
    /// file (tab-separated: profile, then the shell-quoted command), e.g. to measure its cost.
    Profiles {
        #[arg(long)]
        input: Option<PathBuf>,
        /// Output path in the printed commands (a directory for `hls`); `<out>.<profile>.mp4`.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        #[arg(long, env = "FFMPEG", default_value = "ffmpeg")]
        ffmpeg: String,
        #[arg(long, env = "FFPROBE", default_value = "ffprobe")]
        ffprobe: String,
        /// As `serve --ffmpeg-args`: adds the `custom` profile.
        #[arg(long, env = "FFMPEG_ARGS", allow_hyphen_values = true)]
        ffmpeg_args: Option<String>,
    },
}

async fn print_profiles(
    input: Option<PathBuf>,
    out: PathBuf,
    ffmpeg: String,
    ffprobe: String,
    template: Option<String>,
) -> anyhow::Result<()> {
    let profiles = Profiles::new(template.as_deref(), None)?;
    let Some(input) = input else {
        for p in profiles.all() {
            println!("{}\t{}", p.name, p.describe());
        }
        return Ok(());
    };
    let t = Transcoder::new(&ffmpeg, &ffprobe, std::time::Duration::from_secs(60));
    for p in profiles.all() {
        let out = if p.is_hls() {
            out.with_extension(&p.name)
        } else {
            out.with_extension(format!("{}.mp4", p.name))
        };
        let args = t.args(p, &input, &out).await?;
        let words: Vec<String> = std::iter::once(ffmpeg.clone().into())
            .chain(args)
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect();
        // A reader that stops early (`| head`) is not an error.
        use std::io::Write;
        if writeln!(std::io::stdout().lock(), "{}\t{}", p.name, words.join(" ")).is_err() {
            break;
        }
    }
    Ok(())
}

/// Quotes a word for a POSIX shell unless it is plainly safe.
fn shell_quote(w: &str) -> String {
    let safe = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,%@".contains(&b));
    if safe {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// Parses `args` (the first is the program name) and runs the subcommand to its end.
/// Installs a tracing subscriber on stderr (filter: `RUST_LOG`, default `info`) if none is set.
pub fn run<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // File I/O runs on blocking threads; bound them so a burst of uploads cannot spawn
        // hundreds of threads (each with its own allocator arena).
        .max_blocking_threads(64)
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async move {
        match cli.cmd {
            Cmd::Serve(args) => {
                let node = crate::serve::bind(*args).await?;
                tracing::info!(addr = %node.local_addr, "listening");
                node.run(crate::serve::shutdown_signal()).await
            }
            Cmd::Catalog {
                out,
                count,
                seed,
                max_seconds,
                max_height,
                min_seconds,
                min_height,
                grain,
                variants,
                ffmpeg,
            } => {
                let spec = CatalogSpec {
                    count,
                    seed,
                    max_seconds,
                    max_height,
                    min_seconds,
                    min_height,
                    grain,
                    variants,
                    ffmpeg,
                };
                let clips =
                    tokio::task::spawn_blocking(move || catalog::generate(&out, &spec)).await??;
                let total: u64 = clips.iter().map(|c| c.size_bytes).sum();
                println!("{} clips, {} bytes", clips.len(), total);
                Ok(())
            }
            Cmd::Client(args) => crate::client::main(args).await,
            Cmd::Drain(args) => crate::admin::drain(args).await,
            Cmd::Profiles {
                input,
                out,
                ffmpeg,
                ffprobe,
                ffmpeg_args,
            } => print_profiles(input, out, ffmpeg, ffprobe, ffmpeg_args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
