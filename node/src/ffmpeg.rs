//! Running ffmpeg: one process per job, arguments from the job's profile (never a shell), a
//! time limit that kills the process, and the pids of running children for self-measurement.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::ffi::OsString;

use tokio::io::AsyncReadExt;
use vidmesh_core::job::FailKind;

use crate::profile::{hls_args, ladder, Profile, Recipe};

/// The stock transcode, the `360p` profile ([`crate::profile`]): fit within 640×360 (portrait
/// 360×640) keeping the display aspect, square pixels, even sides, no upscale. Kept as one
/// string for tools that measure the node's ffmpeg cost outside a node.
pub const DEFAULT_ARGS: &str = "-hide_banner -nostdin -loglevel error -xerror -y -i {in} -vf scale=w='2*max(1,round(iw*sar*min(1,min(640/max(iw*sar,ih),360/min(iw*sar,ih)))/2))':h='2*max(1,round(ih*min(1,min(640/max(iw*sar,ih),360/min(iw*sar,ih)))/2))',setsar=1 -c:v libx264 -preset fast -crf 28 -pix_fmt yuv420p -c:a aac -b:a 96k -f mp4 {out}";

/// Pids of ffmpeg processes this node is running now.
pub type ChildPids = Arc<Mutex<BTreeSet<u32>>>;

#[derive(Clone, Debug)]
pub struct Transcoder {
    pub program: String,
    /// For the ladder, which needs the input's size before it builds ffmpeg's arguments.
    pub ffprobe: String,
    pub timeout: Duration,
    /// ffmpeg is killed when its `-progress` report has not moved for this long.
    pub stall: Duration,
    /// ffmpeg's `-threads` for decoding and encoding: the cores one transcode keeps busy.
    pub threads: u32,
    /// The scheduling priority ffmpeg runs at.
    pub priority: Priority,
    pub children: ChildPids,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TranscodeError {
    pub kind: FailKind,
    pub message: String,
}

fn fail(kind: FailKind, message: String) -> TranscodeError {
    TranscodeError { kind, message }
}

impl Transcoder {
    pub fn new(program: &str, ffprobe: &str, timeout: Duration) -> Self {
        Transcoder {
            program: program.to_string(),
            ffprobe: ffprobe.to_string(),
            timeout,
            stall: Duration::from_secs(30),
            threads: 1,
            priority: Priority::default(),
            children: Arc::default(),
        }
    }

    /// ffmpeg's arguments for `profile` on `input`; for the ladder this probes the input (its
    /// size picks the rungs). `output` is a file, or for the ladder a directory.
    pub async fn args(
        &self,
        profile: &Profile,
        input: &Path,
        output: &Path,
    ) -> Result<Vec<OsString>, TranscodeError> {
        if let Some(template) = profile.mp4_args() {
            return Ok(template
                .iter()
                .map(|a| match a.as_str() {
                    "{in}" => input.as_os_str().to_owned(),
                    "{out}" => output.as_os_str().to_owned(),
                    other => other.into(),
                })
                .collect());
        }
        let Recipe::Hls {
            rungs,
            audio_kbps,
            segment_s,
        } = &profile.recipe
        else {
            unreachable!("every profile but the ladder has single-file arguments");
        };
        let shape = self.shape(input).await?;
        let rungs: Vec<_> = ladder(rungs, shape.width, shape.height, shape.sar)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        Ok(hls_args(
            &rungs,
            *audio_kbps,
            *segment_s,
            shape.audio,
            input,
            output,
        ))
    }

    /// Transcodes `input` with `profile` into `output` (a file, or for the ladder a directory
    /// this creates); returns the output's size (all files of a ladder).
    /// It is killed after `limit` (and the node's own time limit), or when the future is
    /// dropped.
    pub async fn run(
        &self,
        profile: &Profile,
        input: &Path,
        output: &Path,
        limit: Duration,
    ) -> Result<u64, TranscodeError> {
        let args = self.args(profile, input, output).await?;
        if !profile.is_hls() {
            let tail = self.exec(args, input, output, limit).await?;
            return match tokio::fs::metadata(output).await {
                Ok(m) if m.len() > 0 => Ok(m.len()),
                Ok(_) => Err(fail(
                    FailKind::Transcode,
                    format!("ffmpeg produced an empty output: {tail}"),
                )),
                Err(e) => Err(fail(
                    FailKind::Transcode,
                    format!("ffmpeg produced no output ({e}): {tail}"),
                )),
            };
        }
        tokio::fs::create_dir_all(output)
            .await
            .map_err(|e| fail(FailKind::Io, format!("ladder directory: {e}")))?;
        let tail = self.exec(args, input, output, limit).await?;
        if tokio::fs::metadata(output.join("master.m3u8"))
            .await
            .is_err()
        {
            return Err(fail(
                FailKind::Transcode,
                format!("ffmpeg wrote no master playlist: {tail}"),
            ));
        }
        crate::cache::dir_size(output)
            .map_err(|e| fail(FailKind::Io, format!("ladder directory: {e}")))
    }

