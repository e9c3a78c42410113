//! Routing decision time with 1 000 known peers, per strategy (target: < 10 µs).
//!
//! `cargo bench -p vidmesh-node --bench routing`

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use vidmesh_core::job::{ContentHash, Job, JobFeatures, JobId};
use vidmesh_core::load::{KnownReport, LoadReport};
use vidmesh_core::strategy::{JobCost, ProbeAnswer};
use vidmesh_core::zone::ZoneTable;
use vidmesh_core::{
    ClusterView, NodeId, PeerAddr, PeerId, PeerView, SelfView, Strategy, StrategyConfig, ZoneId,
};

fn main() {
    divan::main();
}

fn cluster(n: u32) -> (SelfView, Vec<PeerView>) {
    let peer = |i: u32| PeerId {
        node: NodeId(i),
        zone: ZoneId((i % 3) as u16),
        addr: PeerAddr {
            ip: [10, 0, (i >> 8) as u8, i as u8],
            port: 8000,
        },
        gen: 1,
    };
    let me = SelfView {
        id: peer(0),
        queue_len: 7,
        in_flight: 5,
        workers: 5,
        queue_cap: 20,
        cpu_pct: 80.0,
        mem_pct: 30.0,
        backlog_ms: 12_000,
    };
    let peers = (1..=n)
        .map(|i| PeerView {
            id: peer(i),
            rtt_ms: [10.0, 90.0, 200.0][(i % 3) as usize],
            report: Some(KnownReport {
                report: LoadReport {
                    from: peer(i),
                    version: 3,
                    cpu_pct: (i * 37 % 100) as f32,
                    mem_pct: (i * 11 % 100) as f32,
                    queue_len: i % 20,
                    in_flight: i % 5,
                    workers: 5,
                    queue_cap: 20,
                    age_ms: 1_000,
                    backlog_ms: (i % 20) * 2_000,
                    ms_per_cpu_s: 1000.0,
                    draining: false,
                },
                received_at: 0,
            }),
            in_flight_to: i % 2,
            sent_since_report: i % 3,
            refused_until: 0,
            refusals: 0,
        })
        .collect();
    (me, peers)
}

#[divan::bench(args = [
    "random", "round_robin", "score", "least_loaded", "p2c", "ect", "p2c_ect", "prequal", "oracle"
])]
fn choose_among_1000_peers(bencher: divan::Bencher, kind: &str) {
    let cfg: StrategyConfig = serde_json::from_value(serde_json::json!({ "kind": kind })).unwrap();
    let mut strategy = Strategy::new(cfg);
    let (me, peers) = cluster(1_000);
    // Prequal decides from its pool of probe answers: a full one (16), as in steady state.
    for p in peers.iter().step_by(61).take(16) {
        let r = p.report.unwrap().report;
        strategy.on_probe_answer(
            5_000,
            &ProbeAnswer {
                from: p.id,
                rif: r.queue_len + r.in_flight,
                wait_ms: r.backlog_ms,
                ms_per_cpu_s: r.ms_per_cpu_s,
            },
        );
    }
    let zones = ZoneTable::report_default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let job = Job {
        id: JobId(1),
        content: ContentHash([7; 32]),
        features: JobFeatures::default(),
        hops: 0,
        origin: NodeId(0),
        deadline: vidmesh_core::NO_DEADLINE,
        probed: true,
    };
    let cost = JobCost {
        cpu_s: 6.0,
        here_ms: 15_000.0,
        upload_bytes: 3_000_000,
        result_bytes: 400_000,
    };
    // Each decision starts from the same strategy state (a pool probes use up, a cursor).
    bencher
        .with_inputs(|| strategy.clone())
        .bench_local_refs(|s| {
            let view = ClusterView {
                now: 5_000,
                me,
                peers: &peers,
                job: cost,
                zones: &zones,
            };
            let c = s.choose(divan::black_box(&job), &view, &mut rng);
            // The node sends the probes a decision asks for; that is part of deciding.
            divan::black_box(s.take_probes().count());
            divan::black_box(c)
        });
}
