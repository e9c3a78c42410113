//! The input videos and the client's draws.
//!
//! Both come from their own random streams, in request order, before any strategy has a say:
//! every strategy of a scenario sees the same videos, the same request mix and the same noise
//! (common random numbers).

use rand_chacha::ChaCha8Rng;
use vidmesh_core::{ContentHash, JobFeatures, OutputShape};

use crate::rng::{self, exp1, normal, splitmix, stream, unit};
use crate::scenario::{self, Noise, Scenario, Video};

/// The repeating set of input files.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub videos: Vec<Video>,
    pub hashes: Vec<ContentHash>,
    pub mean_size_bytes: f64,
    /// The workload's output profiles (name, cost shape), as [`RequestDraw::profile`] indexes
    /// them; just `360p` when the workload names none.
    pub profiles: Vec<(String, OutputShape)>,
}

impl Catalog {
    pub fn build(s: &Scenario) -> Catalog {
        let mut r = rng::stream_rng(s.seed, stream::CATALOG);
        let videos: Vec<Video> = match &s.catalog {
            scenario::Catalog::Explicit(v) => v.clone(),
            scenario::Catalog::Generated {
                files,
                resolutions,
                fps,
                duration_s,
                bits_per_pixel,
                bitrate_mbps,
                size_mb,
            } => (0..*files)
                .map(|_| {
                    let [w, h] = resolutions[(unit(&mut r) * resolutions.len() as f64) as usize];
                    let dur = duration_s[0] + unit(&mut r) * (duration_s[1] - duration_s[0]);
                    let frames = (dur * fps).round().max(1.0) as u32;
                    let bytes = match bitrate_mbps {
                        // Drawn only when asked for, so other catalogs keep their draws.
                        Some([b0, b1]) => dur * (b0 + unit(&mut r) * (b1 - b0)) * 1e6 / 8.0,
                        None => w as f64 * h as f64 * frames as f64 * bits_per_pixel / 8.0,
                    };
                    let bytes = bytes.clamp(size_mb[0] * 1e6, size_mb[1] * 1e6);
                    Video {
                        width: w,
                        height: h,
                        frames,
                        size_bytes: bytes as u64,
                        duration_ms: (frames as f64 / fps * 1000.0) as u32,
                    }
                })
                .collect(),
        };
        // Distinct files get distinct content hashes; the same file always the same one.
        let hashes = (0..videos.len() as u64)
            .map(|i| {
                let mut h = [0u8; 32];
                let mut x = s.seed ^ 0x5EED_CA7A_1060;
                for chunk in h.chunks_mut(8) {
                    x = splitmix(x ^ i);
                    chunk.copy_from_slice(&x.to_le_bytes());
                }
                ContentHash(h)
            })
            .collect();
        let mean_size_bytes =
            videos.iter().map(|v| v.size_bytes as f64).sum::<f64>() / videos.len().max(1) as f64;
        let profiles = if s.workload.profiles.is_empty() {
            vec![("360p".to_string(), OutputShape::default())]
        } else {
            s.workload
                .profiles
                .iter()
                .map(|p| (p.name.clone(), p.shape))
                .collect()
        };
        Catalog {
            videos,
            hashes,
            mean_size_bytes,
            profiles,
        }
    }

    pub fn features(&self, item: u32) -> JobFeatures {
        let v = &self.videos[item as usize];
        JobFeatures {
            size_bytes: v.size_bytes,
            width: v.width,
            height: v.height,
            frames: v.frames,
            duration_ms: v.duration_ms,
            output: OutputShape::default(),
        }
    }

    /// What the nodes know of a request's job: its input's features and its output profile.
    pub fn job_features(&self, d: &RequestDraw) -> JobFeatures {
        JobFeatures {
            output: self.profiles[d.profile as usize].1,
            ..self.features(d.item)
        }
    }

