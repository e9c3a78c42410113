//! What a transcode costs: a curve from a job's features to CPU-seconds, scaled by a speed
//! factor that each node learns online from its own finished transcodes.
//!
//! A job's cost depends on what it renders ([`OutputShape`], from its output profile): the
//! curve is the default `360p` transcode's, and every output pixel rendered beyond that
//! rendition's costs `per_out_mpf_s` (fitted to the profiles' measured costs,
//! results/profiles/NOTES.md). The simulator charges jobs and the live node predicts them with
//! this one model.
//!
//! The node measures nothing itself: the core sees when it asked for a transcode and when the
//! driver said it ended, both stamped with the driver's clock, so the simulator and a live node
//! calibrate from exactly the same kind of observation.

use serde::{Deserialize, Serialize};

use crate::job::JobFeatures;

/// CPU-seconds of one transcode as a function of its input:
/// `base_s + per_mpf_s · MPF + per_frame_s · frames`, where MPF is width · height · frames / 10⁶,
/// for the default output (`360p`); other outputs add `per_out_mpf_s` per megapixel-frame they
/// render beyond it ([`OutputShape::extra_mpf`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostCurve {
    pub base_s: f64,
    pub per_mpf_s: f64,
    pub per_frame_s: f64,
    pub per_out_mpf_s: f64,
}

/// CPU-s per output megapixel-frame beyond the `360p` rendition, in the default curve's units:
/// fitted so that the model's total cost of each measured profile over the calibration clips
/// matches the measured total (results/profiles/NOTES.md, `scripts/profile-cost --summary`).
pub const PER_OUT_MPF_S: f64 = 0.0243;

impl Default for CostCurve {
    /// ffmpeg 5.1 with the report's arguments, measured on an idle 2-core machine.
    fn default() -> Self {
        CostCurve {
            base_s: 0.11,
            per_mpf_s: 0.00274,
            per_frame_s: 0.00405,
            per_out_mpf_s: PER_OUT_MPF_S,
        }
    }
}

/// A box an output is fitted in, as its long and short side (a portrait input gets the box
/// turned); never upscaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitBox {
    pub long: u16,
    pub short: u16,
}

impl FitBox {
    pub const P360: FitBox = FitBox {
        long: 640,
        short: 360,
    };
    pub const P720: FitBox = FitBox {
        long: 1280,
        short: 720,
    };
    pub const P1080: FitBox = FitBox {
        long: 1920,
        short: 1080,
    };

    /// The scale factor for a `w` × `h` frame (square pixels): the largest that fits, ≤ 1.
    pub fn scale(&self, w: u32, h: u32) -> f64 {
        let (big, small) = (w.max(h) as f64, w.min(h) as f64);
        if small <= 0.0 {
            return 1.0;
        }
        (self.long as f64 / big)
            .min(self.short as f64 / small)
            .min(1.0)
    }

    /// Output size of a `w` × `h` frame, sides rounded to even numbers (as the node's filter).
    pub fn output_size(&self, w: u32, h: u32) -> (u32, u32) {
        let s = self.scale(w, h);
        let even = |x: u32| 2 * ((x as f64 * s / 2.0).round() as u32).max(1);
        (even(w), even(h))
    }
}

/// Most renditions one job renders (the `hls` ladder's 360p, 720p, 1080p).
pub const MAX_RENDITIONS: usize = 3;

/// What a transcode renders, as far as its cost is concerned: the boxes of its renditions. A
/// single-file profile has one; a ladder renders the first, then each next one only while the
/// one before had to scale the input down (as the node's `hls` does), so no rendition repeats a
/// smaller one's size. Audio, codec settings and the container are not in it: they changed the
/// measured cost by less than the clips differ among themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputShape {
    boxes: [FitBox; MAX_RENDITIONS],
    len: u8,
}

impl Default for OutputShape {
    /// The default `360p` output, which [`CostCurve`]'s coefficients describe.
    fn default() -> Self {
        OutputShape::fit(FitBox::P360)
    }
}

impl OutputShape {
    /// One output fitted in `b`.
    pub const fn fit(b: FitBox) -> OutputShape {
        OutputShape {
            boxes: [b; MAX_RENDITIONS],
            len: 1,
        }
    }

    /// A ladder of renditions, smallest box first (at most [`MAX_RENDITIONS`] are kept).
    pub fn ladder(boxes: &[FitBox]) -> OutputShape {
        let mut s = OutputShape::fit(boxes.first().copied().unwrap_or(FitBox::P360));
        for (k, b) in boxes.iter().take(MAX_RENDITIONS).enumerate() {
            s.boxes[k] = *b;
            s.len = k as u8 + 1;
        }
        s
    }

    /// The cost shape of the node's built-in profiles, by name (`None`: not a built-in one).
    pub fn builtin(profile: &str) -> Option<OutputShape> {
        Some(match profile {
            "360p" | "copy-audio" | "no-audio" => OutputShape::fit(FitBox::P360),
            "720p" => OutputShape::fit(FitBox::P720),
            "1080p" => OutputShape::fit(FitBox::P1080),
            "hls" => OutputShape::ladder(&[FitBox::P360, FitBox::P720, FitBox::P1080]),
            _ => return None,
        })
    }

