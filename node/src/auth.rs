//! Cluster authentication: every node-to-node message carries an HMAC-SHA256 under a shared
//! cluster key, so a host on the network without the key can neither join, report load, nor
//! offload work, and a captured message cannot be replayed.
//!
//! The signature travels in one header ([`crate::headers::SIGNATURE`]):
//!
//! ```text
//! t=<unix ms>;n=<nonce>;m=<64 hex digits>[,<64 hex digits>…]
//! ```
//!
//! `m` is the HMAC of a canonical text: a kind (`gossip`, `offload`, `reply`) and the fields
//! that matter for it, one per line (see [`gossip_fields`], [`offload_fields`],
//! [`reply_fields`]); bodies enter as their SHA-256. A receiver accepts `t` within
//! ±[`WINDOW_MS`] of its clock and each (sender, nonce) once while it is in that window. Nonces
//! are a per-sender counter started from the clock in microseconds, so a restarted node does not
//! reuse its previous life's.
//!
//! A keyring allows rotation: a message carries one MAC per key of the sender's ring (the
//! primary, first, leads) and is accepted when any of them matches any key of the receiver's.
//! So a node that already has the new key (ring `[k2, k1]`) and one that does not yet (`[k1]`)
//! understand each other, in both directions, for the whole rollout; then `k1` is dropped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a signed timestamp may be from the receiver's clock.
pub const WINDOW_MS: u64 = 30_000;
/// Shortest key accepted: shorter ones are guessable.
pub const MIN_KEY_BYTES: usize = 16;
/// Most MACs a signature may carry (a ring this long is a rotation gone wrong).
pub const MAX_MACS: usize = 4;
/// Most nonces remembered at once; beyond, messages are refused rather than memory grown
/// (only authenticated messages are remembered, so this is reached by members alone).
const MAX_SEEN: usize = 1_000_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("cannot read the cluster key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the cluster key ring is empty: give at least one key (one per line)")]
    Empty,
    #[error("cluster key {index} is {len} bytes long; keys must have at least {MIN_KEY_BYTES}")]
    TooShort { index: usize, len: usize },
    #[error(
        "the cluster key ring holds {0} keys; at most {MAX_MACS} (old and new during a rotation)"
    )]
    TooMany(usize),
}

/// Why a signed message was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum Rejection {
    #[error("the message is not signed, and this cluster requires a signature")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature does not match any cluster key")]
    BadSignature,
    #[error("the signature's timestamp is outside the accepted window (±30 s)")]
    Expired,
    #[error("the message was already received (replay)")]
    Replayed,
}

impl Rejection {
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Malformed => "malformed",
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired => "expired",
            Rejection::Replayed => "replayed",
        }
    }

    const ALL: [Rejection; 5] = [
        Rejection::Missing,
        Rejection::Malformed,
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::Replayed,
    ];
}

/// What a signature protects, for counting refusals by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gossip,
    Offload,
    Reply,
    /// An operator's command (`POST /admin/drain`).
    Admin,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Gossip => "gossip",
            Kind::Offload => "offload",
            Kind::Reply => "reply",
            Kind::Admin => "admin",
        }
    }

    const ALL: [Kind; 4] = [Kind::Gossip, Kind::Offload, Kind::Reply, Kind::Admin];
}

/// Cluster keys; the first signs, any verifies.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

impl Keyring {
    /// One key per line, the primary first; blank lines and `#` comments are skipped, and
    /// surrounding whitespace is not part of a key.
    pub fn parse(text: &str) -> Result<Keyring, KeyError> {
        let keys: Vec<Vec<u8>> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.as_bytes().to_vec())
            .collect();
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        if keys.len() > MAX_MACS {
            return Err(KeyError::TooMany(keys.len()));
        }
        if let Some((i, k)) = keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.len() < MIN_KEY_BYTES)
        {
            return Err(KeyError::TooShort {
                index: i + 1,
                len: k.len(),
            });
        }
        Ok(Keyring { keys })
    }

    /// The ring from `--cluster-key-file`, else from `CLUSTER_KEY` (keys separated by commas or
    /// newlines), else none.
    pub fn load(file: Option<&Path>, env: Option<&str>) -> Result<Option<Keyring>, KeyError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            return Keyring::parse(&text).map(Some);
        }
        match env {
            Some(v) if !v.trim().is_empty() => Keyring::parse(&v.replace(',', "\n")).map(Some),
            _ => Ok(None),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn mac(key: &[u8], msg: &[u8]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        m.update(msg);
        m
    }

    /// Every key's HMAC of `msg`, the primary's first.
    pub fn sign(&self, msg: &[u8]) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|k| Self::mac(k, msg).finalize().into_bytes().into())
            .collect()
    }

    /// True if any key's HMAC of `msg` is one of `tags` (each compared in constant time).
    pub fn verify(&self, msg: &[u8], tags: &[[u8; 32]]) -> bool {
        self.keys.iter().any(|k| {
            let m = Self::mac(k, msg);
            tags.iter().any(|t| m.clone().verify_slice(t).is_ok())
        })
    }
}

