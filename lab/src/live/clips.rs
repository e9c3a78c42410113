//! The clips a live run uploads: the scenario's catalog on disk (generated with ffmpeg when
//! missing), and the same clips as the simulator describes videos, so that `sim run` draws from
//! them and the shared CSV writer can describe them.

use std::path::PathBuf;

use anyhow::{Context, Result};
use vidmesh_core::ContentHash;
use vidmesh_node::catalog::{self, CatalogSpec, Clip};
use vidmesh_sim::scenario::{Scenario, Video};
use vidmesh_sim::workload::Catalog;

use super::LiveOptions;

/// The clips of the scenario's catalog: loaded from `live.catalog_dir` (or `<out>/catalog`),
/// generated with ffmpeg there first if it has no `catalog.csv`.
pub fn prepare_catalog(s: &Scenario, opts: &LiveOptions) -> Result<(PathBuf, Vec<Clip>)> {
    let dir = match &s.live.catalog_dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => opts.scenario_dir.join(d),
        None => opts.out.join("catalog"),
    };
    if dir.join(catalog::CATALOG_FILE).is_file() {
        let clips = catalog::load(&dir)
            .with_context(|| format!("reading the clip catalog in {}", dir.display()))?;
        return Ok((dir, clips));
    }
    let spec = CatalogSpec {
        count: s.live.clips as usize,
        seed: s.seed,
        max_seconds: s.live.clip_max_seconds,
        max_height: s.live.clip_max_height,
        ffmpeg: opts.ffmpeg.clone(),
        ..CatalogSpec::default()
    };
    println!(
        "generating {} clips (≤ {} s, ≤ {}p) into {}",
        spec.count,
        spec.max_seconds,
        spec.max_height,
        dir.display()
    );
    let clips = catalog::generate(&dir, &spec)
        .with_context(|| format!("generating the clip catalog in {}", dir.display()))?;
    Ok((dir, clips))
}

/// The real clips as the simulator describes videos.
pub fn clip_videos(clips: &[Clip]) -> Vec<Video> {
    clips
        .iter()
        .map(|c| Video {
            width: c.width,
            height: c.height,
            frames: c.frames,
            size_bytes: c.size_bytes,
            duration_ms: c.duration_ms,
        })
        .collect()
}

/// The simulator's view of the real clips, so the shared CSV writer can describe them.
pub fn sim_catalog(clips: &[Clip]) -> Catalog {
    let videos = clip_videos(clips);
    let mean_size_bytes =
        videos.iter().map(|v| v.size_bytes as f64).sum::<f64>() / videos.len().max(1) as f64;
    Catalog {
        hashes: vec![ContentHash([0; 32]); videos.len()],
        videos,
        mean_size_bytes,
        profiles: vec![("360p".into(), Default::default())],
    }
}
