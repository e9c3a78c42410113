//! What a transcode costs: a curve from a job's features to CPU-seconds, scaled by a speed
//! factor that each node learns online from its own finished transcodes.
//!
//! The node measures nothing itself: the core sees when it asked for a transcode and when the
//! driver said it ended, both stamped with the driver's clock, so the simulator and a live node
//! calibrate from exactly the same kind of observation.

use serde::{Deserialize, Serialize};

use crate::job::JobFeatures;

/// CPU-seconds of one transcode as a function of its input:
/// `base_s + per_mpf_s · MPF + per_frame_s · frames`, where MPF is width · height · frames / 10⁶.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostCurve {
    pub base_s: f64,
    pub per_mpf_s: f64,
    pub per_frame_s: f64,
}

impl Default for CostCurve {
    /// ffmpeg 5.1 with the report's arguments, measured on an idle 2-core machine.
    fn default() -> Self {
        CostCurve {
            base_s: 0.11,
            per_mpf_s: 0.00274,
            per_frame_s: 0.00405,
        }
    }
}

impl CostCurve {
    pub fn cpu_s(&self, width: u32, height: u32, frames: u32) -> f64 {
        let mpf = width as f64 * height as f64 * frames as f64 / 1e6;
        self.base_s + self.per_mpf_s * mpf + self.per_frame_s * frames as f64
    }

    /// The curve's CPU-seconds for a job. A job with no known picture (ffprobe found no frame
    /// count) is charged as a 1080p clip of its byte size at ~8 Mbit/s and 30 fps: an honest
    /// upper guess beats a free job in admission.
    pub fn job_cpu_s(&self, f: &JobFeatures) -> f64 {
        if f.width > 0 && f.height > 0 && f.frames > 0 {
            return self.cpu_s(f.width, f.height, f.frames);
        }
        let secs = (f.size_bytes as f64 * 8.0 / 8e6).max(1.0);
        self.cpu_s(1920, 1080, (secs * 30.0) as u32)
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("base_s", self.base_s),
            ("per_mpf_s", self.per_mpf_s),
            ("per_frame_s", self.per_frame_s),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("cost curve {name} must be ≥ 0, got {v}"));
            }
        }
        if self.base_s + self.per_mpf_s + self.per_frame_s <= 0.0 {
            return Err("cost curve is zero everywhere".into());
        }
        Ok(())
    }
}

/// The curve, scaled by what this node has measured.
///
/// A job's service time (the wall time it holds one worker slot) is predicted as
/// `curve(features) / threads · speed`. `speed` starts at 1 and follows the geometric mean of
/// measured ÷ curve over recent jobs (an exponential average of the log ratio, which a single
/// pathological clip cannot drag far), so a machine several times slower than the curve is
/// learned within a few jobs.
#[derive(Clone, Debug)]
pub struct CostModel {
    curve: CostCurve,
    threads: f64,
    log_speed: f64,
    /// Exponential average of the squared deviation of log(measured ÷ predicted): how far a
    /// single job strays from the model.
    log_var: f64,
    /// Exponential average of measured service times, in ms: the typical job here.
    mean_service_ms: f64,
    observed: u64,
    /// Absolute percentage errors of the last predictions, for MAPE.
    errors: [f32; ERROR_WINDOW],
    error_sum: f64,
}

/// Predictions MAPE is reported over.
const ERROR_WINDOW: usize = 50;
/// The slowest the average follows once warm: about the last 20 jobs carry most weight.
const MIN_GAIN: f64 = 0.05;

/// How well the model has predicted this node's transcodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostStats {
    /// Measured ÷ curve, as learned (1 = the curve exactly).
    pub speed: f64,
    /// Finished transcodes the model has learned from.
    pub observed: u64,
    /// Mean absolute percentage error of the service-time predictions made for the last (up to
    /// 50) finished transcodes, in %, each made before that job ran.
    pub mape_pct: f64,
}

impl CostModel {
    pub fn new(curve: CostCurve, threads: f64) -> Self {
        CostModel {
            curve,
            threads: threads.max(0.01),
            log_speed: 0.0,
            // Until measured, assume ±30 % per job.
            log_var: 0.3 * 0.3,
            mean_service_ms: 0.0,
            observed: 0,
            errors: [0.0; ERROR_WINDOW],
            error_sum: 0.0,
        }
    }

    pub fn curve(&self) -> &CostCurve {
        &self.curve
    }

    pub fn speed(&self) -> f64 {
        self.log_speed.exp()
    }

