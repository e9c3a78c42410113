//! Peak RSS of a node process receiving 100 concurrent 50 MB uploads (target: < 200 MB).
//! The uploads' content is pre-seeded in the node's cache, so the path is: stream to a temp
//! file while hashing, cache hit, answer — no ffmpeg.
//!
//! `cargo bench -p vidmesh-node --bench upload_rss`

use std::net::TcpListener;
use std::time::Duration;

mod common;

const CHUNK: usize = 1 << 20;
const REPEAT: usize = 50; // 50 MiB
const UPLOADS: usize = 100;

fn vm_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("vidmesh-bench-rss-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let block = common::body_block(CHUNK);
    common::seed_cache(&dir, &block, REPEAT, 2_000_000);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vidmesh-node"))
        .args([
            "serve",
            "--name=node1",
            "--zone=FRA",
            "--seed-wait-ms=0",
            "--max-upload-mb=60",
        ])
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--data-dir={}", dir.display()))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("starting vidmesh-node");
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let health = format!("http://127.0.0.1:{port}/health");
        for _ in 0..100 {
            if http.get(&health).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let idle_kb = vm_kb(pid, "VmRSS:");
        let url = format!("http://127.0.0.1:{port}/upload");
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..UPLOADS {
            let (http, url, block) = (http.clone(), url.clone(), block.clone());
            set.spawn(async move {
                let r = http
                    .post(&url)
                    .header("content-type", "video/mp4")
                    .header("content-length", (CHUNK * REPEAT).to_string())
                    .body(common::stream_body(block, REPEAT))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            });
        }
        let start = std::time::Instant::now();
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let hwm = vm_kb(pid, "VmHWM:");
        println!(
            "{UPLOADS} concurrent {} MiB uploads in {:.1} s: node peak RSS {:.1} MB (idle {:.1} MB)",
            REPEAT,
            start.elapsed().as_secs_f64(),
            hwm as f64 / 1000.0,
            idle_kb as f64 / 1000.0
        );
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
