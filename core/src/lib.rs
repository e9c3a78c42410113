//! vidmesh's shared core: the routing, gossip and membership logic that both the discrete-event
//! simulator and the live nodes run, as pure state machines (time and randomness are inputs,
//! effects are outputs).
//!
//! # The driver contract
//!
//! A driver owns one [`Node`] per process (the simulator owns many) and does four things:
//! 1. stamps every [`Input`] with its clock (ms) and hands it to [`Node::handle_input`];
//! 2. after each input, drains [`Node::poll_output`] until it is empty and carries each
//!    [`Output`] out: sends [`Output::Send`] messages, fires [`Output::SetTimer`] timers back
//!    as [`Input::Timer`] at their time, runs the probe / transcode asked for and answers with
//!    [`Input::Probed`] / [`Input::TranscodeDone`], transfers an [`Output::Offload`] to the peer
//!    and answers with [`Input::OffloadDone`], delivers [`Output::Reply`] to whoever submitted
//!    the job (exactly one per job), and kills what [`Output::Abort`] names;
//! 3. feeds what arrives: uploads as [`Input::Upload`], peer messages as [`Input::Message`], a
//!    client or peer that went away as [`Input::Cancel`];
//! 4. never decides anything itself: where a job runs, whether it is admitted, probed, cached or
//!    cancelled is the core's call, so the simulator and a live node cannot disagree.
//!
//! A complete driver for two nodes in one process, with instant messages and transcodes that
//! take exactly what the cost model predicts (the simulator does the same with a network and a
//! CPU model, the live node with UDP, HTTP and ffmpeg):
//!
//! ```
//! use std::collections::{BTreeMap, VecDeque};
//! use std::sync::Arc;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use vidmesh_core::*;
//!
//! let zones = Arc::new(ZoneTable::report_default());
//! let addr = |n: u32| PeerAddr::sim(NodeId(n));
//! let mut nodes: Vec<Node> = (0..2u32)
//!     .map(|n| {
//!         let mut cfg = NodeConfig::new(NodeId(n), ZoneId(0), addr(n), zones.clone());
//!         cfg.seeds = vec![addr(1 - n)];
//!         cfg.workers = 1;
//!         cfg.strategy = StrategyConfig::Ect {};
//!         Node::new(cfg, ChaCha8Rng::seed_from_u64(n as u64)).expect("valid config")
//!     })
//!     .collect();
//!
//! // Pending inputs in time order: (time, sequence number) → (node, input).
//! let mut pending: BTreeMap<(Millis, u64), (usize, Input)> = BTreeMap::new();
//! let mut seq = 0u64;
//! let mut at = |p: &mut BTreeMap<_, _>, t: Millis, node: usize, input: Input| {
//!     seq += 1;
//!     p.insert((t, seq), (node, input));
//! };
//! // Offloads in progress: the peer's job id → (origin node, the origin's job id).
//! let mut offloads: BTreeMap<JobId, (usize, JobId)> = BTreeMap::new();
//! let mut replies: Vec<(JobId, Outcome)> = Vec::new();
//!
//! for n in &mut nodes {
//!     n.start(0);
//! }
//! // Three uploads to node 0 at t = 20 s (after a few load reports); one worker each, so node 0
//! // should share them.
//! for k in 1..=3u64 {
//!     let job = Job {
//!         id: JobId(k),
//!         content: ContentHash([k as u8; 32]),
//!         features: JobFeatures { size_bytes: 1_000_000, width: 1280, height: 720,
//!                                 frames: 300, duration_ms: 10_000, ..Default::default() },
//!         hops: 0,
//!         origin: NodeId(0),
//!         deadline: NO_DEADLINE,
//!         probed: false,
//!     };
//!     at(&mut pending, 20_000 + k, 0, Input::Upload(job));
//! }
//! let mut next_id = 100u64;
//! let mut outputs = VecDeque::new();
//! while let Some(((now, _), (i, input))) = pending.pop_first() {
//!     if now > 120_000 {
//!         break; // gossip and membership timers run forever
//!     }
//!     nodes[i].handle_input(now, input);
//!     while let Some(out) = nodes[i].poll_output() {
//!         outputs.push_back(out);
//!     }
//!     while let Some(out) = outputs.pop_front() {
//!         match out {
//!             Output::Send { to, msg } => {
//!                 // By address: a seed's node id is not known until it answers.
//!                 at(&mut pending, now, to.addr.port as usize, Input::Message(msg))
//!             }
//!             Output::SetTimer { at: t, timer } => at(&mut pending, t, i, Input::Timer(timer)),
//!             Output::Probe(job) => {
//!                 // A live node runs ffprobe here; the features are already known.
//!                 let result = Ok(job.features);
//!                 at(&mut pending, now + 50, i, Input::Probed { job: job.id, result })
//!             }
//!             Output::StartTranscode(job) => {
//!                 let took = nodes[i].predict_service_ms(&job.features);
//!                 let result = Ok(200_000);
//!                 at(&mut pending, now + took, i, Input::TranscodeDone { job: job.id, result })
//!             }
//!             Output::Offload { job, to } => {
//!                 // The peer gets its own id for the job; its reply is mapped back.
//!                 next_id += 1;
//!                 let theirs = Job { id: JobId(next_id), ..job };
//!                 offloads.insert(theirs.id, (i, job.id));
//!                 at(&mut pending, now, to.addr.port as usize, Input::Upload(theirs))
//!             }
//!             Output::Reply { job, outcome } => match offloads.remove(&job) {
//!                 Some((origin, theirs)) => {
//!                     let result = outcome.to_remote();
//!                     at(&mut pending, now, origin, Input::OffloadDone { job: theirs, result })
//!                 }
//!                 None => replies.push((job, outcome)),
//!             },
//!             Output::Abort(_) | Output::CancelOffload { .. } => {}
//!             Output::CacheEvict(_) | Output::Event(_) => {}
//!         }
//!     }
//! }
//! // Every upload got exactly one answer, and node 1 ran some of them.
//! replies.sort_by_key(|(id, _)| *id);
//! assert_eq!(replies.iter().map(|(id, _)| id.0).collect::<Vec<_>>(), [1, 2, 3]);
//! assert!(replies.iter().all(|(_, o)| matches!(o, Outcome::Done { .. })));
//! assert!(replies
//!     .iter()
//!     .any(|(_, o)| matches!(o, Outcome::Done { executed_by: NodeId(1), .. })));
//! ```

pub mod cache;
pub mod config;
pub mod cost;
pub mod health;
pub mod job;
pub mod load;
pub mod node;
pub mod peer;
pub mod strategy;
pub mod swim_codec;
pub mod time;
pub mod wire;
pub mod zone;

pub use config::{capacity_workers, AdmissionConfig, ConfigError, GossipConfig, NodeConfig};
pub use cost::{CostCurve, CostModel, CostStats, FitBox, OutputShape};
pub use health::HealthStats;
pub use job::{
    ContentHash, FailKind, Job, JobFeatures, JobId, OffloadError, Outcome, RejectReason,
    RemoteDone, NO_DEADLINE,
};
pub use load::{KnownReport, LoadDigest, LoadReport};
pub use node::{
    Counters, Event, Input, MemberState, Node, Output, ProbeFailed, ProtocolViolation, Timer,
};
pub use peer::{NodeId, PeerAddr, PeerId};
pub use strategy::{
    Choice, ClusterView, PeerView, SelfView, Strategy, StrategyConfig, StrategyError,
};
pub use time::Millis;
pub use wire::Message;
pub use zone::{ZoneId, ZoneTable};
