//! Network faults (partition, loss, duplication, delay) and the invariant checker that runs on
//! every simulated run: the shipped partition scenario stays within the rules, each fault does
//! what it says, and a deliberately broken driver is caught.

mod common;

use common::{parse, run, scenario_text, summary};
use vidmesh_sim::engine::{Run, Sabotage};
use vidmesh_sim::Catalog;

#[test]
fn a_partition_under_message_loss_breaks_no_rule_and_the_membership_heals() {
    let s = parse("partition", &scenario_text("partition", &[]));
    let runs = run(&s);
    for r in &runs {
        assert_eq!(r.violation, None, "{}", r.strategy);
        let verdict = r.chaos_verdict();
        assert!(verdict.is_clean(), "{}: {verdict}", r.strategy);
        // node3 (BOM) is cut off and heals, as recorded
        let kinds: Vec<(&str, u32)> = r.fault_events.iter().map(|e| (e.kind, e.node)).collect();
        assert_eq!(kinds, [("partition", 2), ("heal", 2)], "{}", r.strategy);
        // Nothing crosses the cut while it stands: a request that entered and ended within
        // it ran on its entry node's side (node3, index 2, alone on its side).
        let crossed = r
            .requests
            .iter()
            .filter(|q| q.submit_ms > 60_000 && q.end_ms < 90_000)
            .filter(|q| match (q.entry_node, q.exec_node) {
                (Some(a), Some(b)) => (a == 2) != (b == 2),
                _ => false,
            })
            .count();
        assert_eq!(crossed, 0, "{}", r.strategy);
        let before = r
            .requests
            .iter()
            .filter(|q| q.submit_ms < 60_000)
            .filter(|q| match (q.entry_node, q.exec_node) {
                (Some(a), Some(b)) => (a == 2) != (b == 2),
                _ => false,
            })
            .count();
        // score (RTT-weighted) keeps work in its zone anyway; p2c_ect sends across zones.
        if r.strategy == "p2c_ect" {
            assert!(
                before > 0,
                "nothing crossed to or from BOM even before the cut"
            );
        }
        let (sum, _) = summary(&runs, &r.strategy);
        assert!(
            sum.success_rate > 0.95,
            "{}: {}",
            r.strategy,
            sum.success_rate
        );
    }
}

/// The partition scenario at 2.4 uploads/s without its faults, and with only `fault`.
fn with_fault(fault: &str) -> vidmesh_sim::Scenario {
    let text = scenario_text("partition", &[]);
    let cut = text.find("[[faults]]").expect("faults");
    let end = text.find("[output]").expect("output");
    let text = format!("{}{fault}\n{}", &text[..cut], &text[end..]);
    parse("partition_variant", &text)
}

#[test]
fn a_partitioned_zone_is_declared_down_by_the_other_side_and_rejoins() {
    let s =
        with_fault("[[faults]]\nat_s = 40\nkind = \"partition\"\nzones = [\"BOM\"]\nfor_s = 40\n");
    let runs = run(&s);
    for r in &runs {
        assert_eq!(r.violation, None, "{}", r.strategy);
        // The FRA and IAD nodes suspected node3 (BOM) during the cut: a partition looks like
        // a failure from the other side.
        let suspected: Vec<_> = r
            .suspicions
            .iter()
            .filter(|x| x.time_ms >= 40_000 && x.time_ms < 80_000)
            .collect();
        assert!(
            !suspected.is_empty(),
            "{}: no suspicion during the cut",
            r.strategy
        );
    }
}

