//! Both executors write requests.csv from the load client's records
//! (`vidmesh_loadgen::record`); the reader here must read every field back as written.

use std::path::Path;

use vidmesh_analysis::csvio::{header_line, parse_csv};
use vidmesh_analysis::records::{Outcome, RequestRow};
use vidmesh_loadgen::record::{self, ClipFacts, Lookup, RequestRecord};

struct Names;

impl Lookup for Names {
    fn node_name(&self, node: u32) -> &str {
        ["node1", "node4"][node as usize]
    }
    fn node_zone(&self, node: u32) -> &str {
        ["FRA", "IAD"][node as usize]
    }
    fn clip(&self, _: u32) -> ClipFacts {
        ClipFacts {
            size_bytes: 123,
            width: 640,
            height: 360,
            frames: 50,
        }
    }
}

#[test]
fn the_client_records_read_back_as_written() {
    assert_eq!(record::header_line(), header_line::<RequestRow>());
    let ok = RequestRecord {
        batch: Some(2),
        submit_ms: 1000,
        end_ms: 4500,
        attempts: 2,
        outcome: Outcome::Ok,
        entry_node: Some(1),
        exec_node: Some(0),
        hops: 1,
        cache_hit: false,
        offloaded: true,
        fallback: false,
        item: 0,
    };
    let failed = RequestRecord {
        batch: None,
        outcome: Outcome::Timeout,
        ..ok
    };
    let text = record::requests_csv(&[("score", &[ok, failed])], &Names);
    let rows: Vec<RequestRow> = parse_csv(Path::new("requests.csv"), text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!((a.strategy.as_str(), a.request_id.as_str()), ("score", "0"));
    assert_eq!((a.batch, a.submit_ms, a.end_ms), (Some(2), 1000, 4500));
    assert_eq!(
        (a.latency_ms, a.attempts, a.outcome),
        (3500.0, 2, Outcome::Ok)
    );
    assert_eq!(a.entry_node.as_deref(), Some("node4"));
    assert_eq!(a.entry_zone.as_deref(), Some("IAD"));
    assert_eq!(a.exec_node.as_deref(), Some("node1"));
    assert_eq!(a.exec_zone.as_deref(), Some("FRA"));
    assert_eq!(
        (a.hops, a.cache_hit, a.offloaded, a.fallback),
        (Some(1), Some(false), Some(true), Some(false))
    );
    assert_eq!(
        (a.size_bytes, a.width, a.height, a.frames),
        (Some(123), Some(640), Some(360), Some(50))
    );
    // Not applicable to a request that failed: empty, so it reads as unknown.
    assert_eq!((b.request_id.as_str(), b.batch), ("1", None));
    assert_eq!(
        (b.outcome, b.exec_node.as_deref()),
        (Outcome::Timeout, None)
    );
    assert_eq!((b.hops, b.cache_hit), (None, None));
}