    /// The key the nodes cache a request's output under: the input's hash for `360p`, a
    /// distinct key per other profile (as the live node's SHA-256 of input and profile).
    pub fn cache_key(&self, d: &RequestDraw) -> ContentHash {
        let h = self.hashes[d.item as usize];
        let name = &self.profiles[d.profile as usize].0;
        if name == "360p" {
            return h;
        }
        let mut salt = 0x0075_7470_7574u64; // "output"
        for b in name.bytes() {
            salt = splitmix(salt ^ b as u64);
        }
        let mut k = h;
        for (i, chunk) in k.0.chunks_mut(8).enumerate() {
            let mut x = [0u8; 8];
            x.copy_from_slice(chunk);
            let v = u64::from_le_bytes(x) ^ splitmix(salt ^ i as u64);
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        ContentHash(k.0)
    }

    /// CPU-seconds of a request's transcode before noise, by the scenario's true curve.
    pub fn cpu_s(&self, cost: &scenario::CostModel, d: &RequestDraw) -> f64 {
        let v = &self.videos[d.item as usize];
        let out = &self.profiles[d.profile as usize].1;
        cost.curve().output_cpu_s(v.width, v.height, v.frames, out)
    }

    /// Bytes of a request's output: `output_bytes_per_frame` per frame of the `360p` output,
    /// scaled by the pixels the profile renders against it.
    pub fn output_bytes(&self, cost: &scenario::CostModel, d: &RequestDraw) -> u64 {
        let v = &self.videos[d.item as usize];
        let per_frame = cost.output_bytes_per_frame;
        let out = &self.profiles[d.profile as usize].1;
        if *out == OutputShape::default() {
            return (v.frames as f64 * per_frame) as u64;
        }
        let px = |(a, b): (u32, u32)| a as f64 * b as f64;
        let base = px(vidmesh_core::FitBox::P360.output_size(v.width, v.height));
        let rendered: f64 = out.renditions(v.width, v.height).map(px).sum();
        (v.frames as f64 * per_frame * rendered / base) as u64
    }
}

/// What the client decides about a request when it creates it.
#[derive(Clone, Copy, Debug)]
pub struct RequestDraw {
    pub item: u32,
    /// Multiplier on the cost curve for this request's transcodes.
    pub noise: f32,
    /// The input is bad: every transcode of it fails.
    pub bad: bool,
    /// Index into [`Catalog::profiles`].
    pub profile: u8,
}

/// The workload and cost-noise streams, consumed strictly in request order.
pub struct Draws {
    workload: ChaCha8Rng,
    cost: ChaCha8Rng,
    items: u32,
    noise: Noise,
    fail_prob: f64,
    profile: ChaCha8Rng,
    /// Cumulative profile weights, normalised to end at 1 (empty: no mix).
    profile_cdf: Vec<f64>,
}

impl Draws {
    pub fn new(s: &Scenario, catalog: &Catalog) -> Draws {
        Draws {
            workload: rng::stream_rng(s.seed, stream::WORKLOAD),
            cost: rng::stream_rng(s.seed, stream::COST),
            items: catalog.videos.len() as u32,
            noise: s.cost.noise,
            fail_prob: s.cost.fail_prob,
            profile: rng::stream_rng(s.seed, stream::PROFILE),
            profile_cdf: {
                let total: f64 = s.workload.profiles.iter().map(|p| p.weight).sum();
                let mut acc = 0.0;
                let mut cdf: Vec<f64> = s
                    .workload
                    .profiles
                    .iter()
                    .map(|p| {
                        acc += p.weight;
                        acc / total
                    })
                    .collect();
                if cdf.len() < 2 {
                    cdf.clear(); // one profile or none: nothing to draw
                }
                cdf
            },
        }
    }

    pub fn next_request(&mut self) -> RequestDraw {
        let item = ((unit(&mut self.workload) * self.items as f64) as u32).min(self.items - 1);
        let noise = match self.noise {
            Noise::Deterministic => 1.0,
            Noise::Exponential => exp1(&mut self.cost),
            Noise::Lognormal { sigma } => (sigma * normal(&mut self.cost)).exp(),
        };
        let bad = self.fail_prob > 0.0 && unit(&mut self.cost) < self.fail_prob;
        let profile = if self.profile_cdf.is_empty() {
            0
        } else {
            let u = unit(&mut self.profile);
            self.profile_cdf
                .iter()
                .position(|&c| u < c)
                .unwrap_or(self.profile_cdf.len() - 1) as u8
        };
        RequestDraw {
            item,
            noise: noise as f32,
            bad,
            profile,
        }
    }

    /// Gap to the next open-loop arrival, in ms (never 0, so time always advances).
    pub fn next_gap_ms(&mut self, rate_per_s: f64) -> f64 {
        exp1(&mut self.workload) * 1000.0 / rate_per_s
    }
}