    /// Runs ffmpeg with `args` under the time limit; returns the last lines of its stderr.
    async fn exec(
        &self,
        mut args: Vec<OsString>,
        input: &Path,
        output: &Path,
        limit: Duration,
    ) -> Result<String, TranscodeError> {
        let timeout = self.timeout.min(limit);
        // Bounded threads, decoder (before the input) and encoder (before the output), unless
        // a custom template sets its own: the node's capacity counts `threads` cores per job.
        if !args.iter().any(|a| a == "-threads") && !args.is_empty() {
            let n: OsString = self.threads.to_string().into();
            let last = args.len() - 1;
            args.splice(last..last, ["-threads".into(), n.clone()]);
            args.splice(0..0, ["-threads".into(), n]);
        }
        // Machine-readable progress on stdout (a block every 0.5 s), for the stall watchdog.
        args.splice(0..0, ["-progress".into(), "pipe:1".into()]);
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        self.priority.apply(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            fail(
                FailKind::Io,
                format!("could not start {}: {e}", self.program),
            )
        })?;
        let pid = child.id();
        let _registered = pid.map(|p| PidGuard::new(&self.children, p));
        let mut stderr = child.stderr.take().expect("stderr is piped");
        // Read stderr concurrently so a chatty ffmpeg never blocks on a full pipe.
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut buf).await;
            // drain the rest without keeping it
            let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            buf
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (moved_tx, mut moved) = tokio::sync::watch::channel(());
        let progress = tokio::spawn(watch_progress(stdout, moved_tx));
        let limit_at = tokio::time::Instant::now() + timeout;
        let mut last_move = tokio::time::Instant::now();
        let mut reporting = true;
        let killed = loop {
            tokio::select! {
                r = child.wait() => match r {
                    Ok(status) => break Ok(status),
                    Err(e) => break Err(fail(FailKind::Io, format!("waiting for ffmpeg: {e}"))),
                },
                changed = moved.changed(), if reporting => match changed {
                    Ok(()) => last_move = tokio::time::Instant::now(),
                    Err(_) => reporting = false, // stdout closed: ffmpeg is ending
                },
                _ = tokio::time::sleep_until(limit_at) => break Err(fail(
                    FailKind::Timeout,
                    format!("ffmpeg ran longer than {timeout:?} and was killed"),
                )),
                _ = tokio::time::sleep_until(last_move + self.stall) => break Err(fail(
                    FailKind::Stalled,
                    format!("ffmpeg made no progress for {:?} and was killed", self.stall),
                )),
            }
        };
        progress.abort();
        let status = match killed {
            Ok(status) => status,
            Err(e) => {
                if e.kind == FailKind::Stalled {
                    tracing::warn!(pid = ?pid, "ffmpeg stalled; killing it");
                }
                let _ = child.kill().await;
                reader.abort();
                return Err(e);
            }
        };
        let stderr = reader.await.unwrap_or_default();
        let tail = last_lines(
            &String::from_utf8_lossy(&stderr)
                .replace(&*input.to_string_lossy(), "input")
                .replace(&*output.to_string_lossy(), "output"),
            3,
        );
        if !status.success() {
            return Err(fail(
                FailKind::Transcode,
                format!("ffmpeg failed ({status}): {tail}"),
            ));
        }
        Ok(tail)
    }

    /// Size, sample aspect ratio and audio presence of `input`, for the ladder's rungs.
    async fn shape(&self, input: &Path) -> Result<Shape, TranscodeError> {
        let mut cmd = tokio::process::Command::new(&self.ffprobe);
        cmd.args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,width,height,sample_aspect_ratio",
            "-of",
            "json",
        ])
        .arg(input)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        die_with_parent(&mut cmd);
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| {
                fail(
                    FailKind::Io,
                    format!("could not start {}: {e}", self.ffprobe),
                )
            })?;
        let _registered = child.id().map(|p| PidGuard::new(&self.children, p));
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(o)) if o.status.success() => o,
            Ok(Ok(o)) => {
                return Err(fail(
                    FailKind::Transcode,
                    format!(
                        "ffprobe failed: {}",
                        last_lines(&String::from_utf8_lossy(&o.stderr), 1)
                    ),
                ))
            }
            Ok(Err(e)) => return Err(fail(FailKind::Io, format!("ffprobe: {e}"))),
            Err(_) => return Err(fail(FailKind::Timeout, "ffprobe timed out".into())),
        };
        Shape::parse(&out.stdout)
            .ok_or_else(|| fail(FailKind::Transcode, "the input has no video stream".into()))
    }
}

#[derive(Debug, PartialEq)]
struct Shape {
    width: u32,
    height: u32,
    sar: f64,
    audio: bool,
}

