//! The nodes of a `sim live` run as things to start, fault and stop: child processes on
//! loopback (`Cluster`) or the compose services (`compose::ComposeFleet`), behind one `Fleet`.
//! What to do and when is decided by the orchestration in `live.rs`.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use vidmesh_node::args::NodeLaunch;

use crate::compose::ComposeFleet;

/// Loopback addresses free right now, one per node.
pub(crate) fn free_addrs(n: usize) -> Result<Vec<SocketAddr>> {
    // Hold every listener until all are chosen so no port is handed out twice.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .context("choosing free loopback ports")?;
    listeners
        .iter()
        .map(|l| l.local_addr().context("reading a chosen port"))
        .collect()
}

/// The node processes of one run. Dropping it kills every node (and its ffmpeg children).
pub(crate) struct Cluster {
    launches: Vec<NodeLaunch>,
    children: Vec<Option<Child>>,
    logs: Vec<PathBuf>,
    program: PathBuf,
    leading: Vec<String>,
}

impl Cluster {
    /// Node `i` runs `launches[i]` via `program leading…`, logging to `logs[i]`; none started yet.
    pub(crate) fn new(
        launches: Vec<NodeLaunch>,
        logs: Vec<PathBuf>,
        program: PathBuf,
        leading: Vec<String>,
    ) -> Self {
        Cluster {
            children: (0..launches.len()).map(|_| None).collect(),
            launches,
            logs,
            program,
            leading,
        }
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs[i])
            .with_context(|| format!("opening {}", self.logs[i].display()))?;
        let leading: Vec<&str> = self.leading.iter().map(String::as_str).collect();
        let mut cmd = self.launches[i].command_via(&self.program, &leading);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Own process group: a crash or pause reaches the node's ffmpeg children too.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the node if the
        // thread that spawned it (the driver's main thread) dies, so no node outlives `sim`.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.launches[i].name))?;
        self.children[i] = Some(child);
        Ok(())
    }

    fn signal(&self, i: usize, sig: libc::c_int) {
        if let Some(c) = &self.children[i] {
            // SAFETY: kill(2) with the negated pid of a process group this driver created.
            unsafe {
                libc::kill(-(c.id() as libc::pid_t), sig);
            }
        }
    }

    fn crash(&mut self, i: usize) {
        self.signal(i, libc::SIGKILL);
        if let Some(mut c) = self.children[i].take() {
            let _ = c.wait();
        }
    }

    /// Whether node `i` has exited on its own; its log's tail if so.
    fn exited(&mut self, i: usize) -> Option<String> {
        let c = self.children[i].as_mut()?;
        match c.try_wait() {
            Ok(Some(status)) => {
                let log = std::fs::read_to_string(&self.logs[i]).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Some(format!(
                    "{} exited ({status}); the end of {}:\n{}",
                    self.launches[i].name,
                    self.logs[i].display(),
                    tail.join("\n")
                ))
            }
            _ => None,
        }
    }

    fn shutdown(&mut self) {
        for i in 0..self.children.len() {
            // A paused node must be able to die; SIGKILL works on stopped processes too.
            self.crash(i);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The nodes of one run, wherever they run.
pub(crate) enum Fleet {
    Processes(Cluster),
    Compose(ComposeFleet),
}

impl Fleet {
    /// Starts every node; returns each one's start time in ms after `epoch`.
    pub(crate) async fn start_all(&mut self, epoch: Instant) -> Result<Vec<u64>> {
        match self {
            Fleet::Processes(c) => {
                let mut t = Vec::with_capacity(c.children.len());
                for i in 0..c.children.len() {
                    t.push(ms_since(epoch));
                    c.spawn(i)?;
                }
                Ok(t)
            }
            Fleet::Compose(c) => {
                c.up().await?;
                // Containers start together once compose has created them all.
                Ok(vec![ms_since(epoch); c.node_count()])
            }
        }
    }

    pub(crate) async fn apply(&mut self, action: Action, i: usize) -> Result<()> {
        match self {
            Fleet::Processes(c) => {
                match action {
                    Action::Crash => c.crash(i),
                    Action::Restart => c.spawn(i)?,
                    Action::Pause => c.signal(i, libc::SIGSTOP),
                    Action::Resume => c.signal(i, libc::SIGCONT),
                    // Sent over HTTP by `apply_faults`, not done to the process.
                    Action::Drain => {}
                }
                Ok(())
            }
            Fleet::Compose(c) => match action {
                Action::Crash => c.crash(i).await,
                Action::Restart => c.restart(i).await,
                Action::Pause => c.pause(i).await,
                Action::Resume => c.resume(i).await,
                Action::Drain => Ok(()),
            },
        }
    }

    pub(crate) async fn exited(&mut self, i: usize) -> Option<String> {
        match self {
            Fleet::Processes(c) => c.exited(i),
            Fleet::Compose(c) => c.exited(i).await,
        }
    }

    /// Stops every node (a compose stack keeps its logs and is removed).
    pub(crate) async fn finish(self) -> Result<()> {
        match self {
            Fleet::Processes(c) => {
                drop(c);
                Ok(())
            }
            Fleet::Compose(mut c) => c.down().await,
        }
    }
}

/// What is done to a node's process or container at one instant of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Crash,
    Restart,
    Pause,
    Resume,
    /// A signed POST /admin/drain, not something done to the process.
    Drain,
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Crash => "crash",
            Action::Restart => "restart",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Drain => "drain",
        }
    }
}

pub(crate) fn ms_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}
