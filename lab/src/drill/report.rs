//! What a drill came to: the chaos checker's verdict on the client's records and the nodes'
//! end state, the time to detect and heal, and goodput before, during and after the fault.

use std::fmt::Write as _;

use vidmesh_analysis::chaos::{self, End, NodeEnd, RequestEnd, Verdict, Violation};
use vidmesh_node::client::{ClientRun, Outcome};

/// Membership must be whole again this long after the fault ends.
pub const HEAL_BOUND_S: f64 = 60.0;

/// One drill's figures, one row of `drills.csv` and of docs/reliability.md's table.
#[derive(Clone, Debug)]
pub struct DrillRow {
    pub drill: &'static str,
    /// The node the fault hit and why it was chosen.
    pub victim: String,
    pub fault_s: f64,
    pub fault_end_s: f64,
    pub submitted: u64,
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub client_timeouts: u64,
    /// Submitted and never ended (the checker's `Lost`).
    pub lost: u64,
    /// Ended twice at the client, plus answers a node produced for a job nobody waited on.
    pub answered_twice: u64,
    /// Broken core rules the nodes counted (`protocol_violations` in /status).
    pub protocol_violations: u64,
    /// Jobs a running node still held once every request ended.
    pub jobs_left: u64,
    /// SWIM suspicions raised from the fault on (a probe cycle that ended unanswered), by the
    /// victims and by the other nodes; and suspicions of themselves the nodes refuted.
    pub suspicions: [u64; 2],
    pub refutations: u64,
    /// For the starve drills: the times a node declared a peer down while none was.
    pub declared_down: Option<u64>,
    /// Jobs the nodes cancelled from the fault on because their client or origin left.
    pub cancelled: u64,
    /// From the fault until the first other node, and until every other node, saw the victim
    /// as not alive.
    pub first_detected_s: Option<f64>,
    pub detected_s: Option<f64>,
    /// From the fault's end until every node saw every other alive again.
    pub healed_s: Option<f64>,
    /// ok answers per second, by when they reached the client.
    pub goodput_before: f64,
    pub goodput_during: f64,
    pub goodput_after: f64,
    pub verdict: Verdict,
}

/// A request as it ended at the client: what the drill judges.
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    pub id: u64,
    pub outcome: Outcome,
    pub end_ms: u64,
    /// What its last failed attempt said.
    pub error: Option<String>,
}

/// Every request of the client's run, by id.
pub fn ended(run: &ClientRun) -> Vec<Ended> {
    (run.records.iter().zip(&run.details))
        .enumerate()
        .map(|(id, (r, d))| Ended {
            id: id as u64,
            outcome: r.outcome,
            end_ms: r.end_ms,
            error: d.error.clone(),
        })
        .collect()
}

/// The client's requests as the chaos checker reads them: one end per request.
pub fn request_ends(records: &[Ended]) -> Vec<RequestEnd> {
    records
        .iter()
        .map(|r| RequestEnd {
            id: r.id,
            end: End::of(r.outcome, r.error.as_deref()),
        })
        .collect()
}

/// ok answers per second that reached the client in `[from_ms, to_ms)`.
pub fn goodput(records: &[Ended], from_ms: u64, to_ms: u64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    let n = records
        .iter()
        .filter(|r| r.outcome == Outcome::Ok && (from_ms..to_ms).contains(&r.end_ms))
        .count();
    n as f64 / ((to_ms - from_ms) as f64 / 1000.0)
}

/// The checker over every id the client numbered (ids are consecutive from 0, so a gap is a
/// request that never ended).
pub fn judge(records: &[Ended], nodes: &[NodeEnd]) -> Verdict {
    let submitted = records.iter().map(|r| r.id + 1).max().unwrap_or(0);
    chaos::check(0..submitted, &request_ends(records), nodes)
}

impl DrillRow {
    /// Why this drill failed, if it did: every request ended once, nothing left on a node, no
    /// rule broken, the membership whole again within the bound, and the cluster serving after.
    pub fn findings(&self) -> Vec<String> {
        let mut f: Vec<String> = self
            .verdict
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect();
        if self.protocol_violations > 0 {
            f.push(format!(
                "the nodes counted {} protocol violation(s)",
                self.protocol_violations
            ));
        }
        match self.healed_s {
            Some(h) if h <= HEAL_BOUND_S => {}
            Some(h) => f.push(format!(
                "the membership took {h:.1} s to heal (bound {HEAL_BOUND_S:.0} s)"
            )),
            None => f.push(format!(
                "the membership did not heal within {HEAL_BOUND_S:.0} s of the fault's end"
            )),
        }
        if self.ok == 0 {
            f.push("no request succeeded".into());
        }
        f
    }

