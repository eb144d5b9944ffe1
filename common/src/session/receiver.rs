//! The viewer's media receiver: open → depacketize (FEC) → keep the
//! reference chain → hand on decodable frames; meanwhile measure loss, what
//! got through and the delay trend, and decide which shards to NACK and
//! when to ask for a keyframe.

use std::collections::{BTreeMap, VecDeque};

use crate::congestion::{DelayDetector, DelaySignal};
use crate::datagram::StreamKind;
use crate::packetizer::{Depacketizer, DepacketizerConfig, DepacketizerEvent, Frame};
use crate::seal::{MediaKey, OpenError, Opener};

use super::SessionConfig;

/// What the receiver hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A frame the decoder can decode: its reference chain is whole.
    Video(Frame),
    /// An Opus packet; `None` asks the decoder to conceal one.
    Audio(Option<Vec<u8>>),
}

/// Counters since the stream began; they only grow (saturating).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// Failed to open (forged, corrupt, too old): dropped and counted.
    pub datagrams_dropped: u64,
    pub duplicates: u64,
    pub frames_received: u64,
    /// Frames never shown: lost, or behind a break in the reference chain.
    pub frames_lost: u64,
    /// Frames FEC rebuilt because a data shard really was lost.
    pub frames_recovered: u64,
    /// Data shards that came after parity had already rebuilt their frame.
    pub shards_late: u64,
    pub nacks_sent: u64,
    pub keyframe_requests: u64,
    pub audio_packets: u64,
    pub outages: u64,
}

/// Datagram loss from gaps in the sender's sequence numbers; duplicates
/// are not counted as received, and a gap across an outage is not loss.
/// Gaps met by a datagram that waited in a queue are the queue's drops
/// (congestion); the others are the path's noise, which FEC is for.
#[derive(Debug, Default)]
struct LossMeter {
    highest: Option<u64>,
    baseline: Option<u64>,
    received: u64,
    /// Datagrams missing in gaps that ended at a queued datagram.
    queue_missing: u64,
}

/// What one report window saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Loss {
    pub all: f64,
    /// The share lost at a full queue (included in `all`).
    pub at_queue: f64,
}

impl LossMeter {
    fn record(&mut self, sequence: u64, queued: bool) {
        self.received += 1;
        if let Some(high) = self.highest
            && sequence > high + 1
            && queued
        {
            self.queue_missing += sequence - high - 1;
        }
        self.highest = Some(self.highest.map_or(sequence, |h| h.max(sequence)));
        self.baseline.get_or_insert(sequence.saturating_sub(1));
    }

    /// Starts counting afresh just before `sequence`.
    fn restart_before(&mut self, sequence: u64) {
        self.baseline = Some(sequence.saturating_sub(1));
        self.highest = None;
        self.received = 0;
        self.queue_missing = 0;
    }

    fn take_loss(&mut self) -> Loss {
        let loss = match (self.highest, self.baseline) {
            (Some(high), Some(low)) if high > low => {
                let expected = (high - low) as f64;
                let all = 1.0 - (self.received as f64 / expected).min(1.0);
                Loss {
                    all,
                    at_queue: (self.queue_missing as f64 / expected).min(all),
                }
            }
            _ => Loss::default(),
        };
        if self.highest.is_some() {
            self.baseline = self.highest;
        }
        self.received = 0;
        self.queue_missing = 0;
        loss
    }
}

/// The base delay is the least seen over the last two such windows (a
/// route that got slower is learnt within 20 s).
const BASE_WINDOW_US: u64 = 10_000_000;

/// One-way delay (our clock minus the sender's: the offset cancels out)
/// against its floor: the least in a recent window minus the least over
/// a long one is the queue every datagram waited in.
#[derive(Debug)]
struct QueueDelay {
    window_us: u64,
    recent: VecDeque<(u64, i64)>,
    base: [(u64, i64); 2],
}

impl QueueDelay {
    fn new(window_us: u64) -> Self {
        QueueDelay {
            window_us,
            recent: VecDeque::new(),
            base: [(0, i64::MAX); 2],
        }
    }

    fn reset(&mut self) {
        *self = QueueDelay::new(self.window_us);
    }

    fn record(&mut self, now_us: u64, transit_us: i64) {
        // A monotone deque of the window's minimum.
        while self.recent.back().is_some_and(|&(_, t)| t >= transit_us) {
            self.recent.pop_back();
        }
        self.recent.push_back((now_us, transit_us));
        while self
            .recent
            .front()
            .is_some_and(|&(at, _)| now_us.saturating_sub(at) > self.window_us)
        {
            self.recent.pop_front();
        }
        if now_us >= self.base[1].0 + BASE_WINDOW_US {
            self.base = [self.base[1], (now_us, transit_us)];
        }
        self.base[1].1 = self.base[1].1.min(transit_us);
    }

