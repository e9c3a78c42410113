//! The HTTP service: uploads, downloads, health, status, metrics and the gossip endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use vidmesh_core::job::{FailKind, Job, JobId, Outcome};
use vidmesh_core::{wire, JobFeatures, NodeId, ZoneTable};

use crate::auth::{self, Auth, Kind, Rejection};
use crate::driver::{Command, JobResult, NodeInfo};
use crate::features::{self, Decoded};
use crate::ffmpeg::ChildPids;
use crate::headers as h;
use crate::probe::{probe, ProbeError};
use crate::transport::GOSSIP_CONTENT_TYPE;
use crate::upload::{receive, UploadError};

/// Largest gossip message accepted.
const MAX_GOSSIP_BYTES: usize = 64 * 1024;

pub struct AppState {
    pub info: Arc<NodeInfo>,
    pub tx: mpsc::Sender<Command>,
    pub zones: Arc<ZoneTable>,
    pub max_upload: u64,
    pub ffprobe: String,
    pub probe_timeout: Duration,
    /// Running ffmpeg/ffprobe children, for the node's CPU figure.
    pub children: ChildPids,
    /// Checks node-to-node requests and signs offload answers.
    pub auth: Arc<Auth>,
    /// An upload that sends no bytes for this long is given up (408).
    pub upload_idle: Duration,
    /// Uploads being received at once; beyond, 503 (slow clients cannot hold every socket,
    /// file and buffer).
    pub max_receiving: usize,
    pub receiving: AtomicUsize,
}

/// One upload being received; the slot is freed when it is dropped.
struct Receiving<'a>(&'a AtomicUsize);

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/upload", post(upload))
        .route("/videos/{sha256}", get(video))
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/gossip", post(gossip))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {method} {}; a node serves POST /upload, GET /videos/{{sha256}}, \
             GET /health, GET /status, GET /metrics and POST /gossip",
            uri.path()
        ),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    let allow = match uri.path() {
        "/upload" | "/gossip" => "POST",
        _ => "GET, HEAD",
    };
    let mut resp = err(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}: use {allow}", uri.path()),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// An error response: status plus a JSON body, `{"error": "<plain words>"}`, with the tool's
/// own output (ffprobe, ffmpeg, a peer's answer) apart in `"detail"` when there is one.
pub struct ApiError {
    status: StatusCode,
    error: String,
    detail: Option<String>,
    retry_after_s: Option<u32>,
}

impl ApiError {
    fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_s = Some(secs);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.error });
        if let Some(d) = self.detail {
            body["detail"] = d.into();
        }
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Some(s) = self.retry_after_s {
            resp.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        resp
    }
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError {
        status,
        error: msg.into(),
        detail: None,
        retry_after_s: None,
    }
}

impl AppState {
    fn bad(&self, status: StatusCode, msg: impl Into<String>) -> ApiError {
        self.info.http.bad_requests.fetch_add(1, Ordering::Relaxed);
        err(status, msg)
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down"))?;
        rx.await
            .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "the node is shutting down"))
    }
}

