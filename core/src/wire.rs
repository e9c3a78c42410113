//! The bytes nodes exchange: a versioned envelope around a [`Message`].

use serde::{Deserialize, Serialize};

use crate::load::LoadDigest;
use crate::peer::PeerId;
use crate::strategy::ProbeAnswer;

/// What one node sends another outside of job transfers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// A SWIM membership datagram (foca's own encoding).
    Swim(Vec<u8>),
    /// Load reports.
    Load(LoadDigest),
    /// "How busy are you now?" (Prequal's probe), answered with [`Message::ProbeAnswer`].
    LoadProbe {
        from: PeerId,
    },
    ProbeAnswer(ProbeAnswer),
}

impl Message {
    /// Approximate size on the wire, for transfer-time models.
    pub fn wire_len(&self) -> usize {
        match self {
            Message::Swim(b) => b.len() + 4,
            Message::Load(d) => 4 + 48 + d.reports.len() * 64,
            Message::LoadProbe { .. } => 4 + 48,
            Message::ProbeAnswer(_) => 4 + 48 + 12,
        }
    }
}

const MAGIC: [u8; 3] = *b"VM1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message too short ({0} bytes)")]
    TooShort(usize),
    #[error("not a vidmesh message (bad magic or version)")]
    BadMagic,
    #[error("malformed message body: {0}")]
    Malformed(String),
}

pub fn encode(msg: &Message) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    // Serialising these plain types cannot fail.
    out.extend(postcard::to_allocvec(msg).expect("message serialises"));
    out
}

pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() < MAGIC.len() + 1 {
        return Err(WireError::TooShort(bytes.len()));
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(WireError::BadMagic);
    }
    let (msg, rest) = postcard::take_from_bytes::<Message>(&bytes[MAGIC.len()..])
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let m = Message::Swim(vec![1, 2, 3]);
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        assert_eq!(decode(b"VM"), Err(WireError::TooShort(2)));
        assert_eq!(decode(b"GET / HTTP/1.1"), Err(WireError::BadMagic));
        let mut bad = encode(&m);
        bad.truncate(bad.len() - 1);
        assert!(matches!(decode(&bad), Err(WireError::Malformed(_))));
    }
}
