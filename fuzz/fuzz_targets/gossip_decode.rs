//! What a node does with a `POST /gossip` body: the envelope, then foca's datagram inside it.
//! Neither may panic, and whatever decodes must encode back to an equal message.
#![no_main]

use foca::Codec;
use libfuzzer_sys::fuzz_target;
use vidmesh_core::swim_codec::SwimCodec;
use vidmesh_core::{wire, Message};

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

fuzz_target!(|data: &[u8]| {
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
});
