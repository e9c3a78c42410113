//! The HTTP service: uploads, downloads, health, status, metrics and the gossip endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use vidmesh_core::job::{FailKind, Job, JobId, Outcome, RejectReason, NO_DEADLINE};
use vidmesh_core::{wire, ContentHash, JobFeatures, NodeId, ZoneTable};

use crate::auth::{self, Auth, Kind, Rejection};
use crate::driver::{Command, JobResult, NodeInfo};
use crate::features::{self, Decoded};
use crate::ffmpeg::ChildPids;
use crate::headers as h;
use crate::profile::{Profile, Profiles, HLS};
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
    /// The deadline of an upload that names none.
    pub default_deadline: Duration,
    /// Running ffmpeg/ffprobe children, for the node's CPU figure.
    pub children: ChildPids,
    pub profiles: Arc<Profiles>,
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
        .route("/videos/{sha256}/hls/{file}", get(ladder_file))
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/gossip", post(gossip))
        .route("/admin/drain", post(admin_drain))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {method} {}; a node serves POST /upload, GET /videos/{{sha256}}, \
             GET /health, GET /status, GET /metrics, POST /gossip and POST /admin/drain",
            uri.path()
        ),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> Response {
    let allow = match uri.path() {
        "/upload" | "/gossip" | "/admin/drain" => "POST",
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
    match features::decode(value).map_err(|e| malformed(e.to_string()))? {
        Decoded::Known(f) => Ok(Some(f)),
        Decoded::OtherVersion(v) => {
            tracing::debug!(version = v, "ignoring {} of another version", h::FEATURES);
            Ok(None)
        }
    }
}

/// The profile a request asks for: `?profile=` or the profile header (they must agree when
/// both are given), else the node's default. An offloading peer sends the header.
fn requested_profile(
    st: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Arc<Profile>, ApiError> {
    let from_query = query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("profile="));
    let from_header = headers
        .get(h::PROFILE)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let name = match (from_query, from_header) {
        (Some(q), Some(hd)) if q != hd => {
            return Err(st.bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "?profile={q} and the {} header ({hd}) disagree: name one profile",
                    h::PROFILE
                ),
            ))
        }
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => return Ok(st.profiles.default_profile().clone()),
    };
    st.profiles
        .get(name)
        .map_err(|e| st.bad(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn upload(
    State(st): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let profile = match requested_profile(&st, &headers, query.as_deref()) {
        Ok(p) => p,
        Err(e) => return closing(e.into_response()),
    };
    match upload_inner(&st, &headers, body, profile, started).await {
        Ok(r) => r,
        Err(e) => closing(e.into_response()),
    }
}

async fn upload_inner(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    profile: Arc<Profile>,
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
    let deadline = started + deadline_budget(st, headers)?;
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
    // Nobody could finish it in time: refused before a byte of the body is read (a client
    // retrying elsewhere should not pay an upload for a refusal).
    let size_bytes = header_str(headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let refusal = st
        .ask(|reply| Command::RefuseEarly {
            deadline,
            size_bytes,
            hops,
            reply,
        })
        .await?;
    let early = match refusal {
        Some(RejectReason::Deadline { retry_after_ms }) => {
            let secs = retry_after_ms.div_ceil(1000).max(1);
            Some((secs, deadline_refusal(secs)))
        }
        Some(RejectReason::Draining { retry_after_ms }) => Some((
            retry_after_ms.div_ceil(1000).max(1),
            "this node is draining (finishing its work before it leaves): send the upload to another node".to_string(),
        )),
        _ => None,
    };
    if let Some((secs, why)) = early {
        discard(body, size_bytes).await;
        return Err(
            err(StatusCode::SERVICE_UNAVAILABLE, why).retry_after(secs.min(u32::MAX as u64) as u32)
        );
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
    // The core caches by this key; the client still sees the input's hash.
    let content = profile.cache_key(&received.content);
    // The core decides whether the upload needs ffprobe (not when it is cached, or when the
    // sending member probed these bytes already), and bounds how many run at once.
    let probed = sent.is_some();
    if probed {
        st.info.http.probes_skipped.fetch_add(1, Ordering::Relaxed);
    }
    // The profile is part of the job's cost: the core predicts and admits with it.
    let features = JobFeatures {
        size_bytes: received.bytes,
        output: profile.cost_shape(),
        ..sent.unwrap_or_default()
    };
    let job = Job {
        id: JobId(st.info.next_job.fetch_add(1, Ordering::Relaxed)),
        content,
        features,
        hops,
        origin,
        deadline: NO_DEADLINE, // set by the driver on its own clock
        probed,
    };
    let input_hash = received.content.to_hex();
    let input = Arc::new(received.file);
    // If this handler is dropped before the answer (the client hung up), the job is cancelled.
    let cancel = CancelOnDrop {
        tx: st.tx.clone(),
        job: Some(job.id),
    };
    let submitted = profile.clone();
    let result: JobResult = st
        .ask(|reply| Command::Submit {
            job,
            input,
            deadline,
            profile: submitted,
            reply,
        })
        .await?;
    cancel.disarm();
    respond(
        st,
        &job,
        &input_hash,
        &profile,
        result,
        started,
        reply_nonce,
    )
    .await
}

/// The answer to a finished ladder: where its master playlist is, and its files (a peer that
/// offloaded the job fetches them).
async fn ladder_answer(st: &AppState, key: &ContentHash, sha: &str) -> Response {
    // The core's index decides: the driver deletes an output the index did not keep only
    // after the reply is sent, so the directory alone could still be there for a moment.
    let content = *key;
    let kept = st
        .ask(|reply| Command::IsCached { content, reply })
        .await
        .unwrap_or(false);
    let files = match st.info.cache.ladder_files(key) {
        Ok(f) if kept && f.iter().any(|f| f == crate::cache::MASTER) => f,
        _ => {
            return err(
                StatusCode::INSUFFICIENT_STORAGE,
                "the ladder was made but this node's cache did not keep it (larger than --cache-mb, or evicted at once): it cannot be served",
            )
            .into_response()
        }
    };
    let master = format!("/videos/{sha}/hls/{}", crate::cache::MASTER);
    let body = serde_json::json!({
        "content_sha256": sha,
        "profile": HLS,
        "master": master,
        "files": files,
    });
    let mut resp = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&master) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Sends [`Command::Cancel`] for its job when dropped armed: axum drops a handler whose client
/// closed the connection, and an offloading peer closes it when it gives up on the job.
struct CancelOnDrop {
    tx: mpsc::Sender<Command>,
    job: Option<JobId>,
}

impl CancelOnDrop {
    fn disarm(mut self) {
        self.job = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            tracing::debug!(job = job.0, "the client left; cancelling");
            // The driver's queue is large; were it full, the job's deadline still ends it.
            let _ = self.tx.try_send(Command::Cancel(job));
        }
    }
}

/// How long the submitter will wait: its `X-Vidmesh-Deadline-Ms` (what was left when it sent
/// the request), else the node's default.
fn deadline_budget(st: &AppState, headers: &HeaderMap) -> Result<Duration, ApiError> {
    let Some(v) = header_str(headers, h::DEADLINE_MS) else {
        return Ok(st.default_deadline);
    };
    match v.trim().parse::<u64>() {
        Ok(ms) if ms <= h::MAX_DEADLINE_MS => Ok(Duration::from_millis(ms)),
        _ => Err(st.bad(
            StatusCode::BAD_REQUEST,
            format!(
                "{} must be the milliseconds the client will wait, 0–{}, got `{v}`",
                h::DEADLINE_MS,
                h::MAX_DEADLINE_MS
            ),
        )),
    }
}

/// The largest upload read and thrown away before a refusal is sent: a socket closed with
/// bytes unread is reset, and a client still sending then sees a broken connection instead of
/// the 503 and its Retry-After. Discarding costs no hashing, no file and no probe; larger
/// uploads are refused unread.
const DISCARD_MAX_BYTES: u64 = 16 << 20;
/// The longest a refusal waits for a slow sender's body before it is sent anyway.
const DISCARD_MAX_WAIT: Duration = Duration::from_secs(2);

/// Reads and drops an upload of `len` bytes that is being refused (see [`DISCARD_MAX_BYTES`]).
async fn discard(body: Body, len: u64) {
    if len > DISCARD_MAX_BYTES {
        return;
    }
    let mut data = body.into_data_stream();
    let drain = async { while let Some(Ok(_)) = data.next().await {} };
    let _ = tokio::time::timeout(DISCARD_MAX_WAIT, drain).await;
}

/// What a client is told when nobody can finish its upload in time.
fn deadline_refusal(retry_after_s: u64) -> String {
    format!(
        "neither this node nor a peer it knows can finish the upload before its deadline; room is expected in about {retry_after_s} s"
    )
}

/// `reply_nonce`: the nonce of a verified offload, whose answer is signed.
async fn respond(
    st: &AppState,
    job: &Job,
    input_hash: &str,
    profile: &Profile,
    r: JobResult,
    started: Instant,
    reply_nonce: Option<u64>,
) -> Result<Response, ApiError> {
    // Plain words in `error`; ffmpeg's (or a peer's) own message goes to `detail`.
    let (status, msg) = match r.outcome {
        Outcome::Done { .. } => (StatusCode::OK, String::new()),
        Outcome::Rejected(RejectReason::QueueFull) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "every worker is busy and the queue is full: try again or another node".into(),
        ),
        Outcome::Rejected(RejectReason::Deadline { retry_after_ms }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            deadline_refusal(retry_after_ms.div_ceil(1000)),
        ),
        Outcome::Rejected(RejectReason::Draining { retry_after_ms }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "this node is draining (finishing its work before it leaves) and no peer could take the upload: try another node, or again in {} s",
                retry_after_ms.div_ceil(1000)
            ),
        ),
        Outcome::Failed(FailKind::NotAVideo) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the upload is not a video this node can read (truncated, corrupt or not a video container)".into(),
        ),
        Outcome::Failed(FailKind::DeadlinePassed) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the upload's deadline passed before its transcode finished".into(),
        ),
        Outcome::Failed(FailKind::Cancelled) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the job was cancelled".into(),
        ),
        Outcome::Failed(FailKind::Transcode) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the video could not be transcoded: ffmpeg failed on it (corrupt or unsupported)".into(),
        ),
        Outcome::Failed(FailKind::Stalled) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the transcode stopped making progress and was stopped (after one retry, if there was time)".into(),
        ),
        Outcome::Failed(FailKind::Timeout) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the transcode took too long and was stopped".into(),
        ),
        Outcome::Failed(FailKind::Io) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the node could not store or read the result".into(),
        ),
    };
    // A ladder's answer is its file list (fetched one by one after): only single files are
    // hashed into the answer's signature.
    let output_sha = match (&r.output, reply_nonce) {
        (Some(f), Some(_)) if !profile.is_hls() => auth::sha256_of_open(f)
            .await
            .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, format!("output: {e}")))?,
        _ => String::new(),
    };
    let mut resp = if let (Outcome::Done { .. }, true) = (&r.outcome, profile.is_hls()) {
        // A ladder is served from the cache entry the driver stored, never from the job's
        // temp directory.
        ladder_answer(st, &job.content, input_hash).await
    } else if let (Outcome::Done { .. }, Some(file)) = (&r.outcome, r.output) {
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
        if let Ok(v) = HeaderValue::from_str(&etag(input_hash, profile, None)) {
            resp.headers_mut().insert(header::ETAG, v);
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
    set(h::CONTENT_HASH, input_hash.to_string());
    set(h::PROFILE, profile.name.clone());
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
    if let Outcome::Rejected(reason) = r.outcome {
        let secs = reason
            .retry_after_ms()
            .unwrap_or(1_000)
            .div_ceil(1000)
            .max(1);
        set(header::RETRY_AFTER.as_str(), secs.to_string());
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
                content_sha: input_hash,
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

/// `"<input sha256>-<profile>-<recipe tag>[-<file>]"`: the same input in another profile, or
/// after the node's recipe for the profile changed, is another representation.
fn etag(sha: &str, profile: &Profile, file: Option<&str>) -> String {
    match file {
        Some(f) => format!("\"{sha}-{}-{}-{f}\"", profile.name, profile.tag()),
        None => format!("\"{sha}-{}-{}\"", profile.name, profile.tag()),
    }
}

fn parse_hash(st: &AppState, hash: &str) -> Result<ContentHash, ApiError> {
    ContentHash::from_hex(&hash.to_ascii_lowercase()).ok_or_else(|| {
        st.bad(
            StatusCode::BAD_REQUEST,
            format!("`{hash}` is not a SHA-256 in hex (64 characters)"),
        )
    })
}

async fn video(
    State(st): State<Arc<AppState>>,
    UrlPath(hash): UrlPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let content = parse_hash(&st, &hash)?;
        let profile = requested_profile(&st, &headers, query.as_deref())?;
        let sha = content.to_hex();
        if profile.is_hls() {
            // The playlists name their files relative to the ladder's directory.
            let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(v) =
                HeaderValue::from_str(&format!("/videos/{sha}/hls/{}", crate::cache::MASTER))
            {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return Ok(r);
        }
        let file = st
            .info
            .cache
            .open_entry(&profile.cache_key(&content))
            .map_err(|_| {
                err(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no transcode of {hash} in profile {} on this node",
                        profile.name
                    ),
                )
            })?;
        let mut r = serve_file(file, "video/mp4", &etag(&sha, &profile, None), &headers);
        if let Ok(v) = HeaderValue::from_str(&profile.name) {
            r.headers_mut().insert(h::PROFILE, v);
        }
        Ok(r)
    })();
    result.unwrap_or_else(|e: ApiError| e.into_response())
}

async fn ladder_file(
    State(st): State<Arc<AppState>>,
    UrlPath((hash, name)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let content = parse_hash(&st, &hash)?;
        let profile = st
            .profiles
            .get(HLS)
            .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let kind = if name.ends_with(".m3u8") {
            "application/vnd.apple.mpegurl"
        } else {
            "video/mp2t"
        };
        let file = st
            .info
            .cache
            .open_ladder_file(&profile.cache_key(&content), &name)
            .map_err(|_| {
                err(
                    StatusCode::NOT_FOUND,
                    format!("no HLS file `{name}` of {hash} on this node"),
                )
            })?;
        let sha = content.to_hex();
        let mut r = serve_file(file, kind, &etag(&sha, &profile, Some(&name)), &headers);
        r.headers_mut()
            .insert(h::PROFILE, HeaderValue::from_static(HLS));
        Ok(r)
    })();
    result.unwrap_or_else(|e: ApiError| e.into_response())
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// No range, or one this server does not do (several ranges, another unit, bad syntax):
    /// the whole body, as RFC 9110 allows.
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    Unsatisfiable,
}

