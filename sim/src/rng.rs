//! Random streams and the few distributions the simulator needs.
//!
//! One `ChaCha8Rng` per purpose, all from the scenario seed with distinct stream numbers, so an
//! extra draw in one place (a jitter sample, a node's gossip choice) never shifts another.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream numbers. Node streams are `NODE_BASE + node index · 1024 + life`.
pub mod stream {
    pub const CATALOG: u64 = 1;
    pub const WORKLOAD: u64 = 2;
    pub const NETWORK: u64 = 3;
    pub const COST: u64 = 4;
    pub const TOPOLOGY: u64 = 5;
    pub const CLIENT: u64 = 6;
    /// Each request's output profile (drawn only when the workload mixes profiles).
    pub const PROFILE: u64 = 7;
    /// Message loss and duplication (drawn only while such a network fault is on).
    pub const NET_FAULTS: u64 = 8;
    pub const NODE_BASE: u64 = 1 << 20;
}

pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

pub fn node_rng(seed: u64, node: usize, life: u32) -> ChaCha8Rng {
    stream_rng(
        seed,
        stream::NODE_BASE + node as u64 * 1024 + (life as u64 % 1024),
    )
}

/// Uniform in [0, 1).
pub use vidmesh_core::zone::unit;

/// Standard normal by Box–Muller: core's, which the node's transport jitter draws too.
pub use vidmesh_core::zone::standard_normal as normal;

/// Exponential with mean 1.
pub fn exp1<R: Rng + ?Sized>(r: &mut R) -> f64 {
    -(1.0 - unit(r)).ln()
}

#[inline]
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream_rng(7, 1), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream_rng(7, 1), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..4)
            .map(|_| 0)
            .scan(stream_rng(7, 2), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn samplers_have_the_right_means() {
        let mut r = stream_rng(1, 9);
        let n = 200_000;
        let m_exp: f64 = (0..n).map(|_| exp1(&mut r)).sum::<f64>() / n as f64;
        let m_norm: f64 = (0..n).map(|_| normal(&mut r)).sum::<f64>() / n as f64;
        assert!((m_exp - 1.0).abs() < 0.02, "{m_exp}");
        assert!(m_norm.abs() < 0.02, "{m_norm}");
    }
}
