//! Local health awareness, after Lifeguard (HashiCorp memberlist): a node that is itself slow
//! should not blame its peers for answers it was too slow to read. It keeps a score, the local
//! health multiplier (LHM, 0..=max), and widens its own probe interval, probe timeout and
//! suspicion timeout by `1 + LHM`.
//!
//! What raises the score here:
//! - a membership timer delivered late, by more than a tolerance, after the time the core asked
//!   for (the driver's event loop, or the whole process, was not running: CPU starvation, a
//!   stop signal, a swapped-out page);
//! - having to refute a suspicion about itself (its own incarnation went up).
//!
//! What lowers it: a probe cycle that ends with the probed peer's answer read in time.
//!
//! Unlike memberlist, a failed probe does not count. Lifeguard can tell "the peer is dead"
//! from "I am slow" through nacks from the peers it asks to probe indirectly; foca sends no
//! nacks, and without them memberlist charges every failed probe to itself, which slows the
//! detection of a real crash at every healthy observer. Late timers measure this node's own
//! slowness directly instead.
//!
//! Pure: lateness is computed from the times the driver hands in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// What the health tracker has seen, for `/status`, `/metrics` and the simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStats {
    /// The local health multiplier now: timeouts are `1 + multiplier` times their base.
    pub multiplier: u8,
    /// The highest it has been.
    pub max_multiplier: u8,
    /// Membership timers delivered later than the tolerance.
    pub late_timers: u64,
    /// The largest lateness seen, in ms.
    pub max_lag_ms: u64,
    /// Suspicions about this node it had to refute.
    pub refutations: u64,
    /// Probe cycles this node ended with an answer in time.
    pub probes_ok: u64,
    /// Probe cycles that ended without an answer: this node now suspects the peer.
    pub probes_failed: u64,
    /// Probe timers given their window again because they fell due while this node was not
    /// running (see [`LocalHealth::should_rearm`]).
    pub rearmed: u64,
}

#[derive(Clone, Debug)]
pub struct LocalHealth {
    max: u8,
    late_ms: u64,
    score: u8,
    /// This node's own SWIM incarnation as last seen on a message it sent.
    incarnation: Option<u16>,
    stats: HealthStats,
}

impl LocalHealth {
    /// `max` = 0 turns the whole mechanism off (the multiplier stays 0, nothing is re-armed).
    pub fn new(max: u8, late_ms: u64) -> Self {
        LocalHealth {
            max,
            late_ms,
            score: 0,
            incarnation: None,
            stats: HealthStats::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    pub fn multiplier(&self) -> u8 {
        self.score
    }

    pub fn stats(&self) -> HealthStats {
        HealthStats {
            multiplier: self.score,
            ..self.stats
        }
    }

    /// `base` widened by the multiplier.
    pub fn scale(&self, base: Duration) -> Duration {
        base * (1 + self.score as u32)
    }

    fn add(&mut self, delta: i8) {
        if !self.enabled() {
            return;
        }
        self.score = (self.score as i16 + delta as i16).clamp(0, self.max as i16) as u8;
        self.stats.max_multiplier = self.stats.max_multiplier.max(self.score);
    }

    /// A membership timer due at `due` is delivered at `now`; true when it is late.
    pub fn timer_fired(&mut self, due: Millis, now: Millis) -> bool {
        let lag = now.saturating_sub(due);
        self.stats.max_lag_ms = self.stats.max_lag_ms.max(lag);
        if lag <= self.late_ms {
            return false;
        }
        self.stats.late_timers += 1;
        self.add(1);
        true
    }

    /// Whether a late probe timer should be given its window again instead of judging the
    /// probe now: the answers it waits for arrived (or would have) while this node was not
    /// running, and judging on them now would suspect a healthy peer for this node's stall.
    /// A timer already re-armed once is judged, so a node that is always late still probes.
    pub fn should_rearm(&mut self, late: bool, already: bool) -> bool {
        let yes = late && !already && self.enabled();
        if yes {
            self.stats.rearmed += 1;
        }
        yes
    }

    /// A probe cycle ended: `failed` when no answer came back in time.
    pub fn probe_ended(&mut self, failed: bool) {
        if failed {
            self.stats.probes_failed += 1;
        } else {
            self.stats.probes_ok += 1;
            self.add(-1);
        }
    }

    /// This node sent a message carrying its incarnation `inc`: a rise means it refuted a
    /// suspicion about itself.
    pub fn own_incarnation(&mut self, inc: u16) {
        if let Some(prev) = self.incarnation {
            if inc > prev {
                self.stats.refutations += 1;
                self.add(1);
            }
        }
        self.incarnation = Some(inc);
    }

    /// A new identity (rejoin) starts its incarnations again.
    pub fn reset_incarnation(&mut self) {
        self.incarnation = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_timers_and_refutations_raise_the_multiplier_and_answered_probes_lower_it() {
        let mut h = LocalHealth::new(8, 200);
        assert!(!h.timer_fired(1_000, 1_150), "150 ms is within tolerance");
        assert_eq!(h.multiplier(), 0);
        assert!(h.timer_fired(1_000, 3_000));
        assert_eq!(h.multiplier(), 1);
        assert_eq!(
            h.scale(Duration::from_millis(600)),
            Duration::from_millis(1_200)
        );
        h.own_incarnation(0);
        h.own_incarnation(0);
        assert_eq!(
            h.multiplier(),
            1,
            "an unchanged incarnation is no refutation"
        );
        h.own_incarnation(1);
        assert_eq!(h.multiplier(), 2);
        h.probe_ended(true);
        assert_eq!(
            h.multiplier(),
            2,
            "a failed probe says nothing about which end is slow"
        );
        h.probe_ended(false);
        h.probe_ended(false);
        h.probe_ended(false);
        assert_eq!(h.multiplier(), 0, "never below 0");
        let s = h.stats();
        assert_eq!((s.late_timers, s.refutations, s.max_multiplier), (1, 1, 2));
        assert_eq!((s.probes_ok, s.probes_failed, s.max_lag_ms), (3, 1, 2_000));
    }

    #[test]
    fn the_multiplier_is_capped_and_off_means_off() {
        let mut h = LocalHealth::new(8, 200);
        for k in 0..20 {
            h.timer_fired(k * 1_000, k * 1_000 + 5_000);
        }
        assert_eq!(h.multiplier(), 8);
        assert_eq!(h.scale(Duration::from_secs(1)), Duration::from_secs(9));
        let mut off = LocalHealth::new(0, 200);
        assert!(off.timer_fired(0, 5_000), "lateness is still measured");
        assert_eq!(off.multiplier(), 0);
        assert!(!off.should_rearm(true, false));
        assert!(h.should_rearm(true, false));
        assert!(!h.should_rearm(true, true), "re-armed once at most");
    }
}
