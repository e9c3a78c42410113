//! Validation: the file as written becomes a [`Scenario`], or an error that points at the key
//! that is wrong (a node in an unknown zone, a seed nobody is called, a number out of range).
//! One step per part of the file, in the file's order, so the first error found is the same
//! whichever part is read first.

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use vidmesh_core::{GossipConfig, OutputShape, StrategyConfig};

use super::file::{
    check_admission, CatalogFile, CostFile, LiveFile, NoiseKind, OutputFile, ScenarioFile,
    WorkloadFile,
};
use super::{
    Catalog, CostModel, Live, NodeSpec, Noise, Output, ProfileWeight, Scenario, ScenarioError,
    StrategyOverrides, Video, Workload, WorkloadKind, PROFILES,
};

mod cluster;

use cluster::{network, node_named, nodes, zone_named};

pub(super) type ErrFn<'a> = dyn Fn(Option<Range<usize>>, String) -> ScenarioError + 'a;

type Result<T> = std::result::Result<T, ScenarioError>;

fn at(s: &Range<usize>) -> Option<Range<usize>> {
    Some(s.clone())
}

/// Megabytes as bytes (negative: none).
fn mb(v: f64) -> u64 {
    (v.max(0.0) * 1e6) as u64
}

pub(super) fn build(raw: ScenarioFile, default_name: &str, err: &ErrFn<'_>) -> Result<Scenario> {
    let name = scenario_name(&raw, default_name, err)?;
    let duration_ms = duration_ms(&raw, err)?;
    let network = network(&raw.network, err)?;
    let zone_names = raw.network.zones.get_ref();
    let zone_of =
        |s: &Spanned<String>, what: &str| zone_named(&network.zones, zone_names, s, what, err);
    let node_index =
        |nodes: &[NodeSpec], s: &Spanned<String>, what: &str| node_named(nodes, s, what, err);
    let (nodes, generated_seeds) = nodes(&raw, &zone_of, err)?;
    let gossip = gossip(&raw, err)?;
    let (strategies, strategy_overrides) = strategies(&raw, err)?;
    let cost = cost_model(&raw.cost, err)?;
    let admission = check_admission(&raw.admission)
        .map_err(|m| err(at(&raw.admission.span()), format!("admission: {m}")))?;
    let workload = workload(&raw.workload, &nodes, err)?;
    let catalog = catalog(&raw.catalog, err)?;
    let (faults, net_faults) =
        super::faults::build_faults(&raw.faults, &nodes, &zone_of, &node_index, err)?;
    let live = live(&raw.live, err)?;
    let output = output(&raw.output, err)?;
    Ok(Scenario {
        name,
        description: raw.description,
        seed: raw.seed,
        duration_ms,
        hop_limit: raw.hop_limit,
        strategy_overrides,
        admission,
        network,
        nodes,
        generated_seeds,
        gossip,
        strategies,
        cost,
        workload,
        catalog,
        faults,
        net_faults,
        output,
        live,
    })
}

fn scenario_name(raw: &ScenarioFile, default_name: &str, err: &ErrFn<'_>) -> Result<String> {
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
    Ok(name)
}

fn duration_ms(raw: &ScenarioFile, err: &ErrFn<'_>) -> Result<u64> {
    let duration_s = *raw.duration_s.get_ref();
    if !(duration_s.is_finite() && duration_s > 0.0) {
        return Err(err(
            at(&raw.duration_s.span()),
            format!("duration_s must be a positive number of seconds, got {duration_s}"),
        ));
    }
    Ok((duration_s * 1000.0).round() as u64)
}

fn gossip(raw: &ScenarioFile, err: &ErrFn<'_>) -> Result<GossipConfig> {
    let g = raw.gossip.get_ref().clone();
    if g.period_ms == 0 || g.probe_period_ms < 2 || g.fanout == 0 {
        return Err(err(
            at(&raw.gossip.span()),
            "gossip: period_ms and fanout must be ≥ 1 and probe_period_ms ≥ 2".into(),
        ));
    }
    Ok(g)
}

/// The strategies to compare, and what each runs with that differs from the scenario.
#[allow(clippy::type_complexity)]
fn strategies(
    raw: &ScenarioFile,
    err: &ErrFn<'_>,
) -> Result<(
    Vec<(String, StrategyConfig)>,
    Vec<(String, StrategyOverrides)>,
)> {
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
    Ok((strategies, strategy_overrides))
}

fn cost_model(c: &CostFile, err: &ErrFn<'_>) -> Result<CostModel> {
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
    Ok(CostModel {
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
    })
}

fn workload(w: &WorkloadFile, nodes: &[NodeSpec], err: &ErrFn<'_>) -> Result<Workload> {
    let targets = match &w.targets {
        Some(list) => {
            let mut t = Vec::new();
            for s in list {
                let i = node_named(nodes, s, "workload.targets", err)?;
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
    Ok(Workload {
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
    })
}

fn catalog(k: &CatalogFile, err: &ErrFn<'_>) -> Result<Catalog> {
    Ok(if !k.videos.is_empty() {
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
        let bitrate_mbps = match &k.bitrate_mbps {
            None => None,
            Some(b) => {
                let [b0, b1] = *b.get_ref();
                if !(b0 > 0.0 && b1 >= b0 && b1.is_finite()) {
                    return Err(err(
                        at(&b.span()),
                        "catalog.bitrate_mbps must be [min, max] with 0 < min ≤ max".into(),
                    ));
                }
                Some([b0, b1])
            }
        };
        Catalog::Generated {
            files,
            resolutions: k.resolutions.clone(),
            fps: k.fps,
            duration_s: [d0, d1],
            bits_per_pixel: k.bits_per_pixel,
            bitrate_mbps,
            size_mb: [s0, s1],
        }
    })
}

fn live(l: &LiveFile, err: &ErrFn<'_>) -> Result<Live> {
    let positive = |v: &Option<Spanned<u32>>, default: u32, min: u32, what: &str| match v {
        None => Ok(default),
        Some(x) if *x.get_ref() >= min => Ok(*x.get_ref()),
        Some(x) => Err(err(
            at(&x.span()),
            format!("live.{what} must be ≥ {min}, got {}", x.get_ref()),
        )),
    };
    Ok(Live {
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
    })
}

fn output(o: &OutputFile, err: &ErrFn<'_>) -> Result<Output> {
    let window_s = *o.window_s.get_ref();
    if window_s == 0 {
        return Err(err(
            at(&o.window_s.span()),
            "output.window_s must be ≥ 1".into(),
        ));
    }
    Ok(Output {
        window_ms: window_s * 1000,
        requests_csv: o.requests_csv,
        node_windows_csv: o.node_windows_csv,
    })
}
