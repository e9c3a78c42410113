//! `sim check`: the simulator as a bug hunter. Each seed gets its own random fault schedule on
//! the same cluster (crashes with and without a restart, pauses, drains, partitions of zones or
//! of single nodes, message loss, duplication and extra delay, overlapping as chance has it),
//! and every strategy runs it under the checkers: the protocol rules each node checks after
//! every input and the end-of-run route check (which stop the run at the first violation), then
//! the chaos checker (every request ended once, nothing answered twice, nothing left held).
//!
//! The schedule depends only on the seed, so the first failing seed is a reproduction:
//! `sim check SCENARIO --seeds N..N` runs exactly that case again and prints its schedule.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::rng::stream_rng;
use crate::scenario::{Fault, FaultKind, NetFault, NetFaultKind};
use crate::{engine, Catalog, Scenario};

/// The random schedules' own stream, apart from every stream a run draws from.
const SCHEDULE_STREAM: u64 = 9;

/// One seed's case that broke a rule.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub strategy: String,
    pub what: String,
    /// The fault schedule, one line per fault.
    pub schedule: String,
}

/// What a check over many seeds found.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub seeds: usize,
    pub runs: usize,
    /// Every failing case, lowest seed first.
    pub failures: Vec<Failure>,
}

/// `base` with its faults replaced by a random schedule drawn from `seed`, and that seed.
pub fn with_random_faults(base: &Scenario, seed: u64) -> Scenario {
    let mut s = base.clone();
    s.seed = seed;
    let mut rng: ChaCha8Rng = stream_rng(seed, SCHEDULE_STREAM);
    let n = s.nodes.len();
    let dur = s.duration_ms.max(10_000);
    // Faults start in the first two thirds so that their effects play out before the end.
    let at = |rng: &mut ChaCha8Rng| rng.random_range(dur / 20..dur * 2 / 3);
    s.faults.clear();
    s.net_faults.clear();
    let node_faults = rng.random_range(0..=3u32);
    // Node faults on distinct nodes, so no two overlap on one node (which the parser refuses).
    let mut free: Vec<usize> = (0..n).collect();
    for _ in 0..node_faults {
        if free.len() <= 1 {
            break; // keep one node untouched: the cluster stays a cluster
        }
        let node = free.remove(rng.random_range(0..free.len()));
        let at_ms = at(&mut rng);
        let (kind, for_ms) = match rng.random_range(0..4u32) {
            0 => (FaultKind::Crash, Some(rng.random_range(2_000..60_000))),
            1 => (FaultKind::Crash, None),
            2 => (FaultKind::Pause, Some(rng.random_range(1_000..30_000))),
            _ => (FaultKind::Drain, None),
        };
        s.faults.push(Fault {
            at_ms,
            node,
            kind,
            for_ms,
        });
    }
    s.faults.sort_by_key(|f| (f.at_ms, f.node));
    let net_faults = rng.random_range(0..=3u32);
    for _ in 0..net_faults {
        let at_ms = at(&mut rng);
        let until = |rng: &mut ChaCha8Rng, max: u64| at_ms + rng.random_range(1_000..max);
        let kind = match rng.random_range(0..4u32) {
            0 => {
                // One side: a zone, or a single node.
                let side: Vec<bool> = if rng.random_bool(0.5) {
                    let z = s.nodes[rng.random_range(0..n)].zone;
                    s.nodes.iter().map(|x| x.zone == z).collect()
                } else {
                    let k = rng.random_range(0..n);
                    (0..n).map(|i| i == k).collect()
                };
                if side.iter().all(|&x| x) {
                    continue; // every node in one zone: nothing to cut
                }
                let until_ms = until(&mut rng, 45_000);
                s.net_faults.push(NetFault {
                    at_ms,
                    until_ms: Some(until_ms),
                    kind: NetFaultKind::Partition { side },
                });
                continue;
            }
            1 => NetFaultKind::Loss {
                p: rng.random_range(0.0..0.15),
            },
            2 => NetFaultKind::Duplicate {
                p: rng.random_range(0.0..0.10),
            },
            _ => NetFaultKind::Delay {
                extra_ms: rng.random_range(0..400),
                side: None,
            },
        };
        let until_ms = rng.random_bool(0.5).then(|| until(&mut rng, 60_000));
        s.net_faults.push(NetFault {
            at_ms,
            until_ms,
            kind,
        });
    }
    s.net_faults.sort_by_key(|f| f.at_ms);
    s
}

/// The fault schedule of `s`, one line per fault.
pub fn describe_schedule(s: &Scenario) -> String {
    let mut out = String::new();
    let secs = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    for f in &s.faults {
        let _ = writeln!(
            out,
            "  {:>8}  {:?} {}{}",
            secs(f.at_ms),
            f.kind,
            s.nodes[f.node].name,
            f.for_ms
                .map(|d| format!(" for {}", secs(d)))
                .unwrap_or_default()
        );
    }
    for f in &s.net_faults {
        let what = match &f.kind {
            NetFaultKind::Partition { side } => {
                let names: Vec<&str> = (s.nodes.iter().zip(side))
                    .filter(|(_, &x)| x)
                    .map(|(n, _)| n.name.as_str())
                    .collect();
                format!("partition of {} from the rest", names.join(", "))
            }
            NetFaultKind::Loss { p } => format!("loss of {:.1} % of datagrams", 100.0 * p),
            NetFaultKind::Duplicate { p } => {
                format!("duplication of {:.1} % of datagrams", 100.0 * p)
            }
            NetFaultKind::Delay { extra_ms, .. } => format!("{extra_ms} ms extra on every message"),
        };
        let _ = writeln!(
            out,
            "  {:>8}  {what}{}",
            secs(f.at_ms),
            f.until_ms
                .map(|u| format!(" until {}", secs(u)))
                .unwrap_or_else(|| " to the end".into())
        );
    }
    if out.is_empty() {
        out.push_str("  (no faults)\n");
    }
    out
}

/// Runs every strategy of `base` under each seed's random schedule on `jobs` threads, checks
/// every run, and reports the failing cases (lowest seed first; the same whatever `jobs` is).
/// `progress` is told each finished run.
pub fn check_seeds(
    base: &Scenario,
    seeds: &[u64],
    jobs: usize,
    progress: &(dyn Fn() + Sync),
) -> CheckReport {
    let k_count = base.strategies.len();
    let total = seeds.len() * k_count;
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            scope.spawn(|| loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                if j >= total {
                    break;
                }
                let (si, k) = (j / k_count, j % k_count);
                let s = with_random_faults(base, seeds[si]);
                let catalog = Catalog::build(&s);
                let r = engine::Run::new(&s, k, &catalog).run(&mut |_| {});
                let what = match &r.violation {
                    Some(v) => Some(v.to_string()),
                    None => {
                        let verdict = r.chaos_verdict();
                        (!verdict.is_clean()).then(|| verdict.to_string())
                    }
                };
                if let Some(what) = what {
                    failures.lock().expect("failures lock").push(Failure {
                        seed: s.seed,
                        strategy: r.strategy.clone(),
                        what,
                        schedule: describe_schedule(&s),
                    });
                }
                progress();
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures lock");
    failures.sort_by(|a, b| (a.seed, &a.strategy).cmp(&(b.seed, &b.strategy)));
    CheckReport {
        seeds: seeds.len(),
        runs: total,
        failures,
    }
}
