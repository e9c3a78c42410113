//! foca's datagrams in postcard's encoding, written out by hand for [`PeerId`].
//!
//! The bytes are exactly those of `foca::PostcardCodec` (varints, fields in declaration order),
//! so nodes running either codec understand each other and message sizes do not change. Going
//! through serde and a byte-at-a-time `BufMut` made encoding identities the largest single cost
//! of a simulated cluster; here a whole header or member is assembled on the stack and written
//! with one copy.

use bytes::{Buf, BufMut};
use foca::{Codec, Header, Member, Message, State};

use crate::peer::{NodeId, PeerAddr, PeerId};
use crate::zone::ZoneId;

/// Why a datagram could not be decoded (or an encoding did not fit the packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwimCodecError {
    #[error("the packet buffer is full")]
    BufferFull,
    #[error("unexpected end of data")]
    UnexpectedEnd,
    #[error("bad varint")]
    BadVarint,
    #[error("unknown message kind {0}")]
    BadMessage(u32),
    #[error("unknown member state {0}")]
    BadState(u32),
}

/// The postcard encoding of foca's headers and members of [`PeerId`]s.
#[derive(Clone, Copy, Debug, Default)]
pub struct SwimCodec;

/// Longest encodings: an identity is 2 varint u32s, a varint u16, 4 bytes and a varint u16.
const ID_MAX: usize = 5 + 3 + 4 + 3 + 5;
const HEADER_MAX: usize = 2 * ID_MAX + 3 + 5 + ID_MAX + 1;
const MEMBER_MAX: usize = ID_MAX + 3 + 5;

/// A fixed stack buffer the encoders fill before one `put_slice`.
struct Scratch<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Scratch<N> {
    #[inline]
    fn new() -> Self {
        Scratch {
            buf: [0; N],
            len: 0,
        }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    #[inline]
    fn id(&mut self, id: &PeerId) {
        let (n, z, p, g) = (id.node.0, id.zone.0, id.addr.port, id.gen);
        if n < 0x80 && z < 0x80 && p < 0x80 && g < 0x80 {
            // Every varint one byte: the whole identity in one copy.
            let [a, b, c, d] = id.addr.ip;
            let bytes = [n as u8, z as u8, a, b, c, d, p as u8, g as u8];
            self.buf[self.len..self.len + 8].copy_from_slice(&bytes);
            self.len += 8;
            return;
        }
        self.varint(id.node.0);
        self.varint(id.zone.0 as u32);
        for b in id.addr.ip {
            self.byte(b);
        }
        self.varint(id.addr.port as u32);
        self.varint(id.gen);
    }

    #[inline]
    fn write_to(&self, mut buf: impl BufMut) -> Result<(), SwimCodecError> {
        // postcard would write what fits and then fail; foca discards the partial bytes either
        // way, so writing nothing is the same.
        if buf.remaining_mut() < self.len {
            return Err(SwimCodecError::BufferFull);
        }
        buf.put_slice(&self.buf[..self.len]);
        Ok(())
    }
}

/// A cursor over the contiguous bytes foca hands to decoders.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8, SwimCodecError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(SwimCodecError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    /// postcard's varint: at most `max` bytes, the last of which may only carry the bits that
    /// are left of the type (`last_max`).
    #[inline(always)]
    fn varint(&mut self, max: usize, last_max: u8) -> Result<u32, SwimCodecError> {
        // Node numbers, zones, ports and lives are nearly always below 128: one byte.
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u32);
            }
        }
        self.varint_long(max, last_max)
    }

    #[inline(never)]
    fn varint_long(&mut self, max: usize, last_max: u8) -> Result<u32, SwimCodecError> {
        let mut out = 0u32;
        for i in 0..max {
            let b = self.byte()?;
            out |= ((b & 0x7F) as u32) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && b > last_max {
                    return Err(SwimCodecError::BadVarint);
                }
                return Ok(out);
            }
        }
        Err(SwimCodecError::BadVarint)
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, SwimCodecError> {
        self.varint(5, 0x0F)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, SwimCodecError> {
        self.varint(3, 0x03).map(|v| v as u16)
    }

    #[inline]
    fn id(&mut self) -> Result<PeerId, SwimCodecError> {
        if let Some(b) = self.data.get(self.pos..self.pos + 8) {
            if b[0] < 0x80 && b[1] < 0x80 && b[6] < 0x80 && b[7] < 0x80 {
                // Every varint one byte (see `Scratch::id`).
                self.pos += 8;
                return Ok(PeerId {
                    node: NodeId(b[0] as u32),
                    zone: ZoneId(b[1] as u16),
                    addr: PeerAddr {
                        ip: [b[2], b[3], b[4], b[5]],
                        port: b[6] as u16,
                    },
                    gen: b[7] as u32,
                });
            }
        }
        let node = NodeId(self.u32()?);
        let zone = ZoneId(self.u16()?);
        let ip = [self.byte()?, self.byte()?, self.byte()?, self.byte()?];
        let port = self.u16()?;
        let gen = self.u32()?;
        Ok(PeerId {
            node,
            zone,
            addr: PeerAddr { ip, port },
            gen,
        })
    }
}

