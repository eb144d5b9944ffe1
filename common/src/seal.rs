//! Sealed datagrams: AES-256-GCM over the payload with the header as
//! associated data, the nonce taken from the header's sequence number, and a
//! replay window on the receiving side. Each direction has its own key, so a
//! sequence number never repeats under one key.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use thiserror::Error;

use crate::datagram::{HEADER_LEN, Header, HeaderError};

pub const KEY_LEN: usize = 32;
pub const TAG_LEN: usize = 16;

/// A media key as agreed on the control channel. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKey([u8; KEY_LEN]);

impl MediaKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        MediaKey(bytes)
    }

    pub fn from_base64(text: &str) -> Result<Self, OpenError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| OpenError::BadKey)?;
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| OpenError::BadKey)?;
        Ok(MediaKey(array))
    }

    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32-byte AES-256 key"))
    }
}

impl std::fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaKey(<redacted>)")
    }
}

fn nonce_for(sequence: u64) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[NONCE_LEN - 8..].copy_from_slice(&sequence.to_be_bytes());
    Nonce::assume_unique_for_key(nonce)
}

/// Seals outgoing datagrams and owns the sender-wide sequence counter.
pub struct Sealer {
    key: LessSafeKey,
    next_sequence: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("next_sequence", &self.next_sequence)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(key: &MediaKey) -> Self {
        Sealer {
            key: key.aead(),
            next_sequence: 0,
        }
    }

    /// Assigns the next sequence number to `header` and returns the datagram.
    pub fn seal(&mut self, mut header: Header, payload: &[u8]) -> Vec<u8> {
        header.sequence = self.next_sequence;
        self.next_sequence += 1;
        let header_bytes = header.encode();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
        out.extend_from_slice(&header_bytes);
        out.extend_from_slice(payload);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce_for(header.sequence),
                Aad::from(header_bytes),
                &mut out[HEADER_LEN..],
            )
            .expect("payload length within AES-GCM limits");
        out.extend_from_slice(tag.as_ref());
        out
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("bad header: {0}")]
    Header(#[from] HeaderError),
    #[error("datagram too short for its authentication tag")]
    Truncated,
    #[error("authentication failed (forged, corrupted or wrong key)")]
    Forged,
    #[error("sequence {0} already seen (replay)")]
    Replayed(u64),
    #[error("sequence {0} is older than the replay window")]
    TooOld(u64),
    #[error("media key is not 32 bytes of base64")]
    BadKey,
}

/// Receiving side: checks, authenticates and decrypts datagrams.
pub struct Opener {
    key: LessSafeKey,
    window: ReplayWindow,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Opener {
    pub fn new(key: &MediaKey) -> Self {
        Opener {
            key: key.aead(),
            window: ReplayWindow::default(),
        }
    }

    /// Opens one datagram. Cheap checks (length, header, replay) come before
    /// the decryption; the window only moves once the tag verified.
    pub fn open(&mut self, datagram: &[u8]) -> Result<(Header, Vec<u8>), OpenError> {
        let (header, _) = Header::decode(datagram)?;
        if datagram.len() < HEADER_LEN + TAG_LEN {
            return Err(OpenError::Truncated);
        }
        self.window.check(header.sequence)?;
        let mut body = datagram[HEADER_LEN..].to_vec();
        let aad: [u8; HEADER_LEN] = datagram[..HEADER_LEN]
            .try_into()
            .expect("length checked above");
        let plain_len = self
            .key
            .open_in_place(nonce_for(header.sequence), Aad::from(aad), &mut body)
            .map_err(|_| OpenError::Forged)?
            .len();
        body.truncate(plain_len);
        self.window.accept(header.sequence);
        Ok((header, body))
    }
}

/// Sliding window of the last 1024 sequence numbers (RFC 6479 in spirit).
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bits: [u64; Self::WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            highest: None,
            bits: [0; Self::WORDS],
        }
    }
}

impl ReplayWindow {
    const WORDS: usize = 16;
    pub const SIZE: u64 = (Self::WORDS * 64) as u64;

    fn bit(sequence: u64) -> (usize, u64) {
        let slot = sequence % Self::SIZE;
        ((slot / 64) as usize, 1u64 << (slot % 64))
    }

