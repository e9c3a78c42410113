//! The docker-compose side of `sim live --docker` and `sim validate`: the scenario's nodes run
//! as the compose file's `node1`…`nodeN` services (image, healthcheck, named volumes, init),
//! configured for the scenario through a generated override file, reached on their published
//! loopback ports, and failed with docker itself (crash = `docker kill`, restart = `docker
//! start`, pause = `docker pause`).
//!
//! docker-compose is only used to create and remove the stack: a plain `docker` call takes
//! ~0.1 s where compose v1 takes 1–3 s, which would shift the faults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;
use vidmesh_node::args::NodeLaunch;

/// Where the compose stack comes from and how it is exposed on the host.
#[derive(Clone, Debug)]
pub struct ComposeOptions {
    /// The compose file whose `nodeN` services run the nodes.
    pub file: PathBuf,
    /// Compose project name (containers, network and volumes are prefixed with it).
    pub project: String,
    /// Node `i` (0-based) is published on 127.0.0.1:`port_base + i + 1`.
    pub port_base: u16,
    /// The image the services use (`VIDMESH_IMAGE` in the compose file).
    pub image: String,
}

impl ComposeOptions {
    pub fn addrs(&self, n: usize) -> Result<Vec<SocketAddr>> {
        (0..n)
            .map(|i| {
                let port = u16::try_from(self.port_base as usize + i + 1)
                    .ok()
                    .context("--port-base leaves no room for every node's port")?;
                Ok(SocketAddr::from(([127, 0, 0, 1], port)))
            })
            .collect()
    }

    /// Checks that docker answers, the image exists and the compose file defines a service per
    /// node; the error says what to do when something is missing.
    pub async fn check(&self, nodes: &[String]) -> Result<()> {
        let v = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running `docker` (is Docker installed?)")?;
        if !v.status.success() {
            bail!(
                "cannot talk to the docker daemon: {}",
                String::from_utf8_lossy(&v.stderr).trim()
            );
        }
        let img = Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", &self.image])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await?;
        if !img.success() {
            bail!(
                "image {} does not exist: build it with `docker-compose build` (public base \
                 images) or `docker/build-offline.sh` (no registry)",
                self.image
            );
        }
        let out = self
            .compose_cmd(&[])
            .args(["config", "--services"])
            .output()
            .await;
        let out = out.context("running `docker-compose` (is it installed?)")?;
        if !out.status.success() {
            bail!(
                "{}: docker-compose cannot read it: {}",
                self.file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let services = String::from_utf8_lossy(&out.stdout).to_string();
        let services: Vec<&str> = services.lines().map(str::trim).collect();
        let missing: Vec<&str> = nodes
            .iter()
            .map(String::as_str)
            .filter(|n| !services.contains(n))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{} has no service for the scenario's node(s) {}; its services are {}",
                self.file.display(),
                missing.join(", "),
                services.join(", ")
            );
        }
        Ok(())
    }

    fn compose_cmd(&self, overrides: &[&Path]) -> Command {
        Command::from(self.compose_std(overrides))
    }

    /// The docker-compose invocation every call shares (blocking form, also used on drop).
    pub(crate) fn compose_std(&self, overrides: &[&Path]) -> std::process::Command {
        let mut c = std::process::Command::new("docker-compose");
        c.arg("-p").arg(&self.project).arg("-f").arg(&self.file);
        for o in overrides {
            c.arg("-f").arg(o);
        }
        c.env("VIDMESH_IMAGE", &self.image).stdin(Stdio::null());
        for i in 0..9u16 {
            // A port past 65535 is left unset; `addrs` refuses such a base with a clear error.
            if let Some(port) = self.port_base.checked_add(i + 1) {
                c.env(format!("VIDMESH_NODE{}_PORT", i + 1), port.to_string());
            }
        }
        c
    }
}

/// Quotes a string for YAML (JSON strings are YAML) and keeps compose from interpolating `$`.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(&s.replace('$', "$$")).expect("a string serialises")
}

