//! `sim soak`: the shipped docker-compose deployment as a newcomer starts it (`docker-compose up`:
//! five nodes, the report's client, the dashboard), left to run under that client, watched from
//! outside the way docker and an operator watch it. Does every node answer its health check
//! quickly, throughout, while its CPU allotment is spent on transcodes? Does SWIM ever suspect a
//! node that is only busy? Does the dashboard keep seeing all five?
//!
//! Once a second every node's `/health` is timed (3 s timeout, docker's healthcheck's); every
//! 5 s every node's `/status` (SWIM suspicions it raised, refutations it made) and the
//! dashboard's snapshot (nodes answering, the client's totals); every 10 s docker's own health
//! verdict. The verdict: `/health` p99 under the bound on every node, no probe missed, no
//! suspicion raised or refuted, docker never calls a node unhealthy, the dashboard always sees
//! every node.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::Command;
use vidmesh_node::status::Status;

use crate::compose::{run_cmd, ComposeOptions};

/// The compose file's node services (docker-compose.yml).
const NODES: [&str; 5] = ["node1", "node2", "node3", "node4", "node5"];
/// docker's healthcheck gives `/health` this long.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

pub struct SoakArgs {
    pub duration_s: u64,
    pub out: PathBuf,
    /// The `/health` p99 every node must stay under, in ms.
    pub health_p99_ms: f64,
    /// Extra environment for docker-compose (`VIDMESH_WORKERS=5`, …): to soak another setting.
    pub env: Vec<(String, String)>,
    pub compose: ComposeOptions,
}

/// What one node did over the soak.
#[derive(Default)]
struct NodeSoak {
    health_ms: Vec<f64>,
    /// `/health` calls that failed or took longer than docker's timeout.
    missed: u64,
    /// Of this node's own counters, first and last seen (SWIM suspicions it raised, suspicions
    /// of itself it refuted).
    suspicions: (Option<u64>, Option<u64>),
    refutations: (Option<u64>, Option<u64>),
    protocol_violations: u64,
    unhealthy_seen: u64,
    /// Of the 5 s polls, those the node's `/status` did not answer.
    status_missed: u64,
}

impl NodeSoak {
    fn p(&self, q: f64) -> Option<f64> {
        let mut v = self.health_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return None;
        }
        let rank = ((q / 100.0) * v.len() as f64).ceil() as usize;
        Some(v[rank.clamp(1, v.len()) - 1])
    }
    fn delta(p: (Option<u64>, Option<u64>)) -> u64 {
        match p {
            (Some(a), Some(b)) => b.saturating_sub(a),
            (None, Some(b)) => b,
            _ => 0,
        }
    }
}

/// A JSON answer from `url`, or `None` when there is none (no answer, not JSON of that shape).
async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Option<T> {
    let body = http.get(url).send().await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&body).ok()
}

fn seen(slot: &mut (Option<u64>, Option<u64>), v: u64) {
    slot.0.get_or_insert(v);
    slot.1 = Some(v);
}

/// `sim soak`: exits 0 when the deployment stayed healthy, 1 when it did not, 2 on an error.
pub fn cmd_soak(a: &SoakArgs) -> ExitCode {
    crate::cmd::run_check(1, soak(a))
}

