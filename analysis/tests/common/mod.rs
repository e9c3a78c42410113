//! Synthetic scenario output folders that follow docs/metrics.md column for column, for tests
//! (and the `fixture_charts` example). Deterministic: a fixed xorshift generator, no OS entropy.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

pub const NODES: [(&str, &str); 5] = [
    ("node1", "FRA"),
    ("node2", "IAD"),
    ("node3", "BOM"),
    ("node4", "FRA"),
    ("node5", "IAD"),
];

pub struct Fixture {
    pub strategies: Vec<(&'static str, f64)>,
    pub duration_s: u64,
    pub batch_every_s: u64,
    pub batch_size: u64,
    pub timeout_ms: u64,
    /// (time_ms, kind, node)
    pub events: Vec<(u64, &'static str, &'static str)>,
    pub seed: u64,
    /// Write the `attempts` and `attempt_success_pct` columns (files from before they existed
    /// lack them).
    pub attempt_columns: bool,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture {
            strategies: vec![("score", 0.95), ("random", 0.55), ("round_robin", 0.7)],
            duration_s: 120,
            batch_every_s: 5,
            batch_size: 20,
            timeout_ms: 40_000,
            events: vec![(60_000, "crash", "node2"), (90_000, "restart", "node2")],
            seed: 7,
            attempt_columns: true,
        }
    }
}

fn f3(x: f64) -> String {
    format!("{x:.3}")
}

fn opt(x: Option<f64>) -> String {
    x.map(f3).unwrap_or_default()
}

fn down(events: &[(u64, &str, &str)], node: &str, t_ms: u64) -> bool {
    let mut is_down = false;
    for (t, kind, n) in events {
        if *n == node && *t <= t_ms {
            is_down = matches!(*kind, "crash" | "pause");
        }
    }
    is_down
}

struct Req {
    id: u64,
    batch: u64,
    submit: u64,
    end: u64,
    outcome: &'static str,
    entry: usize,
    exec: Option<usize>,
    offloaded: bool,
}