    /// How long a datagram of `transit_us` waited beyond the base.
    fn delay_of(&self, transit_us: i64) -> u64 {
        let base = self.base[0].1.min(self.base[1].1);
        transit_us.saturating_sub(base).max(0) as u64
    }

    fn standing_us(&self) -> u64 {
        let Some(&(_, recent)) = self.recent.front() else {
            return 0;
        };
        let base = self.base[0].1.min(self.base[1].1);
        recent.saturating_sub(base).max(0) as u64
    }
}

/// The picture's reference chain: broken by a lost frame, whole again at
/// the next keyframe.
#[derive(Debug)]
struct Chain {
    whole: bool,
    expected_next: u32,
    /// Newest frame index seen in any shard (sent with keyframe requests).
    newest_seen: Option<u32>,
    last_request_us: Option<u64>,
}

pub(crate) struct MediaReceiver {
    opener: Opener,
    video: Depacketizer,
    audio: Depacketizer,
    detector: DelayDetector,
    loss: LossMeter,
    /// (arrival, bytes) within the rate window.
    arrivals: VecDeque<(u64, usize)>,
    arrived_bytes: usize,
    first_arrival_us: Option<u64>,
    last_datagram_us: Option<u64>,
    last_video_us: Option<u64>,
    queue: QueueDelay,
    /// RFC 3550 interarrival jitter over clean frames, µs.
    jitter_us: f64,
    last_transit_us: Option<i64>,
    nacked: BTreeMap<u32, u64>,
    chain: Chain,
    output: VecDeque<Received>,
    stats: ReceiverStats,
    rate_window_us: u64,
    outage_gap_us: u64,
    standing_queue_us: u64,
}

