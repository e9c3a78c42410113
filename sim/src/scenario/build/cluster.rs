//! The cluster part of a scenario: the zones and their links, then the nodes (listed one by one
//! or generated per zone, with the file's defaults) and the seeds each node joins through.

use std::sync::Arc;

use toml::Spanned;
use vidmesh_core::zone::LinkSpec;
use vidmesh_core::{capacity_workers, ZoneId, ZoneTable};

use super::super::file::{GenerateFile, NetworkFile, NodeFile, ScenarioFile};
use super::super::{Network, NodeSpec, SeedMode};
use super::{at, mb, ErrFn, Result};
/// The zone `s` names; `what` says where it was named.
pub(super) fn zone_named(
    zones: &ZoneTable,
    zone_names: &[String],
    s: &Spanned<String>,
    what: &str,
    err: &ErrFn<'_>,
) -> Result<ZoneId> {
    zones.zone(s.get_ref()).ok_or_else(|| {
        err(
            at(&s.span()),
            format!(
                "{what} names zone `{}`, which is not in network.zones {:?}",
                s.get_ref(),
                zone_names
            ),
        )
    })
}

/// The index of the node `s` names; `what` says where it was named.
pub(super) fn node_named(
    nodes: &[NodeSpec],
    s: &Spanned<String>,
    what: &str,
    err: &ErrFn<'_>,
) -> Result<usize> {
    nodes
        .iter()
        .position(|n| &n.name == s.get_ref())
        .ok_or_else(|| {
            err(
                at(&s.span()),
                format!("{what} names unknown node `{}`", s.get_ref()),
            )
        })
}

pub(super) fn network(net: &NetworkFile, err: &ErrFn<'_>) -> Result<Network> {
    let zone_names = net.zones.get_ref().clone();
    if zone_names.is_empty() {
        return Err(err(at(&net.zones.span()), "network.zones is empty".into()));
    }
    if !(net.unknown_rtt_ms.is_finite() && net.unknown_rtt_ms >= 0.0) {
        return Err(err(None, "network.unknown_rtt_ms must be ≥ 0".into()));
    }
    let links: Vec<LinkSpec> = net.links.iter().map(|l| l.get_ref().clone()).collect();
    let zones = ZoneTable::new(&zone_names, &links, net.unknown_rtt_ms).map_err(|e| {
        // Point at the offending link where we can tell which one it is.
        let span = net
            .links
            .iter()
            .find(|l| ZoneTable::new(&zone_names, &[l.get_ref().clone()], 100.0).is_err())
            .map(|l| l.span())
            .unwrap_or_else(|| net.zones.span());
        err(Some(span), format!("network: {e}"))
    })?;
    let client_zone = match &net.client_zone {
        Some(z) => Some(zone_named(
            &zones,
            &zone_names,
            z,
            "network.client_zone",
            err,
        )?),
        None => None,
    };
    if let Some(bw) = &net.client_bandwidth_mbps {
        if !(bw.get_ref().is_finite() && *bw.get_ref() > 0.0) {
            return Err(err(
                at(&bw.span()),
                "network.client_bandwidth_mbps must be > 0".into(),
            ));
        }
    }
    Ok(Network {
        zones: Arc::new(zones),
        connect_timeout_ms: net.connect_timeout_ms,
        offload_timeout_ms: net.offload_timeout_ms,
        offload_latency: net.offload_latency,
        client_zone,
        client_bandwidth_mbps: net.client_bandwidth_mbps.as_ref().map(|b| *b.get_ref()),
    })
}

type ZoneOf<'a> = dyn Fn(&Spanned<String>, &str) -> Result<ZoneId> + 'a;

/// `v`, or `default` when not given; an error unless it is a positive number.
fn positive_or(v: &Option<Spanned<f64>>, default: f64, what: &str, err: &ErrFn<'_>) -> Result<f64> {
    match v {
        None => Ok(default),
        Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => Ok(*s.get_ref()),
        Some(s) => Err(err(
            at(&s.span()),
            format!("{what} must be a positive number, got {}", s.get_ref()),
        )),
    }
}

/// What a node not saying otherwise gets.
struct NodeDefaults {
    cores: f64,
    speed: f64,
    memory_mb: f64,
    /// None: as many as the cores sustain.
    workers: Option<u32>,
    queue_cap: u32,
    cache_mb: f64,
    job_threads: f64,
}

impl NodeDefaults {
    fn read(raw: &ScenarioFile, err: &ErrFn<'_>) -> Result<NodeDefaults> {
        let d = &raw.node_defaults;
        let defaults = NodeDefaults {
            cores: positive_or(&d.cores, 2.0, "node_defaults.cores", err)?,
            speed: positive_or(&d.speed, 1.0, "node_defaults.speed", err)?,
            memory_mb: positive_or(&d.memory_mb, 2048.0, "node_defaults.memory_mb", err)?,
            workers: d.workers,
            queue_cap: d.queue_cap.unwrap_or(20),
            cache_mb: d.cache_mb.unwrap_or(1024.0),
            job_threads: *raw.cost.job_threads.get_ref(),
        };
        if defaults.workers == Some(0) {
            return Err(err(None, "node_defaults.workers must be at least 1".into()));
        }
        Ok(defaults)
    }

