//! Validation: the file as written becomes a [`Scenario`], or an error that points at the key
//! that is wrong (a node in an unknown zone, a seed nobody is called, a number out of range).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use toml::Spanned;
use vidmesh_core::zone::LinkSpec;
use vidmesh_core::{capacity_workers, OutputShape, StrategyConfig, ZoneId, ZoneTable};

use super::file::{check_admission, NoiseKind, ScenarioFile};
use super::{
    Catalog, CostModel, Live, Network, NodeSpec, Noise, Output, ProfileWeight, Scenario,
    ScenarioError, StrategyOverrides, Video, Workload, WorkloadKind, PROFILES,
};

pub(super) type ErrFn<'a> = dyn Fn(Option<Range<usize>>, String) -> ScenarioError + 'a;

pub(super) fn build(
    raw: ScenarioFile,
    default_name: &str,
    err: &ErrFn<'_>,
) -> Result<Scenario, ScenarioError> {
    let at = |s: &Range<usize>| Some(s.clone());
    let name = raw
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_else(|| default_name.to_string());
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(err(
            raw.name.as_ref().map(|n| n.span()),
            format!("name `{name}` must be non-empty and contain no path separators"),
        ));
    }
    let duration_s = *raw.duration_s.get_ref();
    if !(duration_s.is_finite() && duration_s > 0.0) {
        return Err(err(
            at(&raw.duration_s.span()),
            format!("duration_s must be a positive number of seconds, got {duration_s}"),
        ));
    }

    // Network.
    let net = &raw.network;
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
    let zone_of = |s: &Spanned<String>, what: &str| {
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
    };
    let client_zone = match &net.client_zone {
        Some(z) => Some(zone_of(z, "network.client_zone")?),
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

    // Nodes.
    let d = &raw.node_defaults;
    let pos = |v: &Option<Spanned<f64>>, default: f64, what: &str| -> Result<f64, ScenarioError> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => Ok(*s.get_ref()),
            Some(s) => Err(err(
                at(&s.span()),
                format!("{what} must be a positive number, got {}", s.get_ref()),
            )),
        }
    };
    let def_cores = pos(&d.cores, 2.0, "node_defaults.cores")?;
    let def_speed = pos(&d.speed, 1.0, "node_defaults.speed")?;
    let def_mem = pos(&d.memory_mb, 2048.0, "node_defaults.memory_mb")?;
    // By default a node runs as many transcodes as its cores sustain (`capacity_workers`).
    let job_threads = *raw.cost.job_threads.get_ref();
    let auto_workers = |cores: f64| capacity_workers(cores, job_threads);
    let def_workers_set = d.workers;
    let def_queue = d.queue_cap.unwrap_or(20);
    let def_cache = d.cache_mb.unwrap_or(1024.0);
    if def_workers_set == Some(0) {
        return Err(err(None, "node_defaults.workers must be at least 1".into()));
    }
    let mb = |v: f64| (v.max(0.0) * 1e6) as u64;

    let mut nodes: Vec<NodeSpec> = Vec::new();
    let mut seed_names: Vec<Vec<Spanned<String>>> = Vec::new();
    for n in &raw.nodes {
        let name = n.name.get_ref().clone();
        if nodes.iter().any(|x| x.name == name) {
            return Err(err(
                at(&n.name.span()),
                format!("node `{name}` is listed twice"),
            ));
        }
        let cores = pos(&n.cores, def_cores, &format!("node `{name}`: cores"))?;
        let speed = pos(&n.speed, def_speed, &format!("node `{name}`: speed"))?;
        let memory_mb = pos(&n.memory_mb, def_mem, &format!("node `{name}`: memory_mb"))?;
        let workers = n
            .workers
            .or(def_workers_set)
            .unwrap_or_else(|| auto_workers(cores));
        if workers == 0 {
            return Err(err(
                at(&n.name.span()),
                format!("node `{name}`: workers must be at least 1"),
            ));
        }
        nodes.push(NodeSpec {
            zone: zone_of(&n.zone, &format!("node `{name}`"))?,
            name,
            seeds: Vec::new(),
            workers,
            queue_cap: n.queue_cap.unwrap_or(def_queue),
            cache_bytes: mb(n.cache_mb.unwrap_or(def_cache)),
            cores,
            speed,
            memory_mb,
        });
        seed_names.push(n.seeds.clone());
    }
    let mut generated_seeds = None;
    if let Some(g) = &raw.generate {
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
                .collect::<Result<_, _>>()?,
            _ => (0..zone_names.len()).map(|i| ZoneId(i as u16)).collect(),
        };
        let first = nodes.len();
        for i in 0..count as usize {
            nodes.push(NodeSpec {
                name: format!("{}{}", g.name_prefix, first + i + 1),
                zone: gz[i % gz.len()],
                seeds: Vec::new(),
                workers: def_workers_set.unwrap_or_else(|| auto_workers(def_cores)),
                queue_cap: def_queue,
                cache_bytes: mb(def_cache),
                cores: def_cores,
                speed: def_speed,
                memory_mb: def_mem,
            });
            seed_names.push(Vec::new());
        }
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
    let node_index = |nodes: &[NodeSpec], s: &Spanned<String>, what: &str| {
        nodes
            .iter()
            .position(|n| &n.name == s.get_ref())
            .ok_or_else(|| {
                err(
                    at(&s.span()),
                    format!("{what} names unknown node `{}`", s.get_ref()),
                )
            })
    };
    let mut resolved = Vec::with_capacity(nodes.len());
    for (i, names) in seed_names.iter().enumerate() {
        let mut v = Vec::new();
        for s in names {
            v.push(node_index(
                &nodes,
                s,
                &format!("seeds of node `{}`", nodes[i].name),
            )?);
        }
        resolved.push(v);
    }

    for (n, s) in nodes.iter_mut().zip(resolved) {
        n.seeds = s;
    }

    // Gossip.
    let g = raw.gossip.get_ref().clone();
    if g.period_ms == 0 || g.probe_period_ms < 2 || g.fanout == 0 {
        return Err(err(
            at(&raw.gossip.span()),
            "gossip: period_ms and fanout must be ≥ 1 and probe_period_ms ≥ 2".into(),
        ));
    }

    // Strategies.
    let mut strategies: Vec<(String, StrategyConfig)> = Vec::new();
    let mut strategy_overrides: Vec<(String, StrategyOverrides)> = Vec::new();
    if raw.strategies.get_ref().is_empty() {
        return Err(err(
            at(&raw.strategies.span()),
            "no strategies listed".into(),
        ));
    }
    for s in raw.strategies.get_ref() {
        let name = s.name.get_ref().clone();
        if name.is_empty() || name.contains([',', '"', '\n']) {
            return Err(err(
                at(&s.name.span()),
                format!("strategy name `{name}` must be non-empty without commas or quotes"),
            ));
        }
        if strategies.iter().any(|(n, _)| *n == name) {
            return Err(err(
                at(&s.name.span()),
                format!("strategy `{name}` is listed twice"),
            ));
        }
        s.strategy
            .get_ref()
            .validate()
            .map_err(|m| err(at(&s.strategy.span()), format!("strategy `{name}`: {m}")))?;
        let admission =
            match &s.admission {
                Some(a) => Some(check_admission(a).map_err(|m| {
                    err(at(&a.span()), format!("strategy `{name}`: admission: {m}"))
                })?),
                None => None,
            };
        if let Some(g) = &s.gossip_period_ms {
            if *g.get_ref() == 0 {
                return Err(err(
                    at(&g.span()),
                    format!("strategy `{name}`: gossip_period_ms must be at least 1"),
                ));
            }
        }
        if let Some(w) = &s.workers {
            if *w.get_ref() == 0 {
                return Err(err(
                    at(&w.span()),
                    format!("strategy `{name}`: workers must be at least 1"),
                ));
            }
        }
        strategy_overrides.push((
            name.clone(),
            StrategyOverrides {
                hop_limit: s.hop_limit.as_ref().map(|h| *h.get_ref()),
                admission,
                workers: s.workers.as_ref().map(|w| *w.get_ref()),
                gossip_period_ms: s.gossip_period_ms.as_ref().map(|g| *g.get_ref()),
            },
        ));
        strategies.push((name, s.strategy.get_ref().clone()));
    }

    // Cost model.
    let c = &raw.cost;
    let noise = match c.noise.get_ref().kind {
        NoiseKind::Deterministic => Noise::Deterministic,
        NoiseKind::Exponential => Noise::Exponential,
        NoiseKind::Lognormal => {
            let sigma = c.noise.get_ref().sigma.unwrap_or(0.2);
            if !(sigma.is_finite() && sigma >= 0.0) {
                return Err(err(
                    at(&c.noise.span()),
                    "cost.noise.sigma must be ≥ 0".into(),
                ));
            }
            Noise::Lognormal { sigma }
        }
    };
    if c.noise.get_ref().sigma.is_some() && c.noise.get_ref().kind != NoiseKind::Lognormal {
        return Err(err(
            at(&c.noise.span()),
            "cost.noise.sigma only applies to kind = \"lognormal\"".into(),
        ));
    }
    for (what, v) in [
        ("base_s", c.base_s),
        ("per_mpf_s", c.per_mpf_s),
        ("per_frame_s", c.per_frame_s),
        ("per_out_mpf_s", c.per_out_mpf_s),
        ("output_bytes_per_frame", c.output_bytes_per_frame),
        ("ffmpeg_rss_mb", c.ffmpeg_rss_mb),
        ("base_mem_mb", c.base_mem_mb),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(
                None,
                format!("cost.{what} must be a number ≥ 0, got {v}"),
            ));
        }
    }
    if !(c.job_threads.get_ref().is_finite() && *c.job_threads.get_ref() > 0.0) {
        return Err(err(
            at(&c.job_threads.span()),
            "cost.job_threads must be > 0".into(),
        ));
    }
    let probe_s = *c.probe_s.get_ref();
    if !(probe_s.is_finite() && probe_s >= 0.0) {
        return Err(err(
            at(&c.probe_s.span()),
            format!("cost.probe_s must be a number of seconds ≥ 0, got {probe_s}"),
        ));
    }
    let fp = *c.fail_prob.get_ref();
    if !(0.0..=1.0).contains(&fp) {
        return Err(err(
            at(&c.fail_prob.span()),
            format!("cost.fail_prob must be within 0..=1, got {fp}"),
        ));
    }
    if *c.stats_period_ms.get_ref() == 0 {
        return Err(err(
            at(&c.stats_period_ms.span()),
            "cost.stats_period_ms must be ≥ 1".into(),
        ));
    }
    let ps = *c.prior_scale.get_ref();
    if !(ps.is_finite() && ps > 0.0) {
        return Err(err(
            at(&c.prior_scale.span()),
            format!("cost.prior_scale must be > 0, got {ps}"),
        ));
    }
    let admission = check_admission(&raw.admission)
        .map_err(|m| err(at(&raw.admission.span()), format!("admission: {m}")))?;
    let cost = CostModel {
        base_s: c.base_s,
        per_mpf_s: c.per_mpf_s,
        per_frame_s: c.per_frame_s,
        per_out_mpf_s: c.per_out_mpf_s,
        noise,
        job_threads: *c.job_threads.get_ref(),
        probe_s,
        fail_prob: fp,
        output_bytes_per_frame: c.output_bytes_per_frame,
        ffmpeg_rss_mb: c.ffmpeg_rss_mb,
        base_mem_mb: c.base_mem_mb,
        stats_period_ms: *c.stats_period_ms.get_ref(),
        prior_scale: *c.prior_scale.get_ref(),
    };

    // Workload.
    let w = &raw.workload;
    let targets = match &w.targets {
        Some(list) => {
            let mut t = Vec::new();
            for s in list {
                let i = node_index(&nodes, s, "workload.targets")?;
                if !t.contains(&i) {
                    t.push(i);
                }
            }
            if t.is_empty() {
                return Err(err(None, "workload.targets is empty".into()));
            }
            t
        }
        None => (0..nodes.len()).collect(),
    };
    let rate_per_s = match (w.kind, &w.rate_per_s) {
        (WorkloadKind::Poisson, None) => {
            return Err(err(
                None,
                "workload: kind = \"poisson\" needs rate_per_s".into(),
            ))
        }
        (_, Some(r)) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
            return Err(err(at(&r.span()), "workload.rate_per_s must be > 0".into()))
        }
        (_, Some(r)) => *r.get_ref(),
        (_, None) => 0.0,
    };
    if *w.batch_size.get_ref() == 0 {
        return Err(err(
            at(&w.batch_size.span()),
            "workload.batch_size must be ≥ 1".into(),
        ));
    }
    if *w.max_attempts.get_ref() == 0 {
        return Err(err(
            at(&w.max_attempts.span()),
            "workload.max_attempts must be ≥ 1".into(),
        ));
    }
    if *w.attempt_timeout_ms.get_ref() == 0 {
        return Err(err(
            at(&w.attempt_timeout_ms.span()),
            "workload.attempt_timeout_ms must be ≥ 1".into(),
        ));
    }
    if *w.health_check_ms.get_ref() == 0 {
        return Err(err(
            at(&w.health_check_ms.span()),
            "workload.health_check_ms must be ≥ 1".into(),
        ));
    }
    if !(w.start_s.is_finite() && w.start_s >= 0.0) {
        return Err(err(None, "workload.start_s must be ≥ 0".into()));
    }
    if let Some(b) = &w.batches {
        if *b.get_ref() == 0 {
            return Err(err(at(&b.span()), "workload.batches must be ≥ 1".into()));
        }
    }
    let mut profiles = Vec::new();
    if let Some(mix) = &w.profiles {
        let here = at(&mix.span());
        for (name, &weight) in mix.get_ref() {
            let shape = OutputShape::builtin(name)
                .filter(|_| PROFILES.contains(&name.as_str()))
                .ok_or_else(|| {
                    err(
                        here.clone(),
                        format!(
                            "workload.profiles: unknown profile `{name}` (known: {})",
                            PROFILES.join(", ")
                        ),
                    )
                })?;
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(err(
                    here.clone(),
                    format!("workload.profiles.{name}: the weight must be ≥ 0, got {weight}"),
                ));
            }
            profiles.push(ProfileWeight {
                name: name.clone(),
                shape,
                weight,
            });
        }
        if profiles.iter().map(|p| p.weight).sum::<f64>() <= 0.0 {
            return Err(err(
                here,
                "workload.profiles: give at least one profile a weight > 0".into(),
            ));
        }
    }
    let workload = Workload {
        kind: w.kind,
        profiles,
        batches: w.batches.as_ref().map(|b| *b.get_ref()),
        block_failed_nodes: w.block_failed_nodes,
        targets,
        batch_size: *w.batch_size.get_ref(),
        pause_ms: w.pause_ms,
        rate_per_s,
        attempt_timeout_ms: *w.attempt_timeout_ms.get_ref(),
        max_attempts: *w.max_attempts.get_ref(),
        health_check_ms: *w.health_check_ms.get_ref(),
        start_ms: (w.start_s * 1000.0).round() as u64,
    };

    // Catalog.
    let k = &raw.catalog;
    let catalog = if !k.videos.is_empty() {
        let mut v = Vec::new();
        for f in &k.videos {
            if f.width == 0
                || f.height == 0
                || f.frames == 0
                || f.size_mb.is_nan()
                || f.size_mb <= 0.0
                || f.fps.is_nan()
                || f.fps <= 0.0
            {
                return Err(err(
                    None,
                    "catalog.videos: width, height, frames, size_mb and fps must be > 0".into(),
                ));
            }
            v.push(Video {
                width: f.width,
                height: f.height,
                frames: f.frames,
                size_bytes: mb(f.size_mb),
                duration_ms: (f.frames as f64 / f.fps * 1000.0) as u32,
            });
        }
        Catalog::Explicit(v)
    } else {
        let files = *k.files.get_ref();
        if files == 0 {
            return Err(err(at(&k.files.span()), "catalog.files must be ≥ 1".into()));
        }
        if k.resolutions.is_empty() || k.resolutions.iter().any(|r| r[0] == 0 || r[1] == 0) {
            return Err(err(
                None,
                "catalog.resolutions must be non-empty with sizes > 0".into(),
            ));
        }
        let [d0, d1] = *k.duration_s.get_ref();
        if !(d0 > 0.0 && d1 >= d0 && d1.is_finite()) {
            return Err(err(
                at(&k.duration_s.span()),
                "catalog.duration_s must be [min, max] with 0 < min ≤ max".into(),
            ));
        }
        let [s0, s1] = *k.size_mb.get_ref();
        if !(s0 > 0.0 && s1 >= s0 && s1.is_finite()) {
            return Err(err(
                at(&k.size_mb.span()),
                "catalog.size_mb must be [min, max] with 0 < min ≤ max".into(),
            ));
        }
        if !(k.fps > 0.0 && k.fps.is_finite() && k.bits_per_pixel > 0.0) {
            return Err(err(
                None,
                "catalog.fps and bits_per_pixel must be > 0".into(),
            ));
        }
        Catalog::Generated {
            files,
            resolutions: k.resolutions.clone(),
            fps: k.fps,
            duration_s: [d0, d1],
            bits_per_pixel: k.bits_per_pixel,
            size_mb: [s0, s1],
        }
    };

    let (faults, net_faults) =
        super::faults::build_faults(&raw.faults, &nodes, &zone_of, &node_index, err)?;

    let l = &raw.live;
    let positive = |v: &Option<Spanned<u32>>, default: u32, min: u32, what: &str| match v {
        None => Ok(default),
        Some(x) if *x.get_ref() >= min => Ok(*x.get_ref()),
        Some(x) => Err(err(
            at(&x.span()),
            format!("live.{what} must be ≥ {min}, got {}", x.get_ref()),
        )),
    };
    let live = Live {
        catalog_dir: l.catalog_dir.as_ref().map(PathBuf::from),
        clips: positive(&l.clips, 8, 1, "clips")?,
        clip_max_seconds: positive(&l.clip_max_seconds, 2, 1, "clip_max_seconds")?,
        clip_max_height: positive(&l.clip_max_height, 480, 240, "clip_max_height")?,
        duration_ms: match &l.duration_s {
            None => None,
            Some(d) if d.get_ref().is_finite() && *d.get_ref() > 0.0 => {
                Some((d.get_ref() * 1000.0).round() as u64)
            }
            Some(d) => {
                return Err(err(
                    at(&d.span()),
                    "live.duration_s must be a positive number of seconds".into(),
                ))
            }
        },
    };

    let window_s = *raw.output.window_s.get_ref();
    if window_s == 0 {
        return Err(err(
            at(&raw.output.window_s.span()),
            "output.window_s must be ≥ 1".into(),
        ));
    }

    Ok(Scenario {
        name,
        description: raw.description,
        seed: raw.seed,
        duration_ms: (duration_s * 1000.0).round() as u64,
        hop_limit: raw.hop_limit,
        strategy_overrides,
        admission,
        network: Network {
            zones: Arc::new(zones),
            connect_timeout_ms: net.connect_timeout_ms,
            offload_timeout_ms: net.offload_timeout_ms,
            offload_latency: net.offload_latency,
            client_zone,
            client_bandwidth_mbps: net.client_bandwidth_mbps.as_ref().map(|b| *b.get_ref()),
        },
        nodes,
        generated_seeds,
        gossip: g,
        strategies,
        cost,
        workload,
        catalog,
        faults,
        net_faults,
        output: Output {
            window_ms: window_s * 1000,
            requests_csv: raw.output.requests_csv,
            node_windows_csv: raw.output.node_windows_csv,
        },
        live,
    })
}
