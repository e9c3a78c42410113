mod common;

use common::{scratch, write_fixture, Fixture};
use vidmesh_analysis::{render_all, ChartOptions};

const STEMS: [&str; 10] = [
    "client_success_pct",
    "client_attempt_success",
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
        assert!(
            bytes.len() > 2000,
            "{} is only {} bytes",
            p.display(),
            bytes.len()
        );
    }
}

#[test]
fn output_is_byte_identical_across_runs() {
    let a = write_fixture(&scratch("determinism_a"), &Fixture::default());
    let b = write_fixture(&scratch("determinism_b"), &Fixture::default());
    let wa = render_all(&a, &ChartOptions::default()).unwrap();
    let wb = render_all(&b, &ChartOptions::default()).unwrap();
    assert_eq!(wa.len(), wb.len());
    for (x, y) in wa.iter().zip(&wb) {
        assert_eq!(x.file_name(), y.file_name());
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{} differs between runs",
            x.display()
        );
    }
}

#[test]
fn charts_whose_input_is_absent_are_skipped() {
    let dir = write_fixture(&scratch("partial"), &Fixture::default());
    for f in [
        "requests.csv",
        "node_windows.csv",
        "convergence.csv",
        "failure_detection.csv",
        "events.csv",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let opts = ChartOptions {
        svg: false,
        ..ChartOptions::default()
    };
    let written = render_all(&dir, &opts).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "client_success_pct.png",
            "client_attempt_success.png",
            "client_latency.png"
        ]
    );
}

#[test]
fn attempt_chart_is_skipped_for_csvs_without_the_attempt_columns() {
    let dir = write_fixture(
        &scratch("no_attempt_columns"),
        &Fixture {
            attempt_columns: false,
            ..Fixture::default()
        },
    );
    let written = render_all(&dir, &ChartOptions::default()).unwrap();
    let expected: Vec<_> = STEMS
        .iter()
        .filter(|s| **s != "client_attempt_success")
        .flat_map(|s| [dir.join(format!("{s}.png")), dir.join(format!("{s}.svg"))])
        .collect();
    assert_eq!(written, expected);
}

#[test]
fn a_folder_with_no_csv_gives_no_charts_and_a_missing_folder_an_error() {
    let dir = scratch("empty");
    assert!(render_all(&dir, &ChartOptions::default())
        .unwrap()
        .is_empty());
    let err = render_all(&dir.join("nope"), &ChartOptions::default()).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}
