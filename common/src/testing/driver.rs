//! Runs the product's own session machines, `HostSession` and
//! `ViewerSession`, against a seeded link in virtual time: the media path
//! through `Link` (loss, bursts, delay, jitter, reordering, duplication, a
//! rate cap, blackouts), the control channel as a reliable in-order pipe
//! that an outage stalls (and that the viewer then replaces by resuming).
//! The encoder and decoder are models: frames sized by the bitrate the host
//! machine asks for, keyframes when it asks; every frame the viewer machine
//! hands on counts as shown. Deterministic for a seed.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::control::{AudioParams, ControlMessage, Transport, VideoCodec, VideoParams};
use crate::datagram::StreamKind;
use crate::seal::MediaKey;
use crate::session::{
    HostEvent, HostSession, HostSessionParams, MediaPath, MediaUnit, SessionConfig, Transmit,
    ViewerEvent, ViewerSession, ViewerSessionParams,
};
use crate::testing::link::{Impairments, Link};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub duration_ms: u64,
    pub fps: u32,
    /// The session's bitrate: the encoder's maximum.
    pub bitrate_kbps: u32,
    /// A keyframe is this many times a frame at the same bitrate.
    pub keyframe_factor: f64,
    /// Capture to encoded unit.
    pub encode_ms: u64,
    /// One-way delay of the control channel (TCP).
    pub control_delay_ms: u64,
    /// The media path (UDP), both ways.
    pub impairments: Impairments,
    /// UDP-only blackouts, `(start_ms, end_ms)`.
    pub blackouts: Vec<(u64, u64)>,
    /// Outages of all traffic, control channel included.
    pub outages: Vec<(u64, u64)>,
    /// Changes of the media path's rate cap: `(at_ms, rate_kbps)`.
    pub rate_schedule: Vec<(u64, Option<u32>)>,
    /// The host's clock minus the viewer's.
    pub host_clock_offset_us: i64,
    pub session: SessionConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            duration_ms: 20_000,
            fps: 60,
            bitrate_kbps: 10_000,
            keyframe_factor: 4.0,
            encode_ms: 4,
            control_delay_ms: 1,
            impairments: Impairments {
                delay_ms: 1.0,
                ..Default::default()
            },
            blackouts: Vec::new(),
            outages: Vec::new(),
            rate_schedule: Vec::new(),
            host_clock_offset_us: 1_234_567,
            session: SessionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimReport {
    pub frames_sent: u64,
    pub frames_shown: u64,
    pub frames_lost: u64,
    pub keyframes_sent: u64,
    pub keyframe_requests: u64,
    pub nacks: u64,
    pub retransmitted_shards: u64,
    /// Frames FEC rebuilt because a shard was really lost.
    pub frames_recovered_by_fec: u64,
    /// Data shards that arrived after parity rebuilt their frame anyway.
    pub shards_late: u64,
    pub final_parity_pct: u32,
    /// `(t_ms, encoder_kbps)` at each change the host asked of the encoder.
    pub encoder_timeline: Vec<(u64, u32)>,
    /// Capture time (ms, viewer clock) of every frame sent / shown.
    pub sent_at_ms: Vec<u64>,
    pub shown_at_ms: Vec<u64>,
    /// Capture → shown, per shown frame, ms.
    pub latency_ms: Vec<f64>,
    /// When the first frame was shown.
    pub first_picture_ms: Option<f64>,
    /// Longest gap between two shown frames (arrival times), ms.
    pub longest_freeze_ms: f64,
    /// Per blackout or outage (in that order): first frame shown, captured
    /// after the link came back, ms after it came back.
    pub picture_after_return_ms: Vec<Option<f64>>,
    pub fallback_after_ms: Option<f64>,
    pub resumes: u64,
    /// The session ended before the run did (it should not).
    pub ended_early: bool,
    /// The readings the host handed its control plane.
    pub stats: Vec<crate::api::StreamSample>,
}

impl SimReport {
    pub fn shown_ratio(&self) -> f64 {
        self.frames_shown as f64 / self.frames_sent.max(1) as f64
    }

    /// The encoder's bitrate at `ms`.
    pub fn encoder_kbps_at(&self, ms: u64) -> u32 {
        self.encoder_timeline
            .iter()
            .rev()
            .find(|(t, _)| *t <= ms)
            .map_or(0, |(_, kbps)| *kbps)
    }

