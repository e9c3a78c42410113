//! The fuzz smoke run CI can afford: every fuzz target's body (fuzz/bodies.rs, the very code
//! the libFuzzer binaries run) over its committed corpus, then over seeded mutations of it
//! (bit flips, interesting bytes, inserts, deletes, duplicated ranges, splices; what
//! libFuzzer's mutator does, without its coverage feedback). Stable toolchain, no sanitizer,
//! release build without overflow checks: it catches panics and failed round-trip
//! assertions, not memory errors (there is no unsafe code in these paths) and not hangs
//! (a hang shows as this test never finishing). scripts/fuzz-smoke is the full instrumented run.
//!
//! `FUZZ_SMOKE_RUNS` sets the mutated inputs per target (default 3 000 000, ~15 s on two cores). A failing input is
//! written to `target/fuzz-smoke/<target>-<n>` for `fuzz/target/…/<target> <file>`.

#[path = "../../fuzz/bodies.rs"]
mod bodies;

use std::path::PathBuf;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed corpus, in file-name order (a fixed order makes the mutations reproducible).
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = root().join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "{} is empty", dir.display());
    seeds
}

const INTERESTING: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0xff, b'\n', b'=', b'"', b'[', b']', b'9', b';',
];

/// One to four mutations of a corpus entry, as libFuzzer's default mutator would.
fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&seeds[rng.random_range(0..seeds.len())]);
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = INTERESTING[rng.random_range(0..INTERESTING.len())];
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..=8);
                for k in 0..n {
                    out.insert(i + k, rng.random());
                }
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(16));
                out.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=(len - i).min(64));
                let dup: Vec<u8> = out[i..i + n].to_vec();
                let at = rng.random_range(0..=len);
                out.splice(at..at, dup);
            }
            5 => {
                // Splice: this entry's head, another's tail.
                let other = &seeds[rng.random_range(0..seeds.len())];
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..=other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => out.truncate(rng.random_range(0..len)),
            _ => out.push(rng.random()),
        }
    }
}

/// Runs `body` on `input`; on a panic, saves the input and fails with where it is.
fn one(target: &str, n: usize, body: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| body(input)).is_err() {
        let dir = root().join("target/fuzz-smoke");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{target}-{n}"));
        std::fs::write(&path, input).unwrap();
        panic!("{target} failed on input {n}, saved as {}", path.display());
    }
}

fn smoke(target: &str, body: fn(&[u8])) {
    let runs: usize = std::env::var("FUZZ_SMOKE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    let seeds = corpus(target);
    let start = Instant::now();
    for (n, s) in seeds.iter().enumerate() {
        one(target, n, body, s);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x66757a7a); // "fuzz"
    let mut input = Vec::new();
    for n in 0..runs {
        mutate(&mut rng, &seeds, &mut input);
        one(target, seeds.len() + n, body, &input);
    }
    eprintln!(
        "{target}: {} corpus + {runs} mutated inputs in {:.1} s",
        seeds.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn gossip_decode_survives_its_corpus_and_mutations() {
    smoke("gossip_decode", bodies::gossip_decode);
}

#[test]
fn offload_headers_survive_their_corpus_and_mutations() {
    smoke("offload_headers", bodies::offload_headers);
}

#[test]
fn scenario_parse_survives_its_corpus_and_mutations() {
    smoke("scenario_parse", bodies::scenario_parse);
}

#[test]
fn the_mutations_are_reproducible() {
    let seeds = vec![b"abc".to_vec(), b"[nodes]\nname = \"x\"".to_vec()];
    let gen = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        (0..50)
            .map(|_| {
                mutate(&mut rng, &seeds, &mut out);
                out.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(gen(1), gen(1));
    assert_ne!(gen(1), gen(2));
}