    /// The boxes, smallest first.
    pub fn boxes(&self) -> &[FitBox] {
        &self.boxes[..self.len as usize]
    }

    /// Output sizes of the renditions a `w` × `h` input gets.
    pub fn renditions(&self, w: u32, h: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let mut more = true;
        self.boxes().iter().map_while(move |b| {
            if !more {
                return None;
            }
            more = b.scale(w, h) < 1.0;
            Some(b.output_size(w, h))
        })
    }

    /// Megapixel-frames rendered beyond the default `360p` output of the same input (≥ 0).
    pub fn extra_mpf(&self, w: u32, h: u32, frames: u32) -> f64 {
        let px = |(a, b): (u32, u32)| a as f64 * b as f64;
        let rendered: f64 = self.renditions(w, h).map(px).sum();
        let base = px(FitBox::P360.output_size(w, h));
        ((rendered - base) * frames as f64 / 1e6).max(0.0)
    }
}

impl CostCurve {
    pub fn cpu_s(&self, width: u32, height: u32, frames: u32) -> f64 {
        let mpf = width as f64 * height as f64 * frames as f64 / 1e6;
        self.base_s + self.per_mpf_s * mpf + self.per_frame_s * frames as f64
    }

    /// CPU-seconds of rendering `out` from a `width` × `height` input of `frames` frames.
    pub fn output_cpu_s(&self, width: u32, height: u32, frames: u32, out: &OutputShape) -> f64 {
        let c = self.cpu_s(width, height, frames);
        if *out == OutputShape::default() {
            return c; // the curve's own output
        }
        c + self.per_out_mpf_s * out.extra_mpf(width, height, frames)
    }

    /// The curve's CPU-seconds for a job, its output included. A job with no known picture
    /// (ffprobe found no frame count) is charged as a 1080p clip of its byte size at ~8 Mbit/s
    /// and 30 fps: an honest upper guess beats a free job in admission.
    pub fn job_cpu_s(&self, f: &JobFeatures) -> f64 {
        if f.width > 0 && f.height > 0 && f.frames > 0 {
            return self.output_cpu_s(f.width, f.height, f.frames, &f.output);
        }
        let secs = (f.size_bytes as f64 * 8.0 / 8e6).max(1.0);
        self.output_cpu_s(1920, 1080, (secs * 30.0) as u32, &f.output)
    }

    pub fn validate(&self) -> Result<(), CurveError> {
        for (name, v) in [
            ("base_s", self.base_s),
            ("per_mpf_s", self.per_mpf_s),
            ("per_frame_s", self.per_frame_s),
            ("per_out_mpf_s", self.per_out_mpf_s),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(CurveError::Negative { name, value: v });
            }
        }
        if self.base_s + self.per_mpf_s + self.per_frame_s <= 0.0 {
            return Err(CurveError::Zero);
        }
        Ok(())
    }
}

