mod common;

use common::scratch;
use vidmesh_analysis::sweep::{aggregate_sweep, write_sweep, SweepRow};
use vidmesh_analysis::{ChartOptions, SummaryRow};

fn row(strategy: &str, success_rate: f64, goodput: f64, p50: Option<f64>) -> SummaryRow {
    SummaryRow {
        strategy: strategy.to_string(),
        requests: 100,
        succeeded: (success_rate * 100.0).round() as u64,
        failed: 0,
        timeouts: 100 - (success_rate * 100.0).round() as u64,
        rejected: 0,
        success_rate,
        goodput_per_s: goodput,
        latency_mean_ms: p50.map(|p| p * 1.1),
        latency_p50_ms: p50,
        latency_p95_ms: p50.map(|p| p * 2.0),
        latency_p99_ms: p50.map(|p| p * 3.0),
        offloads_same_zone: 30,
        offloads_cross_zone: 10,
        cache_hits: 0,
        duration_s: 60.0,
        attempts: None,
        attempt_success_pct: None,
    }
}

fn sample() -> Vec<(u64, Vec<SummaryRow>)> {
    vec![
        (
            3,
            vec![
                row("score", 0.85, 1.5, Some(9000.0)),
                row("random", 0.40, 0.7, Some(6000.0)),
            ],
        ),
        (
            1,
            vec![
                row("score", 0.90, 1.6, Some(8000.0)),
                row("random", 0.50, 0.8, None),
            ],
        ),
        (
            4,
            vec![
                row("score", 0.95, 1.4, Some(8500.0)),
                row("random", 0.45, 0.9, Some(7000.0)),
            ],
        ),
        (
            2,
            vec![
                row("score", 0.80, 1.5, Some(9500.0)),
                row("random", 0.55, 0.6, Some(5000.0)),
            ],
        ),
    ]
}

fn find<'a>(rows: &'a [SweepRow], s: &str, m: &str) -> &'a SweepRow {
    rows.iter()
        .find(|r| r.strategy == s && r.metric == m)
        .unwrap()
}

#[test]
fn mean_sd_and_student_t_interval_match_hand_computation() {
    let rows = aggregate_sweep(&sample());
    // score success_rate over seeds 1..4: 0.90, 0.80, 0.85, 0.95
    // mean 0.875; squared deviations sum 0.0125; s² = 0.0125/3; s = 0.0645497
    // t(0.975, 3) = 3.182446; half width = 3.182446 · 0.0645497 / 2 = 0.1027128
    let r = find(&rows, "score", "success_rate");
    assert_eq!(r.n, 4);
    assert!((r.mean - 0.875).abs() < 1e-12);
    assert!((r.std_dev.unwrap() - 0.064_549_7).abs() < 1e-6);
    assert!((r.ci95_half_width.unwrap() - 0.102_712_8).abs() < 1e-5);
    let (lo, hi) = r.ci95().unwrap();
    assert!((lo - 0.772_287).abs() < 1e-5 && (hi - 0.977_713).abs() < 1e-5);
    assert_eq!((r.min, r.max), (0.80, 0.95));

    // random latency_p50 is missing in seed 1: n = 3, values 5000, 6000, 7000
    // mean 6000, s = 1000, t(0.975, 2) = 4.302653, half = 4302.653/√3 = 2484.138
    let r = find(&rows, "random", "latency_p50_ms");
    assert_eq!(r.n, 3);
    assert!((r.mean - 6000.0).abs() < 1e-9);
    assert!((r.std_dev.unwrap() - 1000.0).abs() < 1e-9);
    assert!((r.ci95_half_width.unwrap() - 2484.138).abs() < 1e-2);

    // derived metric: 30 same / 40 offloads in every seed → 0.75, zero spread
    let r = find(&rows, "score", "same_zone_offload_share");
    assert_eq!(
        (r.mean, r.std_dev, r.ci95_half_width),
        (0.75, Some(0.0), Some(0.0))
    );
}

#[test]
fn a_single_seed_has_no_interval() {
    let rows = aggregate_sweep(&[(9, vec![row("score", 0.9, 1.0, Some(1.0))])]);
    let r = find(&rows, "score", "success_rate");
    assert_eq!((r.n, r.std_dev, r.ci95_half_width), (1, None, None));
}

#[test]
fn strategies_keep_first_appearance_order_by_seed() {
    let rows = aggregate_sweep(&sample());
    assert_eq!(rows[0].strategy, "score");
    assert_eq!(rows[0].metric, "requests");
    assert!(rows
        .iter()
        .skip_while(|r| r.strategy == "score")
        .all(|r| r.strategy == "random"));
}

#[test]
fn sweep_csv_is_byte_identical_whatever_the_input_order() {
    let opts = ChartOptions::default();
    let a = scratch("sweep_a");
    let b = scratch("sweep_b");
    let mut shuffled = sample();
    shuffled.reverse();
    shuffled.swap(0, 2);
    let wa = write_sweep(&a, &sample(), &opts).unwrap();
    let wb = write_sweep(&b, &shuffled, &opts).unwrap();
    let names = |w: &[std::path::PathBuf]| {
        w.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&wa), ["sweep.csv", "sweep.png", "sweep.svg"]);
    assert_eq!(names(&wa), names(&wb));
    for (x, y) in wa.iter().zip(&wb) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{}",
            x.display()
        );
    }
    let csv = std::fs::read_to_string(a.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "strategy,metric,n,mean,std_dev,ci95_low,ci95_high,ci95_half_width,min,max"
    );
    assert!(
        csv.contains("\nscore,success_rate,4,0.875,0.065,0.772,0.978,0.103,0.800,0.950\n"),
        "{csv}"
    );
}