/// The override file that makes the compose services the scenario's nodes: each service's
/// command gets the node's flags (which win over the compose file's environment), its CPU and
/// memory limits, and the zone table mounted read-only.
/// `seeds[i]` are node `i`'s seeds as service names.
pub fn override_yaml(launches: &[NodeLaunch], seeds: &[Vec<String>], zones_file: &Path) -> String {
    const ZONES_IN_CONTAINER: &str = "/etc/vidmesh/zones.toml";
    let mut y = String::from(
        "# Written by `sim live --docker` for one strategy: the scenario's settings per node.\n\
         services:\n",
    );
    for (l, seeds) in launches.iter().zip(seeds) {
        let mut args = vec!["vidmesh-node".to_string()];
        for a in l.args() {
            // Inside the compose network a node listens on :8000, is known by its service
            // name, keeps its data on the named volume and reads the mounted zone table.
            let dropped = [
                "--listen=",
                "--advertise=",
                "--seeds=",
                "--data-dir=",
                "--zones-file=",
            ];
            if !dropped.iter().any(|p| a.starts_with(p)) {
                args.push(a);
            }
        }
        args.push("--listen=0.0.0.0:8000".into());
        args.push(format!("--advertise={}:8000", l.name));
        if !seeds.is_empty() {
            let s: Vec<String> = seeds.iter().map(|s| format!("{s}:8000")).collect();
            args.push(format!("--seeds={}", s.join(",")));
        }
        args.push("--data-dir=/data".into());
        args.push(format!("--zones-file={ZONES_IN_CONTAINER}"));
        y.push_str(&format!("  {}:\n    command:\n", l.name));
        for a in &args {
            y.push_str(&format!("      - {}\n", yaml_str(a)));
        }
        if let Some(c) = l.cpus {
            y.push_str(&format!("    cpus: {c}\n"));
        }
        if let Some(m) = l.mem_mb {
            y.push_str(&format!("    mem_limit: {}m\n", m.round() as u64));
        }
        y.push_str("    volumes:\n");
        y.push_str(&format!(
            "      - {}\n",
            yaml_str(&format!("{}:{ZONES_IN_CONTAINER}:ro", zones_file.display()))
        ));
    }
    y
}

