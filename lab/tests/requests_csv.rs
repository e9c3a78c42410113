//! The live client (vidmesh-node, which does not depend on vidmesh-analysis) writes
//! requests.csv itself; its header and rows must be exactly what the shared row type writes.
//! Here because this crate is the one that depends on both.

use std::path::Path;

use vidmesh_analysis::csvio::{header_line, parse_csv};
use vidmesh_analysis::records::RequestRow;
use vidmesh_node::client::{RequestOutcome, RequestRecord as LiveRecord, REQUESTS_HEADER};

#[test]
fn live_client_requests_csv_matches_the_shared_row_type() {
    assert_eq!(REQUESTS_HEADER, header_line::<RequestRow>());
    let ok = LiveRecord {
        request_id: 7,
        batch: Some(2),
        submit_ms: 1000,
        end_ms: 4500,
        attempts: 2,
        outcome: RequestOutcome::Ok,
        entry_node: Some("node4".into()),
        entry_zone: Some("FRA".into()),
        exec_node: Some("node1".into()),
        exec_zone: Some("FRA".into()),
        hops: 1,
        cache_hit: false,
        offloaded: true,
        fallback: false,
        size_bytes: 123,
        width: 640,
        height: 360,
        frames: 50,
        output_bytes: 99,
        error: None,
    };
    let failed = LiveRecord {
        batch: None,
        outcome: RequestOutcome::Timeout,
        ..ok.clone()
    };
    for r in [ok, failed] {
        let text = format!("{REQUESTS_HEADER}\n{}\n", r.csv_row("score"));
        let rows: Vec<RequestRow> = parse_csv(Path::new("requests.csv"), text.as_bytes())
            .expect("the live client's row reads");
        assert_eq!(rows[0].outcome.as_str(), r.outcome.as_str());
    }
}
