//! `sim drill`: chaos drills on the docker-compose deployment. Each drill starts the shipped
//! stack's five nodes afresh, puts the report's client on them (batches of 100, 5 s pause, 40 s
//! timeout, 5 attempts, every upload a new clip), waits for the moment the fault is meant to
//! hit, and hits it:
//!
//! - `kill-entry`: `docker kill -s KILL` of a node while an offload it sent is unanswered, and
//!   `docker start` 20 s later;
//! - `kill-target`: the same for a node while it holds a job a peer sent it;
//! - `pause`: SIGSTOP of a busy node's process for 15 s, then SIGCONT;
//! - `partition`: the BOM zone cut off from the others for 30 s (every packet between its
//!   nodes and the rest dropped by netfilter in their network namespaces; clients still reach
//!   every node, as clients in each zone would), then healed;
//! - `starve` and `starve-no-local-health`: node3 (BOM) stopped for 1.2 s of every 2.5 s until
//!   5 s before the client's end (60 s by default), with local health (Lifeguard) as shipped and turned off: how many suspicions does a
//!   node that barely runs cause? Not part of the default set.
//!
//! Then the chaos checker (analysis/src/chaos.rs) judges the client's records and the nodes'
//! end state: no request lost, none answered twice, nothing left on a node, no protocol rule
//! broken; and the membership must be whole again within a bound. drills.csv and drills.md
//! hold the table docs/reliability.md shows.

mod report;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use tokio::process::Command;
use vidmesh_analysis::chaos::NodeEnd;
use vidmesh_node::catalog::{self, CatalogSpec, Clip};
use vidmesh_node::client::{self, ClientConfig, Target};
use vidmesh_node::status::Status;

use crate::compose::{run_cmd, ComposeOptions};
pub use report::DrillRow;
use report::{DrillTimes, HEAL_BOUND_S};

/// The compose file's node services and their zones (docker-compose.yml).
const NODES: [(&str, &str); 5] = [
    ("node1", "FRA"),
    ("node2", "IAD"),
    ("node3", "BOM"),
    ("node4", "FRA"),
    ("node5", "IAD"),
];
/// The zone the partition drill cuts off.
const PARTITIONED_ZONE: &str = "BOM";
/// The fault waits this long into the run: the first batch is spread over the cluster and its
/// first answers are back, so goodput "before" has something to measure.
const ARM: Duration = Duration::from_secs(25);
/// And gives up waiting for its moment (an offload in flight, a busy node) this long after.
const TRIGGER_WAIT: Duration = Duration::from_secs(45);
/// Goodput "before" counts from here: the first answers come after a few seconds.
const WARMUP_MS: u64 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Drill {
    KillEntry,
    KillTarget,
    Pause,
    Partition,
    Starve,
    StarveNoLocalHealth,
}

impl Drill {
    pub const ALL: [Drill; 4] = [
        Drill::KillEntry,
        Drill::KillTarget,
        Drill::Pause,
        Drill::Partition,
    ];

    fn name(self) -> &'static str {
        match self {
            Drill::KillEntry => "kill-entry",
            Drill::KillTarget => "kill-target",
            Drill::Pause => "pause",
            Drill::Partition => "partition",
            Drill::Starve => "starve",
            Drill::StarveNoLocalHealth => "starve-no-local-health",
        }
    }

    /// How long the fault lasts: a killed node is started again, a paused one continued, a
    /// partition healed; a node is starved until 5 s before the client's last batch.
    fn length(self, run_s: u64) -> Duration {
        match self {
            Drill::KillEntry | Drill::KillTarget => Duration::from_secs(20),
            Drill::Pause => Duration::from_secs(15),
            Drill::Partition => Duration::from_secs(30),
            Drill::Starve | Drill::StarveNoLocalHealth => {
                Duration::from_secs(run_s.saturating_sub(ARM.as_secs() + 5).max(10))
            }
        }
    }

    fn is_starve(self) -> bool {
        matches!(self, Drill::Starve | Drill::StarveNoLocalHealth)
    }

    /// The compose environment the drill adds to the user's.
    fn env(self) -> Vec<(String, String)> {
        match self {
            Drill::StarveNoLocalHealth => vec![(
                "VIDMESH_GOSSIP_JSON".into(),
                r#"{"lifeguard_max":0}"#.into(),
            )],
            _ => Vec::new(),
        }
    }
}

