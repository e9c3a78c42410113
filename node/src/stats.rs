//! Self-measurement: CPU % and memory % of this node's own processes (itself and its running
//! ffmpeg children) against the node's allotment, so several nodes on one host do not all look
//! equally loaded.

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
        }
    }

    /// `(cpu_pct, mem_pct)`, each 0–100 of the allotment (CPU may read above 100 when the node
    /// uses more than its share). CPU is averaged since the previous sample.
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
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let (mut cpu, mut mem) = (0f32, 0u64);
        for pid in &pids {
            if let Some(p) = sys.process(*pid) {
                cpu += p.cpu_usage();
                mem += p.memory();
            }
        }
        let cpu_pct = cpu / self.cpus;
        let mem_pct = (mem as f64 / self.mem_bytes as f64 * 100.0) as f32;
        (cpu_pct, mem_pct)
    }
}
