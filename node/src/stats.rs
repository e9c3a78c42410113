//! Self-measurement: CPU % and memory % of this node's own processes (itself and its ffmpeg
//! children) against the node's allotment, so several nodes on one host do not all look
//! equally loaded.
//!
//! CPU is cumulative CPU time over wall time between samples: this process and its running
//! children (from `sysinfo`) plus children already finished (the kernel's `cutime`/`cstime` of
//! this process). Sampling only running children would miss every ffmpeg that started and
//! ended between two samples. Times are in 10 ms ticks per process, so a 1 s sample of a small
//! allotment can read a little over 100 %. Memory is the resident size of this process and its running
//! children.

use std::time::Instant;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::ffmpeg::ChildPids;

pub struct SelfStats {
    sys: Option<System>,
    own: Option<Pid>,
    children: ChildPids,
    /// CPU cores this node may use.
    cpus: f32,
    /// Memory this node may use, in bytes.
    mem_bytes: u64,
    last: Option<(Instant, u64)>,
}

/// CPU time (ms) of children this process has waited for; 0 where /proc is not available.
fn reaped_children_cpu_ms() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // rest starts at field 3 (state): field n is index n − 3. USER_HZ is 100 on Linux.
    (ticks(13) + ticks(14)) * 10
}

/// The CPU quota of this process's cgroup, in cores (`None`: no limit, or no cgroup to read).
/// Reads cgroup v2's `cpu.max` or v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us`: the limit
/// docker's `cpus:` sets, which `available_parallelism` rounds up to whole cores.
pub fn cgroup_cpus() -> Option<f64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let quota = |q: f64, period: f64| (q > 0.0 && period > 0.0).then(|| q / period);
    if let Some(max) = read("/sys/fs/cgroup/cpu.max") {
        let mut it = max.split_whitespace();
        let (q, p) = (it.next()?, it.next()?);
        return quota(q.parse().ok()?, p.parse().ok()?);
    }
    let q: f64 = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")?
        .trim()
        .parse()
        .ok()?;
    let p: f64 = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")?
        .trim()
        .parse()
        .ok()?;
    quota(q, p)
}

impl SelfStats {
    pub fn new(children: ChildPids, cpus: f32, mem_bytes: u64) -> Self {
        let sys = System::new().ok();
        if sys.is_none() {
            tracing::warn!("sysinfo is unavailable: CPU and memory will read 0");
        }
        SelfStats {
            sys,
            own: sysinfo::get_current_pid().ok(),
            children,
            cpus: cpus.max(0.01),
            mem_bytes: mem_bytes.max(1),
            last: None,
        }
    }

    /// `(cpu_pct, mem_pct)`, each as % of the allotment (CPU reads above 100 when the node uses
    /// more than its share). CPU is averaged since the previous sample (0 on the first).
    pub fn sample(&mut self) -> (f32, f32) {
        let Some(sys) = self.sys.as_mut() else {
            return (0.0, 0.0);
        };
        let mut pids: Vec<Pid> = self
            .children
            .lock()
            .expect("pid set")
            .iter()
            .map(|p| Pid::from_u32(*p))
            .collect();
        pids.extend(self.own);
        // A child reaped between reading its running time and reading the reaped total would
        // be counted twice (and then vanish from the next sample: a spike, then a dip). The
        // reaped total unchanged across the read means no child was reaped in between: every
        // child is then either in it or among the processes read, exactly once.
        let mut reaped = reaped_children_cpu_ms();
        for _ in 0..3 {
            sys.refresh_processes_specifics(
                ProcessesToUpdate::Some(&pids),
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            let after = reaped_children_cpu_ms();
            if after == reaped {
                break;
            }
            reaped = after;
        }
        let now = Instant::now();
        let (mut cpu_ms, mut mem) = (reaped, 0u64);
        for pid in &pids {
            if let Some(p) = sys.process(*pid) {
                cpu_ms += p.accumulated_cpu_time();
                mem += p.memory();
            }
        }
        let cpu_pct = match self.last {
            Some((t, prev)) => {
                let wall_ms = now.duration_since(t).as_secs_f64() * 1e3;
                let used = cpu_ms.saturating_sub(prev) as f64;
                if wall_ms > 0.0 {
                    (used / wall_ms * 100.0 / self.cpus as f64) as f32
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, cpu_ms));
        let mem_pct = (mem as f64 / self.mem_bytes as f64 * 100.0) as f32;
        (cpu_pct, mem_pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_ended_between_samples_still_counts() {
        let mut s = SelfStats::new(ChildPids::default(), 1.0, 1 << 30);
        let t0 = Instant::now();
        let _ = s.sample();
        let reaped_before = reaped_children_cpu_ms();
        // This thread only waits; the CPU is the child's, and it is reaped before the sample.
        let ok = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "sh is needed for this test");
        let child_ms = reaped_children_cpu_ms() - reaped_before;
        let (cpu, mem) = s.sample();
        let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
        assert!(child_ms >= 50, "the child used only {child_ms} ms of CPU");
        // Whatever else the machine is doing, the child's CPU time is in the figure.
        let counted_ms = cpu as f64 / 100.0 * wall_ms;
        assert!(
            counted_ms >= 0.9 * child_ms as f64,
            "cpu {cpu} % over {wall_ms} ms, child {child_ms} ms"
        );
        assert!(mem > 0.0 && mem < 100.0, "mem {mem}");
    }
}
