//! The scrape loop: once per interval, ask every known address for `/status` (and the load
//! client for `/metrics`) in parallel, and hand the round to the store.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vidmesh_node::status::Status;

use crate::client::ClientRaw;
use crate::error::ScrapeError;
use crate::history::{Round, Store};

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `host:port` or a URL → the base URL without a trailing slash.
pub fn base_url(addr: &str) -> String {
    let a = addr.trim().trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_string()
    } else {
        format!("http://{a}")
    }
}

pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(timeout.min(Duration::from_millis(500)))
        .timeout(timeout)
        .build()
        .expect("HTTP client builds")
}

async fn fetch_status(http: &reqwest::Client, addr: &str) -> Result<Status, ScrapeError> {
    let resp = http
        .get(format!("{}/status", base_url(addr)))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !resp.status().is_success() {
        return Err(ScrapeError::Status {
            path: "/status",
            status: resp.status().to_string(),
        });
    }
    let body = resp.bytes().await.map_err(|e| describe(&e))?;
    serde_json::from_slice(&body).map_err(|e| ScrapeError::NotAStatus(e.to_string()))
}

async fn fetch_client(http: &reqwest::Client, addr: &str) -> Result<ClientRaw, ScrapeError> {
    let resp = http
        .get(format!("{}/metrics", base_url(addr)))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !resp.status().is_success() {
        return Err(ScrapeError::Status {
            path: "/metrics",
            status: resp.status().to_string(),
        });
    }
    let text = resp.text().await.map_err(|e| describe(&e))?;
    let samples = crate::prom::parse(&text)?;
    ClientRaw::from_samples(&samples)
}

fn describe(e: &reqwest::Error) -> ScrapeError {
    if e.is_timeout() {
        ScrapeError::Timeout
    } else if e.is_connect() {
        ScrapeError::Unreachable
    } else {
        ScrapeError::Http(e.to_string())
    }
}

/// Scrapes forever, one round per `interval`.
pub async fn run(store: Arc<Mutex<Store>>, interval: Duration) {
    let timeout = interval.mul_f64(0.8).max(Duration::from_millis(200));
    let http = http_client(timeout);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let (targets, client_addr) = {
            let s = store.lock().expect("store");
            (s.targets(), s.client_addr().map(str::to_string))
        };
        let t_ms = unix_ms();
        let nodes = futures_util::future::join_all(targets.iter().map(|a| fetch_status(&http, a)));
        let client = async {
            match &client_addr {
                Some(a) => Some(fetch_client(&http, a).await),
                None => None,
            }
        };
        let (results, client) = tokio::join!(nodes, client);
        for (a, r) in targets.iter().zip(&results) {
            if let Err(e) = r {
                tracing::debug!(addr = %a, error = %e, "scrape failed");
            }
        }
        let round = Round {
            t_ms,
            results: targets.into_iter().zip(results).collect(),
            client,
        };
        store.lock().expect("store").ingest(round);
    }
}