    /// When the encoder first reached `kbps` at or after `from_ms`.
    pub fn reached_kbps_after(&self, from_ms: u64, kbps: u32) -> Option<u64> {
        if self.encoder_kbps_at(from_ms) >= kbps {
            return Some(from_ms);
        }
        self.encoder_timeline
            .iter()
            .find(|(t, k)| *t >= from_ms && *k >= kbps)
            .map(|(t, _)| *t)
    }

    /// Shown frames among those captured in `[from_ms, to_ms)`.
    pub fn shown_ratio_between(&self, from_ms: u64, to_ms: u64) -> f64 {
        let count = |at: &[u64]| at.iter().filter(|t| (from_ms..to_ms).contains(*t)).count();
        count(&self.shown_at_ms) as f64 / count(&self.sent_at_ms).max(1) as f64
    }

    pub fn latency_percentile_ms(&self, pct: f64) -> f64 {
        let mut sorted = self.latency_ms.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return 0.0;
        }
        sorted[((sorted.len() - 1) as f64 * pct / 100.0).round() as usize]
    }
}

/// The control channel, one direction: reliable and in order, stalled by
/// an outage (TCP retries), emptied when the connection is replaced.
#[derive(Default)]
struct Pipe {
    queue: VecDeque<(u64, Transmit)>,
}

impl Pipe {
    fn send(&mut self, at_us: u64, transmit: Transmit) {
        let after_last = self.queue.back().map_or(at_us, |(t, _)| (*t).max(at_us));
        self.queue.push_back((after_last, transmit));
    }

    fn due(&mut self, now_us: u64, stalled: bool) -> Option<Transmit> {
        if stalled || self.queue.front()?.0 > now_us {
            return None;
        }
        self.queue.pop_front().map(|(_, t)| t)
    }

    fn next(&self) -> Option<u64> {
        self.queue.front().map(|(t, _)| *t)
    }
}

/// The model encoder: frames at the host machine's bitrate.
struct Encoder {
    started: bool,
    keyframe: bool,
    kbps: u32,
    next_frame_us: u64,
    next_audio_us: u64,
    /// Units waiting out the encode time.
    encoding: VecDeque<(u64, MediaUnit)>,
}

const AUDIO_INTERVAL_US: u64 = 10_000;
const AUDIO_PACKET_BYTES: usize = 120;
/// After the last frame, the run goes on this long for it to arrive.
const DRAIN_US: u64 = 500_000;
/// The model's reconnect: TCP, TLS and the resume exchange, in round trips.
const RECONNECT_ROUND_TRIPS: u64 = 3;

fn in_any(windows: &[(u64, u64)], t_us: u64) -> bool {
    windows
        .iter()
        .any(|&(s, e)| t_us >= s * 1000 && t_us < e * 1000)
}

