//! Node-to-node traffic over HTTP, with the zone table's delay emulated in the sender: every
//! gossip message and every offloaded upload waits RTT/2 (+ size / bandwidth, + jitter) before
//! it leaves, and an offload's answer waits the same on its way back. The kernel here has no
//! netem, and this keeps the simulator's semantics: one-way delay per message.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;
use vidmesh_core::job::{FailKind, Job, OffloadError, RemoteDone};
use vidmesh_core::{wire, Message, NodeId, PeerId, ZoneId, ZoneTable};

use crate::auth::{self, Auth, Kind};
use crate::features;
use crate::headers as h;
use crate::profile::Profile;
use crate::upload::{temp_path, TempFile};

pub const GOSSIP_CONTENT_TYPE: &str = "application/x-vidmesh-gossip";

pub struct Net {
    pub zones: Arc<ZoneTable>,
    pub me: NodeId,
    pub zone: ZoneId,
    pub http: reqwest::Client,
    pub offload_timeout: Duration,
    /// Wait a whole RTT (not half) before an offloaded upload leaves.
    pub offload_full_rtt: bool,
    /// Signs what this node sends and checks offload answers.
    pub auth: Arc<Auth>,
    jitter: Mutex<ChaCha8Rng>,
    /// Gossip messages not yet delivered (or given up), so a node that left can wait for its
    /// goodbye to go out before it exits.
    sending: Arc<AtomicUsize>,
}

/// A finished offload.
pub struct OffloadOk {
    pub output: TempFile,
    pub done: RemoteDone,
    pub exec_name: String,
    pub exec_zone: String,
}

