//! The world the simulated nodes live in, one model per module: the network between them and
//! their client, each node's CPU, the load client and the injected faults. Each model owns its
//! state; the engine's event loop hands events to them and carries what they decide to the cores.

pub(crate) mod client;
pub(crate) mod cpu;
pub(crate) mod faults;
pub(crate) mod network;

use vidmesh_core::Millis;

/// Below this every f64 may have a fraction; from here on all are whole numbers.
const WHOLE: f64 = (1u64 << 52) as f64;

/// `x.round() as Millis`, bit for bit. Baseline x86-64 has no rounding instruction, so `round`
/// is a library call; a truncating conversion and one comparison do the same on the delays
/// here (the exact fraction `x − ⌊x⌋` decides; halves go away from zero as `round` does).
#[inline]
pub(crate) fn round_ms(x: f64) -> Millis {
    if x.is_nan() || x >= WHOLE {
        return x.round() as Millis; // whole already, infinite or NaN
    }
    if x <= 0.0 {
        return 0; // rounds to 0 or below, which converts to 0
    }
    // In (0, 2^52) the signed conversions are single instructions and exact.
    let t = x as i64;
    (if x - t as f64 >= 0.5 { t + 1 } else { t }) as Millis
}

/// `x.ceil() as Millis`, bit for bit, without the library call (see [`round_ms`]).
#[inline]
pub(crate) fn ceil_ms(x: f64) -> Millis {
    if x.is_nan() || x >= WHOLE {
        return x.ceil() as Millis;
    }
    if x <= 0.0 {
        return 0;
    }
    let t = x as i64;
    (if (t as f64) < x { t + 1 } else { t }) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_and_ceil_match_the_library() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let check = |v: f64| {
            assert_eq!(round_ms(v), v.round() as Millis, "round {v:e}");
            assert_eq!(ceil_ms(v), v.ceil() as Millis, "ceil {v:e}");
        };
        for v in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            0.49999999999999994,
            0.5000000000000001,
            -0.49999999999999994,
            -1.5,
            WHOLE - 0.5,
            WHOLE - 1.5,
            WHOLE,
            WHOLE + 1.0,
            2.0 * WHOLE,
            1e19,
            1e20,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            check(v);
            check(f64::from_bits(v.to_bits().wrapping_add(1)));
            check(f64::from_bits(v.to_bits().wrapping_sub(1)));
        }
        for _ in 0..1_000_000 {
            let r = next();
            // Delays of every magnitude, halves and near-halves, and raw bit patterns.
            check((r >> 11) as f64 / (1u64 << 53) as f64 * 10f64.powi((r % 17) as i32 - 2));
            check((r % 100_000) as f64 / 2.0);
            check(f64::from_bits(r));
        }
    }
}
