//! Scenario files are user input: any text gets a scenario or a `file:line:col` error, never a
//! panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use vidmesh_sim::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Scenario::parse(text, Path::new("fuzz.toml"), "fuzz");
    }
});
