//! The job features an offloading node sends along with the job ([`crate::headers::FEATURES`]),
//! so the peer does not run ffprobe again on bytes the entry node has already probed.
//!
//! Version 1 of the value is a `;`-separated list of `key=value` fields:
//!
//! ```text
//! v=1;w=1280;h=720;frames=50;duration_ms=2000;size=1048576
//! ```
//!
//! `v`, always first, is the format's version and decides how the rest reads; `w` and `h` are
//! the first video stream's width and height (≥ 1); `frames` and `duration_ms` its frame count
//! and duration (0 when ffprobe could not tell); `size` the upload's length in bytes, which the
//! receiver checks against what arrived. After `v` the fields come in any order, every one is
//! required, and fields this node does not know are ignored, so a field can be added without a
//! new version. A value with another `v` is ignored as a whole (the receiver probes), so a
//! newer peer's offloads are not refused during a rolling upgrade.

use std::collections::BTreeMap;

use vidmesh_core::JobFeatures;

/// The version this node writes and reads.
pub const VERSION: u32 = 1;

/// The header value for `f`, or `None` when the features are not known (a job whose cached
/// output was evicted before it ran carries only its size): the peer then probes.
pub fn encode(f: &JobFeatures) -> Option<String> {
    if f.width == 0 || f.height == 0 {
        return None;
    }
    Some(format!(
        "v={VERSION};w={};h={};frames={};duration_ms={};size={}",
        f.width, f.height, f.frames, f.duration_ms, f.size_bytes
    ))
}

/// A decoded header value.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Version 1's fields.
    Known(JobFeatures),
    /// A version this node does not read.
    OtherVersion(u32),
}

/// Why a features header was refused: which field is wrong and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeaturesError {
    #[error("it must start with `v=<version>`, got `{0}`")]
    NoVersion(String),
    #[error("`{0}` is not a key=value field")]
    NotKeyValue(String),
    #[error("`{0}` has no key")]
    NoKey(String),
    #[error("`{0}` is given twice")]
    Repeated(String),
    #[error("`{0}` is missing")]
    Missing(String),
    #[error("`{0}` must be at least 1")]
    Zero(String),
    #[error("`{key}` must be a whole number, got `{got}`")]
    NotANumber { key: String, got: String },
    #[error("`{key}` is out of range, got `{got}`")]
    OutOfRange { key: String, got: String },
}

/// Reads a header value; the error says which field is wrong and how.
pub fn decode(value: &str) -> Result<Decoded, FeaturesError> {
    // The version comes first and alone decides how the rest reads.
    let (first, rest) = value.split_once(';').unwrap_or((value, ""));
    let version = match first.split_once('=') {
        Some((k, v)) if k.trim() == "v" => num::<u32>("v", v.trim())?,
        _ => return Err(FeaturesError::NoVersion(first.trim().to_string())),
    };
    if version != VERSION {
        return Ok(Decoded::OtherVersion(version));
    }
    let mut fields = BTreeMap::new();
    // `v=1` alone has no fields, rather than one empty field.
    for part in rest.split(';').filter(|_| !rest.is_empty()) {
        let part = part.trim();
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| FeaturesError::NotKeyValue(part.to_string()))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(FeaturesError::NoKey(part.to_string()));
        }
        if k == "v" {
            return Err(FeaturesError::Repeated("v".into()));
        }
        if fields.insert(k, v).is_some() {
            return Err(FeaturesError::Repeated(k.to_string()));
        }
    }
    let field = |k: &str| {
        fields
            .get(k)
            .copied()
            .ok_or_else(|| FeaturesError::Missing(k.to_string()))
    };
    let positive = |k: &str| -> Result<u32, FeaturesError> {
        let n: u32 = num(k, field(k)?)?;
        if n == 0 {
            return Err(FeaturesError::Zero(k.to_string()));
        }
        Ok(n)
    };
    Ok(Decoded::Known(JobFeatures {
        width: positive("w")?,
        height: positive("h")?,
        frames: num("frames", field("frames")?)?,
        duration_ms: num("duration_ms", field("duration_ms")?)?,
        size_bytes: num("size", field("size")?)?,
        // The output is the receiver's business: it comes with the profile header.
        ..Default::default()
    }))
}

fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, FeaturesError> {
    let (key, got) = (k.to_string(), v.to_string());
    // Digits only: `parse` alone would also take a leading `+`.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FeaturesError::NotANumber { key, got });
    }
    v.parse()
        .map_err(|_| FeaturesError::OutOfRange { key, got })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> JobFeatures {
        JobFeatures {
            size_bytes: 1_048_576,
            width: 1280,
            height: 720,
            frames: 50,
            duration_ms: 2000,
            ..Default::default()
        }
    }

    #[test]
    fn encode_then_decode_gives_the_same_features() {
        let s = encode(&f()).unwrap();
        assert_eq!(
            s,
            "v=1;w=1280;h=720;frames=50;duration_ms=2000;size=1048576"
        );
        assert_eq!(decode(&s), Ok(Decoded::Known(f())));
        let edge = JobFeatures {
            size_bytes: u64::MAX,
            width: 1,
            height: u32::MAX,
            frames: 0,
            duration_ms: 0,
            ..Default::default()
        };
        assert_eq!(decode(&encode(&edge).unwrap()), Ok(Decoded::Known(edge)));
    }

    #[test]
    fn unknown_features_are_not_sent() {
        let size_only = JobFeatures {
            size_bytes: 10,
            ..Default::default()
        };
        assert_eq!(encode(&size_only), None);
    }

    #[test]
    fn field_order_spaces_and_unknown_fields_are_accepted() {
        let s = " v=1; size=1048576; duration_ms = 2000;frames=50;h=720;w=1280;codec=h264 ";
        assert_eq!(decode(s), Ok(Decoded::Known(f())));
    }

    #[test]
    fn another_version_is_reported_not_read() {
        assert_eq!(decode("v=2;anything else"), Ok(Decoded::OtherVersion(2)));
        assert_eq!(decode("v=2"), Ok(Decoded::OtherVersion(2)));
    }

    #[test]
    fn malformed_values_say_what_is_wrong() {
        let all = "w=1280;h=720;frames=50;duration_ms=2000;size=1";
        let v1 = |fields: &str| format!("v=1;{fields}");
        let cases = [
            (String::new(), "it must start with `v=<version>`, got ``"),
            (
                "garbage".into(),
                "it must start with `v=<version>`, got `garbage`",
            ),
            (all.into(), "it must start with `v=<version>`, got `w=1280`"),
            (
                "v=one;w=1280".into(),
                "`v` must be a whole number, got `one`",
            ),
            ("v=;w=1".into(), "`v` must be a whole number, got ``"),
            ("v=1".into(), "`w` is missing"),
            (
                v1("w=1280;h=720;frames=50;duration_ms=2000"),
                "`size` is missing",
            ),
            (v1(&format!("{all};")), "`` is not a key=value field"),
            (
                v1(&format!("{all};garbage")),
                "`garbage` is not a key=value field",
            ),
            (v1(&format!("{all};=1")), "`=1` has no key"),
            (v1(&format!("{all};v=1")), "`v` is given twice"),
            (v1(&format!("{all};w=640")), "`w` is given twice"),
            (v1(&all.replace("w=1280", "w=0")), "`w` must be at least 1"),
            (
                v1(&all.replace("h=720", "h=-720")),
                "`h` must be a whole number, got `-720`",
            ),
            (
                v1(&all.replace("frames=50", "frames=+5")),
                "`frames` must be a whole number",
            ),
            (
                v1(&all.replace("=2000", "=2.5")),
                "`duration_ms` must be a whole number",
            ),
            (
                v1(&all.replace("size=1", "size=")),
                "`size` must be a whole number",
            ),
            (
                v1(&all.replace("w=1280", "w=99999999999")),
                "`w` is out of range",
            ),
        ];
        for (value, says) in cases {
            match decode(&value) {
                Err(e) => assert!(
                    e.to_string().contains(says),
                    "`{value}`: expected `{says}` in `{e}`"
                ),
                Ok(d) => panic!("`{value}` was accepted as {d:?}"),
            }
        }
    }
}