/// A parsed signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub t_ms: u64,
    pub nonce: u64,
    /// One per key of the sender's ring.
    pub macs: Vec<[u8; 32]>,
}

impl Signature {
    pub fn header_value(&self) -> String {
        let macs: Vec<String> = self.macs.iter().map(|m| hex(m)).collect();
        format!("t={};n={};m={}", self.t_ms, self.nonce, macs.join(","))
    }

    /// Reads `t=…;n=…;m=…` (fields in this order, nothing else).
    pub fn parse(value: &str) -> Result<Signature, Rejection> {
        let mut parts = value.split(';');
        let mut field = |name: &str| {
            parts
                .next()
                .and_then(|p| p.trim().strip_prefix(name))
                .and_then(|p| p.strip_prefix('='))
                .ok_or(Rejection::Malformed)
        };
        let t_ms = field("t")?.parse().map_err(|_| Rejection::Malformed)?;
        let nonce = field("n")?.parse().map_err(|_| Rejection::Malformed)?;
        let list = field("m")?;
        if parts.next().is_some() {
            return Err(Rejection::Malformed);
        }
        let mut macs = Vec::new();
        for hex in list.split(',') {
            if macs.len() == MAX_MACS || hex.len() != 64 || !hex.is_ascii() {
                return Err(Rejection::Malformed);
            }
            let mut mac = [0u8; 32];
            // Digit by digit: `from_str_radix` would also take a sign.
            let digit = |c: u8| (c as char).to_digit(16).ok_or(Rejection::Malformed);
            for (b, pair) in mac.iter_mut().zip(hex.as_bytes().chunks(2)) {
                *b = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
            }
            macs.push(mac);
        }
        Ok(Signature { t_ms, nonce, macs })
    }
}

/// The canonical text a MAC covers: the kind, the signature's time and nonce, then `fields`,
/// one per line. Header values cannot hold a newline, so fields cannot run into each other.
pub fn canonical(kind: Kind, t_ms: u64, nonce: u64, fields: &[&str]) -> Vec<u8> {
    let mut s = format!("vidmesh-auth/1\n{}\n{t_ms}\n{nonce}", kind.label());
    for f in fields {
        s.push('\n');
        s.push_str(f);
    }
    s.into_bytes()
}

/// Gossip: who sends (node id and zone, as in its headers) and the body's SHA-256.
pub fn gossip_fields<'a>(from: &'a str, zone: &'a str, body_sha: &'a str) -> [&'a str; 3] {
    [from, zone, body_sha]
}

/// Gossip sent by a node that drained and left ([`crate::headers::LEAVING`]): the same fields
/// and a fourth, so the flag cannot be added to a member's ordinary message in transit.
pub fn leaving_gossip_fields<'a>(from: &'a str, zone: &'a str, body_sha: &'a str) -> [&'a str; 4] {
    [from, zone, body_sha, "leaving"]
}

/// The sender id under which operators' nonces are remembered (no node has it: ids are
/// `1..=u32::MAX - 1` in practice, and a node's nonces are its own anyway).
pub const OPERATOR: u32 = u32::MAX;

/// An operator's command: what to do and the id of the node it is for, so a signature made
/// for one node cannot be replayed to another.
pub fn admin_fields<'a>(action: &'a str, node_id: &'a str) -> [&'a str; 2] {
    [action, node_id]
}

/// An offloaded upload: the headers the receiver acts on, and the body's SHA-256.
pub struct OffloadFields<'a> {
    pub from: &'a str,
    pub zone: &'a str,
    pub hops: &'a str,
    pub origin: &'a str,
    /// The features header's value, `""` when absent.
    pub features: &'a str,
    pub content_sha: &'a str,
}

pub fn offload_fields<'a>(f: &OffloadFields<'a>) -> [&'a str; 6] {
    [f.from, f.zone, f.hops, f.origin, f.features, f.content_sha]
}