fn parse_range(value: &str, len: u64) -> RangeAsk {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let num = |x: &str| x.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(n) if len > 0 => RangeAsk::Part(len.saturating_sub(n), len - 1),
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return RangeAsk::Whole;
            };
            let end = if b.trim().is_empty() {
                Some(u64::MAX)
            } else {
                num(b)
            };
            match end {
                None => RangeAsk::Whole,
                Some(end) if end < start => RangeAsk::Whole,
                Some(_) if start >= len => RangeAsk::Unsatisfiable,
                Some(end) => RangeAsk::Part(start, end.min(len - 1)),
            }
        }
        (true, true) => RangeAsk::Whole,
    }
}

/// Does an `If-None-Match` value match `etag` (weak comparison, as RFC 9110 asks)?
fn none_match(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// A cached file as a response: `ETag`, `If-None-Match` → 304, a single byte range → 206
/// (`If-Range` honoured), an unsatisfiable one → 416.
fn serve_file(
    file: std::fs::File,
    content_type: &'static str,
    etag: &str,
    req: &HeaderMap,
) -> Response {
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cached file: {e}"),
            )
            .into_response()
        }
    };
    let mut base = HeaderMap::new();
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        base.insert(header::ETAG, v);
    }
    if header_str(req, header::IF_NONE_MATCH.as_str()).is_some_and(|v| none_match(v, etag)) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().extend(base);
        return r;
    }
    // A range of another version of the file would splice two encodes together.
    let range_ok = header_str(req, header::IF_RANGE.as_str()).is_none_or(|v| v.trim() == etag);
    let ask = match header_str(req, header::RANGE.as_str()) {
        Some(v) if range_ok => parse_range(v, len),
        _ => RangeAsk::Whole,
    };
    let (status, start, count) = match ask {
        RangeAsk::Whole => (StatusCode::OK, 0, len),
        RangeAsk::Part(a, b) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                base.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        RangeAsk::Unsatisfiable => {
            let mut r = err(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the range asked for is outside the {len} bytes of this file"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                base.insert(header::CONTENT_RANGE, v);
            }
            r.headers_mut().extend(base);
            return r;
        }
    };
    let mut file = file;
    if start > 0 {
        use std::io::Seek;
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)) {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cached file: {e}"),
            )
            .into_response();
        }
    }
    use tokio::io::AsyncReadExt;
    let reader = tokio::fs::File::from_std(file).take(count);
    let mut r = Response::new(Body::from_stream(
        tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024),
    ));
    *r.status_mut() = status;
    base.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    base.insert(header::CONTENT_LENGTH, count.into());
    r.headers_mut().extend(base);
    r
}