/// Runs the simulation described by `config`.
pub fn simulate(config: &SimConfig) -> SimReport {
    let to_viewer = MediaKey::from_bytes([9; 32]);
    let to_host = MediaKey::from_bytes([10; 32]);
    let host_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let viewer_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 40_000);
    let video = VideoParams {
        codec: VideoCodec::H264,
        width: 1280,
        height: 720,
        fps: config.fps,
        bitrate_kbps: config.bitrate_kbps,
    };
    let host_now = |t: u64| t.saturating_add_signed(config.host_clock_offset_us);
    let mut host = HostSession::new(
        config.session.clone(),
        HostSessionParams {
            session_id: "sim".into(),
            video: video.clone(),
            audio: AudioParams {
                codec: "opus".into(),
                sample_rate_hz: 48_000,
                channels: 2,
                frame_ms: 10,
            },
            udp_port: 5000,
            host_to_viewer: to_viewer.clone(),
            viewer_to_host: to_host.clone(),
            resume_token: Some("resume".into()),
            capabilities: ControlMessage::Capabilities {
                gamepads: true,
                gamepads_note: None,
                clipboard: false,
            },
            viewer_ip: viewer_addr.ip(),
        },
        host_now(0),
    );
    let mut viewer = ViewerSession::new(
        config.session.clone(),
        ViewerSessionParams {
            session_id: "sim".into(),
            host_to_viewer: to_viewer,
            viewer_to_host: to_host,
            video,
            udp_target: SocketAddr::new(host_ip, 5000),
            resume_token: Some("resume".into()),
        },
        0,
    );
    let mut down = Link::new(config.impairments.clone(), config.seed);
    let mut up = Link::new(config.impairments.clone(), config.seed.wrapping_add(1));
    let mut to_viewer_pipe = Pipe::default();
    let mut to_host_pipe = Pipe::default();
    let control_delay_us = config.control_delay_ms * 1000;
    let mut schedule: VecDeque<(u64, Option<u32>)> = {
        let mut s = config.rate_schedule.clone();
        s.sort_by_key(|(at, _)| *at);
        s.into()
    };
    let mut encoder = Encoder {
        started: false,
        keyframe: true,
        kbps: config.bitrate_kbps,
        next_frame_us: 0,
        next_audio_us: 0,
        encoding: VecDeque::new(),
    };
    let frame_us = 1_000_000 / u64::from(config.fps.max(1));
    let mut report = SimReport::default();
    let mut reconnect_at: Option<u64> = None;
    let mut last_shown_arrival_us: Option<u64> = None;
    let returns: Vec<u64> = config
        .blackouts
        .iter()
        .chain(&config.outages)
        .map(|&(_, end)| end * 1000)
        .collect();
    report.picture_after_return_ms = vec![None; returns.len()];
    let end_us = config.duration_ms * 1000;
    // Frames stop at the end; the run goes on until the last could arrive.
    let run_until_us = end_us + DRAIN_US;
    let mut now = 0u64;
    while now < run_until_us {
        let outage = in_any(&config.outages, now);
        let blocked = config.impairments.block || outage || in_any(&config.blackouts, now);
        down.impairments.block = blocked;
        up.impairments.block = blocked;
        while schedule.front().is_some_and(|(at, _)| at * 1000 <= now) {
            if let Some((_, kbps)) = schedule.pop_front() {
                down.impairments.rate_kbps = kbps;
            }
        }

        // The encoder and the host.
        if encoder.started && now >= encoder.next_frame_us && now < end_us {
            encoder.next_frame_us += frame_us;
            let keyframe = std::mem::take(&mut encoder.keyframe);
            let mut bytes = u64::from(encoder.kbps) * 1000 / 8 / u64::from(config.fps.max(1));
            if keyframe {
                bytes = (bytes as f64 * config.keyframe_factor) as u64;
            }
            let data = (0..bytes).map(|i| (i ^ report.frames_sent) as u8).collect();
            report.frames_sent += 1;
            report.keyframes_sent += u64::from(keyframe);
            report.sent_at_ms.push(now / 1000);
            let unit = MediaUnit {
                stream: StreamKind::Video,
                data,
                capture_us: host_now(now),
                keyframe,
            };
            encoder
                .encoding
                .push_back((now + config.encode_ms * 1000, unit));
        }
        if encoder.started && now >= encoder.next_audio_us && now < end_us {
            encoder.next_audio_us += AUDIO_INTERVAL_US;
            let unit = MediaUnit {
                stream: StreamKind::Audio,
                data: vec![7; AUDIO_PACKET_BYTES],
                capture_us: host_now(now),
                keyframe: false,
            };
            encoder.encoding.push_back((now, unit));
        }
        while encoder.encoding.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, unit)) = encoder.encoding.pop_front() {
                host.handle_media(host_now(now), unit);
            }
        }
        while let Some(transmit) = to_host_pipe.due(now, outage) {
            match transmit {
                Transmit::Control(message) => host.handle_control(host_now(now), message),
                Transmit::Media { .. } => {}
            }
        }
        while let Some(datagram) = up.poll_receive(now) {
            host.handle_datagram(host_now(now), viewer_addr, &datagram);
        }
        host.handle_timeout(host_now(now));
        while let Some(event) = host.poll_event() {
            match event {
                HostEvent::StartMedia => {
                    encoder.started = true;
                    encoder.next_frame_us = now;
                    encoder.next_audio_us = now;
                }
                HostEvent::EncoderBitrate { kbps } => {
                    encoder.kbps = kbps;
                    report.encoder_timeline.push((now / 1000, kbps));
                }
                HostEvent::ForceKeyframe => encoder.keyframe = true,
                HostEvent::Stats(sample) => report.stats.push(sample),
                HostEvent::Ended(_) => report.ended_early = true,
                HostEvent::ApplyInput { .. }
                | HostEvent::Clipboard(_)
                | HostEvent::ConnectionLost(_) => {}
            }
        }
        while let Some(transmit) = host.poll_transmit(host_now(now)) {
            match transmit {
                Transmit::Media {
                    path: MediaPath::Udp(_),
                    datagram,
                } => down.send(now, datagram),
                other => to_viewer_pipe.send(now + control_delay_us, other),
            }
        }

        // The viewer.
        while let Some(datagram) = down.poll_receive(now) {
            viewer.handle_datagram(now, Transport::Udp, &datagram);
        }
        while let Some(transmit) = to_viewer_pipe.due(now, outage) {
            match transmit {
                Transmit::Control(message) => viewer.handle_control(now, message),
                Transmit::Media { datagram, .. } => {
                    viewer.handle_datagram(now, Transport::WebSocket, &datagram);
                }
            }
        }
        if reconnect_at.is_some_and(|at| now >= at) {
            reconnect_at = None;
            if outage {
                reconnect_at = Some(now + config.session.resume_retry_us);
            } else {
                // The old connection's bytes are gone with it.
                to_viewer_pipe = Pipe::default();
                to_host_pipe = Pipe::default();
                host.handle_resumed(host_now(now));
            }
        }
        viewer.handle_timeout(now);
        while let Some(event) = viewer.poll_event() {
            match event {
                ViewerEvent::Video(frame) => {
                    let captured_us = frame
                        .capture_us
                        .saturating_add_signed(-config.host_clock_offset_us);
                    report.frames_shown += 1;
                    report.shown_at_ms.push(captured_us / 1000);
                    report
                        .latency_ms
                        .push(now.saturating_sub(captured_us) as f64 / 1000.0);
                    report.first_picture_ms.get_or_insert(now as f64 / 1000.0);
                    if let Some(last) = last_shown_arrival_us {
                        let gap_ms = (now - last) as f64 / 1000.0;
                        report.longest_freeze_ms = report.longest_freeze_ms.max(gap_ms);
                    }
                    last_shown_arrival_us = Some(now);
                    for (i, &back_us) in returns.iter().enumerate() {
                        if captured_us >= back_us && report.picture_after_return_ms[i].is_none() {
                            report.picture_after_return_ms[i] =
                                Some((now - back_us) as f64 / 1000.0);
                        }
                    }
                }
                ViewerEvent::FellBack { silent_us } => {
                    report.fallback_after_ms = Some(silent_us as f64 / 1000.0);
                }
                ViewerEvent::Reconnect(_) => {
                    let round_trip =
                        2 * control_delay_us + 2 * (config.impairments.delay_ms * 1000.0) as u64;
                    reconnect_at = Some(now + RECONNECT_ROUND_TRIPS * round_trip.max(1_000));
                }
                ViewerEvent::Ended(_) => report.ended_early = true,
                _ => {}
            }
        }
        while let Some(transmit) = viewer.poll_transmit() {
            match transmit {
                Transmit::Media { datagram, .. } => up.send(now, datagram),
                control => to_host_pipe.send(now + control_delay_us, control),
            }
        }

        let next = [
            host.poll_timeout()
                .map(|t| t.saturating_add_signed(-config.host_clock_offset_us)),
            viewer.poll_timeout(),
            down.poll_timeout(),
            up.poll_timeout(),
            (!outage).then(|| to_viewer_pipe.next()).flatten(),
            (!outage).then(|| to_host_pipe.next()).flatten(),
            encoder
                .started
                .then_some(encoder.next_frame_us.min(encoder.next_audio_us)),
            encoder.encoding.front().map(|(at, _)| *at),
            reconnect_at,
            schedule.front().map(|(at, _)| at * 1000),
            next_window_edge(config, now),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(run_until_us);
        // Always forward: a deadline in the past would spin.
        now = next.max(now + 1);
    }
    let stats = viewer.stats().receiver;
    let sent = host.sender_stats();
    report.frames_lost = stats.frames_lost;
    report.keyframe_requests = stats.keyframe_requests;
    report.nacks = stats.nacks_sent;
    report.retransmitted_shards = sent.shards_retransmitted;
    report.frames_recovered_by_fec = stats.frames_recovered;
    report.shards_late = stats.shards_late;
    report.final_parity_pct = host.parity_pct();
    report.resumes = viewer.stats().resumes;
    report
}

/// The next start or end of a blackout or outage after `now_us`.
fn next_window_edge(config: &SimConfig, now_us: u64) -> Option<u64> {
    config
        .blackouts
        .iter()
        .chain(&config.outages)
        .flat_map(|&(s, e)| [s * 1000, e * 1000])
        .filter(|&t| t > now_us)
        .min()
}
