//! `vidmesh-node drain`: the operator's side of `POST /admin/drain`, signed with the cluster
//! key when there is one, and optionally waiting until the node has left and exited (what a
//! rolling restart needs before it starts the next version).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::auth::{self, Keyring, Kind, Signature};
use crate::headers as h;
use crate::status::Status;

#[derive(clap::Args, Debug)]
pub struct DrainArgs {
    /// The node: `host:port` or `http://host:port`.
    pub node: String,
    /// Cluster keys, one per line (the primary first); else `CLUSTER_KEY`. Without either
    /// the request is unsigned, which a node takes only from its own host.
    #[arg(long, env = "CLUSTER_KEY_FILE")]
    pub cluster_key_file: Option<PathBuf>,
    /// Return only once the node has left the cluster and stopped answering.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub wait_s: u64,
}

fn base_url(node: &str) -> String {
    let n = node.trim_end_matches('/');
    if n.starts_with("http://") || n.starts_with("https://") {
        n.to_string()
    } else {
        format!("http://{n}")
    }
}

/// The signature header for draining the node with id `node_id`, or `None` without a key.
pub fn drain_signature(ring: Option<&Keyring>, node_id: u32) -> Option<String> {
    let ring = ring?;
    let t_ms = crate::driver::unix_ms();
    // Microseconds: two drains from one operator in the same millisecond still differ.
    let nonce = t_ms.saturating_mul(1000) + u64::from(std::process::id() % 1000);
    let id = node_id.to_string();
    let macs = ring.sign(&auth::canonical(
        Kind::Admin,
        t_ms,
        nonce,
        &auth::admin_fields("drain", &id),
    ));
    Some(Signature { t_ms, nonce, macs }.header_value())
}

/// Asks the node at `url` to drain; returns its status from before and the answer's body.
pub async fn request_drain(
    http: &reqwest::Client,
    url: &str,
    ring: Option<&Keyring>,
) -> anyhow::Result<(Status, String)> {
    // The node's id goes into the signature, so it cannot be replayed to another node.
    let body = http
        .get(format!("{url}/status"))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?
        .bytes()
        .await
        .with_context(|| format!("cannot read {url}/status"))?;
    let status: Status = serde_json::from_slice(&body)
        .with_context(|| format!("{url}/status is not a vidmesh node's status"))?;
    let mut req = http.post(format!("{url}/admin/drain"));
    if let Some(sig) = drain_signature(ring, status.id) {
        req = req.header(h::SIGNATURE, sig);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let code = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !code.is_success() {
        bail!("{url} refused the drain ({code}): {}", text.trim());
    }
    Ok((status, text))
}

pub async fn drain(args: DrainArgs) -> anyhow::Result<()> {
    let ring = Keyring::load(
        args.cluster_key_file.as_deref(),
        std::env::var("CLUSTER_KEY").ok().as_deref(),
    )
    .map_err(|e| anyhow!(e))?;
    let url = base_url(&args.node);
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let (status, text) = request_drain(&http, &url, ring.as_ref()).await?;
    println!("{}", text.trim());
    if !args.wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait_s);
    let mut last = String::new();
    while Instant::now() < deadline {
        match http.get(format!("{url}/status")).send().await {
            Ok(r) => {
                let body = r.bytes().await.unwrap_or_default();
                if let Ok(s) = serde_json::from_slice::<Status>(&body) {
                    // A supervisor may have started the next process on the same port already.
                    if s.gen != status.gen {
                        eprintln!(
                            "{}: left the cluster; a new process (life {}) answers now",
                            status.name, s.gen
                        );
                        return Ok(());
                    }
                    let now = format!("{} jobs={}", s.state, s.in_flight + s.queue_len);
                    if now != last {
                        eprintln!("{}: {now}", s.name);
                        last = now;
                    }
                }
            }
            // Connection refused: the process is gone.
            Err(e) if e.is_connect() => {
                eprintln!("{}: left the cluster and exited", status.name);
                return Ok(());
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(
        "{} is still running after {} s of draining",
        status.name,
        args.wait_s
    )
}