impl Shape {
    fn parse(json: &[u8]) -> Option<Shape> {
        let v: serde_json::Value = serde_json::from_slice(json).ok()?;
        let streams = v.get("streams")?.as_array()?;
        let kind = |s: &serde_json::Value, k: &str| {
            s.get("codec_type").and_then(|t| t.as_str()) == Some(k)
        };
        let video = streams.iter().find(|s| kind(s, "video"))?;
        let dim = |k: &str| video.get(k)?.as_u64().filter(|&d| d > 0).map(|d| d as u32);
        // "16:11"; "0:1" or absent means unknown, i.e. square.
        let sar = video
            .get("sample_aspect_ratio")
            .and_then(|s| s.as_str())
            .and_then(|s| s.split_once(':'))
            .and_then(|(n, d)| Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?))
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or(1.0);
        Some(Shape {
            width: dim("width")?,
            height: dim("height")?,
            sar,
            audio: streams.iter().any(|s| kind(s, "audio")),
        })
    }
}

/// Makes the child die when this node dies, even by SIGKILL (a crash fault must not leave
/// orphaned ffmpeg processes eating the CPU the survivors are measured on). Linux only.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: the closure only calls prctl, which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// The CPU priority of transcodes relative to the node's own work (health checks, gossip,
/// admission), which must stay prompt while every core of the allotment is transcoding.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// nice 10: the node wins ~10:1 when both want the CPU, and ffmpeg still gets its share
    /// next to other programs on a shared machine.
    #[default]
    Nice,
    /// SCHED_IDLE: ffmpeg runs only on CPU nothing else wants. Best on a machine (or
    /// container) of its own; on a shared one other programs can starve it.
    Idle,
    /// The node's own priority.
    Normal,
}

impl Priority {
    /// Makes `cmd`'s child run at this priority (Linux; elsewhere nothing changes).
    pub fn apply(self, cmd: &mut tokio::process::Command) {
        #[cfg(target_os = "linux")]
        if self != Priority::Normal {
            // SAFETY: only sched_setscheduler and setpriority, async-signal-safe syscalls, run
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let param = libc::sched_param { sched_priority: 0 };
                    let idle = self == Priority::Idle
                        && libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0;
                    if !idle {
                        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
                    }
                    Ok(())
                });
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (self, cmd);
    }
}

/// Reads ffmpeg's `-progress` blocks and signals each one whose position moved (frames,
/// output time or output size), until stdout closes.
async fn watch_progress(
    stdout: tokio::process::ChildStdout,
    moved: tokio::sync::watch::Sender<()>,
) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let (mut now, mut last) = (ProgressMark::default(), ProgressMark::default());
    while let Ok(Some(line)) = lines.next_line().await {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k {
            "frame" => now.frame = v.trim().to_string(),
            "out_time_us" => now.out_time_us = v.trim().to_string(),
            "total_size" => now.total_size = v.trim().to_string(),
            // The end of a block that moved.
            "progress" if now != last => {
                last = now.clone();
                if moved.send(()).is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Default, PartialEq)]
struct ProgressMark {
    frame: String,
    out_time_us: String,
    total_size: String,
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "no diagnostics".into()
    } else {
        t
    }
}

/// Keeps a child's pid in the set the self-measurement reads while the child runs.
pub(crate) struct PidGuard {
    set: ChildPids,
    pid: u32,
}

impl PidGuard {
    pub(crate) fn new(set: &ChildPids, pid: u32) -> Self {
        set.lock().expect("pid set").insert(pid);
        PidGuard {
            set: set.clone(),
            pid,
        }
    }
}

impl Drop for PidGuard {
    fn drop(&mut self) {
        self.set.lock().expect("pid set").remove(&self.pid);
    }
}

/// Why a program the node needs (ffmpeg, ffprobe) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotInstalled {
    #[error("`{program} -version` exited with {status}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
    },
    #[error(
        "`{program}` cannot be run ({source}); install it (Debian/Ubuntu: `apt-get install -y \
         ffmpeg`) or pass its path"
    )]
    Missing {
        program: String,
        source: std::io::Error,
    },
}

/// Fails with a message saying how to get ffmpeg when `program` cannot be run.
pub fn check_installed(program: &str) -> Result<(), NotInstalled> {
    let program_s = program.to_string();
    match std::process::Command::new(program)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(status) => Err(NotInstalled::Failed {
            program: program_s,
            status,
        }),
        Err(source) => Err(NotInstalled::Missing {
            program: program_s,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_reads_size_aspect_and_audio() {
        let j = br#"{"streams":[{"codec_type":"video","width":720,"height":576,"sample_aspect_ratio":"16:11"},{"codec_type":"audio"}]}"#;
        let s = Shape::parse(j).unwrap();
        assert_eq!((s.width, s.height, s.audio), (720, 576, true));
        assert!((s.sar - 16.0 / 11.0).abs() < 1e-9);
        let j = br#"{"streams":[{"codec_type":"video","width":640,"height":360,"sample_aspect_ratio":"0:1"}]}"#;
        assert_eq!(
            Shape::parse(j),
            Some(Shape {
                width: 640,
                height: 360,
                sar: 1.0,
                audio: false
            })
        );
        assert_eq!(
            Shape::parse(br#"{"streams":[{"codec_type":"audio"}]}"#),
            None
        );
        assert_eq!(Shape::parse(b"not json"), None);
    }
}
