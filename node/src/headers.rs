//! HTTP header names shared by the node's server, its offload client and the load client.

/// SHA-256 of the uploaded bytes (hex), on every `/upload` response.
pub const CONTENT_HASH: &str = "x-vidmesh-content-sha256";
/// Name of the node that produced the output (`node3`).
pub const EXEC_NODE: &str = "x-vidmesh-executed-by";
/// Numeric id of that node.
pub const EXEC_ID: &str = "x-vidmesh-executed-id";
/// Zone code of that node.
pub const EXEC_ZONE: &str = "x-vidmesh-executed-zone";
/// Name of the node that answered this HTTP request.
pub const NODE: &str = "x-vidmesh-node";
/// Zone of the node that answered this HTTP request.
pub const ZONE: &str = "x-vidmesh-zone";
/// Offload hops the job took; on a request, the hops already taken (set by an offloading peer).
pub const HOPS: &str = "x-vidmesh-hops";
/// `1` when the output came from a content cache.
pub const CACHE_HIT: &str = "x-vidmesh-cache-hit";
/// `1` when the entry node sent the job to a peer.
pub const OFFLOADED: &str = "x-vidmesh-offloaded";
/// `1` when an offload failed and the entry node ran the job itself.
pub const FALLBACK: &str = "x-vidmesh-fallback";
/// Milliseconds between the request's arrival and its response headers, as the node measured.
pub const LATENCY_MS: &str = "x-vidmesh-server-latency-ms";
/// On an upload: the milliseconds its sender will still wait for the answer (the node's
/// `--deadline-s` when absent). An offloading peer sends what is left of its own.
pub const DEADLINE_MS: &str = "x-vidmesh-deadline-ms";
/// The largest [`DEADLINE_MS`] accepted: one day (longer budgets are surely a mistake).
pub const MAX_DEADLINE_MS: u64 = 86_400_000;
/// On a request from a peer: the node the client uploaded to.
pub const ORIGIN: &str = "x-vidmesh-origin";
/// On a request from a peer: the sending node's id and zone code.
pub const FROM_NODE: &str = "x-vidmesh-from-node";
pub const FROM_ZONE: &str = "x-vidmesh-from-zone";
/// On an offload: the job's features as the sending node probed them, so the peer need not run
/// ffprobe again (`v=1;w=1280;h=720;frames=50;duration_ms=2000;size=1048576`; see
/// [`crate::features`]). Read only on requests from peers; a client's is ignored.
pub const FEATURES: &str = "x-vidmesh-features";
/// The output profile: on an upload, the one asked for (a client's choice, or the entry node's
/// on an offload; `?profile=` does the same); on an answer, the one produced.
pub const PROFILE: &str = "x-vidmesh-profile";

/// On node-to-node requests and on the answers to offloads: the HMAC under the cluster key
/// (`t=<unix ms>;n=<nonce>;m=<hex>`; see [`crate::auth`]).
pub const SIGNATURE: &str = "x-vidmesh-signature";

/// On gossip: `1` when the sender drained and left the cluster, so its peers show it as `left`
/// rather than `down` (it is covered by the signature).
pub const LEAVING: &str = "x-vidmesh-leaving";