#[test]
fn loss_and_duplication_change_only_what_they_touch() {
    let base = run(&with_fault(""));
    // A fault that never starts draws nothing: the run is the run without it.
    let later = run(&with_fault(
        "[[faults]]\nat_s = 100000\nkind = \"loss\"\npercent = 50\n",
    ));
    for (a, b) in base.iter().zip(&later) {
        assert_eq!(a.requests, b.requests, "{}", a.strategy);
        assert_eq!(a.suspicions, b.suspicions, "{}", a.strategy);
    }
    // Heavy loss makes SWIM suspect nodes that are up; nothing breaks a rule.
    let lossy = run(&with_fault(
        "[[faults]]\nat_s = 0\nkind = \"loss\"\npercent = 40\n",
    ));
    for (a, b) in base.iter().zip(&lossy) {
        assert_eq!(b.violation, None, "{}", b.strategy);
        assert!(b.chaos_verdict().is_clean(), "{}", b.strategy);
        assert!(
            b.suspicions.len() > a.suspicions.len(),
            "{}: {} suspicions with 40 % loss, {} without",
            b.strategy,
            b.suspicions.len(),
            a.suspicions.len()
        );
    }
    let doubled = run(&with_fault(
        "[[faults]]\nat_s = 0\nkind = \"duplicate\"\npercent = 50\n",
    ));
    for b in &doubled {
        assert_eq!(b.violation, None, "{}", b.strategy);
        assert!(b.chaos_verdict().is_clean(), "{}", b.strategy);
    }
}

#[test]
fn extra_delay_on_a_zone_slows_what_crosses_it() {
    let base = run(&with_fault(""));
    let slow = run(&with_fault(
        "[[faults]]\nat_s = 0\nkind = \"delay\"\nextra_ms = 2000\nzones = [\"BOM\", \"IAD\"]\n",
    ));
    for (a, b) in base.iter().zip(&slow) {
        assert_eq!(b.violation, None, "{}", b.strategy);
        let mean = |r: &vidmesh_sim::RunResult| r.summary().latency_mean_ms.unwrap();
        assert!(
            mean(b) > mean(a),
            "{}: mean latency {} ms with 2 s extra on BOM and IAD, {} ms without",
            a.strategy,
            mean(b),
            mean(a)
        );
    }
}

#[test]
fn a_driver_that_drops_an_answer_is_caught() {
    let s = with_fault("");
    let catalog = Catalog::build(&s);
    let r = Run::new(&s, 0, &catalog)
        .sabotage(Sabotage::DropReply { nth: 25 })
        .run(&mut |_| {});
    let v = r.violation.expect("the dropped answer is caught");
    assert!(v.what.contains("both answered and lost"), "{v}");
    assert!(v.node.is_some(), "{v}");
    // The same run without the sabotage is clean.
    let clean = Run::new(&s, 0, &catalog).run(&mut |_| {});
    assert_eq!(clean.violation, None);
}

#[test]
fn a_network_fault_is_refused_with_the_reason_when_it_is_ill_formed() {
    let cases = [
        ("kind = \"partition\"\nzones = [\"BOM\"]", "needs for_s"),
        (
            "kind = \"partition\"\nfor_s = 5",
            "needs `nodes` or `zones`",
        ),
        (
            "kind = \"partition\"\nfor_s = 5\nzones = [\"FRA\", \"IAD\", \"BOM\"]",
            "both sides",
        ),
        ("kind = \"loss\"", "needs `percent`"),
        ("kind = \"loss\"\npercent = 150", "within 0..=100"),
        (
            "kind = \"loss\"\npercent = 5\nnode = \"node1\"",
            "takes no `node`",
        ),
        (
            "kind = \"crash\"\npercent = 5\nnode = \"node1\"",
            "takes no `percent`",
        ),
        ("kind = \"crash\"", "needs `node`"),
        ("kind = \"delay\"", "needs `extra_ms`"),
        (
            "kind = \"partition\"\nfor_s = 5\nzones = [\"MARS\"]",
            "MARS",
        ),
    ];
    let text = scenario_text("partition", &[]);
    let cut = text.find("[[faults]]").unwrap();
    let end = text.find("[output]").unwrap();
    for (fault, says) in cases {
        let t = format!(
            "{}[[faults]]\nat_s = 1\n{fault}\n\n{}",
            &text[..cut],
            &text[end..]
        );
        let e = vidmesh_sim::Scenario::parse(&t, std::path::Path::new("bad.toml"), "bad")
            .expect_err(fault)
            .to_string();
        assert!(e.contains(says), "`{fault}`: expected `{says}` in `{e}`");
        assert!(e.contains("bad.toml"), "{e}");
    }
}