    pub fn from_verdict(
        drill: &'static str,
        victim: String,
        records: &[Ended],
        verdict: Verdict,
        times: DrillTimes,
        protocol_violations: u64,
    ) -> DrillRow {
        let count = |pred: fn(&Violation) -> bool| {
            verdict.violations.iter().filter(|v| pred(v)).count() as u64
        };
        let stray: u64 = verdict
            .violations
            .iter()
            .map(|v| match v {
                Violation::StrayAnswers(_, k) => *k,
                _ => 0,
            })
            .sum();
        let jobs_left = verdict
            .violations
            .iter()
            .map(|v| match v {
                Violation::JobsLeft(_, k) => *k,
                _ => 0,
            })
            .sum();
        let healed_ms = times
            .healed_s
            .map(|h| ((times.fault_end_s + h) * 1000.0) as u64);
        let fault_ms = (times.fault_s * 1000.0) as u64;
        let after_from = healed_ms.unwrap_or((times.fault_end_s * 1000.0) as u64);
        let t = &verdict.tally;
        DrillRow {
            drill,
            victim,
            fault_s: times.fault_s,
            fault_end_s: times.fault_end_s,
            submitted: t.total() + count(|v| matches!(v, Violation::Lost(_))),
            ok: t.ok,
            refused: t.refused,
            failed: t.failed,
            client_timeouts: t.client_timeouts,
            lost: count(|v| matches!(v, Violation::Lost(_))),
            answered_twice: count(|v| matches!(v, Violation::AnsweredTwice(..))) + stray,
            protocol_violations,
            jobs_left,
            suspicions: [0, 0],
            refutations: 0,
            declared_down: None,
            cancelled: 0,
            first_detected_s: times.first_detected_s,
            detected_s: times.detected_s,
            healed_s: times.healed_s,
            goodput_before: goodput(records, times.warmup_ms, fault_ms),
            goodput_during: goodput(records, fault_ms, after_from),
            goodput_after: goodput(records, after_from, times.submit_end_ms.max(after_from)),
            verdict,
        }
    }
}

/// When things happened in a drill, from the client's time 0.
#[derive(Clone, Copy, Debug)]
pub struct DrillTimes {
    /// Goodput "before" counts from here (the first batch's transcodes take a while).
    pub warmup_ms: u64,
    pub fault_s: f64,
    pub fault_end_s: f64,
    pub first_detected_s: Option<f64>,
    pub detected_s: Option<f64>,
    pub healed_s: Option<f64>,
    /// The client submitted its last request before this.
    pub submit_end_ms: u64,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}

/// Every column of drills.csv, named, for one row: the CSV writes them all, the Markdown table
/// a readable selection.
fn fields(r: &DrillRow) -> Vec<(&'static str, String)> {
    vec![
        ("drill", r.drill.to_string()),
        ("victim", r.victim.clone()),
        ("fault_s", format!("{:.1}", r.fault_s)),
        ("fault_end_s", format!("{:.1}", r.fault_end_s)),
        ("submitted", r.submitted.to_string()),
        ("ok", r.ok.to_string()),
        ("refused", r.refused.to_string()),
        ("failed", r.failed.to_string()),
        ("client_timeouts", r.client_timeouts.to_string()),
        ("lost", r.lost.to_string()),
        ("answered_twice", r.answered_twice.to_string()),
        ("protocol_violations", r.protocol_violations.to_string()),
        ("jobs_left", r.jobs_left.to_string()),
        ("suspicions_by_victim", r.suspicions[0].to_string()),
        ("suspicions_by_others", r.suspicions[1].to_string()),
        ("refutations", r.refutations.to_string()),
        (
            "declared_down",
            r.declared_down
                .map_or_else(|| "-".into(), |d| d.to_string()),
        ),
        ("cancelled", r.cancelled.to_string()),
        ("first_detected_s", opt(r.first_detected_s)),
        ("detected_s", opt(r.detected_s)),
        ("healed_s", opt(r.healed_s)),
        ("goodput_before_per_s", format!("{:.3}", r.goodput_before)),
        ("goodput_during_per_s", format!("{:.3}", r.goodput_during)),
        ("goodput_after_per_s", format!("{:.3}", r.goodput_after)),
        (
            "verdict",
            if r.findings().is_empty() {
                "pass".into()
            } else {
                "FAIL".into()
            },
        ),
    ]
}

