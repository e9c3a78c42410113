//! Reading a video's features with ffprobe, which is also how a node tells a video from
//! anything else before it queues a job.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use vidmesh_core::job::JobFeatures;

use crate::ffmpeg::{ChildPids, PidGuard};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("not a video the node can read: {0}")]
    NotAVideo(String),
    /// ffprobe refused the file; its first error line, which is for the `detail` of a response.
    #[error("not a video the node can read (ffprobe cannot parse it): {0}")]
    Unparsable(String),
    #[error("ffprobe could not be run ({program}): {error}")]
    Spawn { program: String, error: String },
    #[error("ffprobe did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Deserialize)]
struct Out {
    #[serde(default)]
    streams: Vec<Stream>,
    #[serde(default)]
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    #[serde(default)]
    nb_frames: Option<String>,
    #[serde(default)]
    nb_read_packets: Option<String>,
    #[serde(default)]
    avg_frame_rate: Option<String>,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Deserialize)]
struct Format {
    #[serde(default)]
    duration: Option<String>,
}

fn rate(r: &str) -> Option<f64> {
    let (n, d) = r.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then_some(n / d)
}

/// ffprobe's arguments before the file. Demuxing every packet (no decoding) finds a file cut
/// short: it holds fewer packets than its header declares.
pub const PROBE_ARGS: &[&str] = &[
    "-v",
    "error",
    "-count_packets",
    "-select_streams",
    "v:0",
    "-show_entries",
    "stream=width,height,nb_frames,nb_read_packets,avg_frame_rate,duration:format=duration",
    "-of",
    "json",
];

/// Probes `path`; `size_bytes` is filled in from the caller's count. The ffprobe process is
/// registered in `children` while it runs, so the node's CPU figure counts it as it burns
/// CPU rather than all at once when it is reaped.
pub async fn probe(
    ffprobe: &str,
    path: &Path,
    size_bytes: u64,
    timeout: Duration,
    children: &ChildPids,
) -> Result<JobFeatures, ProbeError> {
    let mut cmd = tokio::process::Command::new(ffprobe);
    cmd.args(PROBE_ARGS)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    crate::ffmpeg::die_with_parent(&mut cmd);
    let spawn_err = |e: std::io::Error| ProbeError::Spawn {
        program: ffprobe.to_string(),
        error: e.to_string(),
    };
    let child = cmd.spawn().map_err(spawn_err)?;
    let _registered = child.id().map(|p| PidGuard::new(children, p));
    // On timeout the child is dropped, which kills it.
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => return Err(ProbeError::Timeout(timeout)),
        Ok(Err(e)) => return Err(spawn_err(e)),
        Ok(Ok(out)) => out,
    };
    // ffprobe names the file; the client does not need this node's temp paths.
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&*path.to_string_lossy(), "the upload");
    let first_err = stderr
        .lines()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .unwrap_or("unrecognised data");
    if !out.status.success() {
        return Err(ProbeError::Unparsable(first_err.to_string()));
    }
    let parsed: Out = serde_json::from_slice(&out.stdout)
        .map_err(|e| ProbeError::NotAVideo(format!("unreadable ffprobe output: {e}")))?;
    let Some(s) = parsed.streams.into_iter().next() else {
        return Err(ProbeError::NotAVideo("the file has no video stream".into()));
    };
    let (Some(width), Some(height)) = (s.width, s.height) else {
        return Err(ProbeError::NotAVideo(
            "the video stream has no dimensions".into(),
        ));
    };
    if width == 0 || height == 0 {
        return Err(ProbeError::NotAVideo(
            "the video stream has no dimensions".into(),
        ));
    }
    let duration_s = s
        .duration
        .as_deref()
        .and_then(|d| d.parse::<f64>().ok())
        .or_else(|| parsed.format.and_then(|f| f.duration?.parse().ok()))
        .unwrap_or(0.0);
    let declared = s.nb_frames.as_deref().and_then(|n| n.parse::<u32>().ok());
    let present = s
        .nb_read_packets
        .as_deref()
        .and_then(|n| n.parse::<u32>().ok());
    if let (Some(d), Some(p)) = (declared, present) {
        if p < d {
            return Err(ProbeError::NotAVideo(format!(
                "the file is truncated: its header declares {d} video frames but only {p} are present"
            )));
        }
    }
    if present == Some(0) {
        return Err(ProbeError::NotAVideo(
            "the video stream holds no frames".into(),
        ));
    }
    let frames = declared
        .or_else(|| {
            let fps = rate(s.avg_frame_rate.as_deref()?)?;
            Some((fps * duration_s).round() as u32)
        })
        .unwrap_or(0);
    Ok(JobFeatures {
        size_bytes,
        width,
        height,
        frames,
        duration_ms: (duration_s * 1000.0).round() as u32,
        ..Default::default()
    })
}
