//! Cache-hit path on loopback: 5 MB uploads whose output is cached, so no ffmpeg runs.
//! Reports requests/s and latency percentiles (median of three rounds).
//!
//! `cargo bench -p vidmesh-node --bench cache_hit`

use std::time::{Duration, Instant};

use clap::Parser;
use vidmesh_node::args::ServeArgs;

mod common;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    serve: ServeArgs,
}

const CHUNK: usize = 1 << 20;
const REPEAT: usize = 5; // 5 MiB
const REQUESTS: usize = 400;
const CONCURRENCY: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = std::env::temp_dir().join(format!("vidmesh-bench-cache-hit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let block = common::body_block(CHUNK);
    common::seed_cache(&dir, &block, REPEAT, 300_000);
    let args = Wrap::parse_from([
        "bench",
        "--name=node1",
        "--zone=FRA",
        "--listen=127.0.0.1:0",
        &format!("--data-dir={}", dir.display()),
        "--seed-wait-ms=0",
    ])
    .serve;
    let node = vidmesh_node::serve::bind(args).await.expect("node starts");
    let url = format!("http://{}/upload", node.local_addr);
    tokio::spawn(node.run(std::future::pending()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = http
        .get(url.replace("/upload", "/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        status.contains("\"cache_entries\":1"),
        "the seeded cache entry was not recovered: {status}"
    );

    let one = |http: reqwest::Client, url: String, block: bytes::Bytes| async move {
        let t = Instant::now();
        let r = http
            .post(&url)
            .header("content-type", "video/mp4")
            .header("content-length", (CHUNK * REPEAT).to_string())
            .body(common::stream_body(block, REPEAT))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            let h = r.headers().get("x-vidmesh-content-sha256").cloned();
            panic!("{h:?} {}", r.text().await.unwrap());
        }
        assert_eq!(r.headers()["x-vidmesh-cache-hit"], "1");
        r.bytes().await.unwrap();
        t.elapsed()
    };
    for _ in 0..20 {
        one(http.clone(), url.clone(), block.clone()).await;
    }
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..REQUESTS {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let f = one(http.clone(), url.clone(), block.clone());
            set.spawn(async move {
                let d = f.await;
                drop(permit);
                d
            });
        }
        let mut lat: Vec<Duration> = Vec::new();
        while let Some(d) = set.join_next().await {
            lat.push(d.unwrap());
        }
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).min(lat.len()) - 1];
        rounds.push((REQUESTS as f64 / secs, pct(0.5), pct(0.99)));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rps, p50, p99) = rounds[1];
    println!(
        "cache-hit, 5 MiB uploads, {CONCURRENCY} concurrent, {REQUESTS} requests (median of 3 rounds): {rps:.1} req/s, p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
