//! The dashboard's HTTP side: the page and its script and style (compiled in, so it works
//! offline), and `GET /api/snapshot?since=SEQ`, which the page polls.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::history::Store;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("../assets/dashboard.css");

pub fn router(store: Arc<Mutex<Store>>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", DASHBOARD_JS) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", DASHBOARD_CSS) }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/api/snapshot", get(snapshot))
        .with_state(store)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SnapshotQuery {
    /// Ticks up to this sequence number are already held by the page.
    #[serde(default)]
    since: u64,
}

async fn snapshot(
    State(store): State<Arc<Mutex<Store>>>,
    Query(q): Query<SnapshotQuery>,
) -> Response {
    let now = crate::scrape::unix_ms();
    let snap = store.lock().expect("store").snapshot(now, q.since);
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(snap)).into_response()
}
