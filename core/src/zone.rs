//! Zones and the network model between them: RTT, optional bandwidth and jitter per zone pair.
//!
//! The same table drives the simulator's message delays, the live nodes' emulated delays and the
//! score strategy's RTT estimate.

use serde::{Deserialize, Serialize};

/// Index of a zone in a [`ZoneTable`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ZoneId(pub u16);

impl ZoneId {
    /// A zone nobody configured (a seed's zone before it has answered).
    pub const UNKNOWN: ZoneId = ZoneId(u16::MAX);
}

/// RTT the report assumes for a zone pair it has no entry for.
pub const DEFAULT_UNKNOWN_RTT_MS: f64 = 100.0;

/// One configured link between two zones (symmetric).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two zone codes, e.g. `["FRA", "IAD"]`; the same code twice is the intra-zone link.
    pub zones: [String; 2],
    pub rtt_ms: f64,
    /// Bandwidth of the path in megabits per second; absent = infinite (no transfer time).
    #[serde(default)]
    pub bandwidth_mbps: Option<f64>,
    /// Standard deviation of a normal jitter added to each one-way delay, in ms.
    #[serde(default)]
    pub jitter_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    pub rtt_ms: f64,
    pub bandwidth_mbps: Option<f64>,
    pub jitter_ms: f64,
}

/// Zone codes plus a dense symmetric link matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneTable {
    names: Vec<String>,
    links: Vec<Link>,
    unknown_rtt_ms: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ZoneError {
    #[error("link names zone `{0}`, which is not in the zone list")]
    UnknownZone(String),
    #[error("zone `{0}` is listed twice")]
    Duplicate(String),
    #[error("link {0}–{1}: {2}")]
    BadValue(String, String, String),
}

impl ZoneTable {
    /// The report's table: FRA, IAD, BOM; unknown pair 100 ms.
    pub fn report_default() -> Self {
        let l = |a: &str, b: &str, rtt: f64| LinkSpec {
            zones: [a.into(), b.into()],
            rtt_ms: rtt,
            bandwidth_mbps: None,
            jitter_ms: None,
        };
        Self::new(
            &["FRA".into(), "IAD".into(), "BOM".into()],
            &[
                l("FRA", "FRA", 10.0),
                l("FRA", "IAD", 90.0),
                l("FRA", "BOM", 200.0),
                l("IAD", "IAD", 10.0),
                l("IAD", "BOM", 250.0),
                l("BOM", "BOM", 10.0),
            ],
            DEFAULT_UNKNOWN_RTT_MS,
        )
        .expect("the built-in table is valid")
    }