/// Writes every file of docs/metrics.md into `dir` (created) and returns it.
pub fn write_fixture(dir: &Path, fx: &Fixture) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(fx.seed);
    let mut summary = String::from("strategy,requests,succeeded,failed,timeouts,rejected,success_rate,goodput_per_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,offloads_same_zone,offloads_cross_zone,cache_hits,duration_s");
    summary.push_str(if fx.attempt_columns {
        ",attempts,attempt_success_pct\n"
    } else {
        "\n"
    });
    let mut requests = String::from("strategy,request_id,batch,submit_ms,end_ms,latency_ms,attempts,outcome,entry_node,entry_zone,exec_node,exec_zone,hops,cache_hit,offloaded,fallback,size_bytes,width,height,frames\n");
    let mut client = String::from(
        "strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight",
    );
    client.push_str(if fx.attempt_columns {
        ",attempts,attempt_success_pct\n"
    } else {
        "\n"
    });
    let mut nodes = String::from("strategy,window_start_s,node,zone,up,queue_len,in_flight,enqueues,dequeues,cpu_pct,mem_pct,jobs_done,cache_hits,offloads_same_zone,offloads_cross_zone,responses_same_zone,responses_cross_zone\n");
    let mut conv = String::from(
        "strategy,node,zone,seeds,start_ms,full_view_ms,time_to_full_view_ms,rounds\n",
    );
    let mut fd = String::from(
        "strategy,fault,failed_node,fault_ms,observer,detected_ms,detection_delay_ms\n",
    );
    let mut ev = String::from("strategy,time_ms,kind,node\n");

    for (si, (strategy, p_ok)) in fx.strategies.iter().enumerate() {
        let mut reqs = Vec::new();
        let mut id = 0;
        for batch in 0..(fx.duration_s / fx.batch_every_s).saturating_sub(2) {
            for _ in 0..fx.batch_size {
                let submit = batch * fx.batch_every_s * 1000 + (rng.unit() * 300.0) as u64;
                let mut entry = (rng.next_u64() % 5) as usize;
                if down(&fx.events, NODES[entry].0, submit) {
                    entry = (entry + 1) % 5;
                }
                // Success worsens over the run for the weaker strategies.
                let load = batch as f64 / (fx.duration_s / fx.batch_every_s) as f64;
                let p = p_ok - (1.0 - p_ok) * load * 0.8;
                let u = rng.unit();
                let (outcome, latency) = if u < p {
                    (
                        "ok",
                        rng.range(2_000.0, 6_000.0) + load * 30_000.0 * (1.0 - p_ok + 0.3),
                    )
                } else if u < p + (1.0 - p) * 0.7 {
                    ("timeout", fx.timeout_ms as f64)
                } else {
                    ("rejected", rng.range(50.0, 500.0))
                };
                let latency = latency.min(fx.timeout_ms as f64 - 1.0).max(1.0);
                let latency = if outcome == "timeout" {
                    fx.timeout_ms as f64
                } else {
                    latency
                };
                let offloaded = outcome == "ok" && rng.unit() < 0.3;
                let exec = if outcome != "ok" {
                    None
                } else if offloaded {
                    // score keeps offloads in zone; others go anywhere
                    let same = if si == 0 {
                        entry_peer_same_zone(entry)
                    } else {
                        None
                    };
                    Some(same.unwrap_or((entry + 1 + (rng.next_u64() % 4) as usize) % 5))
                } else {
                    Some(entry)
                };
                reqs.push(Req {
                    id,
                    batch,
                    submit,
                    end: submit + latency as u64,
                    outcome,
                    entry,
                    exec,
                    offloaded,
                });
                id += 1;
            }
        }
        let mut ok_lat: Vec<f64> = Vec::new();
        let (mut same, mut cross) = (0u64, 0u64);
        for r in &reqs {
            let lat = (r.end - r.submit) as f64;
            if r.outcome == "ok" {
                ok_lat.push(lat);
            }
            let hops = r.exec.map(|e| if e == r.entry { 0 } else { 1 });
            if r.offloaded {
                if NODES[r.exec.unwrap()].1 == NODES[r.entry].1 {
                    same += 1;
                } else {
                    cross += 1;
                }
            }
            writeln!(
                requests,
                "{strategy},{},{},{},{},{},{},{},{},{},{},{},{},0,{},0,{},1920,1080,300",
                r.id,
                r.batch,
                r.submit,
                r.end,
                f3(lat),
                1,
                r.outcome,
                NODES[r.entry].0,
                NODES[r.entry].1,
                r.exec.map(|e| NODES[e].0).unwrap_or(""),
                r.exec.map(|e| NODES[e].1).unwrap_or(""),
                hops.map(|h| h.to_string()).unwrap_or_default(),
                u8::from(r.offloaded),
                5_000_000 + r.id * 1000,
            )
            .unwrap();
        }
        let n = reqs.len() as f64;
        let ok = ok_lat.len() as f64;
        let timeouts = reqs.iter().filter(|r| r.outcome == "timeout").count();
        let rejected = reqs.iter().filter(|r| r.outcome == "rejected").count();
        let mut sorted = ok_lat.clone();
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        write!(
            summary,
            "{strategy},{},{},0,{timeouts},{rejected},{},{},{},{},{},{},{same},{cross},0,{}",
            reqs.len(),
            ok_lat.len(),
            f3(ok / n),
            f3(ok / fx.duration_s as f64),
            f3(ok_lat.iter().sum::<f64>() / ok),
            f3(q(0.5)),
            f3(q(0.95)),
            f3(q(0.99)),
            f3(fx.duration_s as f64),
        )
        .unwrap();
        if fx.attempt_columns {
            // One attempt per request.
            write!(summary, ",{},{}", reqs.len(), f3(100.0 * ok / n)).unwrap();
        }
        summary.push('\n');
        // One attempt per request: cumulative successful attempts / attempts.
        let (mut attempts_so_far, mut ok_so_far) = (0usize, 0usize);
        for w in 0..fx.duration_s / 5 {
            let (lo, hi) = (w * 5000, (w + 1) * 5000);
            let ended: Vec<&Req> = reqs.iter().filter(|r| r.end >= lo && r.end < hi).collect();
            let succ: Vec<f64> = ended
                .iter()
                .filter(|r| r.outcome == "ok")
                .map(|r| (r.end - r.submit) as f64)
                .collect();
            let in_flight = reqs.iter().filter(|r| r.submit < hi && r.end >= hi).count();
            let pct = (!ended.is_empty()).then(|| 100.0 * succ.len() as f64 / ended.len() as f64);
            let mean = (!succ.is_empty()).then(|| succ.iter().sum::<f64>() / succ.len() as f64);
            let p95 = (!succ.is_empty()).then(|| {
                let mut s = succ.clone();
                s.sort_by(f64::total_cmp);
                s[((s.len() - 1) as f64 * 0.95).round() as usize]
            });
            write!(
                client,
                "{strategy},{},{},{},{},{},{},{in_flight}",
                w * 5,
                ended.len(),
                succ.len(),
                opt(pct),
                opt(mean),
                opt(p95)
            )
            .unwrap();
            attempts_so_far += ended.len();
            ok_so_far += succ.len();
            if fx.attempt_columns {
                let cumulative = (attempts_so_far > 0)
                    .then(|| 100.0 * ok_so_far as f64 / attempts_so_far as f64);
                write!(client, ",{},{}", ended.len(), opt(cumulative)).unwrap();
            }
            client.push('\n');
            for (ni, (node, zone)) in NODES.iter().enumerate() {
                let up = !down(&fx.events, node, hi);
                let off: Vec<&&Req> = ended
                    .iter()
                    .filter(|r| r.offloaded && r.entry == ni)
                    .collect();
                let os = off
                    .iter()
                    .filter(|r| NODES[r.exec.unwrap()].1 == *zone)
                    .count();
                let resp: Vec<&&Req> = ended.iter().filter(|r| r.exec == Some(ni)).collect();
                let rs = resp.iter().filter(|r| NODES[r.entry].1 == *zone).count();
                let (queue, infl, cpu, mem) = if up {
                    let load = (w as f64 / 24.0) * (1.0 + si as f64 * 0.4);
                    (
                        Some(((load * 14.0) + rng.range(0.0, 4.0) + ni as f64).round()),
                        Some(5.0),
                        Some((rng.range(40.0, 90.0) + load * 80.0 + ni as f64 * 10.0).min(195.0)),
                        Some(rng.range(20.0, 40.0)),
                    )
                } else {
                    (None, None, None, None)
                };
                writeln!(
                    nodes,
                    "{strategy},{},{node},{zone},{},{},{},{},{},{},{},{},0,{os},{},{rs},{}",
                    w * 5,
                    u8::from(up),
                    queue.map(|q| (q as u64).to_string()).unwrap_or_default(),
                    infl.map(|q| (q as u64).to_string()).unwrap_or_default(),
                    resp.len() + 1,
                    resp.len(),
                    opt(cpu),
                    opt(mem),
                    resp.len(),
                    off.len() - os,
                    resp.len() - rs,
                )
                .unwrap();
            }
        }
        for (ni, (node, zone)) in NODES.iter().enumerate() {
            let rounds = 2 + (rng.next_u64() % 2);
            let t = rounds * 5000 - 5000 + (rng.unit() * 4000.0) as u64 + 100;
            let never = si == 2 && ni == 4;
            writeln!(
                conv,
                "{strategy},{node},{zone},{},0,{},{},{}",
                NODES[(ni + 1) % 5].0,
                if never { String::new() } else { t.to_string() },
                if never { String::new() } else { t.to_string() },
                if never {
                    String::new()
                } else {
                    rounds.to_string()
                },
            )
            .unwrap();
        }
        let mut fault = 0;
        for (t, kind, failed) in &fx.events {
            ev.push_str(&format!("{strategy},{t},{kind},{failed}\n"));
            if matches!(*kind, "crash" | "pause") {
                fault += 1;
                for (ni, (obs, _)) in NODES.iter().enumerate() {
                    if obs == failed {
                        continue;
                    }
                    let undetected = si == 1 && ni == 4;
                    let d = 2_000 + (rng.unit() * 3_000.0) as u64;
                    writeln!(
                        fd,
                        "{strategy},{fault},{failed},{t},{obs},{},{}",
                        if undetected {
                            String::new()
                        } else {
                            (t + d).to_string()
                        },
                        if undetected {
                            String::new()
                        } else {
                            d.to_string()
                        },
                    )
                    .unwrap();
                }
            }
        }
    }
    for (name, text) in [
        ("summary.csv", summary),
        ("requests.csv", requests),
        ("client_windows.csv", client),
        ("node_windows.csv", nodes),
        ("convergence.csv", conv),
        ("failure_detection.csv", fd),
        ("events.csv", ev),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.to_path_buf()
}

fn entry_peer_same_zone(entry: usize) -> Option<usize> {
    let zone = NODES[entry].1;
    (0..5).find(|&i| i != entry && NODES[i].1 == zone)
}

/// A fresh, empty directory under the integration tests' scratch space.
pub fn scratch(name: &str) -> PathBuf {
    // Integration tests get a scratch dir from cargo; the example falls back to the OS temp dir.
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("vidmesh-analysis").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