/// The answer to an offload: bound to the request's nonce and input, its status, the output's
/// SHA-256 (`""` for an error) and the headers the entry node records.
pub struct ReplyFields<'a> {
    pub content_sha: &'a str,
    pub status: &'a str,
    pub output_sha: &'a str,
    pub exec_id: &'a str,
    pub exec_zone: &'a str,
    pub hops: &'a str,
    pub cache_hit: &'a str,
}

pub fn reply_fields<'a>(f: &ReplyFields<'a>) -> [&'a str; 7] {
    [
        f.content_sha,
        f.status,
        f.output_sha,
        f.exec_id,
        f.exec_zone,
        f.hops,
        f.cache_hit,
    ]
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Checks `sig` (the header value, if any) over `kind`/`fields` with `ring`, without the
/// replay check: a pure function, also used by the fuzz target.
pub fn verify(
    ring: &Keyring,
    kind: Kind,
    sig: Option<&str>,
    fields: &[&str],
    now_ms: u64,
) -> Result<Signature, Rejection> {
    let sig = Signature::parse(sig.ok_or(Rejection::Missing)?)?;
    if now_ms.abs_diff(sig.t_ms) > WINDOW_MS {
        return Err(Rejection::Expired);
    }
    if !ring.verify(&canonical(kind, sig.t_ms, sig.nonce, fields), &sig.macs) {
        return Err(Rejection::BadSignature);
    }
    Ok(sig)
}

/// Nonces seen within the window, per sender.
#[derive(Default)]
struct Seen {
    at: HashMap<(u32, u64), u64>,
    pruned_ms: u64,
}

/// A node's signer and verifier; without a keyring it signs nothing and accepts anything.
pub struct Auth {
    ring: Option<Keyring>,
    next_nonce: AtomicU64,
    seen: Mutex<Seen>,
    rejected: [[AtomicU64; 5]; 4],
}

impl Auth {
    pub fn new(ring: Option<Keyring>) -> Auth {
        Auth {
            ring,
            next_nonce: AtomicU64::new(crate::driver::unix_ms().saturating_mul(1000)),
            seen: Mutex::new(Seen::default()),
            rejected: Default::default(),
        }
    }

    /// No key: the cluster is open.
    pub fn open() -> Auth {
        Auth::new(None)
    }

    pub fn enabled(&self) -> bool {
        self.ring.is_some()
    }

    /// The signature for a message of `kind` with `fields`, or `None` without a key.
    /// `nonce` is taken from the counter unless given (a reply reuses its request's).
    pub fn sign(&self, kind: Kind, nonce: Option<u64>, fields: &[&str]) -> Option<Signature> {
        let ring = self.ring.as_ref()?;
        let t_ms = crate::driver::unix_ms();
        let nonce = nonce.unwrap_or_else(|| self.next_nonce.fetch_add(1, Ordering::Relaxed));
        let macs = ring.sign(&canonical(kind, t_ms, nonce, fields));
        Some(Signature { t_ms, nonce, macs })
    }

    /// Verifies a message from node `from`, and remembers its nonce so it is taken once.
    /// `Ok(None)` when this node has no key (nothing is checked).
    pub fn check(
        &self,
        kind: Kind,
        from: u32,
        sig: Option<&str>,
        fields: &[&str],
    ) -> Result<Option<Signature>, Rejection> {
        let Some(ring) = &self.ring else {
            return Ok(None);
        };
        let now = crate::driver::unix_ms();
        let r = verify(ring, kind, sig, fields, now).and_then(|s| self.once(from, s, now));
        if let Err(why) = r {
            self.count(kind, why);
        }
        r.map(Some)
    }

    /// Checks only the parts of a signature that do not need the body (present, well formed,
    /// recent), so an unsigned upload is refused before it is received.
    pub fn precheck(&self, kind: Kind, sig: Option<&str>) -> Result<(), Rejection> {
        if self.ring.is_none() {
            return Ok(());
        }
        let r = sig
            .ok_or(Rejection::Missing)
            .and_then(Signature::parse)
            .and_then(|s| {
                if crate::driver::unix_ms().abs_diff(s.t_ms) > WINDOW_MS {
                    Err(Rejection::Expired)
                } else {
                    Ok(())
                }
            });
        if let Err(why) = r {
            self.count(kind, why);
        }
        r
    }

    /// Verifies a reply to the request signed with `nonce` (replies are not replay-checked:
    /// the nonce binds them to one request).
    pub fn check_reply(
        &self,
        nonce: u64,
        sig: Option<&str>,
        fields: &[&str],
    ) -> Result<(), Rejection> {
        let Some(ring) = &self.ring else {
            return Ok(());
        };
        let r = verify(ring, Kind::Reply, sig, fields, crate::driver::unix_ms()).and_then(|s| {
            if s.nonce == nonce {
                Ok(())
            } else {
                Err(Rejection::BadSignature)
            }
        });
        if let Err(why) = r {
            self.count(Kind::Reply, why);
        }
        r
    }

    fn once(&self, from: u32, sig: Signature, now: u64) -> Result<Signature, Rejection> {
        let mut seen = self.seen.lock().expect("nonce cache");
        if now.saturating_sub(seen.pruned_ms) > 1_000 || seen.at.len() >= MAX_SEEN {
            // A nonce older than the window is refused by its timestamp already.
            seen.at.retain(|_, t| now.saturating_sub(*t) <= WINDOW_MS);
            seen.pruned_ms = now;
        }
        if seen.at.len() >= MAX_SEEN {
            return Err(Rejection::Replayed);
        }
        if seen.at.insert((from, sig.nonce), sig.t_ms).is_some() {
            return Err(Rejection::Replayed);
        }
        Ok(sig)
    }

    pub fn count(&self, kind: Kind, why: Rejection) {
        let k = Kind::ALL.iter().position(|&x| x == kind).unwrap_or(0);
        let r = Rejection::ALL.iter().position(|&x| x == why).unwrap_or(0);
        self.rejected[k][r].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals so far, by kind and reason (only those that happened).
    pub fn rejected(&self) -> Vec<(Kind, Rejection, u64)> {
        let mut out = Vec::new();
        for (k, kind) in Kind::ALL.iter().enumerate() {
            for (r, why) in Rejection::ALL.iter().enumerate() {
                let n = self.rejected[k][r].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((*kind, *why, n));
                }
            }
        }
        out
    }

    /// `vidmesh_auth_rejected_total` in Prometheus text, every kind listed (0 included) so a
    /// dashboard sees the series before the first refusal.
    pub fn prometheus(&self, node: &str, zone: &str) -> String {
        let mut s = String::from(
            "# HELP vidmesh_auth_rejected_total Node-to-node messages refused by cluster authentication.\n\
             # TYPE vidmesh_auth_rejected_total counter\n",
        );
        for (k, kind) in Kind::ALL.iter().enumerate() {
            for (r, why) in Rejection::ALL.iter().enumerate() {
                let n = self.rejected[k][r].load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "vidmesh_auth_rejected_total{{node=\"{node}\",zone=\"{zone}\",kind=\"{}\",reason=\"{}\"}} {n}",
                    kind.label(),
                    why.label()
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP vidmesh_auth_enabled 1 when this node requires signed node-to-node traffic.\n\
             # TYPE vidmesh_auth_enabled gauge\nvidmesh_auth_enabled{{node=\"{node}\",zone=\"{zone}\"}} {}",
            self.enabled() as u8
        );
        s
    }
}

/// SHA-256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&Sha256::digest(bytes))
}

/// SHA-256 (hex) of an open file's contents; the file is left at its start, so it can be
/// streamed afterwards.
pub async fn sha256_of_open(file: &std::fs::File) -> std::io::Result<String> {
    let mut f = file.try_clone()?;
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        use std::io::{Read, Seek, SeekFrom};
        // A clone shares the offset: rewind before and after.
        f.seek(SeekFrom::Start(0))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        f.seek(SeekFrom::Start(0))?;
        Ok(hex(&h.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1-0123456789abcdef";
    const K2: &str = "k2-fedcba9876543210";

    fn ring(t: &str) -> Keyring {
        Keyring::parse(t).unwrap()
    }

    #[test]
    fn keyrings_skip_comments_and_refuse_short_or_no_keys() {
        let r = ring(&format!("# rotation 2026-12\n{K2}\n\n  {K1}  \n"));
        assert_eq!(r.len(), 2);
        assert_eq!(
            Keyring::parse("# nothing\n\n").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            Keyring::parse(&format!("{K1}\nshort")).unwrap_err(),
            KeyError::TooShort { index: 2, len: 5 }
        );
        let env = Keyring::load(None, Some(&format!("{K2},{K1}")))
            .unwrap()
            .unwrap();
        assert_eq!(env.len(), 2);
        assert!(Keyring::load(None, Some("  ")).unwrap().is_none());
        assert!(format!("{env:?}").contains("2 keys") && !format!("{env:?}").contains("k1"));
    }

    #[test]
    fn rings_sharing_a_key_understand_each_other_during_a_rotation() {
        let old = Auth::new(Some(ring(K1)));
        let new = Auth::new(Some(ring(&format!("{K2}\n{K1}"))));
        let done = Auth::new(Some(ring(K2)));
        let fields = gossip_fields("1", "FRA", "ab");
        let by_old = old
            .sign(Kind::Gossip, None, &fields)
            .unwrap()
            .header_value();
        assert!(new.check(Kind::Gossip, 1, Some(&by_old), &fields).is_ok());
        let by_new = new.sign(Kind::Gossip, None, &fields).unwrap();
        assert_eq!(by_new.macs.len(), 2);
        assert!(old
            .check(Kind::Gossip, 2, Some(&by_new.header_value()), &fields)
            .is_ok());
        // No key in common: refused.
        assert_eq!(
            done.check(Kind::Gossip, 1, Some(&by_old), &fields),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            Keyring::parse(&format!("{K1}\n{K1}\n{K1}\n{K1}\n{K2}")).unwrap_err(),
            KeyError::TooMany(5)
        );
    }

    #[test]
    fn replays_tampering_and_stale_messages_are_refused_and_counted() {
        let a = Auth::new(Some(ring(K1)));
        let fields = gossip_fields("1", "FRA", "ab");
        let sig = a.sign(Kind::Gossip, None, &fields).unwrap().header_value();
        assert!(a.check(Kind::Gossip, 1, Some(&sig), &fields).is_ok());
        assert_eq!(
            a.check(Kind::Gossip, 1, Some(&sig), &fields),
            Err(Rejection::Replayed)
        );
        let other = gossip_fields("1", "FRA", "ac");
        let sig2 = a.sign(Kind::Gossip, None, &fields).unwrap().header_value();
        assert_eq!(
            a.check(Kind::Gossip, 1, Some(&sig2), &other),
            Err(Rejection::BadSignature)
        );
        // Same fields, another kind: a gossip signature is no offload signature.
        assert_eq!(
            a.check(Kind::Offload, 1, Some(&sig2), &fields),
            Err(Rejection::BadSignature)
        );
        let mut old = Signature::parse(&sig2).unwrap();
        old.t_ms -= WINDOW_MS + 1_000;
        old.macs = ring(K1).sign(&canonical(Kind::Gossip, old.t_ms, old.nonce, &fields));
        assert_eq!(
            a.check(Kind::Gossip, 1, Some(&old.header_value()), &fields),
            Err(Rejection::Expired)
        );
        assert_eq!(
            a.check(Kind::Gossip, 1, None, &fields),
            Err(Rejection::Missing)
        );
        assert_eq!(
            a.check(Kind::Gossip, 1, Some("t=1;n=2"), &fields),
            Err(Rejection::Malformed)
        );
        let counted: u64 = a.rejected().iter().map(|r| r.2).sum();
        assert_eq!(counted, 6);
        assert!(a
            .prometheus("node1", "FRA")
            .contains("kind=\"gossip\",reason=\"replayed\"} 1"));
    }

    #[test]
    fn without_a_key_nothing_is_signed_or_checked() {
        let a = Auth::open();
        assert!(a.sign(Kind::Gossip, None, &[]).is_none());
        assert_eq!(a.check(Kind::Gossip, 1, None, &[]), Ok(None));
    }

    #[test]
    fn signature_headers_round_trip_and_garbage_is_malformed() {
        let s = Signature {
            t_ms: 1_790_000_000_000,
            nonce: 42,
            macs: vec![[0xab; 32], [0x01; 32]],
        };
        assert_eq!(Signature::parse(&s.header_value()), Ok(s.clone()));
        for bad in [
            "",
            "t=1;n=2;m=zz",
            &format!("t=1;n=2;m={}", vec!["00".repeat(32); 5].join(",")),
            &format!("t=1;n=2;m={},", "00".repeat(32)),
            &format!("t=1;n=2;m=+f{}", "0".repeat(62)),
            "n=2;t=1;m=00",
            &format!("{};x=1", s.header_value()),
            "t=1;n=2;m=ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
        ] {
            assert_eq!(Signature::parse(bad), Err(Rejection::Malformed), "{bad}");
        }
    }
}
