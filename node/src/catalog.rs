//! The clip catalog: real test videos made with ffmpeg, and the `catalog.csv` that describes
//! them (so a client knows each clip's size and shape without probing it again).
//!
//! The report's clips were 2–50 MB; the generated ones keep its spread of resolutions, lengths
//! and sizes but are scaled down so a 2-core machine transcodes a test's worth in seconds.

use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One clip of a catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub duration_ms: u32,
}

pub const CATALOG_FILE: &str = "catalog.csv";
const HEADER: &str = "file,size_bytes,width,height,frames,duration_ms";

/// What to generate.
#[derive(Clone, Debug)]
pub struct CatalogSpec {
    pub count: usize,
    pub seed: u64,
    /// Longest clip, in seconds (lengths are drawn from 1..=max).
    pub max_seconds: u32,
    /// Largest frame height (lines) to use.
    pub max_height: u32,
    pub min_seconds: u32,
    pub min_height: u32,
    /// Temporal noise strength (0: none).
    pub grain: u32,
    /// Distinct copies of each clip (remuxed with other metadata).
    pub variants: u32,
    pub ffmpeg: String,
}

impl Default for CatalogSpec {
    fn default() -> Self {
        CatalogSpec {
            count: 12,
            seed: 1,
            max_seconds: 4,
            max_height: 1080,
            min_seconds: 1,
            min_height: 240,
            grain: 0,
            variants: 1,
            ffmpeg: "ffmpeg".into(),
        }
    }
}

const SIZES: [(u32, u32); 5] = [
    (426, 240),
    (640, 360),
    (854, 480),
    (1280, 720),
    (1920, 1080),
];
const SOURCES: [&str; 3] = ["testsrc2", "smptehdbars", "mandelbrot"];

/// Generates `spec.count` clips into `dir` and writes `catalog.csv`; returns the clips.
///
/// Parameters are drawn from `spec.seed`, so one seed gives the same set of clips.
pub fn generate(dir: &Path, spec: &CatalogSpec) -> anyhow::Result<Vec<Clip>> {
    crate::ffmpeg::check_installed(&spec.ffmpeg)?;
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let sizes: Vec<(u32, u32)> = SIZES
        .iter()
        .copied()
        .filter(|(_, h)| *h <= spec.max_height && *h >= spec.min_height)
        .collect();
    anyhow::ensure!(
        !sizes.is_empty(),
        "no frame height between {} and {} (240, 360, 480, 720 and 1080 are made)",
        spec.min_height,
        spec.max_height
    );
    anyhow::ensure!(
        spec.min_seconds <= spec.max_seconds.max(1),
        "min_seconds {} is above max_seconds {}",
        spec.min_seconds,
        spec.max_seconds
    );
    anyhow::ensure!(spec.grain <= 100, "grain must be 0–100, got {}", spec.grain);
    let mut clips = Vec::new();
    for i in 0..spec.count {
        // Cycle through resolutions so every catalog has the whole spread; draw the rest.
        let (w, h) = sizes[i % sizes.len()];
        let secs = rng.random_range(spec.min_seconds.max(1)..=spec.max_seconds.max(1));
        let fps = [24u32, 25, 30][rng.random_range(0..3usize)];
        // Lower CRF = more bytes per frame: spreads sizes at one resolution.
        let crf = rng.random_range(16..=30u32);
        let source = SOURCES[rng.random_range(0..SOURCES.len())];
        let name = format!("clip{:03}_{w}x{h}_{secs}s.mp4", i + 1);
        let path = dir.join(&name);
        let status = std::process::Command::new(&spec.ffmpeg)
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("{source}=size={w}x{h}:rate={fps}"))
            .args(["-t", &secs.to_string()])
            .args(if spec.grain > 0 {
                vec![
                    "-vf".to_string(),
                    format!("noise=alls={}:allf=t+u", spec.grain),
                ]
            } else {
                Vec::new()
            })
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
            // Grainy clips are sized like a phone's (1.5–4 Mbit/s); clean ones by quality.
            .args(if spec.grain > 0 {
                let kbps = rng.random_range(1_500..=4_000u32);
                vec!["-b:v".to_string(), format!("{kbps}k")]
            } else {
                vec!["-crf".to_string(), crf.to_string()]
            })
            // Distinct metadata makes every clip distinct content for the cache.
            .args([
                "-metadata",
                &format!("title=vidmesh catalog {} clip {}", spec.seed, i + 1),
            ])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(
            status.success(),
            "ffmpeg failed generating {name}: {status}"
        );
        let frames = secs * fps;
        for v in 1..spec.variants.max(1) {
            let vname = format!("clip{:03}v{v:03}_{w}x{h}_{secs}s.mp4", i + 1);
            let vpath = dir.join(&vname);
            let status = std::process::Command::new(&spec.ffmpeg)
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
                .arg(&path)
                .args(["-c", "copy", "-map_metadata", "-1", "-metadata"])
                .arg(format!(
                    "title=vidmesh catalog {} clip {} variant {v}",
                    spec.seed,
                    i + 1
                ))
                .arg(&vpath)
                .stdin(std::process::Stdio::null())
                .status()?;
            anyhow::ensure!(status.success(), "ffmpeg failed remuxing {vname}: {status}");
            clips.push(Clip {
                size_bytes: std::fs::metadata(&vpath)?.len(),
                path: vpath,
                width: w,
                height: h,
                frames,
                duration_ms: secs * 1000,
            });
        }
        clips.push(Clip {
            size_bytes: std::fs::metadata(&path)?.len(),
            path,
            width: w,
            height: h,
            frames,
            duration_ms: secs * 1000,
        });
        tracing::info!(clip = %name, "generated");
    }
    write_catalog(dir, &clips)?;
    Ok(clips)
}

fn write_catalog(dir: &Path, clips: &[Clip]) -> std::io::Result<()> {
    let mut s = String::from(HEADER);
    s.push('\n');
    for c in clips {
        let file = c.path.file_name().unwrap_or_default().to_string_lossy();
        s.push_str(&format!(
            "{file},{},{},{},{},{}\n",
            c.size_bytes, c.width, c.height, c.frames, c.duration_ms
        ));
    }
    std::fs::write(dir.join(CATALOG_FILE), s)
}

/// Reads `dir/catalog.csv`; paths in it are relative to `dir`.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Clip>> {
    let file = dir.join(CATALOG_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {}: {e} (generate one with `vidmesh-node catalog --out {}`)",
            file.display(),
            dir.display()
        )
    })?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        _ => anyhow::bail!("{}: the first line must be `{HEADER}`", file.display()),
    }
    let mut clips = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| anyhow::anyhow!("{} line {}: {what}", file.display(), i + 1);
        if f.len() != 6 {
            return Err(bad("expected 6 fields"));
        }
        let num = |k: usize| -> anyhow::Result<u64> {
            f[k].trim()
                .parse()
                .map_err(|_| bad(&format!("field {} is not a number: `{}`", k + 1, f[k])))
        };
        let path = dir.join(f[0].trim());
        anyhow::ensure!(
            path.is_file(),
            "{}: clip {} is missing",
            file.display(),
            path.display()
        );
        clips.push(Clip {
            path,
            size_bytes: num(1)?,
            width: num(2)? as u32,
            height: num(3)? as u32,
            frames: num(4)? as u32,
            duration_ms: num(5)? as u32,
        });
    }
    anyhow::ensure!(!clips.is_empty(), "{} lists no clips", file.display());
    Ok(clips)
}
