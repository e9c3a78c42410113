//! vidmesh's shared core: the routing, gossip and membership logic that both the discrete-event
//! simulator and the live nodes run, as pure state machines (time and randomness are inputs,
//! effects are outputs).

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
pub use node::{Counters, Event, Input, MemberState, Node, Output, ProbeFailed, Timer};
pub use peer::{NodeId, PeerAddr, PeerId};
pub use strategy::{Choice, ClusterView, PeerView, SelfView, Strategy, StrategyConfig};
pub use time::Millis;
pub use wire::Message;
pub use zone::{ZoneId, ZoneTable};
