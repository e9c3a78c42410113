//! Output profiles: what a transcode produces. A profile is a fit box (long × short side, so
//! portrait inputs get the box turned), an x264 CRF and preset, and an audio policy; `hls` is a
//! ladder of such boxes rendered in one ffmpeg run; `custom` is the `--ffmpeg-args` template.
//!
//! The core caches by one 32-byte key and knows nothing of profiles, so the key handed to it is
//! SHA-256 of (input hash, profile name, recipe): the same input asked for in two profiles is
//! two entries, and a changed recipe never serves an output made by the old one.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use vidmesh_core::cost::{FitBox as CostBox, OutputShape};
use vidmesh_core::job::ContentHash;

/// Name of the adaptive-bitrate ladder profile.
pub const HLS: &str = "hls";
/// Name of the profile made from `--ffmpeg-args`.
pub const CUSTOM: &str = "custom";
/// Name of the profile used when neither the request nor the node names one.
pub const DEFAULT: &str = "360p";

/// The box an output must fit in, as its long and short side: 640×360 holds a landscape
/// output within 640 wide × 360 high and a portrait one within 360 wide × 640 high.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitBox {
    pub long: u32,
    pub short: u32,
}

impl FitBox {
    /// The scale factor for a frame displayed as `dw` × `dh`: the largest that fits the box,
    /// never above 1 (an upscale adds bytes, not detail).
    pub fn scale(&self, dw: f64, dh: f64) -> f64 {
        let (big, small) = (dw.max(dh), dw.min(dh));
        if big <= 0.0 || small <= 0.0 {
            return 1.0;
        }
        (self.long as f64 / big)
            .min(self.short as f64 / small)
            .min(1.0)
    }

    /// Output size for a `w` × `h` frame with sample aspect ratio `sar`: the display size
    /// scaled to fit, each side rounded to an even number (x264's 4:2:0 needs even sides).
    /// Mirrors [`FitBox::filter`], which is what ffmpeg actually computes.
    pub fn output_size(&self, w: u32, h: u32, sar: f64) -> (u32, u32) {
        let sar = if sar > 0.0 { sar } else { 1.0 };
        let (dw, dh) = (w as f64 * sar, h as f64);
        let s = self.scale(dw, dh);
        let even = |x: f64| 2 * ((x * s / 2.0).round() as u32).max(1);
        (even(dw), even(dh))
    }

    /// The video filter: scale the *display* size (width × sample aspect ratio) into the box,
    /// even sides, then mark pixels square. ffmpeg evaluates it per input, after autorotation,
    /// so portrait phone clips with a rotation tag fit the turned box too. No spaces: the
    /// template format splits arguments on whitespace.
    pub fn filter(&self) -> String {
        let (l, s) = (self.long, self.short);
        let f = format!("min(1,min({l}/max(iw*sar,ih),{s}/min(iw*sar,ih)))");
        format!("scale=w='2*max(1,round(iw*sar*{f}/2))':h='2*max(1,round(ih*{f}/2))',setsar=1")
    }
}

/// What happens to the input's audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audio {
    /// Re-encoded to AAC at this many kbit/s.
    Aac(u32),
    /// Copied as it is (no re-encode; fails if the codec does not fit in MP4).
    Copy,
    /// Left out.
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Video {
    pub fit: FitBox,
    pub crf: u8,
    pub preset: &'static str,
}

/// One rendition of the HLS ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    pub name: &'static str,
    pub video: Video,
    /// Cap on the rendition's bit rate (x264 VBV, capped CRF). Players pick renditions by the
    /// master playlist's BANDWIDTH, which ffmpeg takes from this cap; uncapped CRF streams
    /// would all claim only their audio's rate.
    pub max_kbps: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// One MP4 file.
    Mp4 { video: Video, audio: Audio },
    /// A master playlist with one rendition per rung the input is large enough for, as
    /// MPEG-TS segments of `segment_s` seconds.
    Hls {
        rungs: Vec<Rung>,
        audio_kbps: u32,
        segment_s: u32,
    },
    /// A whitespace-split ffmpeg template with `{in}` and `{out}` (one MP4 file).
    Template(Vec<String>),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub recipe: Recipe,
    /// SHA-256 of the recipe's description; part of the cache key and the ETag.
    fingerprint: [u8; 32],
}

