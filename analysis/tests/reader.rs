mod common;

use std::path::Path;

use common::{scratch, write_fixture, Fixture};
use vidmesh_analysis::{
    parse_csv, ClientWindowRow, Error, EventRow, NodeWindowRow, RequestRow, ScenarioData,
    SummaryRow,
};

const SUMMARY_HEADER: &str = "strategy,requests,succeeded,failed,timeouts,rejected,success_rate,goodput_per_s,latency_mean_ms,latency_p50_ms,latency_p95_ms,latency_p99_ms,offloads_same_zone,offloads_cross_zone,cache_hits,duration_s";

fn summary(text: &str) -> Result<Vec<SummaryRow>, Error> {
    parse_csv(Path::new("out/summary.csv"), text.as_bytes())
}

#[test]
fn reads_every_file_of_a_fixture_folder() {
    let dir = write_fixture(&scratch("reader_all"), &Fixture::default());
    let data = ScenarioData::load(&dir).unwrap();
    assert_eq!(data.strategies(), ["score", "random", "round_robin"]);
    assert_eq!(data.nodes(), ["node1", "node2", "node3", "node4", "node5"]);
    let s = data.summary.as_ref().unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(
        s[0].requests,
        s[0].succeeded + s[0].timeouts + s[0].rejected
    );
    assert!(data.requests.as_ref().unwrap().len() > 1000);
    assert_eq!(data.client_windows.as_ref().unwrap().len(), 3 * 24);
    assert_eq!(data.node_windows.as_ref().unwrap().len(), 3 * 24 * 5);
    assert_eq!(data.convergence.as_ref().unwrap().len(), 15);
    assert_eq!(data.failure_detection.as_ref().unwrap().len(), 12);
    assert_eq!(data.events.as_ref().unwrap().len(), 6);
}

#[test]
fn absent_files_are_none_not_errors() {
    let dir = scratch("reader_absent");
    std::fs::write(dir.join("summary.csv"), format!("{SUMMARY_HEADER}\n")).unwrap();
    let data = ScenarioData::load(&dir).unwrap();
    assert_eq!(data.summary, Some(vec![]));
    assert!(data.requests.is_none() && data.events.is_none());
}

#[test]
fn empty_optional_fields_parse_as_unknown() {
    let rows = summary(&format!(
        "{SUMMARY_HEADER}\nrandom,10,0,0,10,0,0.000,0.000,,,,,0,0,0,60.000\n"
    ))
    .unwrap();
    assert_eq!(rows[0].latency_p95_ms, None);
    assert_eq!(rows[0].same_zone_offload_share(), None);
    let cw: Vec<ClientWindowRow> = parse_csv(
        Path::new("client_windows.csv"),
        b"strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight\nscore,0,0,0,,,,12\n",
    )
    .unwrap();
    assert_eq!(cw[0].success_pct, None);
    assert_eq!(cw[0].in_flight, 12);
    // A file from before `attempts,attempt_success_pct` reads with the column unknown.
    assert_eq!(cw[0].attempt_success_pct, None);
}

#[test]
fn attempt_success_pct_is_read_when_present() {
    let cw: Vec<ClientWindowRow> = parse_csv(
        Path::new("client_windows.csv"),
        b"strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight,attempts,attempt_success_pct\nscore,0,0,0,,,,12,0,\nscore,5,4,3,75.000,900.000,1000.000,8,5,60.000\n",
    )
    .unwrap();
    assert_eq!(cw[0].attempt_success_pct, None);
    assert_eq!(cw[1].attempt_success_pct, Some(60.0));
    let err = parse_csv::<ClientWindowRow>(
        Path::new("client_windows.csv"),
        b"strategy,window_start_s,ended,succeeded,success_pct,latency_mean_ms,latency_p95_ms,in_flight,attempts,attempt_success_pct\nscore,0,1,1,100.000,1.000,1.000,0,1,140.000\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("attempt_success_pct"), "{err}");
}

#[test]
fn a_bad_number_names_file_line_and_column() {
    let text = format!(
        "{SUMMARY_HEADER}\nscore,10,9,0,1,0,0.900,0.150,1000.000,900.000,2000.000,2500.000,3,0,0,60.000\nrandom,10,abc,0,1,0,0.900,0.150,1000.000,900.000,2000.000,2500.000,3,0,0,60.000\n"
    );
    let err = summary(&text).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, Error::Field { line: 3, column, .. } if column == "succeeded"),
        "{err:?}"
    );
    assert!(msg.contains("out/summary.csv"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("`succeeded`"), "{msg}");
    assert!(msg.contains("\"abc\""), "{msg}");
}