fn decode_with<B: Buf, R>(
    mut buf: B,
    f: impl FnOnce(&mut Reader<'_>) -> Result<R, SwimCodecError>,
) -> Result<R, SwimCodecError> {
    let remaining = buf.remaining();
    // foca always decodes from one contiguous slice (as its own postcard codec assumes).
    debug_assert_eq!(remaining, buf.chunk().len());
    let mut r = Reader {
        data: buf.chunk(),
        pos: 0,
    };
    let v = f(&mut r)?;
    let used = r.pos;
    buf.advance(used);
    Ok(v)
}

impl Codec<PeerId> for SwimCodec {
    type Error = SwimCodecError;

    fn encode_header(&mut self, h: &Header<PeerId>, buf: impl BufMut) -> Result<(), Self::Error> {
        let mut s = Scratch::<HEADER_MAX>::new();
        s.id(&h.src);
        s.varint(h.src_incarnation as u32);
        s.id(&h.dst);
        // Variant indices in the declaration order of `foca::Message`.
        match &h.message {
            Message::Ping(n) => {
                s.varint(0);
                s.byte(*n);
            }
            Message::Ack(n) => {
                s.varint(1);
                s.byte(*n);
            }
            Message::PingReq {
                target,
                probe_number,
            } => {
                s.varint(2);
                s.id(target);
                s.byte(*probe_number);
            }
            Message::IndirectPing {
                origin,
                probe_number,
            } => {
                s.varint(3);
                s.id(origin);
                s.byte(*probe_number);
            }
            Message::IndirectAck {
                target,
                probe_number,
            } => {
                s.varint(4);
                s.id(target);
                s.byte(*probe_number);
            }
            Message::ForwardedAck {
                origin,
                probe_number,
            } => {
                s.varint(5);
                s.id(origin);
                s.byte(*probe_number);
            }
            Message::Announce => s.varint(6),
            Message::Feed => s.varint(7),
            Message::Gossip => s.varint(8),
            Message::Broadcast => s.varint(9),
            Message::TurnUndead => s.varint(10),
        }
        s.write_to(buf)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<PeerId>, Self::Error> {
        decode_with(buf, |r| {
            let src = r.id()?;
            let src_incarnation = r.u16()?;
            let dst = r.id()?;
            let message = match r.u32()? {
                0 => Message::Ping(r.byte()?),
                1 => Message::Ack(r.byte()?),
                2 => Message::PingReq {
                    target: r.id()?,
                    probe_number: r.byte()?,
                },
                3 => Message::IndirectPing {
                    origin: r.id()?,
                    probe_number: r.byte()?,
                },
                4 => Message::IndirectAck {
                    target: r.id()?,
                    probe_number: r.byte()?,
                },
                5 => Message::ForwardedAck {
                    origin: r.id()?,
                    probe_number: r.byte()?,
                },
                6 => Message::Announce,
                7 => Message::Feed,
                8 => Message::Gossip,
                9 => Message::Broadcast,
                10 => Message::TurnUndead,
                k => return Err(SwimCodecError::BadMessage(k)),
            };
            Ok(Header {
                src,
                src_incarnation,
                dst,
                message,
            })
        })
    }

    fn encode_member(&mut self, m: &Member<PeerId>, buf: impl BufMut) -> Result<(), Self::Error> {
        let mut s = Scratch::<MEMBER_MAX>::new();
        s.id(m.id());
        s.varint(m.incarnation() as u32);
        s.varint(match m.state() {
            State::Alive => 0,
            State::Suspect => 1,
            State::Down => 2,
        });
        s.write_to(buf)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<PeerId>, Self::Error> {
        decode_with(buf, |r| {
            let id = r.id()?;
            let incarnation = r.u16()?;
            let state = match r.u32()? {
                0 => State::Alive,
                1 => State::Suspect,
                2 => State::Down,
                k => return Err(SwimCodecError::BadState(k)),
            };
            Ok(Member::new(id, incarnation, state))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::PostcardCodec;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn varied_u32(r: &mut ChaCha8Rng) -> u32 {
        // Every varint length, and its edges.
        match r.next_u32() % 6 {
            0 => r.next_u32() % 128,
            1 => 127 + r.next_u32() % 3,
            2 => r.next_u32() % (1 << 14),
            3 => (1 << 14) - 1 + r.next_u32() % 3,
            4 => u32::MAX - r.next_u32() % 3,
            _ => r.next_u32(),
        }
    }

    fn id(r: &mut ChaCha8Rng) -> PeerId {
        if r.next_u32().is_multiple_of(3) {
            // Small clusters: mostly one-byte varints, sometimes one just over.
            let mut small = || 120 + r.next_u32() % 10;
            return PeerId {
                node: NodeId(small()),
                zone: ZoneId(small() as u16),
                addr: PeerAddr {
                    ip: [0, 0, 0, small() as u8],
                    port: small() as u16,
                },
                gen: small(),
            };
        }
        PeerId {
            node: NodeId(varied_u32(r)),
            zone: ZoneId(varied_u32(r) as u16),
            addr: PeerAddr {
                ip: r.next_u32().to_le_bytes(),
                port: varied_u32(r) as u16,
            },
            gen: varied_u32(r),
        }
    }

    fn header(r: &mut ChaCha8Rng) -> Header<PeerId> {
        let n = r.next_u32() as u8;
        let message = match r.next_u32() % 11 {
            0 => Message::Ping(n),
            1 => Message::Ack(n),
            2 => Message::PingReq {
                target: id(r),
                probe_number: n,
            },
            3 => Message::IndirectPing {
                origin: id(r),
                probe_number: n,
            },
            4 => Message::IndirectAck {
                target: id(r),
                probe_number: n,
            },
            5 => Message::ForwardedAck {
                origin: id(r),
                probe_number: n,
            },
            6 => Message::Announce,
            7 => Message::Feed,
            8 => Message::Gossip,
            9 => Message::Broadcast,
            _ => Message::TurnUndead,
        };
        Header {
            src: id(r),
            src_incarnation: varied_u32(r) as u16,
            dst: id(r),
            message,
        }
    }

    fn member(r: &mut ChaCha8Rng) -> Member<PeerId> {
        let state = [State::Alive, State::Suspect, State::Down][r.next_u32() as usize % 3];
        Member::new(id(r), varied_u32(r) as u16, state)
    }

    #[test]
    fn writes_the_same_bytes_as_postcard() {
        let mut r = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let h = header(&mut r);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            SwimCodec.encode_header(&h, &mut a).unwrap();
            PostcardCodec.encode_header(&h, &mut b).unwrap();
            assert_eq!(a, b, "{h:?}");
            assert_eq!(SwimCodec.decode_header(&a[..]).unwrap(), h);

            let m = member(&mut r);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            SwimCodec.encode_member(&m, &mut a).unwrap();
            PostcardCodec.encode_member(&m, &mut b).unwrap();
            assert_eq!(a, b, "{m:?}");
            assert_eq!(SwimCodec.decode_member(&a[..]).unwrap(), m);
        }
    }

    /// Valid, truncated, corrupted and random bytes: both codecs accept the same inputs, read
    /// the same values and consume the same number of bytes.
    #[test]
    fn reads_what_postcard_reads() {
        let mut r = ChaCha8Rng::seed_from_u64(8);
        for k in 0..50_000 {
            let mut bytes = Vec::new();
            if k % 2 == 0 {
                PostcardCodec
                    .encode_header(&header(&mut r), &mut bytes)
                    .unwrap();
            } else {
                PostcardCodec
                    .encode_member(&member(&mut r), &mut bytes)
                    .unwrap();
            }
            bytes.extend([1, 2, 3]);
            match r.next_u32() % 4 {
                0 => {}
                1 => bytes.truncate(r.next_u32() as usize % bytes.len()),
                2 => {
                    let i = r.next_u32() as usize % bytes.len();
                    bytes[i] = r.next_u32() as u8;
                }
                _ => {
                    bytes.truncate(r.next_u32() as usize % 40);
                    r.fill_bytes(&mut bytes);
                }
            }
            let (mut a, mut b) = (&bytes[..], &bytes[..]);
            let ours = SwimCodec.decode_header(&mut a);
            let theirs: Result<Header<PeerId>, _> = PostcardCodec.decode_header(&mut b);
            assert_eq!(ours.ok(), theirs.ok(), "{bytes:?}");
            assert_eq!(a.len(), b.len());
            let (mut a, mut b) = (&bytes[..], &bytes[..]);
            let ours = SwimCodec.decode_member(&mut a);
            let theirs: Result<Member<PeerId>, _> = PostcardCodec.decode_member(&mut b);
            assert_eq!(ours.ok(), theirs.ok(), "{bytes:?}");
            assert_eq!(a.len(), b.len());
        }
    }

    #[test]
    fn a_full_buffer_is_an_error() {
        let mut r = ChaCha8Rng::seed_from_u64(9);
        let h = header(&mut r);
        let mut store = Vec::new();
        let limited = (&mut store).limit(5);
        assert_eq!(
            SwimCodec.encode_header(&h, limited),
            Err(SwimCodecError::BufferFull)
        );
    }
}
