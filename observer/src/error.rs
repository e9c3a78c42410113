//! Why a scrape of one target gave nothing usable. The dashboard shows it beside the target, so
//! each message says what a user can check (is it up, is it the right port, is it a vidmesh node).

/// One target's scrape failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    #[error("no answer in time")]
    Timeout,
    #[error("connection refused or unreachable")]
    Unreachable,
    /// Any other transport failure, as the HTTP client words it.
    #[error("{0}")]
    Http(String),
    #[error("{path} answered {status}")]
    Status { path: &'static str, status: String },
    #[error("/status is not a node status: {0}")]
    NotAStatus(String),
    #[error("client /metrics: {0}")]
    Metrics(#[from] PromError),
    #[error("no vidmesh_client_requests_started_total: is this the load client's /metrics?")]
    NotAClient,
    #[error("latency bucket bound `{0}` is not a number")]
    BadBucket(String),
    #[error("latency bucket without `le`")]
    NoBucketBound,
}

/// A line of Prometheus text that is not a sample.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {fault}: `{text}`")]
pub struct PromError {
    pub line: usize,
    pub fault: LineFault,
    pub text: String,
}

/// What is wrong with a sample line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    #[error("no value")]
    NoValue,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("unclosed labels")]
    UnclosedLabels,
    #[error("no metric name")]
    NoName,
    #[error("label without `=`")]
    LabelWithoutEquals,
    #[error("label value not quoted")]
    UnquotedValue,
    #[error("unterminated label value")]
    UnterminatedValue,
}