async fn health(State(st): State<Arc<AppState>>) -> Response {
    // Still 200 while draining: the process is healthy, and uploads sent here are passed on
    // to peers; the body says so for whoever wants to stop sending.
    let status = match st.info.lifecycle.load(Ordering::Relaxed) {
        crate::driver::SERVING => "ok",
        s => crate::driver::lifecycle_name(s),
    };
    let body =
        serde_json::json!({"status": status, "node": st.info.name, "zone": st.info.zone_code});
    axum::Json(body).into_response()
}

/// `POST /admin/drain`: take no new work, finish what is here, leave the cluster, exit 0.
/// With a cluster key it needs an operator's signature for this node (see
/// [`auth::admin_fields`]); without one, only a caller on this host (loopback) may ask.
async fn admin_drain(
    State(st): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
) -> Response {
    let peer = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    if st.auth.enabled() {
        let id = st.info.id.0.to_string();
        if let Err(why) = st.auth.check(
            Kind::Admin,
            auth::OPERATOR,
            header_str(&headers, h::SIGNATURE),
            &auth::admin_fields("drain", &id),
        ) {
            tracing::warn!(?peer, %why, "drain request refused");
            return auth_err(why).into_response();
        }
    } else if !peer.is_some_and(|p| p.ip().is_loopback()) {
        tracing::warn!(
            ?peer,
            "drain request from another host refused (no cluster key)"
        );
        return err(
            StatusCode::FORBIDDEN,
            "this node has no cluster key, so it takes /admin/drain only from its own host \
             (loopback); configure a key to drain it remotely with a signed request",
        )
        .into_response();
    }
    match st.ask(Command::Drain).await {
        Ok(jobs) => {
            tracing::info!(?peer, jobs, "drain requested");
            let body = serde_json::json!({
                "status": "draining",
                "node": st.info.name,
                "jobs": jobs,
                "message": "no new work is taken; the node leaves the cluster and exits once its jobs are done",
            });
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
        // The driver is gone: it left already and the process is exiting.
        Err(_) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"status": "left", "node": st.info.name, "jobs": 0})),
        )
            .into_response(),
    }
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
    let leaving = header_str(headers, h::LEAVING) == Some("1");
    let fields: &[&str] = if leaving {
        &auth::leaving_gossip_fields(&id, &zone, &body_sha)
    } else {
        &auth::gossip_fields(&id, &zone, &body_sha)
    };
    st.auth
        .check(
            Kind::Gossip,
            from.0,
            header_str(headers, h::SIGNATURE),
            fields,
        )
        .map_err(auth_err)?;
    let msg = wire::decode(&bytes).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            format!("malformed gossip message from node {}: {e}", from.0),
        )
    })?;
    let leaving = leaving.then_some(from);
    let verdict = st.ask(|ack| Command::Gossip { msg, ack, leaving }).await?;
    verdict.map_err(|r| {
        let status = if r.unknown_peer {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        err(status, format!("gossip refused: {}", r.reason))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        use RangeAsk::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Part(0, 99));
        assert_eq!(parse_range("bytes=900-", 1000), Part(900, 999));
        assert_eq!(parse_range("bytes=900-5000", 1000), Part(900, 999));
        assert_eq!(parse_range("bytes=-100", 1000), Part(900, 999));
        assert_eq!(parse_range("bytes=-5000", 1000), Part(0, 999));
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Whole);
        assert_eq!(parse_range("bytes=5-1", 1000), Whole);
        assert_eq!(parse_range("items=0-1", 1000), Whole);
        assert_eq!(parse_range("bytes=x-1", 1000), Whole);
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let e = "\"abc-360p-1234\"";
        assert!(none_match(e, e));
        assert!(none_match("\"x\", W/\"abc-360p-1234\"", e));
        assert!(none_match("*", e));
        assert!(!none_match("\"abc-720p-1234\"", e));
    }
}
