//! One logical client request as it ended, and `requests.csv` (docs/metrics.md): what the live
//! client records and its metrics endpoint counts, apart from the client that makes them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    Ok,
    Timeout,
    Rejected,
    Error,
    Unavailable,
}

impl RequestOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Ok => "ok",
            RequestOutcome::Timeout => "timeout",
            RequestOutcome::Rejected => "rejected",
            RequestOutcome::Error => "error",
            RequestOutcome::Unavailable => "unavailable",
        }
    }
}

/// One logical request as it ended: a row of `requests.csv` without the strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    pub request_id: u64,
    pub batch: Option<u32>,
    pub submit_ms: u64,
    pub end_ms: u64,
    pub attempts: u8,
    pub outcome: RequestOutcome,
    pub entry_node: Option<String>,
    pub entry_zone: Option<String>,
    /// Set when ok.
    pub exec_node: Option<String>,
    pub exec_zone: Option<String>,
    pub hops: u8,
    pub cache_hit: bool,
    pub offloaded: bool,
    pub fallback: bool,
    pub size_bytes: u64,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// Bytes of the transcoded output received (not a CSV column).
    pub output_bytes: u64,
    /// What the last failed attempt said, when the request did not succeed (not a CSV column).
    pub error: Option<String>,
}

pub const REQUESTS_HEADER: &str = "strategy,request_id,batch,submit_ms,end_ms,latency_ms,attempts,outcome,entry_node,entry_zone,exec_node,exec_zone,hops,cache_hit,offloaded,fallback,size_bytes,width,height,frames";

impl RequestRecord {
    pub fn latency_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.submit_ms)
    }

    /// The `requests.csv` row (no newline).
    pub fn csv_row(&self, strategy: &str) -> String {
        let ok = self.outcome == RequestOutcome::Ok;
        let b = |v: bool| if v { "1" } else { "0" };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let (hops, hit, off, fb) = if ok {
            (
                self.hops.to_string(),
                b(self.cache_hit),
                b(self.offloaded),
                b(self.fallback),
            )
        } else {
            (String::new(), "", "", "")
        };
        format!(
            "{strategy},{},{},{},{},{},{},{},{},{},{},{},{hops},{hit},{off},{fb},{},{},{},{}",
            self.request_id,
            self.batch.map(|b| b.to_string()).unwrap_or_default(),
            self.submit_ms,
            self.end_ms,
            self.latency_ms(),
            self.attempts,
            self.outcome.as_str(),
            opt(&self.entry_node),
            opt(&self.entry_zone),
            if ok {
                opt(&self.exec_node)
            } else {
                String::new()
            },
            if ok {
                opt(&self.exec_zone)
            } else {
                String::new()
            },
            self.size_bytes,
            self.width,
            self.height,
            self.frames
        )
    }
}

/// Writes `requests.csv` for one or more strategies' records (already in order).
pub fn write_requests_csv(
    path: &std::path::Path,
    runs: &[(&str, &[RequestRecord])],
) -> std::io::Result<()> {
    let mut s = String::from(REQUESTS_HEADER);
    s.push('\n');
    for (strategy, records) in runs {
        for r in records.iter() {
            s.push_str(&r.csv_row(strategy));
            s.push('\n');
        }
    }
    std::fs::write(path, s)
}