impl Net {
    pub fn new(
        zones: Arc<ZoneTable>,
        me: NodeId,
        zone: ZoneId,
        connect_timeout: Duration,
        offload_timeout: Duration,
        jitter: ChaCha8Rng,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(connect_timeout)
            // Below the peers' header read timeout, which also closes idle connections: a
            // connection is dropped here before the peer closes it under a request.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client builds");
        Net {
            zones,
            me,
            zone,
            http,
            offload_timeout,
            offload_full_rtt: false,
            auth: Arc::new(Auth::open()),
            jitter: Mutex::new(jitter),
            sending: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Emulated one-way delay to a node in zone `to` for a message of `bytes` bytes.
    pub fn delay(&self, to: ZoneId, bytes: u64) -> Duration {
        let mut rng = self.jitter.lock().expect("jitter rng");
        let ms = self
            .zones
            .sample_one_way_ms(self.zone, to, bytes, &mut *rng);
        Duration::from_secs_f64(ms / 1000.0)
    }

    /// Delivers `msg` to `to` after the emulated delay; failures are logged, as for a lost
    /// datagram (membership copes with loss).
    pub fn send(self: &Arc<Self>, to: PeerId, msg: Message, leaving: bool) {
        let net = self.clone();
        let delay = self.delay(to.zone, msg.wire_len() as u64);
        let body = wire::encode(&msg);
        self.sending.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let url = format!("http://{}/gossip", to.addr);
            let (me, zone) = (net.me.0.to_string(), net.zones.name(net.zone));
            let sha = auth::sha256_hex(&body);
            // Signed when it leaves, so the delay does not eat into the receiver's window.
            let sig = if leaving {
                net.auth.sign(
                    Kind::Gossip,
                    None,
                    &auth::leaving_gossip_fields(&me, zone, &sha),
                )
            } else {
                net.auth
                    .sign(Kind::Gossip, None, &auth::gossip_fields(&me, zone, &sha))
            };
            let mut req = net
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, GOSSIP_CONTENT_TYPE)
                .header(h::FROM_NODE, &me)
                .header(h::FROM_ZONE, zone);
            if leaving {
                req = req.header(h::LEAVING, "1");
            }
            if let Some(sig) = sig {
                req = req.header(h::SIGNATURE, sig.header_value());
            }
            let res = req.timeout(Duration::from_secs(5)).body(body).send().await;
            match res {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::debug!(%url, %status, %text, "gossip refused");
                }
                Err(e) => tracing::debug!(%url, error = %e, "gossip not delivered"),
            }
            net.sending.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Waits until every gossip message sent so far was delivered or given up, at most
    /// `within`.
    pub async fn flushed(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.sending.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Uploads `job`'s input to `to` and brings the output back into `work_dir`.
    pub async fn offload(
        &self,
        job: &Job,
        profile: &Profile,
        to: PeerId,
        input: &Path,
        work_dir: &Path,
        budget: Duration,
    ) -> Result<OffloadOk, (OffloadError, String)> {
        // Past the job's deadline nobody waits for the answer (the core cancels it then too).
        let limit = self.offload_timeout.min(budget + Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + budget;
        match tokio::time::timeout(
            limit,
            self.offload_inner(job, profile, to, input, work_dir, deadline),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err((
                OffloadError::Unreachable,
                format!("{} did not answer within {limit:?}", to.addr),
            )),
        }
    }

    async fn offload_inner(
        &self,
        job: &Job,
        profile: &Profile,
        to: PeerId,
        input: &Path,
        work_dir: &Path,
        deadline: tokio::time::Instant,
    ) -> Result<OffloadOk, (OffloadError, String)> {
        let unreachable = |e: String| (OffloadError::Unreachable, e);
        let file = tokio::fs::File::open(input)
            .await
            .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("input: {e}")))?;
        let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        let mut wait = self.delay(to.zone, size);
        if self.offload_full_rtt {
            // The other half of the RTT, as the simulator's `offload_latency = "full_rtt"`.
            let half = (self.zones.rtt_ms(self.zone, to.zone) / 2.0).round();
            wait += Duration::from_millis(half as u64);
        }
        tokio::time::sleep(wait).await;
        let url = format!("http://{}/upload", to.addr);
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file,
            256 * 1024,
        ));
        let (hops, origin) = (job.hops.to_string(), job.origin.0.to_string());
        let (me, zone) = (self.me.0.to_string(), self.zones.name(self.zone));
        let feats = if job.probed {
            features::encode(&job.features)
        } else {
            None
        };
        // The signature covers the input's own hash (the job's content key also folds in
        // the profile), as the peer computes it while storing the body.
        let content = {
            let f = std::fs::File::open(input)
                .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("input: {e}")))?;
            auth::sha256_of_open(&f)
                .await
                .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("input: {e}")))?
        };
        let sig = self.auth.sign(
            Kind::Offload,
            None,
            &auth::offload_fields(&auth::OffloadFields {
                from: &me,
                zone,
                hops: &hops,
                origin: &origin,
                features: feats.as_deref().unwrap_or(""),
                content_sha: &content,
            }),
        );
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .header(h::HOPS, &hops)
            .header(h::ORIGIN, &origin)
            .header(h::FROM_NODE, &me)
            .header(h::FROM_ZONE, zone)
            .header(
                h::DEADLINE_MS,
                // A job without a deadline (admission off) has a budget of centuries; the
                // peer takes at most a day.
                deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .as_millis()
                    .min(u128::from(h::MAX_DEADLINE_MS))
                    .to_string(),
            )
            // The peer transcodes with the profile the client asked this node for.
            .header(h::PROFILE, &profile.name);
        // What this node probed, so the peer skips its own ffprobe run.
        if let Some(f) = &feats {
            req = req.header(h::FEATURES, f);
        }
        if let Some(sig) = &sig {
            req = req.header(h::SIGNATURE, sig.header_value());
        }
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(format!("{url}: {e}")))?;
        let status = resp.status();
        let hdr = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // What the answer's signature covers; the output's hash is known once it is read.
        let reply =
            [h::EXEC_ID, h::EXEC_ZONE, h::HOPS, h::CACHE_HIT].map(|k| hdr(k).unwrap_or_default());
        let reply_sig = hdr(h::SIGNATURE);
        let status_s = status.as_u16().to_string();
        let check_reply = |output_sha: &str| match &sig {
            None => Ok(()),
            Some(sig) => self.auth.check_reply(
                sig.nonce,
                reply_sig.as_deref(),
                &auth::reply_fields(&auth::ReplyFields {
                    content_sha: &content,
                    status: &status_s,
                    output_sha,
                    exec_id: &reply[0],
                    exec_zone: &reply[1],
                    hops: &reply[2],
                    cache_hit: &reply[3],
                }),
            ),
        };
        if !status.is_success() {
            let unsigned = check_reply("").err();
            let retry_after_ms = (resp.headers().get(reqwest::header::RETRY_AFTER))
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .map(|s| s.saturating_mul(1000));
            let text = resp.text().await.unwrap_or_default();
            let kind = match status.as_u16() {
                // An unauthenticated refusal cannot fail the job: it runs here.
                _ if unsigned.is_some() => OffloadError::Rejected {
                    retry_after_ms: None,
                },
                422 => OffloadError::Failed(FailKind::Transcode),
                504 => OffloadError::Failed(FailKind::Timeout),
                // Full queue, or a refusal of this node (unknown peer, limits): run it here.
                400..=499 | 503 => OffloadError::Rejected { retry_after_ms },
                _ => OffloadError::Unreachable,
            };
            return Err((kind, format!("{url}: {status}: {}", text.trim())));
        }
        let exec_id: u32 = hdr(h::EXEC_ID)
            .and_then(|v| v.parse().ok())
            .unwrap_or(to.node.0);
        let exec_name = hdr(h::EXEC_NODE).unwrap_or_else(|| format!("node{exec_id}"));
        let exec_zone = hdr(h::EXEC_ZONE).unwrap_or_else(|| self.zones.name(to.zone).to_string());
        let hops: u8 = hdr(h::HOPS)
            .and_then(|v| v.parse().ok())
            .unwrap_or(job.hops);
        let cache_hit = hdr(h::CACHE_HIT).as_deref() == Some("1");
        let output = TempFile::new(out_path(work_dir, profile));
        let (bytes, output_sha) = if profile.is_hls() {
            // The ladder's files come in further requests; the signature covers the answer.
            let url = format!("http://{}", to.addr);
            (
                self.fetch_ladder(resp, &url, output.path()).await?,
                String::new(),
            )
        } else {
            let mut out = tokio::fs::File::create(output.path())
                .await
                .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("output: {e}")))?;
            let mut stream = resp.bytes_stream();
            let mut bytes = 0u64;
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| unreachable(format!("{url}: answer cut: {e}")))?;
                bytes += chunk.len() as u64;
                sha2::Digest::update(&mut hasher, &chunk);
                out.write_all(&chunk)
                    .await
                    .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("output: {e}")))?;
            }
            out.flush()
                .await
                .map_err(|e| (OffloadError::Failed(FailKind::Io), format!("output: {e}")))?;
            (bytes, auth::hex(&sha2::Digest::finalize(hasher)))
        };
        if bytes == 0 {
            return Err(unreachable(format!("{url}: empty answer")));
        }
        if let Err(why) = check_reply(&output_sha) {
            // Not from a member, or altered on the way: the output is not used.
            return Err(unreachable(format!("{url}: answer refused: {why}")));
        }
        // The answer travels back over the same emulated link.
        tokio::time::sleep(self.delay(to.zone, bytes)).await;
        Ok(OffloadOk {
            output,
            done: RemoteDone {
                executed_by: NodeId(exec_id),
                cache_hit,
                hops,
                output_bytes: bytes,
            },
            exec_name,
            exec_zone,
        })
    }

    /// Brings a ladder the peer made into the directory `dir`: its answer lists the files,
    /// each is fetched from the peer's `/videos/{sha256}/hls/` (as a client would).
    async fn fetch_ladder(
        &self,
        resp: reqwest::Response,
        base: &str,
        dir: &Path,
    ) -> Result<u64, (OffloadError, String)> {
        let io = |e: std::io::Error| (OffloadError::Failed(FailKind::Io), format!("ladder: {e}"));
        let bad = |why: String| (OffloadError::Unreachable, format!("{base}: {why}"));
        let body = resp
            .bytes()
            .await
            .map_err(|e| bad(format!("ladder answer cut: {e}")))?;
        let body: LadderAnswer = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("unreadable ladder answer: {e}")))?;
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let mut total = 0;
        for name in &body.files {
            // A peer's list is not trusted to name paths outside the directory.
            if !crate::cache::is_ladder_file_name(name) {
                return Err(bad(format!("the ladder names a bad file `{name}`")));
            }
            let url = format!("{base}/videos/{}/hls/{name}", body.content_sha256);
            let r = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| bad(format!("{url}: {e}")))?;
            if !r.status().is_success() {
                return Err(bad(format!("{url}: {}", r.status())));
            }
            total += save(r, &url, &dir.join(name)).await?;
        }
        if !body.files.iter().any(|f| f == crate::cache::MASTER) {
            return Err(bad("the ladder has no master playlist".into()));
        }
        Ok(total)
    }
}

