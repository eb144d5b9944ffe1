//! Frames ⇄ shards. The packetizer cuts an encoded frame into MTU-sized
//! shards and adds Reed-Solomon parity (see `fec`); the depacketizer puts
//! them back together from any sufficient subset, tolerating reordering and
//! duplicates, and reports frames it could not complete as lost. It never
//! hands on a half-filled frame.

use std::collections::{BTreeMap, VecDeque};

use thiserror::Error;

use crate::datagram::{Flags, Header, MAX_SHARDS, StreamKind};
use crate::fec;

/// Default largest frame bytes carried by one shard (keeps datagrams under a
/// 1280-byte IPv6 minimum MTU with header and tag).
pub const DEFAULT_MAX_PAYLOAD: usize = 1200;

/// Cuts frames into shards and numbers the frames of one stream.
#[derive(Debug)]
pub struct Packetizer {
    stream: StreamKind,
    max_payload: usize,
    parity_pct: u32,
    loss: f64,
    next_frame_index: u32,
}

impl Packetizer {
    pub fn new(stream: StreamKind, max_payload: usize) -> Self {
        assert!(max_payload > 0, "max_payload must be positive");
        Packetizer {
            stream,
            max_payload,
            parity_pct: 0,
            loss: 0.0,
            next_frame_index: 0,
        }
    }

    /// Parity shards added per frame, as a percentage of its data shards.
    pub fn set_parity_pct(&mut self, parity_pct: u32) {
        self.parity_pct = parity_pct;
    }

    /// The loss the path shows: small frames get more parity than the
    /// share (`fec::parity_count_at_loss`).
    pub fn set_loss(&mut self, loss: f64) {
        self.loss = loss;
    }

    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Splits one frame into `(header, payload)` shards, data then parity.
    /// The headers' sequence numbers are left at 0: the sealer assigns them.
    pub fn packetize(
        &mut self,
        frame: &[u8],
        capture_us: u64,
        keyframe: bool,
    ) -> Vec<(Header, Vec<u8>)> {
        let frame_index = self.next_frame_index;
        self.next_frame_index = self.next_frame_index.wrapping_add(1);
        let (data, shards) =
            fec::encode_at_loss(frame, self.max_payload, self.parity_pct, self.loss);
        // A frame past the limit is cut short: the receiver reports it lost.
        let count = shards.len().min(usize::from(MAX_SHARDS)) as u16;
        shards
            .into_iter()
            .take(usize::from(count))
            .enumerate()
            .map(|(i, payload)| {
                let index = i as u16;
                let flags = Flags::empty()
                    .with(Flags::KEYFRAME, keyframe)
                    .with(Flags::LAST_SHARD, index + 1 == count);
                let header = Header {
                    stream: self.stream,
                    flags,
                    sequence: 0,
                    frame_index,
                    shard_index: index,
                    shard_count: count,
                    data_shards: data as u16,
                    capture_us,
                    send_offset_us: None,
                };
                (header, payload)
            })
            .collect()
    }
}

