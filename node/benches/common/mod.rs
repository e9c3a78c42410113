//! Shared by the HTTP benchmarks: a body whose content is pre-seeded into a node's disk cache,
//! so every upload of it is a cache hit and no ffmpeg runs.

use std::path::Path;

use bytes::Bytes;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// A `chunk`-sized random block; a body is that block repeated `repeat` times.
pub fn body_block(chunk: usize) -> Bytes {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    Bytes::from((0..chunk).map(|_| rng.random::<u8>()).collect::<Vec<u8>>())
}

/// Writes a fake output for the body's hash into `<data_dir>/cache`, where a starting node
/// recovers it.
pub fn seed_cache(data_dir: &Path, block: &Bytes, repeat: usize, output_bytes: usize) -> String {
    let mut h = Sha256::new();
    for _ in 0..repeat {
        h.update(block);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let cache = data_dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join(format!("{hex}.mp4")), vec![0u8; output_bytes]).unwrap();
    hex
}

pub fn stream_body(block: Bytes, repeat: usize) -> reqwest::Body {
    let s = futures_util::stream::iter(
        (0..repeat).map(move |_| Ok::<_, std::io::Error>(block.clone())),
    );
    reqwest::Body::wrap_stream(s)
}