/// Flags that keep ffmpeg quiet and non-interactive, and `-xerror` so a corrupt stream fails
/// the job instead of yielding a partial output.
const QUIET: &str = "-hide_banner -nostdin -loglevel error -xerror -y";

const P360: Video = Video {
    fit: FitBox {
        long: 640,
        short: 360,
    },
    crf: 28,
    preset: "fast",
};
const P720: Video = Video {
    fit: FitBox {
        long: 1280,
        short: 720,
    },
    crf: 26,
    preset: "fast",
};
const P1080: Video = Video {
    fit: FitBox {
        long: 1920,
        short: 1080,
    },
    crf: 24,
    preset: "fast",
};

impl Profile {
    fn new(name: &str, recipe: Recipe) -> Profile {
        let fingerprint = Sha256::digest(format!("{name}\n{recipe:?}").as_bytes()).into();
        Profile {
            name: name.to_string(),
            recipe,
            fingerprint,
        }
    }

    /// The built-in profiles.
    pub fn builtin() -> Vec<Profile> {
        let mp4 = |name, video, audio| Profile::new(name, Recipe::Mp4 { video, audio });
        vec![
            mp4("360p", P360, Audio::Aac(96)),
            mp4("720p", P720, Audio::Aac(128)),
            mp4("1080p", P1080, Audio::Aac(128)),
            mp4("copy-audio", P360, Audio::Copy),
            mp4("no-audio", P360, Audio::Drop),
            Profile::new(
                HLS,
                Recipe::Hls {
                    rungs: vec![
                        Rung {
                            name: "360p",
                            video: P360,
                            max_kbps: 1_000,
                        },
                        Rung {
                            name: "720p",
                            video: P720,
                            max_kbps: 3_000,
                        },
                        Rung {
                            name: "1080p",
                            video: P1080,
                            max_kbps: 6_000,
                        },
                    ],
                    audio_kbps: 96,
                    segment_s: 2,
                },
            ),
        ]
    }

    /// The `custom` profile from an `--ffmpeg-args` template.
    pub fn custom(template: &str) -> Result<Profile, ProfileError> {
        let args: Vec<String> = template.split_whitespace().map(str::to_string).collect();
        for p in ["{in}", "{out}"] {
            if !args.iter().any(|a| a == p) {
                return Err(ProfileError::Placeholder(p));
            }
        }
        Ok(Profile::new(CUSTOM, Recipe::Template(args)))
    }

    /// One line saying what the profile makes.
    pub fn describe(&self) -> String {
        let video = |v: &Video| {
            format!(
                "fit {}x{} (portrait {}x{}), never upscaled, square pixels; x264 crf {} preset {}",
                v.fit.long, v.fit.short, v.fit.short, v.fit.long, v.crf, v.preset
            )
        };
        match &self.recipe {
            Recipe::Mp4 { video: v, audio } => {
                let audio = match audio {
                    Audio::Aac(k) => format!("audio AAC {k} kbit/s"),
                    Audio::Copy => "audio copied".into(),
                    Audio::Drop => "no audio".into(),
                };
                format!("mp4: {}; {audio}", video(v))
            }
            Recipe::Hls {
                rungs,
                audio_kbps,
                segment_s,
            } => {
                let names: Vec<String> = rungs
                    .iter()
                    .map(|r| format!("{} (≤ {} kbit/s)", r.name, r.max_kbps))
                    .collect();
                format!(
                    "HLS ladder, one ffmpeg run: {} as far as the input reaches; {segment_s} s MPEG-TS segments; audio AAC {audio_kbps} kbit/s",
                    names.join(", ")
                )
            }
            Recipe::Template(a) => format!("mp4 from --ffmpeg-args: {}", a.join(" ")),
        }
    }

