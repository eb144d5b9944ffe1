//! The host's media sender: packetize (with FEC parity) → queue → pace →
//! seal. Sealing happens as a datagram leaves, so sequence numbers follow
//! the wire order and each datagram carries its real send time. Recent
//! video frames are kept so NACKed shards can go again while still useful.

use std::collections::VecDeque;

use crate::datagram::{Flags, Header, StreamKind};
use crate::packetizer::{DEFAULT_MAX_PAYLOAD, Packetizer};
use crate::seal::{MediaKey, Sealer};

use super::SessionConfig;

/// An encoded unit from the host's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUnit {
    pub stream: StreamKind,
    pub data: Vec<u8>,
    pub capture_us: u64,
    pub keyframe: bool,
}

/// What the sender did, for the sender report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub audio_packets_sent: u64,
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub shards_retransmitted: u64,
    /// Video shards dropped because the queue behind the pacer overflowed.
    pub shards_dropped: u64,
}

struct SentFrame {
    frame_index: u32,
    capture_us: u64,
    shards: Vec<(Header, Vec<u8>)>,
    /// When each shard was last queued again.
    resent_us: Vec<Option<u64>>,
}

/// Queued shards past this mean the path cannot carry what the encoder
/// makes: the backlog goes and the next frame is a keyframe.
const MAX_QUEUED_SHARDS: usize = 4096;

pub(crate) struct MediaSender {
    sealer: Sealer,
    video: Packetizer,
    audio: Packetizer,
    /// Audio and retransmissions go before video shards.
    urgent: VecDeque<(Header, Vec<u8>)>,
    queue: VecDeque<(Header, Vec<u8>)>,
    history: VecDeque<SentFrame>,
    history_frames: usize,
    retransmit_deadline_us: u64,
    tokens_bytes: f64,
    burst_bytes: f64,
    last_refill_us: Option<u64>,
    last_keyframe: Option<(u32, u64)>,
    /// Audio and retransmissions sent in the last `OTHER_WINDOW_US`.
    other: VecDeque<(u64, usize)>,
    other_bytes: usize,
    /// Wire bytes per encoded byte of delta frames (parity, headers, tags),
    /// smoothed: the encoder's budget is the target rate over this.
    overhead: f64,
    stats: SenderStats,
}

/// Header and tag of each datagram.
const DATAGRAM_OVERHEAD_BYTES: usize = crate::datagram::HEADER_LEN + crate::seal::TAG_LEN;
const OVERHEAD_SMOOTHING: f64 = 0.9;
const OTHER_WINDOW_US: u64 = 500_000;

impl MediaSender {
    pub fn new(key: &MediaKey, config: &SessionConfig) -> Self {
        MediaSender {
            sealer: Sealer::new(key),
            video: Packetizer::new(StreamKind::Video, DEFAULT_MAX_PAYLOAD),
            audio: Packetizer::new(StreamKind::Audio, DEFAULT_MAX_PAYLOAD),
            urgent: VecDeque::new(),
            queue: VecDeque::new(),
            history: VecDeque::with_capacity(config.history_frames),
            history_frames: config.history_frames,
            retransmit_deadline_us: config.retransmit_deadline_us,
            tokens_bytes: config.pacing_burst_bytes as f64,
            burst_bytes: config.pacing_burst_bytes as f64,
            last_refill_us: None,
            last_keyframe: None,
            other: VecDeque::new(),
            other_bytes: 0,
            overhead: 1.0 + f64::from(config.parity_floor_pct) / 100.0,
            stats: SenderStats::default(),
        }
    }

    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Wire bytes per encoded byte (delta frames, smoothed).
    pub fn overhead(&self) -> f64 {
        self.overhead
    }

    /// The last keyframe's index and capture time.
    pub fn last_keyframe(&self) -> Option<(u32, u64)> {
        self.last_keyframe
    }

