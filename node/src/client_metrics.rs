//! The load client's live counters and `GET /metrics` (Prometheus text), for a dashboard that
//! wants the client's view (success %, goodput, latency) while a run is going on.
//!
//! One set of counters per process ([`global`]): every request the client runs is counted, and
//! a driver that runs the client in-process (`sim live`) can serve them with [`serve`] too.
//! Latencies go into a histogram with fine buckets, so a scraper can estimate percentiles over
//! any window from two scrapes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use vidmesh_loadgen::{Outcome, RequestRecord};

/// Upper bounds (ms) of the latency histogram's buckets; the last bucket is `+Inf`.
pub const LATENCY_BUCKETS_MS: [u64; 26] = [
    50, 100, 200, 300, 400, 500, 750, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000,
    7_500, 10_000, 12_500, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 120_000,
];

const OUTCOMES: [Outcome; 5] = Outcome::ALL;

#[derive(Default)]
pub struct ClientMetrics {
    started: AtomicU64,
    ended: [AtomicU64; 5],
    attempts: AtomicU64,
    cache_hits: AtomicU64,
    offloaded: AtomicU64,
    /// Successful requests by latency bucket (not cumulative; the last is `+Inf`).
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    latency_sum_ms: AtomicU64,
}

/// This process's client counters.
pub fn global() -> &'static ClientMetrics {
    static M: OnceLock<ClientMetrics> = OnceLock::new();
    M.get_or_init(ClientMetrics::default)
}

impl ClientMetrics {
    pub fn started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn ended(&self, r: &RequestRecord) {
        let i = OUTCOMES.iter().position(|o| *o == r.outcome).unwrap_or(0);
        self.ended[i].fetch_add(1, Ordering::Relaxed);
        self.attempts
            .fetch_add(r.attempts as u64, Ordering::Relaxed);
        if r.outcome == Outcome::Ok {
            let ms = r.latency_ms();
            let b = LATENCY_BUCKETS_MS
                .iter()
                .position(|le| ms <= *le)
                .unwrap_or(LATENCY_BUCKETS_MS.len());
            self.buckets[b].fetch_add(1, Ordering::Relaxed);
            self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
            self.cache_hits
                .fetch_add(r.cache_hit as u64, Ordering::Relaxed);
            self.offloaded
                .fetch_add(r.offloaded as u64, Ordering::Relaxed);
        }
    }

    /// Prometheus text exposition format.
    pub fn prometheus(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let started = get(&self.started);
        let ended: u64 = self.ended.iter().map(get).sum();
        s.push_str("# HELP vidmesh_client_requests_started_total Requests the client submitted.\n");
        s.push_str("# TYPE vidmesh_client_requests_started_total counter\n");
        s.push_str(&format!(
            "vidmesh_client_requests_started_total {started}\n"
        ));
        s.push_str("# HELP vidmesh_client_requests_total Requests that ended, by outcome.\n");
        s.push_str("# TYPE vidmesh_client_requests_total counter\n");
        for (o, n) in OUTCOMES.iter().zip(&self.ended) {
            s.push_str(&format!(
                "vidmesh_client_requests_total{{outcome=\"{}\"}} {}\n",
                o.as_str(),
                get(n)
            ));
        }
        s.push_str("# HELP vidmesh_client_in_flight Requests submitted and not yet ended.\n");
        s.push_str("# TYPE vidmesh_client_in_flight gauge\n");
        s.push_str(&format!(
            "vidmesh_client_in_flight {}\n",
            started.saturating_sub(ended)
        ));
        for (name, help, v) in [
            (
                "attempts_total",
                "Attempts made by ended requests.",
                &self.attempts,
            ),
            (
                "cache_hits_total",
                "Successful requests answered from a cache.",
                &self.cache_hits,
            ),
            (
                "offloaded_total",
                "Successful requests the entry node offloaded.",
                &self.offloaded,
            ),
        ] {
            s.push_str(&format!(
                "# HELP vidmesh_client_{name} {help}\n# TYPE vidmesh_client_{name} counter\nvidmesh_client_{name} {}\n",
                get(v)
            ));
        }
        s.push_str("# HELP vidmesh_client_latency_ms Latency of successful requests (submit to answer, all attempts), ms.\n");
        s.push_str("# TYPE vidmesh_client_latency_ms histogram\n");
        let mut cum = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cum += get(n);
            let le = LATENCY_BUCKETS_MS
                .get(i)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "+Inf".into());
            s.push_str(&format!(
                "vidmesh_client_latency_ms_bucket{{le=\"{le}\"}} {cum}\n"
            ));
        }
        s.push_str(&format!(
            "vidmesh_client_latency_ms_sum {}\n",
            get(&self.latency_sum_ms)
        ));
        s.push_str(&format!("vidmesh_client_latency_ms_count {cum}\n"));
        s
    }
}

/// Serves [`global`]'s counters on `GET /metrics` at `addr` until the process ends; returns
/// the bound address.
pub async fn serve(addr: &str) -> anyhow::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("client metrics: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4",
                )],
                global().prometheus(),
            )
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "client metrics server stopped");
        }
    });
    tracing::info!(addr = %local, "client metrics on /metrics");
    Ok(local)
}