    /// By default a node runs as many transcodes as its cores sustain.
    fn workers_for(&self, cores: f64) -> u32 {
        self.workers
            .unwrap_or_else(|| capacity_workers(cores, self.job_threads))
    }
}

/// The listed nodes, then the generated ones, with their seeds resolved; and how generated
/// nodes pick seeds.
#[allow(clippy::type_complexity)]
pub(super) fn nodes(
    raw: &ScenarioFile,
    zone_of: &ZoneOf<'_>,
    err: &ErrFn<'_>,
) -> Result<(Vec<NodeSpec>, Option<(SeedMode, u32)>)> {
    let defaults = NodeDefaults::read(raw, err)?;
    let mut nodes: Vec<NodeSpec> = Vec::new();
    // Per node, the names of its seeds, resolved once every node is known.
    let mut seed_names: Vec<&[Spanned<String>]> = Vec::new();
    for n in &raw.nodes {
        nodes.push(listed_node(n, &nodes, &defaults, zone_of, err)?);
        seed_names.push(&n.seeds);
    }
    let mut generated_seeds = None;
    if let Some(g) = &raw.generate {
        let zone_count = raw.network.zones.get_ref().len();
        let generated = generated_nodes(g, nodes.len(), zone_count, &defaults, zone_of, err)?;
        seed_names.extend(generated.iter().map(|_| &[][..]));
        nodes.extend(generated);
        generated_seeds = Some((g.seed_mode, g.seed_count));
    }
    if nodes.is_empty() {
        return Err(err(None, "no nodes: give [[nodes]] or [generate]".into()));
    }
    if nodes.len() > u16::MAX as usize - 1 {
        return Err(err(
            None,
            "too many nodes (the simulated address space is 16-bit)".into(),
        ));
    }
    let mut resolved = Vec::with_capacity(nodes.len());
    for (i, names) in seed_names.iter().enumerate() {
        let mut v = Vec::new();
        for s in names.iter() {
            v.push(node_named(
                &nodes,
                s,
                &format!("seeds of node `{}`", nodes[i].name),
                err,
            )?);
        }
        resolved.push(v);
    }
    for (n, s) in nodes.iter_mut().zip(resolved) {
        n.seeds = s;
    }
    Ok((nodes, generated_seeds))
}

/// A `[[nodes]]` entry (`before`: the entries above it), its seeds left for later.
fn listed_node(
    n: &NodeFile,
    before: &[NodeSpec],
    d: &NodeDefaults,
    zone_of: &ZoneOf<'_>,
    err: &ErrFn<'_>,
) -> Result<NodeSpec> {
    let name = n.name.get_ref().clone();
    if before.iter().any(|x| x.name == name) {
        return Err(err(
            at(&n.name.span()),
            format!("node `{name}` is listed twice"),
        ));
    }
    let pos = |v: &Option<Spanned<f64>>, default: f64, what: &str| {
        positive_or(v, default, &format!("node `{name}`: {what}"), err)
    };
    let cores = pos(&n.cores, d.cores, "cores")?;
    let speed = pos(&n.speed, d.speed, "speed")?;
    let memory_mb = pos(&n.memory_mb, d.memory_mb, "memory_mb")?;
    let workers = n.workers.unwrap_or_else(|| d.workers_for(cores));
    if workers == 0 {
        return Err(err(
            at(&n.name.span()),
            format!("node `{name}`: workers must be at least 1"),
        ));
    }
    Ok(NodeSpec {
        zone: zone_of(&n.zone, &format!("node `{name}`"))?,
        name,
        seeds: Vec::new(),
        workers,
        queue_cap: n.queue_cap.unwrap_or(d.queue_cap),
        cache_bytes: mb(n.cache_mb.unwrap_or(d.cache_mb)),
        cores,
        speed,
        memory_mb,
    })
}

/// The `[generate]` nodes, dealt over their zones round robin and numbered after the `first`
/// listed ones.
fn generated_nodes(
    g: &GenerateFile,
    first: usize,
    zone_count: usize,
    d: &NodeDefaults,
    zone_of: &ZoneOf<'_>,
    err: &ErrFn<'_>,
) -> Result<Vec<NodeSpec>> {
    let count = *g.count.get_ref();
    if count == 0 || count > 60_000 {
        return Err(err(
            at(&g.count.span()),
            format!("generate.count must be within 1..=60000, got {count}"),
        ));
    }
    let gz: Vec<ZoneId> = match &g.zones {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|z| zone_of(z, "generate.zones"))
            .collect::<Result<_>>()?,
        _ => (0..zone_count).map(|i| ZoneId(i as u16)).collect(),
    };
    Ok((0..count as usize)
        .map(|i| NodeSpec {
            name: format!("{}{}", g.name_prefix, first + i + 1),
            zone: gz[i % gz.len()],
            seeds: Vec::new(),
            workers: d.workers_for(d.cores),
            queue_cap: d.queue_cap,
            cache_bytes: mb(d.cache_mb),
            cores: d.cores,
            speed: d.speed,
            memory_mb: d.memory_mb,
        })
        .collect())
}