/// Marks a refusal as the connection's last response: it may come before the body was read,
/// and a client reusing the connection would then send its next request into a closed socket.
fn closing(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// A refused signature: 401 when there was none, 403 when it is wrong.
fn auth_err(why: Rejection) -> ApiError {
    let status = match why {
        Rejection::Missing => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    };
    err(
        status,
        format!("not authenticated as a cluster member: {why}"),
    )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Who sent a request from a peer, checked against the zone table.
fn peer_sender(st: &AppState, headers: &HeaderMap) -> Result<(NodeId, String), ApiError> {
    let node = header_str(headers, h::FROM_NODE)
        .ok_or_else(|| {
            st.bad(
                StatusCode::BAD_REQUEST,
                format!("missing {} header", h::FROM_NODE),
            )
        })?
        .parse::<u32>()
        .map_err(|_| {
            st.bad(
                StatusCode::BAD_REQUEST,
                format!("{} must be a node number", h::FROM_NODE),
            )
        })?;
    let zone = header_str(headers, h::FROM_ZONE).ok_or_else(|| {
        st.bad(
            StatusCode::BAD_REQUEST,
            format!("missing {} header", h::FROM_ZONE),
        )
    })?;
    if st.zones.zone(zone).is_none() {
        return Err(st.bad(
            StatusCode::FORBIDDEN,
            format!("unknown peer: zone `{zone}` is not in this node's zone table"),
        ));
    }
    Ok((NodeId(node), zone.to_string()))
}

/// The features a peer sent with an offload; `None` when it sent none (an older peer) or a
/// version this node does not read, and the node probes.
fn sent_features(st: &AppState, headers: &HeaderMap) -> Result<Option<JobFeatures>, ApiError> {
    let Some(value) = headers.get(h::FEATURES) else {
        return Ok(None);
    };
    let malformed = |why: String| {
        st.bad(
            StatusCode::BAD_REQUEST,
            format!("malformed {} header: {why}", h::FEATURES),
        )
    };
    let value = value
        .to_str()
        .map_err(|_| malformed("it is not visible ASCII".into()))?;
    match features::decode(value).map_err(malformed)? {
        Decoded::Known(f) => Ok(Some(f)),
        Decoded::OtherVersion(v) => {
            tracing::debug!(version = v, "ignoring {} of another version", h::FEATURES);
            Ok(None)
        }
    }
}

async fn upload(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    match upload_inner(&st, &headers, body, started).await {
        Ok(r) => r,
        Err(e) => closing(e.into_response()),
    }
}

async fn upload_inner(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, ApiError> {
    // Raw bytes only: a form or JSON body would be hashed and transcoded as garbage.
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !(essence.starts_with("video/") || essence == "application/octet-stream") {
            return Err(st.bad(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type `{essence}` is not accepted: send the video's bytes as the body with Content-Type video/* or application/octet-stream"
                ),
            ));
        }
    }
    let hops: u8 = match header_str(headers, h::HOPS) {
        None => 0,
        Some(v) => v.parse().map_err(|_| {
            st.bad(
                StatusCode::BAD_REQUEST,
                format!("{} must be a number 0–255, got `{v}`", h::HOPS),
            )
        })?,
    };
    let sig = header_str(headers, h::SIGNATURE);
    let (origin, sent, from) = if hops > 0 {
        let (from, zone) = peer_sender(st, headers)?;
        let known = st
            .ask(|reply| Command::IsPeer { node: from, reply })
            .await?;
        if !known {
            return Err(st.bad(
                StatusCode::FORBIDDEN,
                format!(
                    "unknown peer: node {} is not a member of this node's cluster",
                    from.0
                ),
            ));
        }
        let origin = header_str(headers, h::ORIGIN)
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| {
                st.bad(
                    StatusCode::BAD_REQUEST,
                    format!("{} must name the entry node's number", h::ORIGIN),
                )
            })?;
        // Refused before the body is read when it cannot be valid whatever the body is.
        st.auth.precheck(Kind::Offload, sig).map_err(auth_err)?;
        (
            NodeId(origin),
            sent_features(st, headers)?,
            Some((from, zone)),
        )
    } else {
        // A client's features would steer routing: only a member's are believed.
        (st.info.id, None, None)
    };
    if let Some(len) =
        header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok())
    {
        if len > st.max_upload {
            return Err(st.bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the upload ({len} bytes) is larger than this node's limit of {}",
                    crate::upload::describe_size(st.max_upload)
                ),
            ));
        }
    }
    if st.receiving.fetch_add(1, Ordering::Relaxed) >= st.max_receiving {
        st.receiving.fetch_sub(1, Ordering::Relaxed);
        return Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this node is already receiving {} uploads: try again shortly or another node",
                st.max_receiving
            ),
        )
        .retry_after(1));
    }
    let slot = Receiving(&st.receiving);
    let received = receive(
        body.into_data_stream(),
        &st.info.work_dir,
        st.max_upload,
        st.upload_idle,
    )
    .await
    .map_err(|e| match e {
        UploadError::Empty => st.bad(StatusCode::BAD_REQUEST, e.to_string()),
        UploadError::TooLarge { .. } => st.bad(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        UploadError::Interrupted { .. } => st.bad(StatusCode::BAD_REQUEST, e.to_string()),
        UploadError::Idle { .. } => st.bad(StatusCode::REQUEST_TIMEOUT, e.to_string()),
        UploadError::Io(_) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    })?;
    drop(slot);
    // The signature covers the body's hash, known only now; checked before anything acts on it.
    let mut reply_nonce = None;
    if let Some((from, zone)) = &from {
        let raw = |k: &str| header_str(headers, k).unwrap_or("");
        let (id, content) = (from.0.to_string(), received.content.to_hex());
        let fields = auth::offload_fields(&auth::OffloadFields {
            from: &id,
            zone,
            hops: raw(h::HOPS),
            origin: raw(h::ORIGIN),
            features: raw(h::FEATURES),
            content_sha: &content,
        });
        reply_nonce = st
            .auth
            .check(Kind::Offload, from.0, sig, &fields)
            .map_err(auth_err)?
            .map(|s| s.nonce);
    }
    if let Some(f) = &sent {
        if f.size_bytes != received.bytes {
            return Err(st.bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} describes a {}-byte upload but {} bytes arrived",
                    h::FEATURES,
                    f.size_bytes,
                    received.bytes
                ),
            ));
        }
    }
    // Content the cache holds is a video checked before; the core will answer it from the
    // cache, so ffprobe would only add latency. (Evicted meanwhile: it runs with size only.)
    let content = received.content;
    let cached = st.ask(|reply| Command::IsCached { content, reply }).await?;
    let features = if cached {
        Ok(JobFeatures {
            size_bytes: received.bytes,
            ..Default::default()
        })
    } else if let Some(f) = sent {
        // The sending member probed these bytes already.
        st.info.http.probes_skipped.fetch_add(1, Ordering::Relaxed);
        Ok(JobFeatures {
            size_bytes: received.bytes,
            ..f
        })
    } else {
        st.info.http.probes.fetch_add(1, Ordering::Relaxed);
        probe(
            &st.ffprobe,
            received.file.path(),
            received.bytes,
            st.probe_timeout,
            &st.children,
        )
        .await
    };
    let features = features.map_err(|e| match e {
        ProbeError::NotAVideo(_) => st.bad(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        ProbeError::Unparsable(tool) => st
            .bad(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not a video the node can read: ffprobe cannot parse it (truncated, corrupt or \
                 not a video container)",
            )
            .detail(tool),
        ProbeError::Spawn { .. } | ProbeError::Timeout(_) => {
            err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    })?;
    let job = Job {
        id: JobId(st.info.next_job.fetch_add(1, Ordering::Relaxed)),
        content: received.content,
        features,
        hops,
        origin,
    };
    let input = Arc::new(received.file);
    let result: JobResult = st
        .ask(|reply| Command::Submit { job, input, reply })
        .await?;
    respond(st, &job, result, started, reply_nonce).await
}

/// `reply_nonce`: the nonce of a verified offload, whose answer is signed.
async fn respond(
    st: &AppState,
    job: &Job,
    r: JobResult,
    started: Instant,
    reply_nonce: Option<u64>,
) -> Result<Response, ApiError> {
    // Plain words in `error`; ffmpeg's (or a peer's) own message goes to `detail`.
    let (status, msg) = match r.outcome {
        Outcome::Done { .. } => (StatusCode::OK, ""),
        Outcome::Rejected(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "every worker is busy and the queue is full: try again or another node",
        ),
        Outcome::Failed(FailKind::Transcode) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the video could not be transcoded: ffmpeg failed on it (corrupt or unsupported)",
        ),
        Outcome::Failed(FailKind::Timeout) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the transcode took too long and was stopped",
        ),
        Outcome::Failed(FailKind::Io) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the node could not store or read the result",
        ),
    };
    let output_sha = match (&r.output, reply_nonce) {
        (Some(f), Some(_)) => auth::sha256_of_open(f)
            .await
            .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, format!("output: {e}")))?,
        _ => String::new(),
    };
    let mut resp = if let (Outcome::Done { .. }, Some(file)) = (&r.outcome, r.output) {
        let len = file.metadata().map(|m| m.len()).ok();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 64 * 1024);
        let mut resp = Response::new(Body::from_stream(stream));
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        if let Some(len) = len {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, len.into());
        }
        resp
    } else {
        let status = if status == StatusCode::OK {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            status
        };
        let e = err(status, msg);
        match r.error.clone() {
            Some(d) => e.detail(d),
            None => e,
        }
        .into_response()
    };
    let hd = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            hd.insert(k, v);
        }
    };
    set(h::CONTENT_HASH, job.content.to_hex());
    set(h::NODE, st.info.name.clone());
    set(h::ZONE, st.info.zone_code.clone());
    if let Outcome::Done {
        executed_by,
        cache_hit,
        hops,
        offloaded,
        fallback,
        ..
    } = r.outcome
    {
        set(h::EXEC_NODE, r.exec_name.clone());
        set(h::EXEC_ID, executed_by.0.to_string());
        set(h::EXEC_ZONE, r.exec_zone.clone());
        set(h::HOPS, hops.to_string());
        set(h::CACHE_HIT, (cache_hit as u8).to_string());
        set(h::OFFLOADED, (offloaded as u8).to_string());
        set(h::FALLBACK, (fallback as u8).to_string());
    }
    set(h::LATENCY_MS, started.elapsed().as_millis().to_string());
    if let Some(nonce) = reply_nonce {
        let raw = |k: &str| {
            hd.get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let fields = [h::EXEC_ID, h::EXEC_ZONE, h::HOPS, h::CACHE_HIT].map(raw);
        let sig = st.auth.sign(
            Kind::Reply,
            Some(nonce),
            &auth::reply_fields(&auth::ReplyFields {
                content_sha: &job.content.to_hex(),
                status: resp.status().as_u16().to_string().as_str(),
                output_sha: &output_sha,
                exec_id: &fields[0],
                exec_zone: &fields[1],
                hops: &fields[2],
                cache_hit: &fields[3],
            }),
        );
        if let Some(v) = sig.and_then(|s| HeaderValue::from_str(&s.header_value()).ok()) {
            resp.headers_mut().insert(h::SIGNATURE, v);
        }
    }
    Ok(resp)
}