/// Runs `cmd` to its end: its output (trimmed), or an error naming `what` with its exit status
/// and what it said on stderr.
pub(crate) async fn run_cmd(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Saves each container's log (`docker logs -t`, stdout and stderr) into the path beside it;
/// a log that cannot be had is skipped, as the stack is going anyway.
pub(crate) async fn save_logs(ids: &[String], paths: &[PathBuf]) {
    for (id, path) in ids.iter().zip(paths) {
        let out = Command::new("docker")
            .args(["logs", "-t", id])
            .stdin(Stdio::null())
            .output()
            .await;
        if let Ok(o) = out {
            let _ = std::fs::write(path, [o.stdout, o.stderr].concat());
        }
    }
}

/// The running stack of one strategy. Dropping it without [`ComposeFleet::down`] still removes
/// it (synchronously), so no container outlives `sim`.
pub struct ComposeFleet {
    opts: ComposeOptions,
    override_file: PathBuf,
    names: Vec<String>,
    ids: Vec<String>,
    logs: Vec<PathBuf>,
    up: bool,
}

impl ComposeFleet {
    pub fn new(
        opts: &ComposeOptions,
        launches: &[NodeLaunch],
        seeds: &[Vec<String>],
        zones_file: &Path,
        override_file: PathBuf,
        logs: Vec<PathBuf>,
    ) -> Result<Self> {
        std::fs::write(&override_file, override_yaml(launches, seeds, zones_file))
            .with_context(|| format!("writing {}", override_file.display()))?;
        Ok(ComposeFleet {
            opts: opts.clone(),
            override_file,
            names: launches.iter().map(|l| l.name.clone()).collect(),
            ids: Vec::new(),
            logs,
            up: false,
        })
    }

    fn compose(&self) -> Command {
        self.opts.compose_cmd(&[&self.override_file])
    }

    pub fn node_count(&self) -> usize {
        self.names.len()
    }

    /// A fresh stack: whatever a previous run left is removed with its volumes (caches), then
    /// every node service is created and started.
    pub async fn up(&mut self) -> Result<()> {
        let mut down = self.compose();
        down.args(["down", "-v", "--remove-orphans", "-t", "2"]);
        run_cmd(down, "docker-compose down").await?;
        let mut up = self.compose();
        up.args(["up", "-d", "--no-deps", "--force-recreate"])
            .args(&self.names);
        self.up = true;
        run_cmd(up, "docker-compose up").await?;
        self.ids.clear();
        for n in &self.names {
            let mut ps = self.compose();
            ps.args(["ps", "-q", n]);
            let id = run_cmd(ps, "docker-compose ps").await?;
            if id.is_empty() {
                bail!("docker-compose created no container for {n}");
            }
            self.ids.push(id);
        }
        Ok(())
    }

    async fn docker(&self, verb: &[&str], i: usize) -> Result<()> {
        let mut c = Command::new("docker");
        c.args(verb).arg(&self.ids[i]).stdin(Stdio::null());
        run_cmd(c, &format!("docker {} {}", verb.join(" "), self.names[i]))
            .await
            .map(|_| ())
    }

    pub async fn crash(&mut self, i: usize) -> Result<()> {
        self.docker(&["kill", "-s", "KILL"], i).await
    }

    /// Starts a crashed node's container again: same volume, so the node recovers its cache
    /// and starts a later life.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.docker(&["start"], i).await
    }

    pub async fn pause(&mut self, i: usize) -> Result<()> {
        self.docker(&["pause"], i).await
    }

    pub async fn resume(&mut self, i: usize) -> Result<()> {
        self.docker(&["unpause"], i).await
    }

    /// Whether node `i`'s container has stopped on its own; its log's tail if so.
    pub async fn exited(&self, i: usize) -> Option<String> {
        let id = self.ids.get(i)?;
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id])
            .stdin(Stdio::null())
            .output()
            .await
            .ok()?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !(state.starts_with("exited") || state.starts_with("dead")) {
            return None;
        }
        let logs = Command::new("docker")
            .args(["logs", "--tail", "15", id])
            .stdin(Stdio::null())
            .output()
            .await
            .ok()?;
        Some(format!(
            "{} stopped ({state}); the end of its log:\n{}{}",
            self.names[i],
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        ))
    }

    /// Saves every node's log, then removes the stack with its volumes.
    pub async fn down(&mut self) -> Result<()> {
        save_logs(&self.ids, &self.logs).await;
        let mut down = self.compose();
        down.args(["down", "-v", "--remove-orphans", "-t", "2"]);
        self.up = false;
        tokio::time::timeout(
            Duration::from_secs(120),
            run_cmd(down, "docker-compose down"),
        )
        .await
        .context("docker-compose down took over 2 minutes")??;
        Ok(())
    }
}

impl Drop for ComposeFleet {
    fn drop(&mut self) {
        if self.up {
            let mut c = self.opts.compose_std(&[&self.override_file]);
            c.args(["down", "-v", "--remove-orphans", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = c.status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_gives_each_service_its_node_flags() {
        let mut l = NodeLaunch::new(
            "node3",
            3,
            "BOM",
            "127.0.0.1:18103".parse().unwrap(),
            "/tmp/x".into(),
        );
        l.seeds = vec!["127.0.0.1:18104".parse().unwrap()];
        l.cpus = Some(0.4);
        l.mem_mb = Some(1024.0);
        l.ffmpeg_args = Some("-c:v libx264 -vf scale=$W".into());
        let seeds = vec![vec!["node4".to_string(), "node5".to_string()]];
        let y = override_yaml(&[l], &seeds, Path::new("/run/zones.toml"));
        assert!(y.contains("  node3:\n    command:\n      - \"vidmesh-node\"\n      - \"serve\"\n"));
        assert!(y.contains("\"--zone=BOM\""), "{y}");
        assert!(y.contains("\"--listen=0.0.0.0:8000\""));
        assert!(y.contains("\"--advertise=node3:8000\""));
        assert!(
            !y.contains("127.0.0.1"),
            "host addresses must not leak in: {y}"
        );
        assert!(y.contains("\"--seeds=node4:8000,node5:8000\""), "{y}");
        assert!(y.contains("cpus: 0.4\n    mem_limit: 1024m\n"));
        assert!(y.contains("\"/run/zones.toml:/etc/vidmesh/zones.toml:ro\""));
        // `$` would be interpolated by compose
        assert!(y.contains("scale=$$W"), "{y}");
    }
}