/// The node the starve drills stop and continue: the BOM node, 200–250 ms from its peers.
const STARVED: usize = 2;
/// A starved node runs this long…
const STARVE_RUN: Duration = Duration::from_millis(1_300);
/// …then is stopped this long, over and over.
const STARVE_STOP: Duration = Duration::from_millis(1_200);

pub struct DrillArgs {
    pub drills: Vec<Drill>,
    /// How long the client submits batches, in seconds.
    pub run_s: u64,
    pub out: PathBuf,
    /// Where the clips are (generated there when it has no catalog).
    pub catalog: PathBuf,
    pub ffmpeg: String,
    /// Extra environment for docker-compose (`VIDMESH_STRATEGY=p2c_ect`, …).
    pub env: Vec<(String, String)>,
    pub compose: ComposeOptions,
}

/// `sim drill`: exits 0 when every drill passed, 1 when one failed, 2 on an error.
pub fn cmd_drill(a: &DrillArgs) -> ExitCode {
    crate::cmd::run_check(2, run_all(a))
}

async fn run_all(a: &DrillArgs) -> Result<bool> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let names: Vec<String> = NODES.iter().map(|n| n.0.to_string()).collect();
    a.compose.check(&names).await?;
    for tool in ["nsenter", "iptables"] {
        if a.drills.contains(&Drill::Partition) && which(tool).is_none() {
            bail!("the partition drill needs `{tool}` on the host (util-linux, iptables)");
        }
    }
    let clips = prepare_clips(a)?;
    let mut rows = Vec::new();
    for &d in &a.drills {
        let dir = a.out.join(d.name());
        std::fs::create_dir_all(&dir)?;
        let mut stack = Stack::new(a, d)?;
        let row = async {
            stack.up().await?;
            run_drill(d, &stack, &clips, a, &dir).await
        }
        .await;
        stack.down(&dir).await;
        let row = row.with_context(|| format!("drill {}", d.name()))?;
        let findings = row.findings();
        // The tally without its reasons (a refusal's names its own wait, so they are many).
        let t = &row.verdict.tally;
        println!(
            "  {}: {} requests: {} ok, {} refused, {} failed, {} client timeouts; {}",
            d.name(),
            row.submitted,
            t.ok,
            t.refused,
            t.failed,
            t.client_timeouts,
            if findings.is_empty() {
                "pass".to_string()
            } else {
                format!("FAIL: {}", findings.join("; "))
            }
        );
        rows.push(row);
    }
    std::fs::write(a.out.join("drills.csv"), report::csv(&rows))?;
    let md = report::markdown(&rows);
    std::fs::write(a.out.join("drills.md"), &md)?;
    print!("\n{md}");
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.findings().is_empty())
        .map(|r| r.drill)
        .collect();
    if failed.is_empty() {
        println!("verdict: every drill passed (nothing lost, nothing answered twice, healed)");
        Ok(true)
    } else {
        println!("verdict: FAILED: {}", failed.join(", "));
        Ok(false)
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

/// 12 short clips in 60 distinct copies each: every upload of a drill is new content, so the
/// nodes transcode throughout instead of answering from their caches.
fn prepare_clips(a: &DrillArgs) -> Result<Vec<Clip>> {
    if a.catalog.join(catalog::CATALOG_FILE).is_file() {
        return catalog::load(&a.catalog)
            .with_context(|| format!("reading the clip catalog in {}", a.catalog.display()));
    }
    let spec = CatalogSpec {
        count: 12,
        variants: 60,
        ffmpeg: a.ffmpeg.clone(),
        ..CatalogSpec::default()
    };
    println!(
        "generating {} clips × {} copies into {}",
        spec.count,
        spec.variants,
        a.catalog.display()
    );
    catalog::generate(&a.catalog, &spec)
        .with_context(|| format!("generating the clip catalog in {}", a.catalog.display()))
}

/// The five node services of the compose file, fresh for one drill.
struct Stack {
    opts: ComposeOptions,
    env: Vec<(String, String)>,
    addrs: Vec<SocketAddr>,
    ids: Vec<String>,
    http: reqwest::Client,
}

impl Stack {
    fn new(a: &DrillArgs, d: Drill) -> Result<Stack> {
        Ok(Stack {
            opts: a.compose.clone(),
            env: [a.env.clone(), d.env()].concat(),
            addrs: a.compose.addrs(NODES.len())?,
            ids: Vec::new(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(2))
                .build()?,
        })
    }

    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::from(self.opts.compose_std(&[]));
        c.envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    async fn docker(&self, args: &[&str], what: &str) -> Result<String> {
        let mut c = Command::new("docker");
        c.args(args);
        run_cmd(c, what).await
    }

    async fn up(&mut self) -> Result<()> {
        let down = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
        run_cmd(down, "docker-compose down").await?;
        let mut args = vec!["up", "-d", "--no-deps"];
        args.extend(NODES.iter().map(|n| n.0));
        run_cmd(self.compose(&args), "docker-compose up").await?;
        self.ids.clear();
        for (n, _) in NODES {
            let id = run_cmd(self.compose(&["ps", "-q", n]), "docker-compose ps").await?;
            if id.is_empty() {
                bail!("docker-compose created no container for {n}");
            }
            self.ids.push(id);
        }
        // Every node up, and each seeing the other four alive.
        let by = Instant::now() + Duration::from_secs(120);
        while !self.whole(None).await {
            if Instant::now() > by {
                bail!("the nodes did not all see each other alive within 2 minutes of starting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Saves every node's log into `dir`, then removes the stack with its volumes.
    async fn down(&self, dir: &Path) {
        let logs: Vec<PathBuf> = NODES
            .iter()
            .map(|n| dir.join(format!("{}.log", n.0)))
            .collect();
        crate::compose::save_logs(&self.ids, &logs).await;
        let down = self.compose(&["down", "-v", "--remove-orphans", "-t", "2"]);
        if let Err(e) = run_cmd(down, "docker-compose down").await {
            eprintln!("warning: {e:#}");
        }
    }

    async fn status(&self, i: usize) -> Option<Status> {
        let r = self
            .http
            .get(format!("http://{}/status", self.addrs[i]))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&r.bytes().await.ok()?).ok()
    }

    async fn statuses(&self) -> Vec<Option<Status>> {
        futures_util::future::join_all((0..NODES.len()).map(|i| self.status(i))).await
    }

    /// Every node answers and sees the other four alive (at the life each one is in). With
    /// `restarted`, that node's peers must also see its new life, not the one that died.
    async fn whole(&self, restarted: Option<usize>) -> bool {
        let st = self.statuses().await;
        let Some(all) = st.into_iter().collect::<Option<Vec<Status>>>() else {
            return false;
        };
        all.iter().enumerate().all(|(i, s)| {
            let alive = s.peers.iter().filter(|p| p.state == "alive").count();
            let current = restarted.is_none_or(|r| {
                r == i
                    || s.peers
                        .iter()
                        .any(|p| p.name == NODES[r].0 && p.gen == all[r].gen)
            });
            alive == NODES.len() - 1 && current
        })
    }

    /// Of the nodes but those in `victims`: whether one, and whether every one, sees each
    /// victim as not alive.
    async fn detected(&self, victims: &[usize]) -> (bool, bool) {
        let st = self.statuses().await;
        let sees: Vec<bool> = (0..NODES.len())
            .filter(|i| !victims.contains(i))
            .map(|i| {
                st[i].as_ref().is_some_and(|s| {
                    victims.iter().all(|&v| {
                        s.peers
                            .iter()
                            .any(|p| p.name == NODES[v].0 && p.state != "alive")
                    })
                })
            })
            .collect();
        (sees.iter().any(|&x| x), sees.iter().all(|&x| x))
    }

    async fn host_pid(&self, i: usize) -> Result<u32> {
        let pid = self
            .docker(
                &["inspect", "-f", "{{.State.Pid}}", &self.ids[i]],
                "docker inspect",
            )
            .await?;
        pid.parse()
            .with_context(|| format!("docker gave `{pid}` as {}'s pid", NODES[i].0))
    }

    async fn ip(&self, i: usize) -> Result<String> {
        let ip = self
            .docker(
                &[
                    "inspect",
                    "-f",
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                    &self.ids[i],
                ],
                "docker inspect",
            )
            .await?;
        ip.split_whitespace()
            .next()
            .map(str::to_string)
            .with_context(|| format!("{} has no address on the compose network", NODES[i].0))
    }

    /// The vidmesh-node process of node `i`, as the host sees it: the container's first
    /// process is docker-init, and the node is its child.
    async fn node_pid(&self, i: usize) -> Result<u32> {
        let init = self.host_pid(i).await?;
        let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .with_context(|| {
                format!("reading the children of {}'s init (pid {init})", NODES[i].0)
            })?;
        for c in children.split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if comm.trim() == "vidmesh-node" {
                return c.parse().context("a pid in /proc");
            }
        }
        bail!(
            "found no vidmesh-node process under {}'s init (pid {init})",
            NODES[i].0
        )
    }

    /// Drops (or, with `heal`, stops dropping) every packet between the nodes of `zone` and
    /// the others, in the zone's nodes' network namespaces. Loopback and the host (the client,
    /// docker's port mapping) are untouched.
    async fn partition(&self, zone: &str, heal: bool) -> Result<()> {
        let inside: Vec<usize> = (0..NODES.len()).filter(|&i| NODES[i].1 == zone).collect();
        let mut outside_ips = Vec::new();
        for i in (0..NODES.len()).filter(|i| !inside.contains(i)) {
            outside_ips.push(self.ip(i).await?);
        }
        let op = if heal { "-D" } else { "-I" };
        for &i in &inside {
            let pid = self.host_pid(i).await?.to_string();
            for ip in &outside_ips {
                for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                    let mut c = Command::new("nsenter");
                    c.args([
                        "-t", &pid, "-n", "iptables", op, chain, dir, ip, "-j", "DROP",
                    ]);
                    run_cmd(c, &format!("iptables {op} {chain} in {}", NODES[i].0)).await?;
                }
            }
        }
        Ok(())
    }

    async fn signal(&self, i: usize, sig: &str) -> Result<()> {
        let pid = self.node_pid(i).await?.to_string();
        let mut c = Command::new("kill");
        c.args([sig, &pid]);
        run_cmd(c, &format!("kill {sig} {}", NODES[i].0)).await?;
        Ok(())
    }
}

/// The node the drill hits, once its moment comes, and why it was chosen.
async fn pick_victim(d: Drill, stack: &Stack) -> Option<(Vec<usize>, String)> {
    let st = stack.statuses().await;
    let idx = |name: &str| NODES.iter().position(|n| n.0 == name);
    match d {
        Drill::KillEntry => (0..NODES.len()).find_map(|i| {
            let s = st[i].as_ref()?;
            (s.offloads_pending > 0).then(|| {
                (
                    vec![i],
                    format!(
                        "{} ({} offload(s) unanswered)",
                        NODES[i].0, s.offloads_pending
                    ),
                )
            })
        }),
        Drill::KillTarget => (0..NODES.len()).find_map(|i| {
            let s = st[i].as_ref()?;
            s.peers.iter().find_map(|p| {
                let t = idx(&p.name)?;
                let busy = st[t].as_ref().is_some_and(|ts| ts.in_flight > 0);
                (p.in_flight_to > 0 && busy).then(|| {
                    (
                        vec![t],
                        format!("{} (transcoding; {} waits on it)", p.name, NODES[i].0),
                    )
                })
            })
        }),
        Drill::Pause => (0..NODES.len()).find_map(|i| {
            let s = st[i].as_ref()?;
            (s.in_flight > 0 && s.offloads_pending + s.queue_len > 0).then(|| {
                (
                    vec![i],
                    format!(
                        "{} ({} running, {} queued, {} offloaded)",
                        NODES[i].0, s.in_flight, s.queue_len, s.offloads_pending
                    ),
                )
            })
        }),
        Drill::Starve | Drill::StarveNoLocalHealth => Some((
            vec![STARVED],
            format!("{} (stopped 1.2 s of every 2.5 s)", NODES[STARVED].0),
        )),
        Drill::Partition => {
            let inside: Vec<usize> = (0..NODES.len())
                .filter(|&i| NODES[i].1 == PARTITIONED_ZONE)
                .collect();
            // Best with an offload across the cut in flight.
            let across = inside.iter().any(|&i| {
                st[i].as_ref().is_some_and(|s| s.offloads_pending > 0)
                    || st.iter().flatten().any(|s| {
                        s.peers
                            .iter()
                            .any(|p| p.name == NODES[i].0 && p.in_flight_to > 0)
                    })
            });
            let names: Vec<&str> = inside.iter().map(|&i| NODES[i].0).collect();
            across.then(|| {
                (
                    inside,
                    format!(
                        "zone {PARTITIONED_ZONE} ({}), an offload across",
                        names.join(", ")
                    ),
                )
            })
        }
    }
}

fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

async fn run_drill(
    d: Drill,
    stack: &Stack,
    clips: &[Clip],
    a: &DrillArgs,
    dir: &Path,
) -> Result<DrillRow> {
    let t0 = Instant::now();
    let targets: Vec<Target> = NODES
        .iter()
        .zip(&stack.addrs)
        .map(|((name, zone), addr)| Target {
            name: name.to_string(),
            zone: zone.to_string(),
            url: format!("http://{addr}"),
        })
        .collect();
    let mut cfg = ClientConfig::report(targets, clips.to_vec(), Duration::from_secs(a.run_s));
    cfg.unique = true;
    cfg.epoch = Some(t0);
    let client = tokio::spawn(client::run_client(cfg));
    println!("{}: the report's client on 5 fresh nodes", d.name());

    // The fault, at its moment.
    tokio::time::sleep_until((t0 + ARM).into()).await;
    let give_up = t0 + ARM + TRIGGER_WAIT;
    let (victims, why) = loop {
        if let Some(v) = pick_victim(d, stack).await {
            break v;
        }
        if Instant::now() > give_up {
            client.abort();
            bail!(
                "its moment never came: nothing to hit between {} s and {} s (no offload in \
                 flight, or no busy node)",
                ARM.as_secs(),
                (ARM + TRIGGER_WAIT).as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fault_s = secs(t0);
    let before = suspicion_counts(stack).await;
    match d {
        Drill::KillEntry | Drill::KillTarget => {
            let id = &stack.ids[victims[0]];
            stack
                .docker(&["kill", "-s", "KILL", id], "docker kill")
                .await?;
        }
        Drill::Pause => stack.signal(victims[0], "-STOP").await?,
        Drill::Partition => stack.partition(PARTITIONED_ZONE, false).await?,
        // The stopping and continuing is the watch below.
        Drill::Starve | Drill::StarveNoLocalHealth => {}
    }
    println!("  {fault_s:>6.1} s  {} {why}", d.name());

    // Detection while the fault lasts.
    let end_at = Instant::now() + d.length(a.run_s);
    let mut detected_s = None;
    let mut first_detected_s = None;
    let mut downs = None;
    if d.is_starve() {
        // Nothing to detect: the node runs in bursts. What counts is whether a node that is
        // running gets declared down by anyone.
        let mut watch = DownWatch::default();
        while Instant::now() < end_at {
            stack.signal(victims[0], "-STOP").await?;
            watch.watch(stack, STARVE_STOP).await;
            stack.signal(victims[0], "-CONT").await?;
            watch.watch(stack, STARVE_RUN).await;
        }
        downs = Some(watch.downs);
    }
    while Instant::now() < end_at {
        if detected_s.is_none() {
            let (one, all) = stack.detected(&victims).await;
            if one && first_detected_s.is_none() {
                first_detected_s = Some(secs(t0) - fault_s);
            }
            if all {
                detected_s = Some(secs(t0) - fault_s);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let restarted = match d {
        Drill::KillEntry | Drill::KillTarget => {
            stack
                .docker(&["start", &stack.ids[victims[0]]], "docker start")
                .await?;
            Some(victims[0])
        }
        Drill::Pause => {
            stack.signal(victims[0], "-CONT").await?;
            None
        }
        Drill::Partition => {
            stack.partition(PARTITIONED_ZONE, true).await?;
            None
        }
        Drill::Starve | Drill::StarveNoLocalHealth => None,
    };
    let fault_end_s = secs(t0);
    println!("  {fault_end_s:>6.1} s  fault over");

    // Heal: every node sees every other alive again.
    let heal_by = Instant::now() + Duration::from_secs_f64(HEAL_BOUND_S + 30.0);
    let mut healed_s = None;
    while Instant::now() < heal_by {
        if stack.whole(restarted).await {
            healed_s = Some(secs(t0) - fault_end_s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match healed_s {
        Some(h) => println!("  {:>6.1} s  membership whole again ({h:.1} s)", secs(t0)),
        None => println!("  membership still not whole"),
    }

    let run = client.await.context("the client task")?;
    let records = report::ended(&run);
    let nodes = settle(stack).await;
    let after = suspicion_counts(stack).await;
    // How much counter `k` grew on each node from the fault on. A restarted node's counters
    // start again from 0, so its new life's count is all new.
    let grew = |i: usize, k: usize| -> u64 {
        match (before[i], after[i]) {
            (Some(b), Some(a)) if a[k] >= b[k] => a[k] - b[k],
            (_, Some(a)) => a[k],
            _ => 0,
        }
    };
    let total = |k: usize| -> u64 { (0..NODES.len()).map(|i| grew(i, k)).sum() };
    let by_victims: u64 = victims.iter().map(|&v| grew(v, 0)).sum();
    let suspicions = [by_victims, total(0) - by_victims];
    let refutations = total(1);
    let cancelled = total(2);
    let protocol_violations = stack
        .statuses()
        .await
        .iter()
        .flatten()
        .map(|s| s.counters.protocol_violations)
        .sum();
    run.write_requests_csv(&dir.join("requests.csv"), d.name())?;
    let times = DrillTimes {
        warmup_ms: WARMUP_MS,
        fault_s,
        fault_end_s,
        first_detected_s,
        detected_s,
        healed_s,
        submit_end_ms: a.run_s * 1000,
    };
    let verdict = report::judge(&records, &nodes);
    let mut row =
        DrillRow::from_verdict(d.name(), why, &records, verdict, times, protocol_violations);
    row.suspicions = suspicions;
    row.refutations = refutations;
    row.declared_down = downs;
    row.cancelled = cancelled;
    Ok(row)
}

/// Counts the times a node declares a peer down, watching every node's view every 250 ms.
#[derive(Default)]
struct DownWatch {
    /// (observer, peer) pairs seen down at the last look.
    down: std::collections::BTreeSet<(usize, String)>,
    downs: u64,
}

impl DownWatch {
    async fn watch(&mut self, stack: &Stack, for_: Duration) {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            for (i, s) in stack.statuses().await.iter().enumerate() {
                // A node that does not answer (the stopped one) keeps its last view.
                let Some(s) = s else { continue };
                for p in &s.peers {
                    let key = (i, p.name.clone());
                    if p.state == "down" {
                        if self.down.insert(key) {
                            self.downs += 1;
                        }
                    } else {
                        self.down.remove(&key);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Every node's SWIM suspicions raised (probe cycles that ended unanswered), suspicions of
/// itself refuted, and jobs cancelled because their client or origin left, so far in its life.
async fn suspicion_counts(stack: &Stack) -> Vec<Option<[u64; 3]>> {
    stack
        .statuses()
        .await
        .into_iter()
        .map(|s| {
            s.map(|s| {
                [
                    s.health.probes_failed,
                    s.health.refutations,
                    s.counters.core.cancelled,
                ]
            })
        })
        .collect()
}

/// The nodes once their jobs settle (a transcode kept for the cache, or an offload whose
/// client left, may end a little after the client's last answer); at most 60 s.
async fn settle(stack: &Stack) -> Vec<NodeEnd> {
    let by = Instant::now() + Duration::from_secs(60);
    loop {
        let st = stack.statuses().await;
        let nodes: Vec<NodeEnd> = st
            .iter()
            .enumerate()
            .map(|(i, s)| NodeEnd {
                name: NODES[i].0.to_string(),
                running: s.is_some(),
                jobs_left: s.as_ref().map_or(0, |s| {
                    (s.in_flight + s.queue_len + s.offloads_pending) as u64
                }),
                stray_answers: s.as_ref().map_or(0, |s| s.counters.stray_replies),
            })
            .collect();
        if nodes.iter().all(|n| n.jobs_left == 0) || Instant::now() > by {
            return nodes;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
