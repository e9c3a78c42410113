//! The headers a node reads on an offloaded upload (`from`, `hops`, `origin`, the features and
//! the signature) and the HMAC check over them: no panic on any value, decoded features encode
//! back to themselves, and a correct signature over the same fields always verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vidmesh_node::auth::{self, Keyring, Kind, Signature};
use vidmesh_node::features::{self, Decoded};

const NOW_MS: u64 = 1_790_000_000_000;

fuzz_target!(|data: &[u8]| {
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
});
