//! Runs a video sender and receiver against an emulated link in virtual time:
//! FEC with parity adapted from receiver reports, NACKs for shards still
//! missing after FEC (answered only while the frame can be shown in time),
//! and keyframe requests when a frame is lost. Deterministic for a seed.

use std::collections::{BTreeMap, VecDeque};

use crate::congestion::{DelayTrend, PathReport, RateController};
use crate::datagram::StreamKind;
use crate::fec::ParityController;
use crate::packetizer::{Depacketizer, DepacketizerConfig, DepacketizerEvent, Packetizer};
use crate::seal::{MediaKey, Opener, Sealer};
use crate::testing::link::{Impairments, Link};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub duration_ms: u64,
    pub fps: u32,
    pub frame_bytes: usize,
    pub keyframe_bytes: usize,
    pub max_payload: usize,
    /// One-way delay of the feedback (control) path; it never loses.
    pub feedback_delay_ms: u64,
    /// The media path.
    pub impairments: Impairments,
    /// Blackouts of both directions, `(start_ms, end_ms)`.
    pub blackouts: Vec<(u64, u64)>,
    pub parity_floor_pct: u32,
    pub nack: bool,
    /// A frame arriving later than this after capture is not shown.
    pub deadline_ms: u64,
    /// With congestion control the frame size follows the target bitrate
    /// (keyframes four times a frame) instead of `frame_bytes`.
    pub congestion: Option<CongestionConfig>,
    /// Changes of the media path's rate limit: `(at_ms, rate_kbps)`.
    pub rate_schedule: Vec<(u64, Option<u32>)>,
}

