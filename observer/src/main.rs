//! `vidmesh-observer`: the live dashboard (see the library's docs).

use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "vidmesh-observer",
    version,
    about = "Finds vidmesh nodes through gossip, scrapes them and serves the live dashboard"
)]
struct Args {
    /// Where the dashboard listens.
    #[arg(long, env = "VIDMESH_OBSERVER_LISTEN", default_value = "0.0.0.0:8005")]
    listen: String,
    /// Node addresses to start discovery from, host:port, comma-separated (one live node is
    /// enough: the rest are found in its membership). Also read from OBSERVER_SEEDS.
    #[arg(
        long,
        visible_alias = "seed",
        env = "VIDMESH_OBSERVER_SEEDS",
        value_delimiter = ','
    )]
    seeds: Vec<String>,
    /// The load client's metrics address, host:port (`vidmesh-node client --metrics-listen`).
    #[arg(long, env = "VIDMESH_OBSERVER_CLIENT")]
    client: Option<String>,
    /// Time between scrapes, ms.
    #[arg(long, env = "VIDMESH_OBSERVER_INTERVAL_MS", default_value_t = 1_000)]
    interval_ms: u64,
    /// History kept in memory, seconds.
    #[arg(long, env = "VIDMESH_OBSERVER_HISTORY_S", default_value_t = 900)]
    history_s: u64,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = Args::parse();
    if args.seeds.is_empty() {
        if let Ok(v) = std::env::var("OBSERVER_SEEDS") {
            args.seeds = v.split(',').map(str::to_string).collect();
        }
    }
    let config = vidmesh_observer::Config {
        listen: args.listen,
        seeds: args.seeds,
        client: args.client,
        interval: Duration::from_millis(args.interval_ms),
        history: Duration::from_secs(args.history_s),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(vidmesh_observer::serve(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
