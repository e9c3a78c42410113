//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz_targets/`, nightly,
//! sanitizers) and the plain `cargo test` smoke run in CI (`lab/tests/fuzz_smoke.rs`, stable,
//! over the committed corpus and seeded mutations of it), so both check the same properties.
//! Each function panics exactly when the target would report a crash.

use std::path::Path;

use foca::Codec;
use vidmesh_core::swim_codec::SwimCodec;
use vidmesh_core::{wire, Message};
use vidmesh_node::auth::{self, Keyring, Kind, Signature};
use vidmesh_node::features::{self, Decoded};
use vidmesh_sim::scenario::Scenario;

fn swim(mut buf: &[u8]) {
    let mut codec = SwimCodec;
    if codec.decode_header(&mut buf).is_err() {
        return;
    }
    // foca reads members until the datagram ends; a bad one ends it.
    while !buf.is_empty() {
        let Ok(m) = codec.decode_member(&mut buf) else {
            return;
        };
        let mut out = Vec::new();
        codec
            .encode_member(&m, &mut out)
            .expect("a decoded member encodes");
        let mut back = &out[..];
        assert_eq!(codec.decode_member(&mut back).expect("re-decodes"), m);
    }
}

/// What a node does with a `POST /gossip` body: the envelope, then foca's datagram inside it.
/// Neither may panic, and whatever decodes must encode back to an equal message.
pub fn gossip_decode(data: &[u8]) {
    match wire::decode(data) {
        Ok(msg) => {
            // Compared as bytes: load reports may carry NaN, which is not equal to itself (the
            // core clamps such values when it takes a report).
            let bytes = wire::encode(&msg);
            let back = wire::decode(&bytes).expect("an encoded message decodes");
            assert_eq!(wire::encode(&back), bytes);
            if let Message::Swim(inner) = &msg {
                swim(inner);
            }
        }
        // Bare datagrams too, so the fuzzer need not learn the envelope first.
        Err(_) => swim(data),
    }
}

const NOW_MS: u64 = 1_790_000_000_000;

/// The headers a node reads on an offloaded upload (`from`, `hops`, `origin`, the features
/// and the signature) and the HMAC check over them: no panic on any value, decoded features
/// encode back to themselves, and a correct signature over the same fields always verifies.
pub fn offload_headers(data: &[u8]) {
    // Fields one per line, as they would arrive in separate headers.
    let text = String::from_utf8_lossy(data);
    let mut it = text.split('\n');
    let mut next = || it.next().unwrap_or("");
    let (from, zone, hops, origin, feats, sig, content) =
        (next(), next(), next(), next(), next(), next(), next());

    let _ = from.parse::<u32>();
    let _ = hops.parse::<u8>();
    let _ = origin.parse::<u32>();
    if let Ok(Decoded::Known(f)) = features::decode(feats) {
        if let Some(again) = features::encode(&f) {
            assert_eq!(features::decode(&again), Ok(Decoded::Known(f)));
        }
    }

    let ring = Keyring::parse("fuzz-key-0123456789abcdef").expect("a valid ring");
    let fields = auth::offload_fields(&auth::OffloadFields {
        from,
        zone,
        hops,
        origin,
        features: feats,
        content_sha: content,
    });
    if let Ok(s) = Signature::parse(sig) {
        assert_eq!(Signature::parse(&s.header_value()), Ok(s.clone()));
    }
    // Random bytes are never a valid MAC (2^-256).
    let forged = auth::verify(&ring, Kind::Offload, Some(sig), &fields, NOW_MS);
    assert!(forged.is_err(), "a fuzzed signature verified: {sig:?}");
    // The same fields, signed properly, verify; with any field changed they do not.
    let macs = ring.sign(&auth::canonical(Kind::Offload, NOW_MS, 7, &fields));
    let good = Signature {
        t_ms: NOW_MS,
        nonce: 7,
        macs,
    }
    .header_value();
    assert!(auth::verify(&ring, Kind::Offload, Some(&good), &fields, NOW_MS).is_ok());
    let mut other = fields;
    other[2] = if hops == "2" { "3" } else { "2" };
    assert!(auth::verify(&ring, Kind::Offload, Some(&good), &other, NOW_MS).is_err());
}

/// Scenario files are user input: any text gets a scenario or a `file:line:col` error, never
/// a panic or a runaway allocation.
pub fn scenario_parse(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Scenario::parse(text, Path::new("fuzz.toml"), "fuzz");
    }
}