/// A frame put back together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub frame_index: u32,
    pub capture_us: u64,
    pub keyframe: bool,
    pub data: Vec<u8>,
    /// When its first and last shard arrived, on the receiver's clock.
    pub first_shard_us: u64,
    pub last_shard_us: u64,
    /// When the last shard to arrive was sent, on the sender's clock.
    pub last_shard_sent_us: Option<u64>,
    /// Every data shard came on its first sending: no parity, no
    /// retransmission. Only such frames time the path (a frame that waited
    /// for a NACK says nothing about queues).
    pub clean: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepacketizerEvent {
    Frame(Frame),
    /// `count` consecutive frames starting at `first` will never be delivered.
    Lost {
        first: u32,
        count: u32,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DepacketizeError {
    #[error("shard for stream {got:?} fed to the {expected:?} depacketizer")]
    WrongStream {
        expected: StreamKind,
        got: StreamKind,
    },
    #[error("shard of frame {frame_index} disagrees with earlier shards of that frame")]
    Inconsistent { frame_index: u32 },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketizerStats {
    pub shards: u64,
    pub duplicate_shards: u64,
    pub late_shards: u64,
    pub frames_completed: u64,
    pub frames_lost: u64,
    /// Frames that needed parity shards to be rebuilt.
    pub frames_recovered: u64,
    /// Data shards rebuilt from parity.
    pub shards_recovered: u64,
    /// Of those, data shards that arrived after all (late, not lost): the
    /// rebuild only saved waiting for them.
    pub shards_rebuilt_but_late: u64,
    /// Frames rebuilt from parity whose missing data shards all came late:
    /// `frames_recovered` minus these is what FEC was really needed for.
    pub frames_recovered_late: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct DepacketizerConfig {
    /// How far ahead (in frames) a complete frame may be before an earlier
    /// incomplete one is given up.
    pub max_reorder_frames: u32,
    /// How long a complete frame may wait for an earlier incomplete one.
    pub reorder_timeout_us: u64,
    /// A jump further ahead than this resynchronises instead of buffering.
    pub max_window_frames: u32,
}

impl Default for DepacketizerConfig {
    fn default() -> Self {
        DepacketizerConfig {
            max_reorder_frames: 3,
            reorder_timeout_us: 50_000,
            max_window_frames: 256,
        }
    }
}

#[derive(Debug)]
struct Partial {
    shard_count: u16,
    data_shards: u16,
    capture_us: u64,
    keyframe: bool,
    shards: Vec<Option<Vec<u8>>>,
    received: u16,
    first_shard_us: u64,
    last_shard_us: u64,
    last_shard_sent_us: Option<u64>,
    retransmitted: bool,
}

impl Partial {
    /// Enough shards to rebuild the frame (any `data_shards` of them).
    fn is_complete(&self) -> bool {
        self.received >= self.data_shards
    }
}

/// Reassembles the frames of one stream, in frame order.
#[derive(Debug)]
pub struct Depacketizer {
    stream: StreamKind,
    config: DepacketizerConfig,
    /// Lowest frame index not yet delivered or declared lost (streams start at 0).
    next_index: u32,
    pending: BTreeMap<u32, Partial>,
    /// When the oldest complete-but-waiting frame completed.
    waiting_since_us: Option<u64>,
    events: VecDeque<DepacketizerEvent>,
    stats: DepacketizerStats,
    /// Data shards rebuilt from parity in recent frames, to tell a late
    /// shard from a lost one afterwards.
    rebuilt: BTreeMap<u32, Vec<u16>>,
}

/// Recent rebuilt frames remembered for late-shard accounting.
const REBUILT_MEMORY_FRAMES: usize = 64;

impl Depacketizer {
    pub fn new(stream: StreamKind, config: DepacketizerConfig) -> Self {
        Depacketizer {
            stream,
            config,
            next_index: 0,
            pending: BTreeMap::new(),
            waiting_since_us: None,
            events: VecDeque::new(),
            stats: DepacketizerStats::default(),
            rebuilt: BTreeMap::new(),
        }
    }

    pub fn stats(&self) -> DepacketizerStats {
        self.stats
    }

    /// Feeds one opened shard.
    pub fn handle_shard(
        &mut self,
        now_us: u64,
        header: &Header,
        payload: &[u8],
    ) -> Result<(), DepacketizeError> {
        if header.stream != self.stream {
            return Err(DepacketizeError::WrongStream {
                expected: self.stream,
                got: header.stream,
            });
        }
        self.stats.shards += 1;
        let next = self.next_index;
        if header.frame_index < next {
            self.stats.late_shards += 1;
            self.note_late_shard(header);
            return Ok(());
        }
        if header.frame_index - next >= self.config.max_window_frames {
            // The sender is far ahead (a long blackout): give up what we hold.
            let skip_to = header.frame_index;
            self.declare_lost_until(skip_to);
        }
        let partial = self
            .pending
            .entry(header.frame_index)
            .or_insert_with(|| Partial {
                shard_count: header.shard_count,
                data_shards: header.data_shards,
                capture_us: header.capture_us,
                keyframe: header.flags.contains(Flags::KEYFRAME),
                shards: vec![None; usize::from(header.shard_count)],
                received: 0,
                first_shard_us: now_us,
                last_shard_us: now_us,
                last_shard_sent_us: None,
                retransmitted: false,
            });
        if partial.shard_count != header.shard_count
            || partial.data_shards != header.data_shards
            || partial.capture_us != header.capture_us
        {
            return Err(DepacketizeError::Inconsistent {
                frame_index: header.frame_index,
            });
        }
        let complete = partial.is_complete();
        let slot = &mut partial.shards[usize::from(header.shard_index)];
        if complete && slot.is_none() && header.shard_index < partial.data_shards {
            // A data shard of a frame parity can already rebuild: late, not lost.
            self.stats.late_shards += 1;
            *slot = Some(payload.to_vec());
            return Ok(());
        }
        if slot.is_some() || complete {
            // A duplicate, or a spare shard of a frame already rebuildable.
            self.stats.duplicate_shards += 1;
            return Ok(());
        }
        *slot = Some(payload.to_vec());
        partial.received += 1;
        partial.last_shard_us = now_us;
        partial.last_shard_sent_us = header.sent_us();
        partial.retransmitted |= header.flags.contains(Flags::RETRANSMIT);
        if partial.is_complete() && header.frame_index != next && self.waiting_since_us.is_none() {
            self.waiting_since_us = Some(now_us);
        }
        self.release(now_us);
        Ok(())
    }

    /// Whether frames are being reassembled.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Gives up every frame before `frame_index` (after an outage nothing
    /// earlier is worth waiting for).
    pub fn skip_to(&mut self, now_us: u64, frame_index: u32) {
        if frame_index > self.next_index
            && frame_index - self.next_index < self.config.max_window_frames
        {
            self.declare_lost_until(frame_index);
            self.release(now_us);
        }
    }

    /// Gives up on frames that waited past the reorder timeout.
    pub fn handle_timeout(&mut self, now_us: u64) {
        self.release(now_us);
    }

    /// When `handle_timeout` should next be called, if anything waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.waiting_since_us
            .map(|since| since + self.config.reorder_timeout_us)
    }

    /// Shards worth asking again for: of each frame that a later frame has
    /// overtaken and that is still incomplete after `min_age_us` (so mere
    /// reordering is not mistaken for loss), as many missing indices as it
    /// still needs (data shards first). A frame of which nothing arrived
    /// comes with an empty list: all of it is missing.
    pub fn missing_shards(&self, now_us: u64, min_age_us: u64) -> Vec<(u32, Vec<u16>)> {
        let Some(&newest) = self.pending.keys().next_back() else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        for index in self.next_index..newest {
            match self.pending.get(&index) {
                Some(partial) if partial.is_complete() => {}
                Some(partial) => {
                    if now_us >= partial.first_shard_us + min_age_us {
                        let needed = usize::from(partial.data_shards - partial.received);
                        let shards = partial
                            .shards
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| s.is_none())
                            .map(|(i, _)| i as u16)
                            .take(needed)
                            .collect();
                        missing.push((index, shards));
                    }
                }
                None => {
                    // Absent since a later frame began to arrive.
                    let later = self.pending.range(index + 1..).next();
                    if later.is_some_and(|(_, p)| now_us >= p.first_shard_us + min_age_us) {
                        missing.push((index, Vec::new()));
                    }
                }
            }
        }
        missing
    }

    pub fn poll_event(&mut self) -> Option<DepacketizerEvent> {
        self.events.pop_front()
    }

    fn release(&mut self, now_us: u64) {
        // Once frames are given up for a jump far ahead (a blackout), frames
        // of which nothing at all arrived are given up with them.
        let mut skipping_absent = false;
        loop {
            let next = self.next_index;
            match self.pending.get(&next) {
                Some(partial) if partial.is_complete() => {
                    let partial = self.pending.remove(&next).expect("checked above");
                    self.deliver(next, partial);
                    self.next_index = next.wrapping_add(1);
                    self.waiting_since_us = self.oldest_complete_waiting(now_us);
                }
                Some(_) => {
                    if !self.should_give_up(now_us) {
                        break;
                    }
                    skipping_absent = true;
                    self.declare_lost_until(next.wrapping_add(1));
                }
                None => {
                    let complete_later = self.pending.values().any(Partial::is_complete);
                    if !(complete_later && (skipping_absent || self.should_give_up(now_us))) {
                        break;
                    }
                    skipping_absent = true;
                    self.declare_lost_until(next.wrapping_add(1));
                }
            }
        }
    }

    /// Gives up on `next_index` when a complete frame further ahead than the
    /// reorder tolerance exists, or one has waited past the timeout.
    fn should_give_up(&self, now_us: u64) -> bool {
        let newest_complete = self
            .pending
            .iter()
            .rev()
            .find(|(_, partial)| partial.is_complete())
            .map(|(&index, _)| index);
        let Some(newest) = newest_complete else {
            return false;
        };
        let timed_out = self
            .waiting_since_us
            .is_some_and(|since| now_us >= since + self.config.reorder_timeout_us);
        // Nothing before a complete keyframe is needed to show it.
        let keyframe_ahead = self
            .pending
            .values()
            .any(|partial| partial.keyframe && partial.is_complete());
        newest - self.next_index > self.config.max_reorder_frames || timed_out || keyframe_ahead
    }

    /// A data shard of a delivered frame: if parity rebuilt it, it was late,
    /// not lost.
    fn note_late_shard(&mut self, header: &Header) {
        if let Some(missing) = self.rebuilt.get_mut(&header.frame_index)
            && let Some(at) = missing.iter().position(|&i| i == header.shard_index)
        {
            missing.swap_remove(at);
            self.stats.shards_rebuilt_but_late += 1;
            if missing.is_empty() {
                self.rebuilt.remove(&header.frame_index);
                self.stats.frames_recovered_late += 1;
            }
        }
    }

    /// After a delivery, complete frames still waiting behind an incomplete
    /// one start a fresh wait (conservative: never gives up early).
    fn oldest_complete_waiting(&self, now_us: u64) -> Option<u64> {
        self.pending
            .values()
            .any(Partial::is_complete)
            .then_some(now_us)
    }

    /// Declares every frame from `next_index` up to (not including) `end` lost.
    fn declare_lost_until(&mut self, end: u32) {
        let next = self.next_index;
        if end <= next {
            return;
        }
        let dropped: Vec<u32> = self.pending.range(next..end).map(|(k, _)| *k).collect();
        for index in dropped {
            self.pending.remove(&index);
        }
        let count = end - next;
        self.stats.frames_lost += u64::from(count);
        self.events
            .push_back(DepacketizerEvent::Lost { first: next, count });
        self.next_index = end;
        if !self.pending.values().any(Partial::is_complete) {
            self.waiting_since_us = None;
        }
    }

    fn deliver(&mut self, frame_index: u32, partial: Partial) {
        let data_shards = usize::from(partial.data_shards);
        let missing_data = partial.shards[..data_shards]
            .iter()
            .filter(|s| s.is_none())
            .count();
        match fec::decode(data_shards, &partial.shards) {
            Ok(data) => {
                self.stats.frames_completed += 1;
                if missing_data > 0 {
                    self.stats.frames_recovered += 1;
                    self.stats.shards_recovered += missing_data as u64;
                    let missing = (0..data_shards)
                        .filter(|&i| partial.shards[i].is_none())
                        .map(|i| i as u16)
                        .collect();
                    self.rebuilt.insert(frame_index, missing);
                    while self.rebuilt.len() > REBUILT_MEMORY_FRAMES {
                        self.rebuilt.pop_first();
                    }
                }
                self.events.push_back(DepacketizerEvent::Frame(Frame {
                    frame_index,
                    capture_us: partial.capture_us,
                    keyframe: partial.keyframe,
                    data,
                    first_shard_us: partial.first_shard_us,
                    last_shard_us: partial.last_shard_us,
                    last_shard_sent_us: partial.last_shard_sent_us,
                    clean: missing_data == 0 && !partial.retransmitted,
                }));
            }
            Err(_) => {
                // Authentic shards that do not rebuild: a sender bug, never shown.
                self.stats.frames_lost += 1;
                self.events.push_back(DepacketizerEvent::Lost {
                    first: frame_index,
                    count: 1,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(count: usize, len: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|f| (0..len + f * 37).map(|i| (i * 7 + f) as u8).collect())
            .collect()
    }

    fn drain(depacketizer: &mut Depacketizer) -> Vec<DepacketizerEvent> {
        std::iter::from_fn(|| depacketizer.poll_event()).collect()
    }

    #[test]
    fn shards_fit_the_payload_limit_and_round_trip() {
        let mut packetizer = Packetizer::new(StreamKind::Video, 1200);
        let mut depacketizer = Depacketizer::new(StreamKind::Video, Default::default());
        let frame: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let shards = packetizer.packetize(&frame, 42, true);
        assert_eq!(shards.len(), 5);
        assert!(shards.iter().all(|(_, p)| p.len() <= 1200));
        assert!(shards.last().unwrap().0.flags.contains(Flags::LAST_SHARD));
        for (header, payload) in &shards {
            depacketizer.handle_shard(7, header, payload).unwrap();
        }
        match drain(&mut depacketizer).as_slice() {
            [DepacketizerEvent::Frame(f)] => {
                assert_eq!(f.data, frame);
                assert!(f.keyframe);
                assert_eq!(f.capture_us, 42);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_frame_missing_a_shard_is_reported_lost_never_delivered() {
        let mut packetizer = Packetizer::new(StreamKind::Video, 100);
        let mut depacketizer = Depacketizer::new(StreamKind::Video, Default::default());
        let all = frames(6, 450);
        for (f, frame) in all.iter().enumerate() {
            for (header, payload) in packetizer.packetize(frame, f as u64, false) {
                if f == 1 && header.shard_index == 2 {
                    continue;
                }
                depacketizer
                    .handle_shard(f as u64 * 1000, &header, &payload)
                    .unwrap();
            }
        }
        let events = drain(&mut depacketizer);
        assert!(events.contains(&DepacketizerEvent::Lost { first: 1, count: 1 }));
        let delivered: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                DepacketizerEvent::Frame(f) => Some(f.frame_index),
                _ => None,
            })
            .collect();
        assert_eq!(delivered, vec![0, 2, 3, 4, 5]);
    }

    #[test]
    fn parity_rebuilds_a_frame_missing_data_shards() {
        let mut packetizer = Packetizer::new(StreamKind::Video, 100);
        packetizer.set_parity_pct(50);
        let mut depacketizer = Depacketizer::new(StreamKind::Video, Default::default());
        let frame: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
        let shards = packetizer.packetize(&frame, 5, true);
        assert_eq!(shards[0].0.data_shards, 11);
        assert_eq!(shards.len(), 17);
        for (header, payload) in shards.iter().filter(|(h, _)| h.shard_index % 3 != 1) {
            depacketizer.handle_shard(0, header, payload).unwrap();
        }
        match drain(&mut depacketizer).as_slice() {
            [DepacketizerEvent::Frame(f)] => assert_eq!(f.data, frame),
            other => panic!("unexpected {other:?}"),
        }
        let stats = depacketizer.stats();
        assert_eq!((stats.frames_recovered, stats.shards_recovered), (1, 4));
    }

    #[test]
    fn timeout_releases_a_waiting_frame() {
        let mut packetizer = Packetizer::new(StreamKind::Video, 100);
        let mut depacketizer = Depacketizer::new(StreamKind::Video, Default::default());
        let all = frames(2, 250);
        let first = packetizer.packetize(&all[0], 0, false);
        let second = packetizer.packetize(&all[1], 1, false);
        depacketizer
            .handle_shard(0, &first[0].0, &first[0].1)
            .unwrap();
        for (header, payload) in &second {
            depacketizer.handle_shard(10, header, payload).unwrap();
        }
        assert!(drain(&mut depacketizer).is_empty());
        let deadline = depacketizer.poll_timeout().unwrap();
        depacketizer.handle_timeout(deadline);
        let events = drain(&mut depacketizer);
        assert_eq!(events[0], DepacketizerEvent::Lost { first: 0, count: 1 });
        assert!(matches!(&events[1], DepacketizerEvent::Frame(f) if f.frame_index == 1));
    }

    proptest! {
        /// Any reordering and duplication of the shards still delivers every
        /// frame intact and in order.
        #[test]
        fn reordering_and_duplicates_are_harmless(seed: u64, dup_every in 2usize..9) {
            let mut packetizer = Packetizer::new(StreamKind::Video, 64);
            let all = frames(8, 130);
            let mut shards: Vec<(Header, Vec<u8>)> = Vec::new();
            for (f, frame) in all.iter().enumerate() {
                for (h, p) in packetizer.packetize(frame, f as u64, f == 0) {
                    shards.push((h, p.to_vec()));
                }
            }
            for i in (0..shards.len()).step_by(dup_every) {
                let copy = shards[i].clone();
                shards.push(copy);
            }
            // Local reordering (a window of 3 frames' worth), deterministic by seed.
            let mut state = seed | 1;
            for i in 0..shards.len() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                let j = (i + (state % 6) as usize).min(shards.len() - 1);
                shards.swap(i, j);
            }
            let config = DepacketizerConfig { max_reorder_frames: 64, ..Default::default() };
            let mut depacketizer = Depacketizer::new(StreamKind::Video, config);
            for (h, p) in &shards {
                depacketizer.handle_shard(0, h, p).unwrap();
            }
            let delivered: Vec<Vec<u8>> = drain(&mut depacketizer).into_iter().filter_map(|e| match e {
                DepacketizerEvent::Frame(f) => Some(f.data),
                DepacketizerEvent::Lost { .. } => None,
            }).collect();
            prop_assert_eq!(&delivered[..], &all[..]);
        }
    }
}
