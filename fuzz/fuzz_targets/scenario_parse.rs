//! Scenario files are user input: any text gets a scenario or a `file:line:col` error, never a
//! panic or a runaway allocation.
#![no_main]

#[path = "../bodies.rs"]
#[allow(dead_code)] // each target uses one body
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::scenario_parse(data));