#[test]
fn a_short_row_names_the_line_and_field_counts() {
    let text = format!("{SUMMARY_HEADER}\nscore,10,9\n");
    let msg = summary(&text).unwrap_err().to_string();
    assert!(msg.contains("line 2"), "{msg}");
    assert!(msg.contains("expected 16 fields"), "{msg}");
    assert!(msg.contains("found 3"), "{msg}");
}

#[test]
fn a_missing_column_is_named() {
    let text = "strategy,requests\nscore,1\n";
    let msg = summary(text).unwrap_err().to_string();
    assert!(msg.contains("lacks column `succeeded`"), "{msg}");
}

#[test]
fn an_empty_file_says_which_header_is_expected() {
    let msg = summary("").unwrap_err().to_string();
    assert!(msg.contains("empty file"), "{msg}");
    assert!(msg.contains("strategy,requests,"), "{msg}");
}

#[test]
fn enums_and_booleans_are_checked() {
    let header = "strategy,request_id,batch,submit_ms,end_ms,latency_ms,attempts,outcome,entry_node,entry_zone,exec_node,exec_zone,hops,cache_hit,offloaded,fallback,size_bytes,width,height,frames";
    let bad_outcome =
        format!("{header}\nscore,1,,0,10,10.000,1,lost,node1,FRA,,,,0,0,0,100,640,360,30\n");
    let msg = parse_csv::<RequestRow>(Path::new("requests.csv"), bad_outcome.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("requests.csv: line 2, column `outcome`"),
        "{msg}"
    );
    assert!(msg.contains("\"lost\""), "{msg}");

    let bad_bool = format!(
        "{header}\nscore,1,,0,10,10.000,1,ok,node1,FRA,node1,FRA,0,yes,0,0,100,640,360,30\n"
    );
    let msg = parse_csv::<RequestRow>(Path::new("requests.csv"), bad_bool.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("column `cache_hit`: expected 0 or 1"), "{msg}");

    let backwards = format!(
        "{header}\nscore,1,,500,10,10.000,1,ok,node1,FRA,node1,FRA,0,0,0,0,100,640,360,30\n"
    );
    let msg = parse_csv::<RequestRow>(Path::new("requests.csv"), backwards.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("column `end_ms`"), "{msg}");

    let msg = parse_csv::<EventRow>(
        Path::new("events.csv"),
        b"strategy,time_ms,kind,node\nscore,100,explode,node2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("events.csv: line 2, column `kind`"), "{msg}");
}

#[test]
fn a_malformed_file_in_a_folder_fails_load_with_its_path() {
    let dir = write_fixture(&scratch("reader_malformed"), &Fixture::default());
    let path = dir.join("node_windows.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("score,120,node1,FRA,2,1,1,0,0,50.000,20.000,0,0,0,0,0,0\n");
    std::fs::write(&path, &text).unwrap();
    let lines = text.lines().count() as u64;
    let err = ScenarioData::load(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("node_windows.csv"), "{msg}");
    assert!(msg.contains(&format!("line {lines}")), "{msg}");
    assert!(msg.contains("column `up`"), "{msg}");
    // and the typed reader agrees on the same bytes
    assert!(parse_csv::<NodeWindowRow>(&path, text.as_bytes()).is_err());
}

#[test]
fn quoted_fields_and_crlf_line_ends_are_accepted() {
    let text = format!(
        "{SUMMARY_HEADER}\r\n\"score {{w_load=0.3, w_rtt=0.7}}\",10,9,0,1,0,0.900,0.150,1000.000,900.000,2000.000,2500.000,3,0,0,60.000\r\n"
    );
    let rows = summary(&text).unwrap();
    assert_eq!(rows[0].strategy, "score {w_load=0.3, w_rtt=0.7}");
    assert_eq!(rows[0].duration_s, 60.0);
}

#[test]
fn not_applicable_booleans_of_failed_requests_are_empty() {
    let header = "strategy,request_id,batch,submit_ms,end_ms,latency_ms,attempts,outcome,entry_node,entry_zone,exec_node,exec_zone,hops,cache_hit,offloaded,fallback,size_bytes,width,height,frames";
    let text = format!(
        "{header}\nscore,0,0,0,40000,40000,3,timeout,node2,IAD,,,,,,,12804480,1920,1080,494\nscore,1,,10,900,890,1,ok,node1,FRA,node4,FRA,1,0,1,0,100,640,360,30\n"
    );
    let rows: Vec<RequestRow> = parse_csv(Path::new("requests.csv"), text.as_bytes()).unwrap();
    assert_eq!(
        (
            rows[0].hops,
            rows[0].offloaded,
            rows[0].exec_node.as_deref()
        ),
        (None, None, None)
    );
    assert_eq!(rows[0].batch, Some(0));
    assert_eq!(
        (rows[1].hops, rows[1].offloaded, rows[1].batch),
        (Some(1), Some(true), None)
    );
}
