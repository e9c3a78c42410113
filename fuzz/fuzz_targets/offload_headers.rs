//! The headers a node reads on an offloaded upload (`from`, `hops`, `origin`, the features and
//! the signature) and the HMAC check over them: no panic on any value, decoded features encode
//! back to themselves, and a correct signature over the same fields always verifies.
#![no_main]

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target uses one body
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::offload_headers(data));