    /// Builds a table; pairs without a link get `unknown_rtt_ms` and no bandwidth limit.
    pub fn new(
        names: &[String],
        links: &[LinkSpec],
        unknown_rtt_ms: f64,
    ) -> Result<Self, ZoneError> {
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(ZoneError::Duplicate(n.clone()));
            }
        }
        let n = names.len();
        let fallback = Link {
            rtt_ms: unknown_rtt_ms,
            bandwidth_mbps: None,
            jitter_ms: 0.0,
        };
        let mut table = ZoneTable {
            names: names.to_vec(),
            links: vec![fallback; n * n],
            unknown_rtt_ms,
        };
        for spec in links {
            let a = table
                .zone(&spec.zones[0])
                .ok_or_else(|| ZoneError::UnknownZone(spec.zones[0].clone()))?;
            let b = table
                .zone(&spec.zones[1])
                .ok_or_else(|| ZoneError::UnknownZone(spec.zones[1].clone()))?;
            let bad = |what: &str| {
                ZoneError::BadValue(spec.zones[0].clone(), spec.zones[1].clone(), what.into())
            };
            if !(spec.rtt_ms.is_finite() && spec.rtt_ms >= 0.0) {
                return Err(bad("rtt_ms must be a finite number ≥ 0"));
            }
            if let Some(bw) = spec.bandwidth_mbps {
                if !(bw.is_finite() && bw > 0.0) {
                    return Err(bad("bandwidth_mbps must be a finite number > 0"));
                }
            }
            let jitter = spec.jitter_ms.unwrap_or(0.0);
            if !(jitter.is_finite() && jitter >= 0.0) {
                return Err(bad("jitter_ms must be a finite number ≥ 0"));
            }
            let link = Link {
                rtt_ms: spec.rtt_ms,
                bandwidth_mbps: spec.bandwidth_mbps,
                jitter_ms: jitter,
            };
            table.links[a.0 as usize * n + b.0 as usize] = link;
            table.links[b.0 as usize * n + a.0 as usize] = link;
        }
        Ok(table)
    }

    pub fn zone(&self, code: &str) -> Option<ZoneId> {
        self.names
            .iter()
            .position(|n| n == code)
            .map(|i| ZoneId(i as u16))
    }

    pub fn name(&self, zone: ZoneId) -> &str {
        self.names
            .get(zone.0 as usize)
            .map(|s| s.as_str())
            .unwrap_or("?")
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// RTT assumed for a pair of zones with no configured link.
    pub fn unknown_rtt_ms(&self) -> f64 {
        self.unknown_rtt_ms
    }

    /// The table as link specifications (each unordered pair once, in zone order), so a driver
    /// can hand the same table to another process.
    pub fn link_specs(&self) -> Vec<LinkSpec> {
        let n = self.names.len();
        let mut out = Vec::new();
        for a in 0..n {
            for b in a..n {
                let l = self.links[a * n + b];
                out.push(LinkSpec {
                    zones: [self.names[a].clone(), self.names[b].clone()],
                    rtt_ms: l.rtt_ms,
                    bandwidth_mbps: l.bandwidth_mbps,
                    jitter_ms: (l.jitter_ms > 0.0).then_some(l.jitter_ms),
                });
            }
        }
        out
    }

    pub fn link(&self, a: ZoneId, b: ZoneId) -> Link {
        let n = self.names.len();
        if (a.0 as usize) < n && (b.0 as usize) < n {
            self.links[a.0 as usize * n + b.0 as usize]
        } else {
            Link {
                rtt_ms: self.unknown_rtt_ms,
                bandwidth_mbps: None,
                jitter_ms: 0.0,
            }
        }
    }

    pub fn rtt_ms(&self, a: ZoneId, b: ZoneId) -> f64 {
        self.link(a, b).rtt_ms
    }

    /// The longest round trip between any two zones of the table.
    pub fn max_rtt_ms(&self) -> f64 {
        let n = self.names().len();
        (0..n)
            .flat_map(|a| (0..n).map(move |b| (a, b)))
            .map(|(a, b)| self.rtt_ms(ZoneId(a as u16), ZoneId(b as u16)))
            .fold(0.0, f64::max)
    }

    /// One-way delay of a message of `bytes` bytes as both executors apply it: RTT/2 +
    /// size/bandwidth + a normal jitter of the link's standard deviation (one draw from `rng`
    /// when the link has jitter, none otherwise), never below 0.
    pub fn sample_one_way_ms<R: rand::Rng + ?Sized>(
        &self,
        a: ZoneId,
        b: ZoneId,
        bytes: u64,
        rng: &mut R,
    ) -> f64 {
        let jitter = self.link(a, b).jitter_ms;
        let base = self.one_way_ms(a, b, bytes);
        let d = if jitter > 0.0 {
            base + jitter * standard_normal(rng)
        } else {
            base
        };
        d.max(0.0)
    }

    /// One-way delay of a message of `bytes` bytes, without jitter: RTT/2 + size/bandwidth.
    pub fn one_way_ms(&self, a: ZoneId, b: ZoneId, bytes: u64) -> f64 {
        let link = self.link(a, b);
        let transfer = match link.bandwidth_mbps {
            Some(mbps) => bytes as f64 * 8.0 / (mbps * 1000.0),
            None => 0.0,
        };
        link.rtt_ms / 2.0 + transfer
    }
}

/// A uniform draw in [0, 1) from the top 53 bits of one `u64`.
#[inline]
pub fn unit<R: rand::Rng + ?Sized>(r: &mut R) -> f64 {
    (r.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal draw by Box–Muller (one of the pair: two `u64` per draw).
pub fn standard_normal<R: rand::Rng + ?Sized>(r: &mut R) -> f64 {
    let u1 = 1.0 - unit(r); // (0, 1]
    let u2 = unit(r);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_table_is_symmetric_and_unknown_pairs_cost_100ms() {
        let t = ZoneTable::report_default();
        let (fra, iad, bom) = (
            t.zone("FRA").unwrap(),
            t.zone("IAD").unwrap(),
            t.zone("BOM").unwrap(),
        );
        assert_eq!(t.rtt_ms(fra, bom), 200.0);
        assert_eq!(t.rtt_ms(bom, fra), 200.0);
        assert_eq!(t.rtt_ms(iad, bom), 250.0);
        assert_eq!(t.rtt_ms(fra, fra), 10.0);
        assert_eq!(t.rtt_ms(fra, ZoneId::UNKNOWN), 100.0);
    }

    #[test]
    fn bandwidth_turns_size_into_transfer_time() {
        let names = vec!["A".to_string(), "B".to_string()];
        let links = vec![LinkSpec {
            zones: ["A".into(), "B".into()],
            rtt_ms: 100.0,
            bandwidth_mbps: Some(100.0),
            jitter_ms: None,
        }];
        let t = ZoneTable::new(&names, &links, 100.0).unwrap();
        // 50 MB over 100 Mbit/s is 4 s, plus half the RTT.
        let ms = t.one_way_ms(ZoneId(0), ZoneId(1), 50_000_000);
        assert!((ms - 4050.0).abs() < 1e-6, "{ms}");
    }

    #[test]
    fn link_specs_rebuild_the_same_table() {
        let t = ZoneTable::report_default();
        let again = ZoneTable::new(t.names(), &t.link_specs(), t.unknown_rtt_ms()).unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn a_link_to_an_unlisted_zone_is_an_error() {
        let names = vec!["A".to_string()];
        let links = vec![LinkSpec {
            zones: ["A".into(), "Z".into()],
            rtt_ms: 1.0,
            bandwidth_mbps: None,
            jitter_ms: None,
        }];
        assert_eq!(
            ZoneTable::new(&names, &links, 100.0),
            Err(ZoneError::UnknownZone("Z".into()))
        );
    }
}