pub async fn soak(a: &SoakArgs) -> Result<bool> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let names: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
    a.compose.check(&names).await?;
    let addrs = a.compose.addrs(NODES.len())?;
    let dashboard_port = a
        .compose
        .port_base
        .checked_add(10)
        .context("--port-base leaves no room for the dashboard's port")?;
    let compose = |args: &[&str]| {
        let mut c = Command::from(a.compose.compose_std(&[]));
        c.env("VIDMESH_DASHBOARD_PORT", dashboard_port.to_string())
            .env("VIDMESH_DURATION_S", a.duration_s.to_string())
            .envs(a.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    run_cmd(
        compose(&["down", "-v", "--remove-orphans", "-t", "2"]),
        "docker-compose down",
    )
    .await?;
    println!(
        "soak: docker-compose up ({}), {} s under its client{}",
        a.compose.file.display(),
        a.duration_s,
        if a.env.is_empty() {
            String::new()
        } else {
            format!(
                " with {}",
                a.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    let started = Instant::now();
    let result = async {
        run_cmd(compose(&["up", "-d"]), "docker-compose up").await?;
        watch(a, &addrs, dashboard_port, &compose, started).await
    }
    .await;
    // The client's own record, then the stack goes, whatever happened.
    let logs = compose(&["logs", "--no-color", "-t"]).output().await;
    if let Ok(o) = logs {
        let _ = std::fs::write(a.out.join("compose.log"), [o.stdout, o.stderr].concat());
    }
    let _ = run_cmd(
        compose(&["down", "-v", "--remove-orphans", "-t", "2"]),
        "docker-compose down",
    )
    .await;
    result
}

async fn watch(
    a: &SoakArgs,
    addrs: &[std::net::SocketAddr],
    dashboard_port: u16,
    compose: &impl Fn(&[&str]) -> Command,
    started: Instant,
) -> Result<bool> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(HEALTH_TIMEOUT)
        .build()?;
    // Every node up first (docker's start period is 10 s; the image may need a little more).
    let up_by = Instant::now() + Duration::from_secs(120);
    loop {
        let mut all = true;
        for addr in addrs {
            let ok = http
                .get(format!("http://{addr}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            all &= ok;
        }
        if all {
            break;
        }
        if Instant::now() > up_by {
            bail!("the nodes did not all answer /health within 2 minutes of docker-compose up");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "  5 nodes up after {:.1} s; watching for {} s",
        started.elapsed().as_secs_f64(),
        a.duration_s
    );
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for n in NODES {
            let id = compose(&["ps", "-q", n]).output().await?;
            v.push(String::from_utf8_lossy(&id.stdout).trim().to_string());
        }
        v
    };
    let mut nodes: Vec<NodeSoak> = (0..NODES.len()).map(|_| NodeSoak::default()).collect();
    let mut health_csv = String::from("t_s,node,latency_ms\n");
    let mut dash_min_up: Option<usize> = None;
    let mut dash_polls = 0u64;
    let mut client_totals = serde_json::Value::Null;
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut second = 0u64;
    while t0.elapsed() < Duration::from_secs(a.duration_s) {
        tick.tick().await;
        let t_s = t0.elapsed().as_secs_f64();
        // /health of every node at once, each timed on its own.
        let probes = addrs.iter().map(|addr| {
            let http = &http;
            async move {
                let s = Instant::now();
                let ok = http
                    .get(format!("http://{addr}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                ok.then(|| s.elapsed().as_secs_f64() * 1000.0)
            }
        });
        for (i, r) in futures_util::future::join_all(probes)
            .await
            .into_iter()
            .enumerate()
        {
            match r {
                Some(ms) => {
                    nodes[i].health_ms.push(ms);
                    let _ = writeln!(health_csv, "{t_s:.1},{},{ms:.1}", NODES[i]);
                }
                None => {
                    nodes[i].missed += 1;
                    let _ = writeln!(health_csv, "{t_s:.1},{},", NODES[i]);
                }
            }
        }
        if second.is_multiple_of(5) {
            for (i, addr) in addrs.iter().enumerate() {
                let st = get_json::<Status>(&http, &format!("http://{addr}/status")).await;
                match st {
                    Some(s) => {
                        seen(&mut nodes[i].suspicions, s.health.probes_failed);
                        seen(&mut nodes[i].refutations, s.health.refutations);
                        nodes[i].protocol_violations = s.counters.protocol_violations;
                    }
                    None => nodes[i].status_missed += 1,
                }
            }
            let snap = get_json::<serde_json::Value>(
                &http,
                &format!("http://127.0.0.1:{dashboard_port}/api/snapshot"),
            )
            .await;
            dash_polls += 1;
            let up = snap.as_ref().map_or(0, |s| {
                s["nodes"]
                    .as_array()
                    .map_or(0, |n| n.iter().filter(|n| n["state"] == "up").count())
            });
            // The dashboard needs a few scrapes to find every node through gossip.
            if t_s > 15.0 {
                dash_min_up = Some(dash_min_up.map_or(up, |m| m.min(up)));
            }
            if let Some(t) = snap.as_ref().map(|s| s["client"]["totals"].clone()) {
                if !t.is_null() {
                    client_totals = t;
                }
            }
        }
        if second.is_multiple_of(10) {
            for (i, id) in ids.iter().enumerate() {
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{.State.Health.Status}}", id])
                    .stdin(Stdio::null())
                    .output()
                    .await;
                if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "unhealthy") {
                    nodes[i].unhealthy_seen += 1;
                }
            }
        }
        second += 1;
    }
    std::fs::write(a.out.join("soak_health.csv"), &health_csv)?;

    let mut table = String::new();
    let mut summary = String::from(
        "node,health_calls,health_p50_ms,health_p99_ms,health_max_ms,health_missed,status_missed,suspicions_raised,refutations,unhealthy_seen,protocol_violations\n",
    );
    let _ = writeln!(
        table,
        "{:<6} {:>7} {:>8} {:>8} {:>8} {:>7} {:>11} {:>11} {:>10} {:>10}",
        "node",
        "/health",
        "p50 ms",
        "p99 ms",
        "max ms",
        "missed",
        "suspicions",
        "refutations",
        "unhealthy",
        "violations"
    );
    let mut failures = Vec::new();
    let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    for (i, n) in nodes.iter().enumerate() {
        let (sus, refu) = (
            NodeSoak::delta(n.suspicions),
            NodeSoak::delta(n.refutations),
        );
        let max = n
            .health_ms
            .iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        // One row, as the printed table and as the CSV (which also has /status misses).
        let cells = [
            NODES[i].to_string(),
            (n.health_ms.len() as u64 + n.missed).to_string(),
            f(n.p(50.0)),
            f(n.p(99.0)),
            f(max),
            n.missed.to_string(),
            n.status_missed.to_string(),
            sus.to_string(),
            refu.to_string(),
            n.unhealthy_seen.to_string(),
            n.protocol_violations.to_string(),
        ];
        let _ = writeln!(
            table,
            "{:<6} {:>7} {:>8} {:>8} {:>8} {:>7} {:>11} {:>11} {:>10} {:>10}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            cells[7],
            cells[8],
            cells[9],
            cells[10]
        );
        let _ = writeln!(summary, "{}", cells.join(","));
        match n.p(99.0) {
            Some(p) if p < a.health_p99_ms => {}
            Some(p) => failures.push(format!(
                "{}: /health p99 {p:.0} ms (bound {:.0} ms)",
                NODES[i], a.health_p99_ms
            )),
            None => failures.push(format!("{}: never answered /health", NODES[i])),
        }
        if n.missed > 0 {
            failures.push(format!(
                "{}: {} /health calls failed or took over {} s",
                NODES[i],
                n.missed,
                HEALTH_TIMEOUT.as_secs()
            ));
        }
        if sus > 0 || refu > 0 {
            failures.push(format!(
                "{}: {sus} SWIM suspicion(s) raised, {refu} refuted, with no node down",
                NODES[i]
            ));
        }
        if n.unhealthy_seen > 0 {
            failures.push(format!("{}: docker called it unhealthy", NODES[i]));
        }
        if n.protocol_violations > 0 {
            failures.push(format!("{}: broke the job protocol", NODES[i]));
        }
    }
    let dash = dash_min_up.unwrap_or(0);
    let _ = writeln!(
        table,
        "dashboard: at least {dash} of 5 nodes answering in every one of {dash_polls} polls after 15 s"
    );
    if dash < NODES.len() {
        failures.push(format!(
            "the dashboard saw only {dash} of 5 nodes answering at one poll"
        ));
    }
    let _ = writeln!(
        table,
        "client (from the dashboard): {} requests ended, {} ok, {} in flight",
        client_totals["ended"], client_totals["ok"], client_totals["in_flight"]
    );
    std::fs::write(a.out.join("soak_summary.csv"), &summary)?;
    let mut verdict = table.clone();
    if failures.is_empty() {
        verdict.push_str("verdict: every node healthy throughout\n");
    } else {
        for f in &failures {
            let _ = writeln!(verdict, "  - {f}");
        }
        let _ = writeln!(verdict, "verdict: FAILED ({} finding(s))", failures.len());
    }
    std::fs::write(a.out.join("soak.txt"), &verdict)?;
    print!("{verdict}");
    Ok(failures.is_empty())
}
