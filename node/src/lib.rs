//! vidmesh's real executor: a tokio/axum node that drives the shared core's state machine
//! (`vidmesh_core::Node`) with real sockets, ffmpeg processes, a disk cache and timers, plus the
//! report's load client and a generator of test clips.
//!
//! For drivers that start node processes (`sim live`, tests): [`args::NodeLaunch`] builds a
//! node's command line, [`args::node_binary`] finds the binary, [`client::run_client`] runs the
//! load client, and [`status::Status`] is what `GET /status` returns.

pub mod admin;
pub mod args;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod client_metrics;
pub mod driver;
pub mod features;
pub mod ffmpeg;
pub mod headers;
pub mod http;
pub mod probe;
pub mod profile;
pub mod serve;
pub mod stats;
pub mod status;
pub mod transport;
pub mod upload;