/// What a node answers to an upload in the `hls` profile (the fields a peer needs).
#[derive(serde::Deserialize)]
struct LadderAnswer {
    content_sha256: String,
    files: Vec<String>,
}

/// Streams an answer's body into `path`; returns its size.
async fn save(
    resp: reqwest::Response,
    url: &str,
    path: &Path,
) -> Result<u64, (OffloadError, String)> {
    let io = |e: std::io::Error| (OffloadError::Failed(FailKind::Io), format!("output: {e}"));
    let mut out = tokio::fs::File::create(path).await.map_err(io)?;
    let mut stream = resp.bytes_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| (OffloadError::Unreachable, format!("{url}: answer cut: {e}")))?;
        bytes += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    Ok(bytes)
}

/// A fresh output path in `work_dir`: a file, or for the ladder a directory to create.
pub fn out_path(work_dir: &Path, profile: &Profile) -> PathBuf {
    if profile.is_hls() {
        temp_path(work_dir, "ladder")
    } else {
        temp_path(work_dir, "out").with_extension("mp4")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use vidmesh_core::zone::LinkSpec;

    fn net(table: ZoneTable, from: &str) -> Net {
        let zone = table.zone(from).unwrap();
        Net::new(
            Arc::new(table),
            NodeId(1),
            zone,
            Duration::from_secs(1),
            Duration::from_secs(1),
            ChaCha8Rng::seed_from_u64(1),
        )
    }

    #[test]
    fn delays_are_half_the_rtt_plus_transfer_time() {
        let t = ZoneTable::report_default();
        let (fra, iad, bom) = (
            t.zone("FRA").unwrap(),
            t.zone("IAD").unwrap(),
            t.zone("BOM").unwrap(),
        );
        let n = net(t, "FRA");
        assert_eq!(n.delay(fra, 1_000_000), Duration::from_millis(5));
        assert_eq!(n.delay(iad, 0), Duration::from_millis(45));
        assert_eq!(n.delay(bom, 0), Duration::from_millis(100));
        // A seed not yet known has the unknown-pair RTT.
        assert_eq!(n.delay(ZoneId::UNKNOWN, 0), Duration::from_millis(50));

        let names = vec!["A".to_string(), "B".to_string()];
        let links = vec![LinkSpec {
            zones: ["A".into(), "B".into()],
            rtt_ms: 20.0,
            bandwidth_mbps: Some(80.0),
            jitter_ms: Some(5.0),
        }];
        let n = net(ZoneTable::new(&names, &links, 100.0).unwrap(), "A");
        // 10 MB at 80 Mbit/s = 1 s, + 10 ms, ± jitter.
        let d: Vec<f64> = (0..200)
            .map(|_| n.delay(ZoneId(1), 10_000_000).as_secs_f64() * 1e3)
            .collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        assert!((mean - 1010.0).abs() < 2.0, "{mean}");
        assert!(d.iter().any(|&x| (x - 1010.0).abs() > 1.0), "no jitter");
    }
}