#[derive(Debug, Clone, Copy)]
pub struct CongestionConfig {
    pub start_kbps: u32,
    pub min_kbps: u32,
    pub max_kbps: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            duration_ms: 20_000,
            fps: 60,
            // ~10 Mbit/s at 60 fps.
            frame_bytes: 20_000,
            keyframe_bytes: 80_000,
            max_payload: crate::packetizer::DEFAULT_MAX_PAYLOAD,
            feedback_delay_ms: 10,
            impairments: Impairments {
                delay_ms: 10.0,
                ..Default::default()
            },
            blackouts: Vec::new(),
            parity_floor_pct: 10,
            nack: true,
            deadline_ms: 100,
            congestion: None,
            rate_schedule: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimReport {
    pub frames_sent: u64,
    /// Delivered whole within the deadline.
    pub frames_in_time: u64,
    /// In time and decodable (reference chain intact).
    pub frames_shown: u64,
    pub frames_lost: u64,
    pub keyframes_sent: u64,
    pub keyframe_requests: u64,
    pub nacks: u64,
    pub retransmitted_shards: u64,
    pub frames_recovered_by_fec: u64,
    pub final_parity_pct: u32,
    /// Per blackout: first shown frame after the first datagram that got
    /// through again, in ms.
    pub recovery_after_blackout_ms: Vec<f64>,
    /// `(t_ms, target_kbps)` at each receiver report, with congestion control.
    pub target_timeline: Vec<(u64, u32)>,
    /// Capture time (ms) of every frame shown.
    pub shown_at_ms: Vec<u64>,
    /// Capture time (ms) of every frame sent.
    pub sent_at_ms: Vec<u64>,
}

impl SimReport {
    pub fn in_time_ratio(&self) -> f64 {
        self.frames_in_time as f64 / self.frames_sent.max(1) as f64
    }
    pub fn shown_ratio(&self) -> f64 {
        self.frames_shown as f64 / self.frames_sent.max(1) as f64
    }
}

enum Feedback {
    Keyframe,
    Nack { frame_index: u32, missing: Vec<u16> },
    Path(PathReport),
}

const TICK_US: u64 = 1_000;
const REPORT_INTERVAL_US: u64 = 100_000;
/// Shards later than this are presumed lost, not reordered.
const NACK_REORDER_ALLOWANCE_US: u64 = 15_000;
/// The sender answers at most one keyframe request per this interval.
const KEYFRAME_MIN_INTERVAL_US: u64 = 250_000;
/// Frames the sender keeps for retransmission.
const HISTORY_FRAMES: usize = 16;

struct Sent {
    capture_us: u64,
    shards: Vec<(crate::datagram::Header, Vec<u8>)>,
}

/// Runs the simulation described by `config`.
pub fn simulate(config: &SimConfig) -> SimReport {
    let key = MediaKey::from_bytes([9; 32]);
    let mut sealer = Sealer::new(&key);
    let mut opener = Opener::new(&key);
    let mut packetizer = Packetizer::new(StreamKind::Video, config.max_payload);
    let mut parity = ParityController::new(config.parity_floor_pct, 60);
    let frame_interval_us = 1_000_000 / u64::from(config.fps.max(1));
    let deadline_us = config.deadline_ms * 1000;
    let mut depacketizer = Depacketizer::new(
        StreamKind::Video,
        DepacketizerConfig {
            max_reorder_frames: (deadline_us / frame_interval_us) as u32,
            reorder_timeout_us: deadline_us,
            ..Default::default()
        },
    );
    let mut link = Link::new(config.impairments.clone(), config.seed);
    let feedback_delay_us = config.feedback_delay_ms * 1000;
    let mut feedback: VecDeque<(u64, Feedback)> = VecDeque::new();
    let mut history: BTreeMap<u32, Sent> = BTreeMap::new();
    let mut report = SimReport::default();
    let mut rate = config
        .congestion
        .map(|c| RateController::new(c.start_kbps, c.min_kbps, c.max_kbps));
    let mut trend = DelayTrend::default();
    let mut schedule = config.rate_schedule.clone();
    schedule.sort_by_key(|(at, _)| *at);
    let mut schedule = VecDeque::from(schedule);

    let mut last_keyframe_sent_us: Option<u64> = None;

    // Receiver state.
    let mut force_keyframe = true;
    let mut chain_ok = false;
    let mut expected_next: u32 = 0;
    let mut last_keyframe_request_us: Option<u64> = None;
    let rtt_us = feedback_delay_us + (config.impairments.delay_ms * 1000.0) as u64;
    let mut nacked: BTreeMap<u32, u64> = BTreeMap::new();
    let mut shards_seen_since_report = 0u64;
    let mut last_seq_at_report: Option<u64> = None;
    let mut highest_seq: Option<u64> = None;
    let mut next_report_us = REPORT_INTERVAL_US;
    let mut blackout_watch: Vec<Option<u64>> = vec![None; config.blackouts.len()];
    let mut recovery: Vec<Option<f64>> = vec![None; config.blackouts.len()];

    let end_us = config.duration_ms * 1000;
    let mut now = 0u64;
    let mut next_frame_us = 0u64;
    let in_blackout = |t: u64| {
        config
            .blackouts
            .iter()
            .any(|&(s, e)| t >= s * 1000 && t < e * 1000)
    };
    let feedback_arrival = |t: u64| {
        // Control messages sent in a blackout arrive after it (TCP retries).
        let resume = config
            .blackouts
            .iter()
            .find(|&&(s, e)| t >= s * 1000 && t < e * 1000)
            .map_or(t, |&(_, e)| e * 1000);
        resume + feedback_delay_us
    };

    while now < end_us + deadline_us {
        link.impairments.block = config.impairments.block || in_blackout(now);
        while schedule
            .front()
            .is_some_and(|(at_ms, _)| at_ms * 1000 <= now)
        {
            if let Some((_, kbps)) = schedule.pop_front() {
                link.impairments.rate_kbps = kbps;
            }
        }

        // Sender: feedback, then a frame when due.
        while feedback.front().is_some_and(|(at, _)| *at <= now) {
            let Some((_, message)) = feedback.pop_front() else {
                break;
            };
            match message {
                // Keyframes are costly: one per interval however many asks.
                Feedback::Keyframe => {
                    force_keyframe |=
                        last_keyframe_sent_us.is_none_or(|at| now >= at + KEYFRAME_MIN_INTERVAL_US);
                }
                Feedback::Path(path) => {
                    parity.handle_loss(path.loss);
                    if let Some(rate) = rate.as_mut() {
                        rate.handle_report(now, &path, REPORT_INTERVAL_US);
                        report
                            .target_timeline
                            .push((now / 1000, rate.target_kbps()));
                    }
                }
                Feedback::Nack {
                    frame_index,
                    missing,
                } => {
                    if let Some(sent) = history.get(&frame_index)
                        && now < sent.capture_us + deadline_us
                    {
                        for (header, payload) in sent
                            .shards
                            .iter()
                            .filter(|(h, _)| missing.contains(&h.shard_index))
                        {
                            link.send(now, sealer.seal(*header, payload));
                            report.retransmitted_shards += 1;
                        }
                    }
                }
            }
        }
        if now >= next_frame_us && now < end_us {
            next_frame_us += frame_interval_us;
            let keyframe = std::mem::take(&mut force_keyframe);
            if keyframe {
                last_keyframe_sent_us = Some(now);
            }
            let size = match &rate {
                Some(rate) => {
                    let kbps = rate.encoder_kbps(parity.parity_pct()) as usize;
                    let frame = kbps * 1000 / 8 / config.fps.max(1) as usize;
                    if keyframe { frame * 4 } else { frame }
                }
                None if keyframe => config.keyframe_bytes,
                None => config.frame_bytes,
            };
            let frame: Vec<u8> = (0..size)
                .map(|i| (i as u64 ^ u64::from(report.frames_sent as u32)) as u8)
                .collect();
            packetizer.set_parity_pct(parity.parity_pct());
            let shards = packetizer.packetize(&frame, now, keyframe);
            let frame_index = shards[0].0.frame_index;
            for (header, payload) in &shards {
                link.send(now, sealer.seal(*header, payload));
            }
            history.insert(
                frame_index,
                Sent {
                    capture_us: now,
                    shards,
                },
            );
            while history.len() > HISTORY_FRAMES {
                history.pop_first();
            }
            report.frames_sent += 1;
            report.sent_at_ms.push(now / 1000);
            report.keyframes_sent += u64::from(keyframe);
        }

        // Receiver: datagrams due now.
        while let Some(datagram) = link.poll_receive(now) {
            for (i, watch) in blackout_watch.iter_mut().enumerate() {
                if watch.is_none() && now >= config.blackouts[i].1 * 1000 {
                    *watch = Some(now);
                }
            }
            trend.handle_datagram(datagram.len());
            let Ok((header, payload)) = opener.open(&datagram) else {
                continue;
            };
            shards_seen_since_report += 1;
            highest_seq = Some(highest_seq.map_or(header.sequence, |h| h.max(header.sequence)));
            let _ = depacketizer.handle_shard(now, &header, &payload);
        }
        depacketizer.handle_timeout(now);
        let mut want_keyframe = false;
        while let Some(event) = depacketizer.poll_event() {
            match event {
                DepacketizerEvent::Frame(frame) => {
                    let gap = frame.frame_index != expected_next;
                    expected_next = frame.frame_index.wrapping_add(1);
                    let in_time = now <= frame.capture_us + deadline_us;
                    trend.handle_frame(frame.capture_us, frame.last_shard_us);
                    report.frames_in_time += u64::from(in_time);
                    if frame.keyframe {
                        chain_ok = true;
                    } else if gap {
                        chain_ok = false;
                    }
                    if !chain_ok {
                        want_keyframe = true;
                    }
                    if chain_ok && in_time {
                        report.frames_shown += 1;
                        report.shown_at_ms.push(frame.capture_us / 1000);
                        for (i, watch) in blackout_watch.iter().enumerate() {
                            if let (Some(since), None) = (watch, recovery[i]) {
                                recovery[i] = Some((now - since) as f64 / 1000.0);
                            }
                        }
                    }
                }
                DepacketizerEvent::Lost { first, count } => {
                    report.frames_lost += u64::from(count);
                    expected_next = first.wrapping_add(count);
                    chain_ok = false;
                    want_keyframe = true;
                }
            }
        }

        // At most one keyframe request per round trip.
        if want_keyframe && last_keyframe_request_us.is_none_or(|last| now >= last + rtt_us) {
            last_keyframe_request_us = Some(now);
            report.keyframe_requests += 1;
            feedback.push_back((feedback_arrival(now), Feedback::Keyframe));
        }

        // NACK shards of incomplete frames once a later frame has arrived,
        // at most once per round trip per frame.
        if config.nack {
            for (frame_index, missing) in
                depacketizer.missing_shards(now, NACK_REORDER_ALLOWANCE_US)
            {
                let due = nacked
                    .get(&frame_index)
                    .is_none_or(|&at| now >= at + rtt_us);
                if due && !missing.is_empty() {
                    nacked.insert(frame_index, now);
                    report.nacks += 1;
                    feedback.push_back((
                        feedback_arrival(now),
                        Feedback::Nack {
                            frame_index,
                            missing,
                        },
                    ));
                }
            }
            while nacked.len() > HISTORY_FRAMES {
                nacked.pop_first();
            }
        }

        if now >= next_report_us {
            next_report_us += REPORT_INTERVAL_US;
            if let (Some(high), Some(low)) = (highest_seq, last_seq_at_report) {
                let expected = high.saturating_sub(low).max(1);
                let loss = 1.0 - (shards_seen_since_report as f64 / expected as f64).min(1.0);
                let path = trend.report(REPORT_INTERVAL_US, loss);
                feedback.push_back((feedback_arrival(now), Feedback::Path(path)));
            }
            last_seq_at_report = highest_seq;
            shards_seen_since_report = 0;
        }
        now += TICK_US;
    }
    report.frames_recovered_by_fec = depacketizer.stats().frames_recovered;
    report.final_parity_pct = parity.parity_pct();
    report.recovery_after_blackout_ms = recovery
        .into_iter()
        .map(|r| r.unwrap_or(f64::INFINITY))
        .collect();
    report
}
