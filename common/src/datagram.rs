//! The UDP datagram header, defined once for video, audio and input.
//!
//! Layout (big endian, 32 bytes), authenticated as AEAD associated data:
//! version u8 | stream u8 | flags u8 | reserved u8 | sequence u64 |
//! frame_index u32 | shard_index u16 | shard_count u16 | data_shards u16 |
//! send_offset u16 | capture_us u64
//!
//! `send_offset` is when the datagram left, after capture, in 32 µs units
//! plus one (0: not stamped): the receiver's delay detector compares send
//! and arrival times, so the host's encode time and scheduling never read
//! as a queue on the path.

use thiserror::Error;

pub const VERSION: u8 = 2;
pub const HEADER_LEN: usize = 32;
/// Most shards one frame may have (≈ 9.8 MB at 1200 bytes a shard): bounds
/// what a receiver holds for a frame.
pub const MAX_SHARDS: u16 = 8192;

/// Which media stream a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    Video,
    Audio,
    Input,
    /// Path probes (the viewer's first datagrams, so the host learns its address).
    Probe,
}

impl StreamKind {
    fn to_byte(self) -> u8 {
        match self {
            StreamKind::Video => 1,
            StreamKind::Audio => 2,
            StreamKind::Input => 3,
            StreamKind::Probe => 4,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, HeaderError> {
        Ok(match byte {
            1 => StreamKind::Video,
            2 => StreamKind::Audio,
            3 => StreamKind::Input,
            4 => StreamKind::Probe,
            other => return Err(HeaderError::UnknownStream(other)),
        })
    }
}

/// Per-datagram flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u8);

impl Flags {
    pub const KEYFRAME: Flags = Flags(0b0000_0001);
    pub const LAST_SHARD: Flags = Flags(0b0000_0010);
    /// Sent again after a NACK: its arrival says nothing about the path's delay.
    pub const RETRANSMIT: Flags = Flags(0b0000_0100);
    const KNOWN: u8 = 0b0000_0111;

    pub const fn empty() -> Self {
        Flags(0)
    }
    pub const fn bits(self) -> u8 {
        self.0
    }
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
    pub fn with(mut self, other: Flags, on: bool) -> Self {
        if on {
            self.insert(other);
        }
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub stream: StreamKind,
    pub flags: Flags,
    /// Sender-wide sequence number: unique per key, it is also the AEAD nonce.
    pub sequence: u64,
    pub frame_index: u32,
    pub shard_index: u16,
    pub shard_count: u16,
    /// Shards carrying frame bytes; the rest of `shard_count` are FEC parity.
    pub data_shards: u16,
    /// Capture time on the sender's clock, microseconds.
    pub capture_us: u64,
    /// When it was sent, after `capture_us` (32 µs resolution, at most
    /// ~2.1 s); `None` when not stamped or later than that.
    pub send_offset_us: Option<u32>,
}

/// Resolution of `send_offset_us` on the wire.
const SEND_OFFSET_UNIT_US: u32 = 32;
const SEND_OFFSET_MAX_UNITS: u32 = u16::MAX as u32 - 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("datagram of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    Truncated(usize),
    #[error("unsupported datagram version {0}")]
    Version(u8),
    #[error("unknown stream id {0}")]
    UnknownStream(u8),
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    #[error("reserved header bytes are not zero")]
    Reserved,
    #[error("shard {index} of {count} is out of range (data shards {data})")]
    ShardRange { index: u16, count: u16, data: u16 },
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = self.stream.to_byte();
        out[2] = self.flags.bits();
        out[4..12].copy_from_slice(&self.sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.frame_index.to_be_bytes());
        out[16..18].copy_from_slice(&self.shard_index.to_be_bytes());
        out[18..20].copy_from_slice(&self.shard_count.to_be_bytes());
        out[20..22].copy_from_slice(&self.data_shards.to_be_bytes());
        out[22..24].copy_from_slice(&Self::send_offset_bits(self.send_offset_us).to_be_bytes());
        out[24..32].copy_from_slice(&self.capture_us.to_be_bytes());
        out
    }

    /// Stamps the send time (`sent_us`, the sender's clock).
    pub fn stamp_sent(&mut self, sent_us: u64) {
        let offset = sent_us.saturating_sub(self.capture_us);
        self.send_offset_us = (offset <= u64::from(SEND_OFFSET_MAX_UNITS * SEND_OFFSET_UNIT_US))
            .then(|| Self::units_to_us(Self::send_offset_bits(Some(offset as u32))));
    }

    /// When it was sent on the sender's clock, if stamped.
    pub fn sent_us(&self) -> Option<u64> {
        self.send_offset_us
            .map(|offset| self.capture_us.saturating_add(u64::from(offset)))
    }

    fn send_offset_bits(offset_us: Option<u32>) -> u16 {
        match offset_us {
            Some(us) => ((us / SEND_OFFSET_UNIT_US).min(SEND_OFFSET_MAX_UNITS) + 1) as u16,
            None => 0,
        }
    }

    fn units_to_us(bits: u16) -> u32 {
        (u32::from(bits) - 1) * SEND_OFFSET_UNIT_US
    }

    /// Parses the header at the start of `bytes`; the rest is the payload.
    pub fn decode(bytes: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        if bytes.len() < HEADER_LEN {
            return Err(HeaderError::Truncated(bytes.len()));
        }
        if bytes[0] != VERSION {
            return Err(HeaderError::Version(bytes[0]));
        }
        let stream = StreamKind::from_byte(bytes[1])?;
        if bytes[3] != 0 {
            return Err(HeaderError::Reserved);
        }
        let flag_bits = bytes[2];
        if flag_bits & !Flags::KNOWN != 0 {
            return Err(HeaderError::UnknownFlags(flag_bits));
        }
        let u16_at = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let header = Header {
            stream,
            flags: Flags(flag_bits),
            sequence: u64_at(4),
            frame_index: u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
            shard_index: u16_at(16),
            shard_count: u16_at(18),
            data_shards: u16_at(20),
            capture_us: u64_at(24),
            send_offset_us: match u16_at(22) {
                0 => None,
                bits => Some(Self::units_to_us(bits)),
            },
        };
        if header.shard_count == 0
            || header.shard_count > MAX_SHARDS
            || header.shard_index >= header.shard_count
            || header.data_shards == 0
            || header.data_shards > header.shard_count
        {
            return Err(HeaderError::ShardRange {
                index: header.shard_index,
                count: header.shard_count,
                data: header.data_shards,
            });
        }
        Ok((header, &bytes[HEADER_LEN..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream_strategy() -> impl Strategy<Value = StreamKind> {
        prop_oneof![
            Just(StreamKind::Video),
            Just(StreamKind::Audio),
            Just(StreamKind::Input),
            Just(StreamKind::Probe)
        ]
    }

    proptest! {
        #[test]
        fn round_trip(stream in stream_strategy(), flags in 0u8..8, sequence: u64, frame_index: u32,
                      count in 1u16..500, index_seed: u16, capture_us: u64, offset_units in proptest::option::of(0u32..65_535)) {
            let header = Header {
                stream, flags: Flags(flags), sequence, frame_index,
                shard_index: index_seed % count, shard_count: count, data_shards: count, capture_us,
                send_offset_us: offset_units.map(|u| u * SEND_OFFSET_UNIT_US),
            };
            let mut bytes = header.encode().to_vec();
            bytes.extend_from_slice(b"payload");
            let (decoded, payload) = Header::decode(&bytes).unwrap();
            prop_assert_eq!(decoded, header);
            prop_assert_eq!(payload, b"payload");
        }

        #[test]
        fn garbage_is_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Header::decode(&bytes);
        }
    }

    #[test]
    fn send_stamps_round_down_and_saturate_to_unknown() {
        let mut header = Header {
            stream: StreamKind::Video,
            flags: Flags::empty(),
            sequence: 0,
            frame_index: 0,
            shard_index: 0,
            shard_count: 1,
            data_shards: 1,
            capture_us: 1_000_000,
            send_offset_us: None,
        };
        header.stamp_sent(1_004_100);
        assert_eq!(header.sent_us(), Some(1_004_096));
        header.stamp_sent(999_000);
        assert_eq!(
            header.sent_us(),
            Some(1_000_000),
            "a clock step back is offset 0"
        );
        header.stamp_sent(1_000_000 + 3_000_000);
        assert_eq!(header.sent_us(), None, "past ~2.1 s it is not stamped");
    }

    #[test]
    fn rejects_short_and_bad_version() {
        assert_eq!(Header::decode(&[1; 10]), Err(HeaderError::Truncated(10)));
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = 9;
        assert_eq!(Header::decode(&bytes), Err(HeaderError::Version(9)));
    }
}
