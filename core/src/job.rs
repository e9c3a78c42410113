//! Jobs (one upload to transcode) and what becomes of them.

use serde::{Deserialize, Serialize};

use crate::cost::OutputShape;
use crate::peer::NodeId;
use crate::time::Millis;

/// A node-local job number, chosen by the driver.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct JobId(pub u64);

/// SHA-256 of the uploaded bytes: the cache key.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ContentHash(out))
    }
}

/// What a strategy may know about a job before running it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobFeatures {
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub duration_ms: u32,
    /// What the job renders (from its output profile): part of its cost. Not a probe result:
    /// the driver sets it from the request.
    #[serde(default)]
    pub output: OutputShape,
}

impl JobFeatures {
    /// Bytes the result of this input takes, roughly: ~2 kB a frame at 360p (as measured on
    /// the report's clips), scaled by the pixels the profile renders. What routing charges for
    /// bringing a result back over a link.
    pub fn expected_output_bytes(&self) -> u64 {
        let (w, h) = (self.width.max(1), self.height.max(1));
        let px = |(a, b): (u32, u32)| a as f64 * b as f64;
        let base = px(crate::cost::FitBox::P360.output_size(w, h)).max(1.0);
        let rendered: f64 = self.output.renditions(w, h).map(px).sum();
        let scale = if rendered > 0.0 { rendered / base } else { 1.0 };
        (self.frames as f64 * 2_000.0 * scale) as u64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub content: ContentHash,
    pub features: JobFeatures,
    /// Offload hops taken so far (0 = received from a client).
    pub hops: u8,
    /// The node the client uploaded to.
    pub origin: NodeId,
    /// When whoever waits for the answer stops waiting, on the receiving node's clock
    /// ([`NO_DEADLINE`]: never). Drivers convert the remaining budget that travels with an
    /// upload into this.
    pub deadline: Millis,
    /// `features` came from a probe of these bytes (here, or at the peer that sent the job);
    /// otherwise only `size_bytes` is known and the core asks the driver to probe.
    pub probed: bool,
}

/// The deadline of a job nobody times out.
pub const NO_DEADLINE: Millis = Millis::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// Every worker busy and the wait queue at its cap.
    QueueFull,
    /// Neither this node nor any peer it knows could finish the job before its deadline; there
    /// should be room in about `retry_after_ms`.
    Deadline { retry_after_ms: u64 },
    /// The node is draining (finishing its work before it leaves) and no peer could take the
    /// job; the cluster without it should have room in about `retry_after_ms`.
    Draining { retry_after_ms: u64 },
}

impl RejectReason {
    /// When the refusing node expects room, if it knows.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            RejectReason::QueueFull => None,
            RejectReason::Deadline { retry_after_ms }
            | RejectReason::Draining { retry_after_ms } => Some(*retry_after_ms),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailKind {
    /// ffmpeg exited non-zero or produced no output (bad input).
    Transcode,
    /// ffmpeg ran past the per-job time limit and was killed.
    Timeout,
    /// The node could not store or read the result.
    Io,
    /// The upload is not a video ffprobe can read.
    NotAVideo,
    /// The job's deadline passed before it finished (its client had stopped waiting).
    DeadlinePassed,
    /// Whoever submitted the job went away, so it was dropped.
    Cancelled,
    /// ffmpeg made no progress for the node's stall timeout and was killed (after one retry,
    /// or when no retry could finish before the deadline).
    Stalled,
}

/// A peer's answer to an offloaded job, as its driver reports it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteDone {
    pub executed_by: NodeId,
    pub cache_hit: bool,
    /// Hops as counted at the executing node.
    pub hops: u8,
    pub output_bytes: u64,
}

/// Why an offload did not produce a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffloadError {
    /// Could not reach the peer, or it did not answer in time.
    Unreachable,
    /// The peer refused: its queue was full, or it could not finish the job in time. It expects
    /// room in about `retry_after_ms`, when it said.
    Rejected { retry_after_ms: Option<u64> },
    /// The peer ran the job and it failed.
    Failed(FailKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done {
        executed_by: NodeId,
        cache_hit: bool,
        hops: u8,
        output_bytes: u64,
        /// The entry node sent the job to a peer.
        offloaded: bool,
        /// An offload failed and the job then ran here.
        fallback: bool,
    },
    Rejected(RejectReason),
    Failed(FailKind),
}

impl Outcome {
    /// What the peer that offloaded the job learns of this outcome.
    pub fn to_remote(self) -> Result<RemoteDone, OffloadError> {
        match self {
            Outcome::Done {
                executed_by,
                cache_hit,
                hops,
                output_bytes,
                ..
            } => Ok(RemoteDone {
                executed_by,
                cache_hit,
                hops,
                output_bytes,
            }),
            Outcome::Rejected(r) => Err(OffloadError::Rejected {
                retry_after_ms: r.retry_after_ms(),
            }),
            Outcome::Failed(k) => Err(OffloadError::Failed(k)),
        }
    }

    /// Output bytes that travel with the answer.
    pub fn output_bytes(&self) -> u64 {
        match self {
            Outcome::Done { output_bytes, .. } => *output_bytes,
            _ => 0,
        }
    }
}