pub fn csv(rows: &[DrillRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let header: Vec<&str> = fields(first).iter().map(|f| f.0).collect();
    let mut s = format!("{}\n", header.join(","));
    for r in rows {
        let cells: Vec<String> = fields(r)
            .into_iter()
            .map(|f| f.1.replace(',', ";"))
            .collect();
        let _ = writeln!(s, "{}", cells.join(","));
    }
    s
}

/// The table as docs/reliability.md shows it (Markdown): columns of drills.csv, several joined
/// into one cell with " / ".
pub fn markdown(rows: &[DrillRow]) -> String {
    const COLUMNS: [(&str, &[&str]); 12] = [
        ("drill", &["drill"]),
        ("victim", &["victim"]),
        ("requests", &["submitted"]),
        (
            "ok / refused / failed / client timeout",
            &["ok", "refused", "failed", "client_timeouts"],
        ),
        ("lost", &["lost"]),
        ("answered twice", &["answered_twice"]),
        (
            "suspicions by victim / others / refuted",
            &[
                "suspicions_by_victim",
                "suspicions_by_others",
                "refutations",
            ],
        ),
        ("declared down", &["declared_down"]),
        (
            "detected by one / all (s)",
            &["first_detected_s", "detected_s"],
        ),
        ("healed (s)", &["healed_s"]),
        (
            "goodput before / during / after (ok/s)",
            &[
                "goodput_before_per_s",
                "goodput_during_per_s",
                "goodput_after_per_s",
            ],
        ),
        ("verdict", &["verdict"]),
    ];
    let mut s = String::from("|");
    for (name, _) in COLUMNS {
        let _ = write!(s, " {name} |");
    }
    s.push_str("\n|");
    for (name, _) in COLUMNS {
        s.push_str(if name == "drill" || name == "victim" {
            "---|"
        } else {
            "---:|"
        });
    }
    s.push('\n');
    for r in rows {
        let f = fields(r);
        let get = |k: &str| f.iter().find(|x| x.0 == k).map_or("", |x| x.1.as_str());
        s.push('|');
        for (_, keys) in COLUMNS {
            let cell: Vec<&str> = keys.iter().map(|k| get(k)).collect();
            let _ = write!(s, " {} |", cell.join(" / "));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, outcome: Outcome, end_ms: u64) -> Ended {
        Ended {
            id,
            outcome,
            end_ms,
            error: (outcome != Outcome::Ok).then(|| "503: busy".into()),
        }
    }

    fn times() -> DrillTimes {
        DrillTimes {
            warmup_ms: 0,
            fault_s: 10.0,
            fault_end_s: 20.0,
            first_detected_s: Some(1.5),
            detected_s: Some(3.0),
            healed_s: Some(5.0),
            submit_end_ms: 45_000,
        }
    }

    #[test]
    fn a_gap_in_the_ids_is_a_lost_request_and_fails_the_drill() {
        // Request 1 never ended: the client has no record of it.
        let records = [rec(0, Outcome::Ok, 1_000), rec(2, Outcome::Rejected, 2_000)];
        let v = judge(&records, &[]);
        let row = DrillRow::from_verdict("kill-entry", "node1".into(), &records, v, times(), 0);
        assert_eq!((row.submitted, row.lost, row.ok, row.refused), (3, 1, 1, 1));
        let f = row.findings();
        assert!(f.iter().any(|x| x.contains("request 1 was lost")), "{f:?}");
    }

    #[test]
    fn goodput_is_counted_in_each_window_and_a_slow_heal_fails() {
        let records: Vec<Ended> = (0..30).map(|i| rec(i, Outcome::Ok, i * 1_500)).collect();
        let nodes = [NodeEnd {
            name: "node1".into(),
            running: true,
            jobs_left: 0,
            stray_answers: 0,
        }];
        let v = judge(&records, &nodes);
        let row = DrillRow::from_verdict("pause", "node3".into(), &records, v, times(), 0);
        assert!(row.findings().is_empty(), "{:?}", row.findings());
        // ends at 0, 1.5, …: 7 in [0, 10 s), 10 in [10, 25 s), 13 in [25, 45 s).
        assert!(
            (row.goodput_before - 0.7).abs() < 1e-9,
            "{}",
            row.goodput_before
        );
        assert!((row.goodput_during - 10.0 / 15.0).abs() < 1e-9);
        assert!((row.goodput_after - 13.0 / 20.0).abs() < 1e-9);
        let mut slow = times();
        slow.healed_s = Some(HEAL_BOUND_S + 1.0);
        let v = judge(&records, &nodes);
        let row = DrillRow::from_verdict("pause", "node3".into(), &records, v, slow, 0);
        assert!(
            row.findings()[0].contains("to heal"),
            "{:?}",
            row.findings()
        );
        assert!(csv(&[row]).lines().nth(1).unwrap().ends_with(",FAIL"));
    }
}