    /// What the core's cost model charges for this profile's output: its boxes (the curve's
    /// own `360p` output for a `custom` template, which the curve was measured with).
    pub fn cost_shape(&self) -> OutputShape {
        let b = |v: &Video| CostBox {
            long: v.fit.long.min(u16::MAX as u32) as u16,
            short: v.fit.short.min(u16::MAX as u32) as u16,
        };
        match &self.recipe {
            Recipe::Mp4 { video, .. } => OutputShape::fit(b(video)),
            Recipe::Hls { rungs, .. } => {
                let boxes: Vec<CostBox> = rungs.iter().map(|r| b(&r.video)).collect();
                OutputShape::ladder(&boxes)
            }
            Recipe::Template(_) => OutputShape::default(),
        }
    }

    pub fn is_hls(&self) -> bool {
        matches!(self.recipe, Recipe::Hls { .. })
    }

    /// The key the core caches this profile's output of `input` under.
    pub fn cache_key(&self, input: &ContentHash) -> ContentHash {
        let mut h = Sha256::new();
        h.update(b"vidmesh-output\0");
        h.update(input.0);
        h.update(self.fingerprint);
        ContentHash(h.finalize().into())
    }

    /// A short tag of the recipe, for ETags: it changes when the recipe does.
    pub fn tag(&self) -> String {
        self.fingerprint[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// ffmpeg's arguments for a single-file profile, `{in}`/`{out}` as placeholders; `None`
    /// for the ladder.
    pub fn mp4_args(&self) -> Option<Vec<String>> {
        match &self.recipe {
            Recipe::Template(a) => Some(a.clone()),
            Recipe::Mp4 { video, audio } => {
                let audio = match audio {
                    Audio::Aac(k) => format!("-c:a aac -b:a {k}k"),
                    Audio::Copy => "-c:a copy".into(),
                    Audio::Drop => "-an".into(),
                };
                let t = format!(
                    "{QUIET} -i {{in}} -vf {} -c:v libx264 -preset {} -crf {} -pix_fmt yuv420p {audio} -f mp4 {{out}}",
                    video.fit.filter(),
                    video.preset,
                    video.crf
                );
                Some(t.split_whitespace().map(str::to_string).collect())
            }
            Recipe::Hls { .. } => None,
        }
    }
}

/// The rungs of `rungs` an input displayed at `w` × `h` (sample aspect `sar`) gets, with their
/// output sizes: the first always; each next one only while the one before had to scale down,
/// so no rung repeats a smaller one's size or upscales the input.
pub fn ladder(rungs: &[Rung], w: u32, h: u32, sar: f64) -> Vec<(Rung, (u32, u32))> {
    let sar = if sar > 0.0 { sar } else { 1.0 };
    let mut out = Vec::new();
    for r in rungs {
        let size = r.video.fit.output_size(w, h, sar);
        out.push((*r, size));
        if r.video.fit.scale(w as f64 * sar, h as f64) >= 1.0 {
            break;
        }
    }
    out
}

/// ffmpeg's arguments for the ladder: one decode, `split` into one scaler per rung, one HLS
/// muxer with a variant per rung (`var_stream_map`), keyframes every segment so every
/// rendition can switch at every segment boundary. Files go flat into `out_dir`:
/// `master.m3u8`, `<rung>.m3u8`, `<rung>_NNN.ts`.
pub fn hls_args(
    rungs: &[Rung],
    audio_kbps: u32,
    segment_s: u32,
    with_audio: bool,
    input: &std::path::Path,
    out_dir: &std::path::Path,
) -> Vec<std::ffi::OsString> {
    let n = rungs.len();
    let mut graph = format!("[0:v]split={n}");
    for i in 0..n {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, r) in rungs.iter().enumerate() {
        graph.push_str(&format!(";[s{i}]{}[v{i}]", r.video.fit.filter()));
    }
    let mut a: Vec<std::ffi::OsString> = QUIET.split_whitespace().map(Into::into).collect();
    a.push("-i".into());
    a.push(input.into());
    a.push("-filter_complex".into());
    a.push(graph.into());
    let mut map = Vec::new();
    for (i, r) in rungs.iter().enumerate() {
        a.extend(["-map".into(), format!("[v{i}]").into()]);
        if with_audio {
            a.extend(["-map".into(), "0:a:0".into()]);
            map.push(format!("v:{i},a:{i},name:{}", r.name));
        } else {
            map.push(format!("v:{i},name:{}", r.name));
        }
        a.extend([
            format!("-crf:v:{i}").into(),
            r.video.crf.to_string().into(),
            format!("-preset:v:{i}").into(),
            r.video.preset.into(),
            format!("-maxrate:v:{i}").into(),
            format!("{}k", r.max_kbps).into(),
            format!("-bufsize:v:{i}").into(),
            format!("{}k", 2 * r.max_kbps).into(),
        ]);
    }
    let s = |x: &str| std::ffi::OsString::from(x);
    a.extend([s("-c:v"), s("libx264"), s("-pix_fmt"), s("yuv420p")]);
    a.extend([
        s("-force_key_frames"),
        format!("expr:gte(t,n_forced*{segment_s})").into(),
    ]);
    if with_audio {
        a.extend([
            s("-c:a"),
            s("aac"),
            s("-b:a"),
            format!("{audio_kbps}k").into(),
        ]);
    }
    a.extend([
        s("-f"),
        s("hls"),
        s("-hls_time"),
        segment_s.to_string().into(),
        s("-hls_playlist_type"),
        s("vod"),
        s("-hls_segment_type"),
        s("mpegts"),
        s("-hls_segment_filename"),
        out_dir.join("%v_%03d.ts").into(),
        s("-master_pl_name"),
        s("master.m3u8"),
        s("-var_stream_map"),
        map.join(" ").into(),
        out_dir.join("%v.m3u8").into(),
    ]);
    a
}

/// Why a profile could not be made or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("the ffmpeg argument template must contain {0} as an argument of its own")]
    Placeholder(&'static str),
    #[error("unknown profile `{name}`; this node knows: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

/// The profiles a node offers and the one it uses when a request names none.
#[derive(Debug)]
pub struct Profiles {
    list: Vec<Arc<Profile>>,
    default: Arc<Profile>,
}

impl Profiles {
    /// The built-ins, plus `custom` when a template is given. The default is `default` if
    /// named, else `custom` when there is one (the template overrides the stock transcode, as
    /// `--ffmpeg-args` always did), else `360p`.
    pub fn new(template: Option<&str>, default: Option<&str>) -> Result<Profiles, ProfileError> {
        let mut list: Vec<Arc<Profile>> = Profile::builtin().into_iter().map(Arc::new).collect();
        if let Some(t) = template {
            list.push(Arc::new(Profile::custom(t)?));
        }
        let want = default.unwrap_or(if template.is_some() { CUSTOM } else { DEFAULT });
        let mut p = Profiles {
            default: list[0].clone(),
            list,
        };
        p.default = p.get(want)?;
        Ok(p)
    }

    pub fn default_profile(&self) -> &Arc<Profile> {
        &self.default
    }

    pub fn all(&self) -> &[Arc<Profile>] {
        &self.list
    }

    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|p| p.name.as_str()).collect()
    }

    /// The profile called `name`, or an error listing the known ones.
    pub fn get(&self, name: &str) -> Result<Arc<Profile>, ProfileError> {
        self.list
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| ProfileError::Unknown {
                name: name.to_string(),
                known: self.names().into_iter().map(str::to_string).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_keep_the_display_aspect_and_fit_the_turned_box() {
        let b = P360.fit;
        assert_eq!(b.output_size(1920, 1080, 1.0), (640, 360));
        assert_eq!(b.output_size(1080, 1920, 1.0), (360, 640));
        assert_eq!(b.output_size(1000, 1000, 1.0), (360, 360));
        assert_eq!(b.output_size(853, 479, 1.0), (640, 360));
        // PAL 4:3 pixels stretched to 16:9: square pixels at the display size.
        assert_eq!(b.output_size(720, 576, 16.0 / 11.0), (640, 352));
        // Smaller than the box: kept (sides made even), never upscaled.
        assert_eq!(b.output_size(426, 240, 1.0), (426, 240));
        assert_eq!(b.output_size(321, 241, 1.0), (322, 242));
        assert_eq!(P720.fit.output_size(720, 576, 16.0 / 11.0), (1048, 576));
    }

    #[test]
    fn the_ladder_stops_at_the_input_size() {
        let Recipe::Hls { rungs, .. } = &Profile::builtin()[5].recipe else {
            panic!("hls is the sixth built-in")
        };
        let sizes = |w, h, sar| -> Vec<(u32, u32)> {
            ladder(rungs, w, h, sar).iter().map(|r| r.1).collect()
        };
        assert_eq!(
            sizes(1920, 1080, 1.0),
            [(640, 360), (1280, 720), (1920, 1080)]
        );
        assert_eq!(sizes(3840, 2160, 1.0).len(), 3);
        assert_eq!(sizes(1280, 720, 1.0), [(640, 360), (1280, 720)]);
        assert_eq!(sizes(854, 480, 1.0), [(640, 360), (854, 480)]);
        assert_eq!(sizes(426, 240, 1.0), [(426, 240)]);
        assert_eq!(sizes(1080, 1920, 1.0)[2], (1080, 1920));
    }

    #[test]
    fn the_core_cost_model_sees_the_boxes_the_node_renders() {
        // One cost model for the simulator and the node: the core's shape of each built-in
        // profile is the node's recipe, and it renders the sizes the node's ffmpeg makes.
        for p in Profile::builtin() {
            let shape = p.cost_shape();
            assert_eq!(OutputShape::builtin(&p.name), Some(shape), "{}", p.name);
            for (w, h) in [
                (1920, 1080),
                (1280, 720),
                (854, 480),
                (426, 240),
                (1080, 1920),
                (853, 479),
            ] {
                let core: Vec<(u32, u32)> = shape.renditions(w, h).collect();
                let node: Vec<(u32, u32)> = match &p.recipe {
                    Recipe::Mp4 { video, .. } => vec![video.fit.output_size(w, h, 1.0)],
                    Recipe::Hls { rungs, .. } => {
                        ladder(rungs, w, h, 1.0).iter().map(|r| r.1).collect()
                    }
                    Recipe::Template(_) => unreachable!("not a built-in"),
                };
                assert_eq!(core, node, "{} at {w}x{h}", p.name);
            }
        }
        let custom = Profile::custom("-i {in} {out}").unwrap();
        assert_eq!(custom.cost_shape(), OutputShape::default());
    }

    #[test]
    fn keys_differ_by_profile_and_recipe_and_unknown_names_list_the_known() {
        let p = Profiles::new(None, None).unwrap();
        assert_eq!(p.default_profile().name, "360p");
        let input = ContentHash([7; 32]);
        let k360 = p.get("360p").unwrap().cache_key(&input);
        assert_ne!(k360, input);
        assert_ne!(k360, p.get("720p").unwrap().cache_key(&input));
        assert_eq!(k360, p.get("360p").unwrap().cache_key(&input));
        let e = p.get("4k").unwrap_err().to_string();
        assert!(e.contains("`4k`") && e.contains("360p, 720p, 1080p"), "{e}");

        let c = Profiles::new(Some("-i {in} -c:v libx264 {out}"), None).unwrap();
        assert_eq!(c.default_profile().name, CUSTOM);
        let other = Profiles::new(Some("-i {in} -c:v libx265 {out}"), None).unwrap();
        assert_ne!(
            c.default_profile().cache_key(&input),
            other.default_profile().cache_key(&input)
        );
        assert_eq!(
            Profiles::new(Some("-i {in} {out}"), Some("720p"))
                .unwrap()
                .default_profile()
                .name,
            "720p"
        );
        assert!(Profile::custom("-i {in} out.mp4").is_err());
        assert!(Profiles::new(None, Some("nope")).is_err());
    }

    #[test]
    fn the_stock_template_is_the_360p_profile() {
        let p = Profiles::new(None, None).unwrap();
        let args = p.default_profile().mp4_args().unwrap();
        assert_eq!(args.join(" "), crate::ffmpeg::DEFAULT_ARGS);
    }
}