impl MediaReceiver {
    pub fn new(key: &MediaKey, config: &SessionConfig, fps: u32) -> Self {
        let frame_us = 1_000_000 / u64::from(fps.max(1));
        let video = DepacketizerConfig {
            max_reorder_frames: (config.reassembly_wait_us / frame_us).max(1) as u32,
            reorder_timeout_us: config.reassembly_wait_us,
            ..Default::default()
        };
        MediaReceiver {
            opener: Opener::new(key),
            video: Depacketizer::new(StreamKind::Video, video),
            audio: Depacketizer::new(StreamKind::Audio, DepacketizerConfig::default()),
            detector: DelayDetector::default(),
            loss: LossMeter::default(),
            arrivals: VecDeque::new(),
            arrived_bytes: 0,
            first_arrival_us: None,
            last_datagram_us: None,
            last_video_us: None,
            queue: QueueDelay::new(config.standing_queue_window_us),
            standing_queue_us: config.standing_queue_us,
            jitter_us: 0.0,
            last_transit_us: None,
            nacked: BTreeMap::new(),
            chain: Chain {
                whole: false,
                expected_next: 0,
                newest_seen: None,
                last_request_us: None,
            },
            output: VecDeque::new(),
            stats: ReceiverStats::default(),
            rate_window_us: config.received_rate_window_us,
            outage_gap_us: config.outage_gap_us,
        }
    }

    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            frames_recovered: {
                let s = self.video.stats();
                s.frames_recovered.saturating_sub(s.frames_recovered_late)
            },
            shards_late: self.video.stats().shards_rebuilt_but_late,
            ..self.stats
        }
    }

    /// The delay detector's signal; a standing queue (every datagram of
    /// the last window delayed past the path's base) is overuse too, even
    /// when no frame arrives cleanly enough to time the trend.
    pub fn signal(&self) -> DelaySignal {
        if self.queue.standing_us() >= self.standing_queue_us {
            return DelaySignal::Overuse;
        }
        self.detector.signal()
    }

    /// How far the quickest recent datagram was behind the path's base delay.
    pub fn queue_delay_ms(&self) -> f64 {
        self.queue.standing_us() as f64 / 1000.0
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us / 1000.0
    }

    pub fn poll_output(&mut self) -> Option<Received> {
        self.output.pop_front()
    }

    /// Feeds one datagram; `Ok(kind)` once it opened. A probe answered
    /// back is ignored.
    pub fn handle_datagram(
        &mut self,
        now_us: u64,
        datagram: &[u8],
    ) -> Result<StreamKind, OpenError> {
        let (header, payload) = match self.opener.open(datagram) {
            Ok(opened) => opened,
            Err(e @ OpenError::Replayed(_)) => {
                self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                return Err(e);
            }
            Err(e) => {
                self.stats.datagrams_dropped = self.stats.datagrams_dropped.saturating_add(1);
                return Err(e);
            }
        };
        self.stats.datagrams_received = self.stats.datagrams_received.saturating_add(1);
        self.stats.bytes_received = self
            .stats
            .bytes_received
            .saturating_add(datagram.len() as u64);
        let outage = self
            .last_datagram_us
            .is_some_and(|last| now_us.saturating_sub(last) >= self.outage_gap_us);
        if outage {
            // What was missed in an outage is not loss, and old delays mean nothing.
            self.stats.outages += 1;
            self.loss.restart_before(header.sequence);
            self.detector.reset();
            self.queue.reset();
            self.last_transit_us = None;
            self.arrivals.clear();
            self.arrived_bytes = 0;
            self.first_arrival_us = None;
        }
        self.last_datagram_us = Some(now_us);
        let queued = header.sent_us().is_some_and(|sent_us| {
            let transit_us = now_us as i64 - sent_us as i64;
            self.queue.record(now_us, transit_us);
            self.queue.delay_of(transit_us) * 2 >= self.standing_queue_us
        });
        self.loss.record(header.sequence, queued);
        self.record_arrival(now_us, datagram.len());
        match header.stream {
            StreamKind::Video => {
                let video_gap = self
                    .last_video_us
                    .is_none_or(|last| now_us.saturating_sub(last) >= self.outage_gap_us);
                self.last_video_us = Some(now_us);
                self.chain.newest_seen = Some(
                    self.chain
                        .newest_seen
                        .map_or(header.frame_index, |n| n.max(header.frame_index)),
                );
                if self.video.handle_shard(now_us, &header, &payload).is_err() {
                    self.stats.datagrams_dropped += 1;
                }
                if video_gap && header.frame_index > self.chain.expected_next {
                    // Frames went by unseen: do not wait for them.
                    self.video.skip_to(now_us, header.frame_index);
                }
                self.drain_video();
            }
            StreamKind::Audio => {
                if self.audio.handle_shard(now_us, &header, &payload).is_err() {
                    self.stats.datagrams_dropped += 1;
                }
                self.drain_audio();
            }
            StreamKind::Input | StreamKind::Probe => {}
        }
        Ok(header.stream)
    }

    /// Whether anything may need a NACK or a keyframe request (frames in
    /// reassembly, or a broken picture).
    pub fn needs_repair(&self) -> bool {
        self.video.has_pending() || !self.chain.whole
    }

    /// The decoder could not decode what it was given: the chain is broken.
    pub fn handle_decode_error(&mut self) {
        self.chain.whole = false;
    }

    pub fn handle_timeout(&mut self, now_us: u64) {
        self.video.handle_timeout(now_us);
        self.audio.handle_timeout(now_us);
        self.drain_video();
        self.drain_audio();
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        [self.video.poll_timeout(), self.audio.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Shards to ask for again: missing longer than the wait (more with
    /// jitter, so a late shard is not taken as lost), at most once per
    /// `repeat_us` per frame.
    pub fn due_nacks(
        &mut self,
        now_us: u64,
        min_wait_us: u64,
        repeat_us: u64,
    ) -> Vec<(u32, Vec<u16>)> {
        let wait_us = min_wait_us.max((2.0 * self.jitter_us) as u64);
        let mut due = Vec::new();
        for (frame_index, shards) in self.video.missing_shards(now_us, wait_us) {
            let repeat = self
                .nacked
                .get(&frame_index)
                .is_none_or(|&at| now_us >= at + repeat_us);
            if repeat {
                self.nacked.insert(frame_index, now_us);
                due.push((frame_index, shards));
            }
        }
        self.stats.nacks_sent += due.len() as u64;
        while self.nacked.len() > 64 {
            self.nacked.pop_first();
        }
        due
    }

    /// A keyframe request when the picture is broken (or never started)
    /// and the last one is older than `repeat_us`: the newest frame seen.
    pub fn due_keyframe_request(&mut self, now_us: u64, repeat_us: u64) -> Option<u32> {
        if self.chain.whole {
            return None;
        }
        let newest = self.chain.newest_seen?;
        if self
            .chain
            .last_request_us
            .is_some_and(|at| now_us < at + repeat_us)
        {
            return None;
        }
        self.chain.last_request_us = Some(now_us);
        self.stats.keyframe_requests += 1;
        Some(newest)
    }

    /// Closes a report: loss since the last one and the rate over the window.
    pub fn take_loss(&mut self) -> Loss {
        self.loss.take_loss()
    }

    pub fn received_kbps(&mut self, now_us: u64) -> f64 {
        self.expire_arrivals(now_us);
        let Some(first) = self.first_arrival_us else {
            return 0.0;
        };
        let span_us = now_us.saturating_sub(first).clamp(1, self.rate_window_us);
        self.arrived_bytes as f64 * 8.0 * 1000.0 / span_us as f64
    }

    fn record_arrival(&mut self, now_us: u64, bytes: usize) {
        self.first_arrival_us.get_or_insert(now_us);
        self.arrivals.push_back((now_us, bytes));
        self.arrived_bytes += bytes;
        self.expire_arrivals(now_us);
    }

    fn expire_arrivals(&mut self, now_us: u64) {
        while let Some(&(at, bytes)) = self.arrivals.front() {
            if now_us.saturating_sub(at) <= self.rate_window_us {
                break;
            }
            self.arrivals.pop_front();
            self.arrived_bytes -= bytes;
        }
    }

    fn drain_video(&mut self) {
        while let Some(event) = self.video.poll_event() {
            match event {
                DepacketizerEvent::Frame(frame) => {
                    self.stats.frames_received += 1;
                    self.time_path(&frame);
                    let in_order = frame.frame_index == self.chain.expected_next;
                    self.chain.expected_next = frame.frame_index.wrapping_add(1);
                    if frame.keyframe {
                        self.chain.whole = true;
                    } else if !in_order {
                        self.chain.whole = false;
                    }
                    if self.chain.whole {
                        self.output.push_back(Received::Video(frame));
                    } else {
                        self.stats.frames_lost += 1;
                    }
                }
                DepacketizerEvent::Lost { first, count } => {
                    self.stats.frames_lost += u64::from(count);
                    self.chain.expected_next = first.wrapping_add(count);
                    self.chain.whole = false;
                }
            }
        }
    }

    /// Feeds the delay detector and the jitter estimate from a frame that
    /// came cleanly (no parity, no retransmission).
    fn time_path(&mut self, frame: &Frame) {
        let Some(sent_us) = frame.last_shard_sent_us.filter(|_| frame.clean) else {
            return;
        };
        self.detector.handle_frame(frame.last_shard_us, sent_us);
        let transit = frame.last_shard_us as i64 - sent_us as i64;
        if let Some(last) = self.last_transit_us {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit);
    }

    fn drain_audio(&mut self) {
        while let Some(event) = self.audio.poll_event() {
            match event {
                DepacketizerEvent::Frame(packet) => {
                    self.stats.audio_packets += 1;
                    self.output.push_back(Received::Audio(Some(packet.data)));
                }
                // Past a few missing packets, silence is the honest answer.
                DepacketizerEvent::Lost { count, .. } => {
                    for _ in 0..count.min(5) {
                        self.output.push_back(Received::Audio(None));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{Flags, Header};
    use crate::seal::Sealer;
    use proptest::prelude::*;

    fn datagrams(count: usize) -> Vec<Vec<u8>> {
        let key = MediaKey::from_bytes([3; 32]);
        let mut sealer = Sealer::new(&key);
        (0..count)
            .map(|i| {
                let mut header = Header {
                    stream: StreamKind::Video,
                    flags: Flags::empty().with(Flags::KEYFRAME, i == 0),
                    sequence: 0,
                    frame_index: (i / 3) as u32,
                    shard_index: (i % 3) as u16,
                    shard_count: 3,
                    data_shards: 3,
                    capture_us: (i as u64 / 3) * 16_667,
                    send_offset_us: None,
                };
                header.stamp_sent(header.capture_us + 500);
                sealer.seal(header, &[i as u8; 64])
            })
            .collect()
    }

    proptest! {
        /// Whatever order, duplication and timing the datagrams come in
        /// (the clock even stepping back), the counters only grow, loss is
        /// a share, and rates and delays are finite and never negative:
        /// nothing wraps.
        #[test]
        fn statistics_never_wrap(
            order in proptest::collection::vec((0usize..60, 0u64..2_000_000, any::<bool>()), 1..200),
        ) {
            let all = datagrams(60);
            let mut receiver = MediaReceiver::new(&MediaKey::from_bytes([3; 32]), &SessionConfig::default(), 60);
            let mut before = receiver.stats();
            for (index, at_us, report) in order {
                let _ = receiver.handle_datagram(at_us, &all[index]);
                receiver.handle_timeout(at_us);
                let stats = receiver.stats();
                prop_assert!(stats.datagrams_received >= before.datagrams_received);
                prop_assert!(stats.frames_received >= before.frames_received);
                prop_assert!(stats.frames_lost >= before.frames_lost);
                prop_assert!(stats.bytes_received >= before.bytes_received);
                before = stats;
                let kbps = receiver.received_kbps(at_us);
                prop_assert!((0.0..1e9).contains(&kbps), "{kbps}");
                prop_assert!(receiver.queue_delay_ms().is_finite() && receiver.queue_delay_ms() < 1e7);
                prop_assert!(receiver.jitter_ms().is_finite() && receiver.jitter_ms() >= 0.0);
                if report {
                    let loss = receiver.take_loss();
                    prop_assert!((0.0..=1.0).contains(&loss.all), "{loss:?}");
                    prop_assert!((0.0..=loss.all).contains(&loss.at_queue), "{loss:?}");
                }
            }
        }
    }
}
