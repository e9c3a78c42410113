//! What a node does with a `POST /gossip` body: the envelope, then foca's datagram inside it.
//! Neither may panic, and whatever decodes must encode back to an equal message.
#![no_main]

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target uses one body
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::gossip_decode(data));