    pub fn check(&self, sequence: u64) -> Result<(), OpenError> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if sequence > highest {
            return Ok(());
        }
        if highest - sequence >= Self::SIZE {
            return Err(OpenError::TooOld(sequence));
        }
        let (word, mask) = Self::bit(sequence);
        if self.bits[word] & mask != 0 {
            return Err(OpenError::Replayed(sequence));
        }
        Ok(())
    }

    /// Records `sequence` as seen; call only after `check` passed.
    pub fn accept(&mut self, sequence: u64) {
        match self.highest {
            Some(highest) if sequence <= highest => {}
            Some(highest) => {
                let advance = sequence - highest;
                if advance >= Self::SIZE {
                    self.bits = [0; Self::WORDS];
                } else {
                    for s in highest + 1..sequence {
                        let (word, mask) = Self::bit(s);
                        self.bits[word] &= !mask;
                    }
                }
                self.clear_and_raise(sequence);
            }
            None => self.clear_and_raise(sequence),
        }
        let (word, mask) = Self::bit(sequence);
        self.bits[word] |= mask;
    }

    fn clear_and_raise(&mut self, sequence: u64) {
        let (word, mask) = Self::bit(sequence);
        self.bits[word] &= !mask;
        self.highest = Some(sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{Flags, StreamKind};
    use proptest::prelude::*;

    fn header() -> Header {
        Header {
            stream: StreamKind::Video,
            flags: Flags::KEYFRAME,
            sequence: 0,
            frame_index: 3,
            shard_index: 0,
            shard_count: 1,
            data_shards: 1,
            capture_us: 99,
            send_offset_us: None,
        }
    }

    fn key(byte: u8) -> MediaKey {
        MediaKey::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn seal_open_round_trip_and_replay_refused() {
        let mut sealer = Sealer::new(&key(1));
        let mut opener = Opener::new(&key(1));
        let datagram = sealer.seal(header(), b"hello");
        let (h, payload) = opener.open(&datagram).unwrap();
        assert_eq!(payload, b"hello");
        assert_eq!(h.frame_index, 3);
        assert_eq!(opener.open(&datagram), Err(OpenError::Replayed(0)));
    }

    #[test]
    fn forged_truncated_and_wrong_key_are_refused() {
        let mut sealer = Sealer::new(&key(1));
        let datagram = sealer.seal(header(), b"hello world");
        let mut flipped = datagram.clone();
        flipped[HEADER_LEN + 2] ^= 1;
        assert_eq!(Opener::new(&key(1)).open(&flipped), Err(OpenError::Forged));
        let mut header_changed = datagram.clone();
        header_changed[15] ^= 1; // frame index is authenticated too
        assert_eq!(
            Opener::new(&key(1)).open(&header_changed),
            Err(OpenError::Forged)
        );
        assert_eq!(
            Opener::new(&key(1)).open(&datagram[..HEADER_LEN + 3]),
            Err(OpenError::Truncated)
        );
        assert_eq!(Opener::new(&key(2)).open(&datagram), Err(OpenError::Forged));
    }

    #[test]
    fn too_old_is_refused() {
        let mut sealer = Sealer::new(&key(1));
        let mut opener = Opener::new(&key(1));
        let first = sealer.seal(header(), b"a");
        for _ in 0..ReplayWindow::SIZE + 5 {
            let d = sealer.seal(header(), b"b");
            opener.open(&d).unwrap();
        }
        assert_eq!(opener.open(&first), Err(OpenError::TooOld(0)));
    }

    #[test]
    fn key_debug_is_redacted() {
        assert_eq!(format!("{:?}", key(7)), "MediaKey(<redacted>)");
        assert_eq!(MediaKey::from_base64(&key(7).to_base64()).unwrap(), key(7));
    }

    proptest! {
        /// Any arrival order inside the window opens each datagram exactly once.
        #[test]
        fn reordered_within_window_open_once(order in Just((0..200u64).collect::<Vec<_>>()).prop_shuffle()) {
            let mut sealer = Sealer::new(&key(3));
            let datagrams: Vec<Vec<u8>> = (0..200).map(|_| sealer.seal(header(), b"x")).collect();
            let mut opener = Opener::new(&key(3));
            for &i in &order {
                prop_assert!(opener.open(&datagrams[i as usize]).is_ok());
            }
            for &i in &order {
                prop_assert!(opener.open(&datagrams[i as usize]).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Opener::new(&key(3)).open(&bytes);
        }
    }
}
