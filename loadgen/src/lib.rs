//! The load client both executors run, and the record it keeps of every request.
//!
//! [`client::Client`] is the report's client as a state machine with no I/O, no clock and no
//! randomness of its own: batches of concurrent uploads (or open-loop Poisson arrivals), each
//! attempt on a node drawn from those the request has not tried, a per-attempt deadline, up to
//! `max_attempts` attempts, and nodes that failed avoided until a health check or a success
//! clears them. The simulator drives it from its event loop, the live client (`vidmesh-node
//! client`, `sim live`) from tokio tasks and HTTP. A driver:
//!
//! 1. calls [`client::Client::start`], then drains [`client::Client::poll_output`];
//! 2. carries out every output: `Submit` sends an attempt (and calls
//!    [`client::Client::deadline`] at its `deadline_ms` unless it ended first), `HangUp` gives up
//!    on one, `Wake` asks for [`client::Client::wake`] at a time, `CheckHealth` asks whether a
//!    node answers again ([`client::Client::healthy`]), `Ended` says a request's record is final;
//! 3. reports how each attempt ended with [`client::Client::attempt_ended`], draining the outputs
//!    after every call, until [`client::Client::is_done`].
//!
//! What a request uploads and the gaps between open-loop arrivals come from the driver through
//! [`client::Workload`], so each executor keeps its own random streams.
//!
//! [`record`] is the one request record: the struct both executors keep, the outcome, and the
//! `requests.csv` columns and rows (docs/metrics.md) that vidmesh-analysis reads back.

pub mod client;
pub mod record;

pub use client::{AttemptEnd, Client, Config, Output, Served, Wake, Workload};
pub use record::{Outcome, RequestRecord};
