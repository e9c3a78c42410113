//! Running ffmpeg: one process per job, arguments from a template (never a shell), a time
//! limit that kills the process, and the pids of running children for self-measurement.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use vidmesh_core::job::FailKind;

/// The report's transcode, with flags that keep ffmpeg quiet and non-interactive, and
/// `-xerror` so a corrupt stream fails the job instead of yielding a partial output.
/// `{threads}` (decoder and encoder threads) is the node's `--ffmpeg-threads`, so one
/// transcode keeps exactly the cores the node's capacity counts on it.
pub const DEFAULT_ARGS: &str = "-hide_banner -nostdin -loglevel error -xerror -y -threads {threads} -i {in} -vf scale=640:360 -c:v libx264 -preset fast -crf 28 -threads {threads} -f mp4 {out}";

/// Pids of ffmpeg processes this node is running now.
pub type ChildPids = Arc<Mutex<BTreeSet<u32>>>;

#[derive(Clone, Debug)]
pub struct Transcoder {
    pub program: String,
    /// Whitespace-separated arguments; `{in}` and `{out}` are replaced by the paths.
    pub args: Vec<String>,
    pub timeout: Duration,
    /// What `{threads}` in the arguments becomes.
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

impl Transcoder {
    pub fn new(program: &str, args: &str, timeout: Duration) -> Result<Self, String> {
        let args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        for p in ["{in}", "{out}"] {
            if !args.iter().any(|a| a == p) {
                return Err(format!(
                    "the ffmpeg argument template must contain {p} as an argument of its own"
                ));
            }
        }
        Ok(Transcoder {
            program: program.to_string(),
            args,
            timeout,
            threads: 1,
            priority: Priority::default(),
            children: Arc::default(),
        })
    }

    /// Transcodes `input` into `output` within `limit` (and the node's own time limit); returns
    /// the output's size. Dropping the future kills ffmpeg.
    pub async fn run(
        &self,
        input: &Path,
        output: &Path,
        limit: Duration,
    ) -> Result<u64, TranscodeError> {
        let fail = |kind, message: String| TranscodeError { kind, message };
        let timeout = self.timeout.min(limit);
        let mut cmd = tokio::process::Command::new(&self.program);
        for a in &self.args {
            match a.as_str() {
                "{in}" => cmd.arg(input),
                "{out}" => cmd.arg(output),
                "{threads}" => cmd.arg(self.threads.to_string()),
                other => cmd.arg(other),
            };
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
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
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(fail(FailKind::Io, format!("waiting for ffmpeg: {e}"))),
            Err(_) => {
                let _ = child.kill().await;
                reader.abort();
                return Err(fail(
                    FailKind::Timeout,
                    format!("ffmpeg ran longer than {timeout:?} and was killed"),
                ));
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
        match tokio::fs::metadata(output).await {
            Ok(m) if m.len() > 0 => Ok(m.len()),
            Ok(_) => Err(fail(
                FailKind::Transcode,
                format!("ffmpeg produced an empty output: {tail}"),
            )),
            Err(e) => Err(fail(
                FailKind::Transcode,
                format!("ffmpeg produced no output ({e}): {tail}"),
            )),
        }
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

/// Fails with a message saying how to get ffmpeg when `program` cannot be run.
pub fn check_installed(program: &str) -> Result<(), String> {
    match std::process::Command::new(program)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`{program} -version` exited with {s}")),
        Err(e) => Err(format!(
            "`{program}` cannot be run ({e}); install it (Debian/Ubuntu: `apt-get install -y ffmpeg`) or pass its path"
        )),
    }
}