async fn video(State(st): State<Arc<AppState>>, UrlPath(hash): UrlPath<String>) -> Response {
    let Some(content) = vidmesh_core::ContentHash::from_hex(&hash.to_ascii_lowercase()) else {
        return st
            .bad(
                StatusCode::BAD_REQUEST,
                format!("`{hash}` is not a SHA-256 in hex (64 characters)"),
            )
            .into_response();
    };
    match st.info.cache.open_entry(&content) {
        Ok(f) => {
            let len = f.metadata().map(|m| m.len()).ok();
            let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(f));
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
            if let Some(len) = len {
                resp.headers_mut()
                    .insert(header::CONTENT_LENGTH, len.into());
            }
            resp
        }
        Err(_) => err(
            StatusCode::NOT_FOUND,
            format!("no transcode of {hash} on this node"),
        )
        .into_response(),
    }
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    let body = serde_json::json!({"status": "ok", "node": st.info.name, "zone": st.info.zone_code});
    axum::Json(body).into_response()
}

async fn status(State(st): State<Arc<AppState>>) -> Response {
    match st.ask(Command::Status).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    match st.ask(Command::Status).await {
        Ok(s) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            s.prometheus() + &st.auth.prometheus(&st.info.name, &st.info.zone_code),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn gossip(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match gossip_inner(&st, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => {
            st.info.http.bad_gossip.fetch_add(1, Ordering::Relaxed);
            closing(e.into_response())
        }
    }
}

async fn gossip_inner(st: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Result<(), ApiError> {
    let ct = header_str(headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    if ct != GOSSIP_CONTENT_TYPE {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("gossip must be sent as {GOSSIP_CONTENT_TYPE}"),
        ));
    }
    let (from, zone) = peer_sender(st, headers)?;
    let mut bytes = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| err(StatusCode::BAD_REQUEST, format!("gossip body: {e}")))?;
        if bytes.len() + chunk.len() > MAX_GOSSIP_BYTES {
            return Err(err(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("gossip messages are limited to {MAX_GOSSIP_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let (id, body_sha) = (from.0.to_string(), auth::sha256_hex(&bytes));
    let fields = auth::gossip_fields(&id, &zone, &body_sha);
    st.auth
        .check(
            Kind::Gossip,
            from.0,
            header_str(headers, h::SIGNATURE),
            &fields,
        )
        .map_err(auth_err)?;
    let msg = wire::decode(&bytes).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            format!("malformed gossip message from node {}: {e}", from.0),
        )
    })?;
    let verdict = st.ask(|ack| Command::Gossip { msg, ack }).await?;
    verdict.map_err(|r| {
        let status = if r.unknown_peer {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        err(status, format!("gossip refused: {}", r.reason))
    })
}
