//! vidmesh's observer: finds the nodes through any seed's `/status` (membership comes from
//! gossip, so no list of nodes is needed), scrapes every node's `/status` and the load client's
//! `/metrics` once a second, keeps a rolling history in memory and serves the live dashboard.
//!
//! It only reads: no node asks it anything, so stopping it changes nothing for the cluster.
//!
//! From a driver (`sim live`):
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let cfg = vidmesh_observer::Config {
//!     listen: "127.0.0.1:8005".into(),
//!     seeds: vec!["127.0.0.1:7001".into()],
//!     client: Some("127.0.0.1:7100".into()),
//!     ..Default::default()
//! };
//! let observer = vidmesh_observer::bind(cfg).await?;
//! println!("dashboard on http://{}", observer.local_addr);
//! tokio::spawn(observer.run(std::future::pending()));
//! # Ok(()) }
//! ```
//! or simply `vidmesh_observer::serve(cfg).await` (runs until Ctrl-C / SIGTERM).

pub mod client;
pub mod error;
pub mod history;
pub mod prom;
pub mod scrape;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::history::Store;

#[derive(Clone, Debug)]
pub struct Config {
    /// Where the dashboard listens.
    pub listen: String,
    /// Node addresses (`host:port`) to start discovery from; one live node is enough.
    pub seeds: Vec<String>,
    /// The load client's metrics address (`host:port`), if there is one to show.
    pub client: Option<String>,
    /// Time between scrape rounds.
    pub interval: Duration,
    /// How much history is kept (and can be shown).
    pub history: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "0.0.0.0:8005".into(),
            seeds: Vec::new(),
            client: None,
            interval: Duration::from_secs(1),
            history: Duration::from_secs(15 * 60),
        }
    }
}

/// A bound, not yet running observer.
pub struct Observer {
    pub local_addr: SocketAddr,
    listener: tokio::net::TcpListener,
    store: Arc<Mutex<Store>>,
    interval: Duration,
}

/// Checks `config` and binds the dashboard's listener.
pub async fn bind(config: Config) -> anyhow::Result<Observer> {
    let seeds: Vec<String> = config
        .seeds
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    anyhow::ensure!(
        !seeds.is_empty(),
        "the observer needs at least one seed node address (--seeds host:port)"
    );
    for s in &seeds {
        check_addr("seed", s)?;
    }
    if let Some(c) = config.client.as_deref().filter(|c| !c.trim().is_empty()) {
        check_addr("--client", c)?;
    }
    anyhow::ensure!(
        config.interval >= Duration::from_millis(100),
        "the scrape interval must be at least 100 ms"
    );
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("the dashboard cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let store = Store::new(
        seeds,
        config.client.clone().filter(|c| !c.trim().is_empty()),
        config.interval.as_millis() as u64,
        config.history.as_millis() as u64,
        scrape::unix_ms(),
    );
    Ok(Observer {
        local_addr,
        listener,
        store: Arc::new(Mutex::new(store)),
        interval: config.interval,
    })
}

/// `host:port`, optionally as an `http://` URL.
fn check_addr(what: &str, s: &str) -> anyhow::Result<()> {
    let hostport = s
        .trim()
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let port = hostport.rsplit_once(':').map(|(_, p)| p);
    anyhow::ensure!(
        port.is_some_and(|p| p.parse::<u16>().is_ok()),
        "{what} `{s}` must be host:port (e.g. node1:8000 or 127.0.0.1:7001)"
    );
    Ok(())
}

impl Observer {
    /// Scrapes and serves until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scraper = tokio::spawn(scrape::run(self.store.clone(), self.interval));
        let app = web::router(self.store);
        tracing::info!(addr = %self.local_addr, "dashboard listening");
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        scraper.abort();
        served.context("the dashboard server failed")
    }
}

/// Binds and runs the observer until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    bind(config).await?.run(shutdown_signal()).await
}

/// Ctrl-C, or SIGTERM on Unix (what `docker stop` sends): the node's own handler.
pub use vidmesh_node::serve::shutdown_signal;