/// A cost curve that cannot predict anything.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CurveError {
    #[error("cost curve {name} must be ≥ 0, got {value}")]
    Negative { name: &'static str, value: f64 },
    #[error("cost curve is zero everywhere")]
    Zero,
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
    /// Exponential average of log(measured ÷ the curve's guess from the upload's size alone):
    /// what an upload costs here per byte, relative to that guess, before its probe says more.
    log_size_speed: f64,
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
            log_size_speed: 0.0,
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

    /// Predicted slot time of an upload known only by its size and output (its probe has not
    /// run), in ms: the curve's size-only guess ([`CostCurve::job_cpu_s`] without a picture),
    /// scaled by how such guesses compared with this node's measured transcodes. Clips differ
    /// in cost per byte by a few times, so this is for work in bulk (a queue of unprobed
    /// uploads), not for one job's deadline.
    pub fn unprobed_ms(&self, f: &JobFeatures) -> f64 {
        let speed = if self.observed == 0 {
            self.speed()
        } else {
            self.log_size_speed.exp()
        };
        self.size_guess_ms(f) * speed
    }

    /// What a job is expected to cost in the curve's CPU-seconds (a peer's reported
    /// ms per CPU-s turns it into that peer's time): by its features once probed, else by its
    /// size, as this node's size-based estimates have measured.
    pub fn curve_cpu_s(&self, f: &JobFeatures, probed: bool) -> f64 {
        if probed {
            return self.curve.job_cpu_s(f);
        }
        self.unprobed_ms(f) / 1000.0 * self.threads / self.speed()
    }

    /// The curve's slot time for `f` from its size and output alone, in ms.
    fn size_guess_ms(&self, f: &JobFeatures) -> f64 {
        let guess = JobFeatures {
            size_bytes: f.size_bytes,
            output: f.output,
            ..JobFeatures::default()
        };
        self.curve.job_cpu_s(&guess) / self.threads * 1000.0
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
        let guess_ms = self.size_guess_ms(f);
        if f.size_bytes > 0 && guess_ms > 0.0 {
            let ratio = (measured / guess_ms).clamp(1e-3, 1e3).ln();
            self.log_size_speed += gain * (ratio - self.log_size_speed);
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
            ..Default::default()
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
    fn an_unprobed_upload_is_charged_by_its_size_as_this_node_measured() {
        let mut m = CostModel::new(CostCurve::default(), 1.0);
        // Before any transcode: the curve's size-only guess, more for a bigger upload.
        let small = JobFeatures {
            size_bytes: 1_000_000,
            ..Default::default()
        };
        let big = JobFeatures {
            size_bytes: 4_000_000,
            ..Default::default()
        };
        assert!(m.unprobed_ms(&small) > 0.0);
        assert!(m.unprobed_ms(&big) > 2.0 * m.unprobed_ms(&small));
        // Clips whose bytes cost 3 s of slot time per MB here, whatever the guess said.
        for k in 0..40u32 {
            let mb = 1 + k % 4;
            let f = JobFeatures {
                size_bytes: mb as u64 * 1_000_000,
                ..f(1280, 720, 30 * (2 + k % 9))
            };
            m.observe(&f, 1_000, mb as u64 * 3_000);
        }
        let est = m.unprobed_ms(&JobFeatures {
            size_bytes: 2_000_000,
            ..Default::default()
        });
        assert!((5_400.0..6_600.0).contains(&est), "{est}");
    }

    #[test]
    fn profiles_cost_what_was_measured_in_total() {
        // results/profiles/cost.csv: every profile's CPU-s on 20 clips (the rows without
        // audio). The model charges the measured 360p cost plus per_out_mpf_s (converted from
        // the curve's machine to the measuring one) per extra output megapixel-frame; over all
        // clips it must come within 5 % of each profile's measured total.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../results/profiles/cost.csv");
        let text = std::fs::read_to_string(path).expect("results/profiles/cost.csv");
        let mut rows = Vec::new();
        for line in text.lines().skip(1) {
            let c: Vec<&str> = line.split(',').collect();
            if c[1] != "0" {
                continue;
            }
            let n = |i: usize| c[i].parse::<f64>().unwrap();
            rows.push((c[0], n(2) as u32, n(3) as u32, n(4) as u32, c[5], n(6)));
        }
        let base = |clip: &str| {
            rows.iter()
                .find(|r| r.0 == clip && r.4 == "360p")
                .unwrap()
                .5
        };
        let curve = CostCurve::default();
        let clips: Vec<_> = rows.iter().filter(|r| r.4 == "360p").collect();
        let measured_360: f64 = clips.iter().map(|r| r.5).sum();
        let modelled_360: f64 = clips.iter().map(|r| curve.cpu_s(r.1, r.2, r.3)).sum();
        let k = curve.per_out_mpf_s * measured_360 / modelled_360;
        for profile in ["720p", "1080p", "hls", "copy-audio", "no-audio"] {
            let shape = OutputShape::builtin(profile).unwrap();
            let (mut measured, mut predicted) = (0.0, 0.0);
            for r in rows.iter().filter(|r| r.4 == profile) {
                measured += r.5;
                predicted += base(r.0) + k * shape.extra_mpf(r.1, r.2, r.3);
            }
            let err = (predicted - measured).abs() / measured;
            assert!(
                err < 0.05,
                "{profile}: {predicted:.2} vs {measured:.2} CPU-s"
            );
        }
    }

    #[test]
    fn outputs_cost_by_the_pixels_they_render() {
        let c = CostCurve::default();
        let f = |profile: &str, w, h| JobFeatures {
            size_bytes: 1,
            width: w,
            height: h,
            frames: 300,
            duration_ms: 10_000,
            output: OutputShape::builtin(profile).unwrap(),
        };
        let cost = |p, w, h| c.job_cpu_s(&f(p, w, h));
        // The default output is the curve's.
        assert_eq!(cost("360p", 1920, 1080), c.cpu_s(1920, 1080, 300));
        assert_eq!(cost("no-audio", 1920, 1080), cost("360p", 1920, 1080));
        // Bigger boxes cost more, the ladder most; below its box a profile is 360p's work.
        assert!(cost("720p", 1920, 1080) > 1.5 * cost("360p", 1920, 1080));
        assert!(cost("1080p", 1920, 1080) > cost("720p", 1920, 1080));
        assert!(cost("hls", 1920, 1080) > cost("1080p", 1920, 1080));
        assert_eq!(cost("1080p", 640, 360), cost("360p", 640, 360));
        assert_eq!(cost("hls", 426, 240), cost("360p", 426, 240));
        // Portrait inputs get the box turned: the same work as the landscape clip.
        assert_eq!(cost("720p", 1080, 1920), cost("720p", 1920, 1080));
        // The ladder renders 360p and 720p from a 720p input, not 1080p.
        let hls: Vec<_> = OutputShape::builtin("hls")
            .unwrap()
            .renditions(1280, 720)
            .collect();
        assert_eq!(hls, [(640, 360), (1280, 720)]);
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
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("per_frame_s"));
        assert!(CostCurve {
            base_s: 0.0,
            per_mpf_s: 0.0,
            per_frame_s: 0.0,
            per_out_mpf_s: 1.0,
        }
        .validate()
        .is_err());
    }
}
