//! One logical client request as it ended, and its row of `requests.csv` (docs/metrics.md).
//!
//! A record names nodes and clips by index, so the simulator keeps millions of them cheaply;
//! [`Lookup`] turns the indices into names, zones and clip facts when a row is written.

use std::fmt::Write as _;

/// How a logical request ended (`unavailable`: every node tried was down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    Timeout,
    Rejected,
    Error,
    Unavailable,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Timeout,
        Outcome::Rejected,
        Outcome::Error,
        Outcome::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Timeout => "timeout",
            Outcome::Rejected => "rejected",
            Outcome::Error => "error",
            Outcome::Unavailable => "unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One logical request as it ended. Its id is its position among the run's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub batch: Option<u32>,
    pub submit_ms: u64,
    pub end_ms: u64,
    pub attempts: u8,
    pub outcome: Outcome,
    /// Node of the last attempt.
    pub entry_node: Option<u32>,
    /// Node that ran the transcode; set when ok.
    pub exec_node: Option<u32>,
    pub hops: u8,
    pub cache_hit: bool,
    pub offloaded: bool,
    pub fallback: bool,
    /// The clip uploaded, as the driver's workload numbers them.
    pub item: u32,
}

impl RequestRecord {
    pub fn latency_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.submit_ms)
    }
}

/// The `requests.csv` columns, in order.
pub const COLUMNS: &[&str] = &[
    "strategy",
    "request_id",
    "batch",
    "submit_ms",
    "end_ms",
    "latency_ms",
    "attempts",
    "outcome",
    "entry_node",
    "entry_zone",
    "exec_node",
    "exec_zone",
    "hops",
    "cache_hit",
    "offloaded",
    "fallback",
    "size_bytes",
    "width",
    "height",
    "frames",
];

/// The facts of an uploaded clip that `requests.csv` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClipFacts {
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// What a record's indices stand for.
pub trait Lookup {
    fn node_name(&self, node: u32) -> &str;
    fn node_zone(&self, node: u32) -> &str;
    fn clip(&self, item: u32) -> ClipFacts;
}

/// The header line of `requests.csv`, without the line break.
pub fn header_line() -> String {
    COLUMNS.join(",")
}

/// Appends request `id`'s row (with its line break) to `out`. Unknown or not applicable
/// values are empty, and everything about the executing node is empty unless the request
/// succeeded; text is quoted only if it holds a comma, a quote or a line break.
pub fn push_row(out: &mut String, strategy: &str, id: u64, r: &RequestRecord, names: &impl Lookup) {
    let ok = r.outcome == Outcome::Ok;
    let exec = r.exec_node.filter(|_| ok);
    let clip = names.clip(r.item);
    push_text(out, strategy);
    write!(out, ",{id},").ok();
    if let Some(b) = r.batch {
        write!(out, "{b}").ok();
    }
    write!(
        out,
        ",{},{},{},{},{},",
        r.submit_ms,
        r.end_ms,
        r.latency_ms(),
        r.attempts,
        r.outcome.as_str()
    )
    .ok();
    for node in [r.entry_node, exec] {
        if let Some(n) = node {
            push_text(out, names.node_name(n));
            out.push(',');
            push_text(out, names.node_zone(n));
            out.push(',');
        } else {
            out.push_str(",,");
        }
    }
    if ok {
        let b = |v: bool| if v { '1' } else { '0' };
        write!(
            out,
            "{},{},{},{},",
            r.hops,
            b(r.cache_hit),
            b(r.offloaded),
            b(r.fallback)
        )
        .ok();
    } else {
        out.push_str(",,,,");
    }
    writeln!(
        out,
        "{},{},{},{}",
        clip.size_bytes, clip.width, clip.height, clip.frames
    )
    .ok();
}

fn push_text(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The whole `requests.csv` for one or more strategies' records (each in request-id order).
pub fn requests_csv(runs: &[(&str, &[RequestRecord])], names: &impl Lookup) -> String {
    let mut s = header_line();
    s.push('\n');
    for (strategy, records) in runs {
        for (id, r) in records.iter().enumerate() {
            push_row(&mut s, strategy, id as u64, r, names);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl Lookup for Names {
        fn node_name(&self, node: u32) -> &str {
            ["node1", "node4", "a,b"][node as usize]
        }
        fn node_zone(&self, _: u32) -> &str {
            "FRA"
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

    fn rec(outcome: Outcome) -> RequestRecord {
        RequestRecord {
            batch: Some(2),
            submit_ms: 1000,
            end_ms: 4500,
            attempts: 2,
            outcome,
            entry_node: Some(1),
            exec_node: Some(0),
            hops: 1,
            cache_hit: false,
            offloaded: true,
            fallback: false,
            item: 0,
        }
    }

    fn row(strategy: &str, id: u64, r: &RequestRecord) -> String {
        let mut s = String::new();
        push_row(&mut s, strategy, id, r, &Names);
        s
    }

    #[test]
    fn rows_follow_docs_metrics_md() {
        assert_eq!(
            row("score", 7, &rec(Outcome::Ok)),
            "score,7,2,1000,4500,3500,2,ok,node4,FRA,node1,FRA,1,0,1,0,123,640,360,50\n"
        );
        // Unknown or not applicable: empty, including everything about the executing node.
        let mut r = rec(Outcome::Timeout);
        r.batch = None;
        assert_eq!(
            row("random", 7, &r),
            "random,7,,1000,4500,3500,2,timeout,node4,FRA,,,,,,,123,640,360,50\n"
        );
        r.entry_node = Some(2);
        assert!(row("x", 0, &r).contains(",\"a,b\",FRA,"));
        r.entry_node = None;
        assert_eq!(row("x", 0, &r).split(',').count(), COLUMNS.len());
        assert_eq!(header_line().split(',').count(), 20);
    }

    #[test]
    fn outcomes_read_back() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("fine"), None);
    }
}