    /// Queues a unit; `false` when the backlog had to be dropped (the caller
    /// asks the encoder for a keyframe).
    pub fn push(&mut self, unit: &MediaUnit, parity_pct: u32, loss: f64) -> bool {
        if unit.stream != StreamKind::Video {
            for shard in self.audio.packetize(&unit.data, unit.capture_us, false) {
                self.urgent.push_back(shard);
            }
            self.stats.audio_packets_sent += 1;
            return true;
        }
        let overflow = self.queue.len() > MAX_QUEUED_SHARDS;
        if overflow {
            self.stats.shards_dropped += self.queue.len() as u64;
            self.queue.clear();
        }
        self.video.set_parity_pct(parity_pct);
        self.video.set_loss(loss);
        let shards = self
            .video
            .packetize(&unit.data, unit.capture_us, unit.keyframe);
        let frame_index = shards[0].0.frame_index;
        if !unit.keyframe && !unit.data.is_empty() {
            let wire: usize = shards
                .iter()
                .map(|(_, p)| p.len() + DATAGRAM_OVERHEAD_BYTES)
                .sum();
            let ratio = wire as f64 / unit.data.len() as f64;
            self.overhead = OVERHEAD_SMOOTHING * self.overhead + (1.0 - OVERHEAD_SMOOTHING) * ratio;
        }
        if unit.keyframe {
            self.last_keyframe = Some((frame_index, unit.capture_us));
            self.stats.keyframes_sent += 1;
        }
        self.queue.extend(shards.iter().cloned());
        if self.history.len() == self.history_frames {
            self.history.pop_front();
        }
        self.history.push_back(SentFrame {
            frame_index,
            capture_us: unit.capture_us,
            resent_us: vec![None; shards.len()],
            shards,
        });
        self.stats.frames_sent += 1;
        !overflow
    }

    /// Queues the shards of a recent frame again (an empty list: all its
    /// data shards); a frame too old to be shown in time is not answered,
    /// and a shard sent again less than `repeat_us` ago is not sent again
    /// (the first copy may still be on its way).
    pub fn retransmit(&mut self, now_us: u64, frame_index: u32, shards: &[u16], repeat_us: u64) {
        let Some(frame) = self
            .history
            .iter_mut()
            .find(|f| f.frame_index == frame_index)
        else {
            return;
        };
        if now_us.saturating_sub(frame.capture_us) > self.retransmit_deadline_us {
            return;
        }
        for (i, (header, payload)) in frame.shards.iter().enumerate() {
            let wanted = if shards.is_empty() {
                header.shard_index < header.data_shards
            } else {
                shards.contains(&header.shard_index)
            };
            let recent = frame.resent_us[i].is_some_and(|at| now_us < at + repeat_us);
            if !wanted || recent {
                continue;
            }
            frame.resent_us[i] = Some(now_us);
            let mut header = *header;
            header.flags.insert(Flags::RETRANSMIT);
            self.urgent.push_back((header, payload.clone()));
            self.stats.shards_retransmitted += 1;
        }
    }

    /// What went out besides fresh video (audio, retransmissions) over
    /// the last window, kbps: the encoder's budget leaves room for it.
    pub fn other_kbps(&mut self, now_us: u64) -> f64 {
        self.expire_other(now_us);
        self.other_bytes as f64 * 8.0 * 1000.0 / OTHER_WINDOW_US as f64
    }

    fn expire_other(&mut self, now_us: u64) {
        while let Some(&(at, bytes)) = self.other.front() {
            if now_us.saturating_sub(at) <= OTHER_WINDOW_US {
                break;
            }
            self.other.pop_front();
            self.other_bytes -= bytes;
        }
    }

    /// Drops everything queued (the media path went away).
    pub fn discard_queued(&mut self) {
        self.urgent.clear();
        self.queue.clear();
    }

    fn refill(&mut self, now_us: u64, pacing_kbps: f64) {
        let last = self.last_refill_us.unwrap_or(now_us);
        let elapsed_us = now_us.saturating_sub(last) as f64;
        self.tokens_bytes =
            (self.tokens_bytes + elapsed_us * pacing_kbps / 8_000.0).min(self.burst_bytes);
        self.last_refill_us = Some(now_us.max(last));
    }

    /// The next datagram if the pacer lets it leave at `now_us`.
    pub fn poll_datagram(&mut self, now_us: u64, pacing_kbps: f64) -> Option<Vec<u8>> {
        self.refill(now_us, pacing_kbps);
        if self.tokens_bytes < 0.0 {
            return None;
        }
        let urgent = !self.urgent.is_empty();
        let (mut header, payload) = self.urgent.pop_front().or_else(|| self.queue.pop_front())?;
        header.stamp_sent(now_us);
        let datagram = self.sealer.seal(header, &payload);
        if urgent {
            self.other.push_back((now_us, datagram.len()));
            self.other_bytes += datagram.len();
            self.expire_other(now_us);
        }
        self.tokens_bytes -= datagram.len() as f64;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += datagram.len() as u64;
        Some(datagram)
    }

    /// When the pacer next lets a datagram go, if any waits.
    pub fn next_send_us(&self, pacing_kbps: f64) -> Option<u64> {
        if self.urgent.is_empty() && self.queue.is_empty() {
            return None;
        }
        let last = self.last_refill_us.unwrap_or(0);
        if self.tokens_bytes >= 0.0 {
            return Some(last);
        }
        let wait_us = (-self.tokens_bytes * 8_000.0 / pacing_kbps.max(1.0)).ceil() as u64;
        Some(last + wait_us.max(1))
    }
}
