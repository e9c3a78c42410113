//! `sim check`'s random fault schedules: they depend on the seed alone, they are valid
//! scenarios, and the shipped partition scenario passes the checkers under a range of them.

mod common;

use common::{parse, scenario_text};
use vidmesh_sim::check::{check_seeds, describe_schedule, with_random_faults};

#[test]
fn a_seed_names_one_schedule() {
    let s = parse("partition", &scenario_text("partition", &[]));
    let a = with_random_faults(&s, 42);
    let b = with_random_faults(&s, 42);
    assert_eq!(describe_schedule(&a), describe_schedule(&b));
    assert_eq!(a.net_faults, b.net_faults);
    // Across seeds the schedules differ, and some have partitions, some node faults.
    let many: Vec<_> = (1..=40).map(|k| with_random_faults(&s, k)).collect();
    assert!(many.iter().any(|x| !x.faults.is_empty()));
    assert!(many
        .iter()
        .any(|x| x.net_faults.iter().any(|f| f.kind.name() == "partition")));
    assert!(many
        .iter()
        .any(|x| x.faults.is_empty() && x.net_faults.is_empty()));
}

#[test]
fn sixty_random_schedules_break_no_rule() {
    let s = parse("partition", &scenario_text("partition", &[]));
    let seeds: Vec<u64> = (1..=60).collect();
    let r = check_seeds(&s, &seeds, 2, &|| {});
    assert_eq!(r.runs, 120);
    if let Some(f) = r.failures.first() {
        panic!(
            "seed {} ({}): {}\n{}",
            f.seed, f.strategy, f.what, f.schedule
        );
    }
}
