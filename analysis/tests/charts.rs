mod common;

use common::{scratch, write_fixture, Fixture};
use vidmesh_analysis::{render_all, ChartOptions};

const STEMS: [&str; 9] = [
    "client_success_pct",
    "client_latency",
    "offloads_per_node",
    "responses_per_node",
    "node_queue_len",
    "node_cpu_pct",
    "latency_cdf",
    "gossip_convergence",
    "failure_detection",
];

#[test]
fn render_all_writes_every_chart_as_png_and_svg() {
    let dir = write_fixture(&scratch("render_all"), &Fixture::default());
    let written = render_all(&dir, &ChartOptions::default()).unwrap();
    let expected: Vec<_> = STEMS
        .iter()
        .flat_map(|s| [dir.join(format!("{s}.png")), dir.join(format!("{s}.svg"))])
        .collect();
    assert_eq!(written, expected);
    for p in &written {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.len() > 2000, "{} is only {} bytes", p.display(), bytes.len());
    }
}
