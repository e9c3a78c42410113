//! Node identities as gossiped by membership.

use serde::{Deserialize, Serialize};

use crate::zone::ZoneId;

/// Stable number of a node in its cluster (`node3` is `NodeId(3)`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u32);

/// Where a node's gossip transport listens. The simulator uses `0.0.0.0:<node id>`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PeerAddr {
    pub ip: [u8; 4],
    pub port: u16,
}

impl PeerAddr {
    pub fn sim(node: NodeId) -> Self {
        PeerAddr {
            ip: [0; 4],
            port: node.0 as u16,
        }
    }

    pub fn to_socket_addr(self) -> std::net::SocketAddr {
        std::net::SocketAddr::from((self.ip, self.port))
    }

    pub fn from_socket_addr(addr: std::net::SocketAddr) -> Option<Self> {
        match addr {
            std::net::SocketAddr::V4(v4) => Some(PeerAddr {
                ip: v4.ip().octets(),
                port: v4.port(),
            }),
            std::net::SocketAddr::V6(_) => None,
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// A node's identity in membership: who, where, and which life of it (`gen` grows on restart,
/// so a restarted node can rejoin after the cluster declared its previous life down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PeerId {
    pub node: NodeId,
    pub zone: ZoneId,
    pub addr: PeerAddr,
    pub gen: u32,
}

impl PeerId {
    /// A seed known only by address: announce messages to it are accepted by whichever node
    /// listens there.
    pub fn seed(addr: PeerAddr) -> Self {
        PeerId {
            node: NodeId(u32::MAX),
            zone: ZoneId::UNKNOWN,
            addr,
            gen: 0,
        }
    }
}

impl foca::Identity for PeerId {
    type Addr = PeerAddr;

    fn renew(&self) -> Option<Self> {
        Some(PeerId {
            gen: self.gen.wrapping_add(1),
            ..*self
        })
    }

    fn addr(&self) -> PeerAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.gen > adversary.gen
    }
}