    /// Predicted CPU-seconds of `f` on this node.
    pub fn cpu_s(&self, f: &JobFeatures) -> f64 {
        self.curve.job_cpu_s(f) * self.speed()
    }

    /// Predicted time the job holds a worker slot, in ms (at least 1).
    pub fn service_ms(&self, f: &JobFeatures) -> u64 {
        (self.cpu_s(f) / self.threads * 1000.0).round().max(1.0) as u64
    }

    /// Learns from a transcode that held its slot for `measured_ms`, having been predicted at
    /// `predicted_ms` when it started.
    pub fn observe(&mut self, f: &JobFeatures, predicted_ms: u64, measured_ms: u64) {
        let measured = measured_ms.max(1) as f64;
        let err = ((predicted_ms as f64 - measured).abs() / measured * 100.0).min(1e4);
        let k = (self.observed as usize) % ERROR_WINDOW;
        if self.observed as usize >= ERROR_WINDOW {
            self.error_sum -= self.errors[k] as f64;
        }
        self.errors[k] = err as f32;
        self.error_sum += err as f32 as f64;
        let base_ms = self.curve.job_cpu_s(f) / self.threads * 1000.0;
        let gain = (1.0 / (self.observed as f64 + 1.0)).max(MIN_GAIN);
        if base_ms > 0.0 {
            let ratio = (measured / base_ms).clamp(1e-3, 1e3).ln();
            if self.observed > 0 {
                let dev = ratio - self.log_speed;
                self.log_var += MIN_GAIN * (dev * dev - self.log_var);
            }
            self.log_speed += gain * (ratio - self.log_speed);
        }
        self.mean_service_ms += gain * (measured - self.mean_service_ms);
        self.observed += 1;
    }

    /// A factor that covers most jobs' deviation from the prediction (about the 90th
    /// percentile of measured ÷ predicted): admission multiplies predicted times by it, so a
    /// job admitted close to its deadline still makes it when it runs a little slow.
    pub fn safety(&self) -> f64 {
        (1.28 * self.log_var.max(0.0).sqrt()).exp().min(3.0)
    }

    /// The measured service time of a typical job here, if any has been measured.
    pub fn typical_service_ms(&self) -> Option<f64> {
        (self.observed > 0).then_some(self.mean_service_ms)
    }

    pub fn stats(&self) -> CostStats {
        let n = (self.observed as usize).min(ERROR_WINDOW);
        CostStats {
            speed: self.speed(),
            observed: self.observed,
            mape_pct: if n == 0 {
                0.0
            } else {
                self.error_sum / n as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(w: u32, h: u32, frames: u32) -> JobFeatures {
        JobFeatures {
            size_bytes: 1_000_000,
            width: w,
            height: h,
            frames,
            duration_ms: frames * 33,
        }
    }

    #[test]
    fn the_curve_matches_the_measured_1080p_clip() {
        // A 1080p 10 s clip at 30 fps costs ≈ 2.8 CPU-s (DESIGN.md).
        let c = CostCurve::default().cpu_s(1920, 1080, 300);
        assert!((2.5..3.2).contains(&c), "{c}");
    }

    #[test]
    fn learns_a_machine_five_times_slower_within_a_few_jobs() {
        let mut m = CostModel::new(CostCurve::default(), 1.0);
        let jobs = [f(1920, 1080, 300), f(640, 360, 150), f(1280, 720, 600)];
        let mut last_err = 0.0;
        for k in 0..60 {
            let j = jobs[k % 3];
            let predicted = m.service_ms(&j);
            let truth = (CostCurve::default().job_cpu_s(&j) * 5.0 * 1000.0) as u64;
            last_err = (predicted as f64 - truth as f64).abs() / truth as f64;
            m.observe(&j, predicted, truth);
        }
        assert!(last_err < 0.01, "{last_err}");
        assert!((m.speed() - 5.0).abs() < 0.05);
        // The window forgets the first, uncalibrated predictions.
        assert!(m.stats().mape_pct < 5.0, "{:?}", m.stats());
    }

    #[test]
    fn a_job_without_a_picture_is_not_free() {
        let c = CostCurve::default();
        let unknown = JobFeatures {
            size_bytes: 4_000_000,
            ..Default::default()
        };
        assert!(c.job_cpu_s(&unknown) > c.cpu_s(640, 360, 30));
    }

    #[test]
    fn bad_curves_are_refused() {
        let c = CostCurve {
            per_frame_s: -1.0,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().contains("per_frame_s"));
        assert!(CostCurve {
            base_s: 0.0,
            per_mpf_s: 0.0,
            per_frame_s: 0.0
        }
        .validate()
        .is_err());
    }
}
