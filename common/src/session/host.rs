//! The host's side of a session, from the welcome to the goodbye.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use crate::api::StreamSample;
use crate::congestion::{DelaySignal, Feedback, RateController};
use crate::control::{
    AudioParams, ControlMessage, EndReason, InputEvent, MediaKeys, PROTOCOL_VERSION,
    ReceiverReport, Rumble, SenderReport, Transport, VideoParams,
};
use crate::datagram::StreamKind;
use crate::fec::ParityController;
use crate::seal::{MediaKey, Opener};

use super::input::InputDedup;
use super::sender::{MediaSender, MediaUnit, SenderStats};
use super::{MediaPath, SessionConfig, Transmit, earliest};

/// Headers and tags on top of the payload (48 bytes a ≤ 1200-byte shard).
const WIRE_FRAMING: f64 = 1.04;

/// What the host knows when a session opens.
#[derive(Debug, Clone)]
pub struct HostSessionParams {
    pub session_id: String,
    pub video: VideoParams,
    pub audio: AudioParams,
    pub udp_port: u16,
    pub host_to_viewer: MediaKey,
    pub viewer_to_host: MediaKey,
    pub resume_token: Option<String>,
    /// Sent after the welcome: what this host can do for the session.
    pub capabilities: ControlMessage,
    /// The control connection's address: only it may open the media path.
    pub viewer_ip: IpAddr,
}

/// What the driver is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// A media path is open (a probe came, or the viewer asked for the
    /// WebSocket): start capture and encoding.
    StartMedia,
    EncoderBitrate {
        kbps: u32,
    },
    ForceKeyframe,
    /// Input to inject, each sequence number once, in order.
    ApplyInput {
        seq: u64,
        event: InputEvent,
    },
    Clipboard(String),
    /// The control connection is gone (idle): drop it; the session waits
    /// for a resume.
    ConnectionLost(String),
    /// A reading of the stream for the control plane (GetSessionStatus,
    /// the console), one per `stats_sample_interval_us` of viewer reports.
    Stats(StreamSample),
    /// The session is over; transmits queued before this are its last words.
    Ended(EndReason),
}

/// Happenings on the host's side the session is told about.
#[derive(Debug, Clone, PartialEq)]
pub enum HostLocal {
    /// The input worker injected everything up to `seq` at `host_us`.
    InputApplied {
        seq: u64,
        host_us: u64,
    },
    Clipboard(String),
    Rumble(Rumble),
    /// Encoded frames the pipeline could not queue.
    FramesDropped(u64),
    /// The application exited, the administrator or the host ended it.
    End(EndReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Open { last_heard_us: u64 },
    Parked { since_us: u64 },
}

pub struct HostSession {
    config: SessionConfig,
    session_id: String,
    viewer_ip: IpAddr,
    opener: Opener,
    sender: MediaSender,
    connection: Connection,
    media_started: bool,
    media_deadline_us: u64,
    udp_peer: Option<SocketAddr>,
    transport: Transport,
    parity: ParityController,
    rate: RateController,
    configured_kbps: u32,
    encoder_kbps: u32,
    /// A keyframe asked of the encoder and not yet come out of it.
    keyframe_asked_us: Option<u64>,
    input: InputDedup,
    frames_dropped: u64,
    datagrams_dropped: u64,
    next_sender_report_us: u64,
    next_stats_us: u64,
    last_viewer_report: Option<ReceiverReport>,
    control: VecDeque<ControlMessage>,
    events: VecDeque<HostEvent>,
    ended: Option<EndReason>,
}

impl HostSession {
    /// Opens a session: the welcome and the capabilities are the first
    /// transmits.
    pub fn new(config: SessionConfig, params: HostSessionParams, now_us: u64) -> Self {
        let configured_kbps = params.video.bitrate_kbps;
        // The configured bitrate is the encoder's; the wire carries parity
        // and headers on top, up to the most parity there is.
        let wire_max_kbps = (f64::from(configured_kbps)
            * (1.0 + f64::from(config.parity_max_pct) / 100.0)
            * WIRE_FRAMING) as u32;
        let mut control = VecDeque::new();
        control.push_back(ControlMessage::Welcome {
            protocol_version: PROTOCOL_VERSION,
            session_id: params.session_id.clone(),
            udp_port: params.udp_port,
            keys: MediaKeys {
                host_to_viewer: params.host_to_viewer.to_base64(),
                viewer_to_host: params.viewer_to_host.to_base64(),
            },
            video: params.video.clone(),
            audio: params.audio.clone(),
            resume_token: params.resume_token.clone(),
        });
        control.push_back(params.capabilities.clone());
        HostSession {
            sender: MediaSender::new(&params.host_to_viewer, &config),
            opener: Opener::new(&params.viewer_to_host),
            session_id: params.session_id,
            viewer_ip: params.viewer_ip,
            connection: Connection::Open {
                last_heard_us: now_us,
            },
            media_started: false,
            media_deadline_us: now_us + config.media_start_timeout_us,
            udp_peer: None,
            transport: Transport::Udp,
            parity: ParityController::new(config.parity_floor_pct, config.parity_max_pct),
            rate: RateController::new(wire_max_kbps, config.min_bitrate_kbps, wire_max_kbps),
            configured_kbps,
            encoder_kbps: configured_kbps,
            keyframe_asked_us: None,
            input: InputDedup::default(),
            frames_dropped: 0,
            datagrams_dropped: 0,
            next_sender_report_us: now_us + config.sender_report_interval_us,
            next_stats_us: now_us,
            last_viewer_report: None,
            control,
            events: VecDeque::new(),
            ended: None,
            config,
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    pub fn is_parked(&self) -> bool {
        matches!(self.connection, Connection::Parked { .. })
    }

    pub fn target_kbps(&self) -> u32 {
        self.rate.target_kbps()
    }

    pub fn parity_pct(&self) -> u32 {
        self.parity.parity_pct()
    }

    pub fn sender_stats(&self) -> SenderStats {
        self.sender.stats()
    }

    /// Unauthentic datagrams dropped on the media port.
    pub fn datagrams_dropped(&self) -> u64 {
        self.datagrams_dropped
    }

    pub fn sender_report(&self) -> SenderReport {
        let stats = self.sender.stats();
        SenderReport {
            frames_sent: stats.frames_sent,
            frames_dropped: self.frames_dropped,
            audio_packets_sent: stats.audio_packets_sent,
            bytes_sent: stats.bytes_sent,
            encoder_kbps: u64::from(self.encoder_kbps),
            shards_retransmitted: stats.shards_retransmitted,
        }
    }

    pub fn handle_control(&mut self, now_us: u64, message: ControlMessage) {
        if self.ended.is_some() {
            return;
        }
        if let Connection::Open { last_heard_us } = &mut self.connection {
            *last_heard_us = now_us;
        }
        match message {
            ControlMessage::Ping { id, viewer_us } => {
                self.control.push_back(ControlMessage::Pong {
                    id,
                    viewer_us,
                    host_us: now_us,
                })
            }
            ControlMessage::Nack {
                frame_index,
                shards,
            } => {
                let rtt_us = self
                    .last_viewer_report
                    .as_ref()
                    .map_or(0.0, |r| r.rtt_ms * 1000.0);
                let repeat_us = (rtt_us as u64).max(self.config.nack_repeat_min_us);
                self.sender
                    .retransmit(now_us, frame_index, &shards, repeat_us);
            }
            ControlMessage::KeyframeRequest { frame_index } => {
                self.handle_keyframe_request(now_us, frame_index);
            }
            ControlMessage::ReceiverReport(report) => self.handle_report(now_us, report),
            ControlMessage::UseTransport { transport } => {
                self.transport = transport;
                if !self.media_started && transport == Transport::WebSocket {
                    self.start_media();
                } else {
                    // The decoder restarts from a keyframe on the new path.
                    self.ask_keyframe(now_us);
                }
            }
            // A resumed viewer sends again what it was not sure of.
            ControlMessage::Input { seq, event } if self.input.accept(seq) => {
                self.events.push_back(HostEvent::ApplyInput { seq, event });
            }
            ControlMessage::Clipboard { text } => self.events.push_back(HostEvent::Clipboard(text)),
            ControlMessage::Goodbye { reason } => self.end(reason),
            _ => {}
        }
    }

    /// A datagram on the media port from `from`.
    pub fn handle_datagram(&mut self, now_us: u64, from: SocketAddr, datagram: &[u8]) {
        if self.ended.is_some() {
            return;
        }
        let Ok((header, _)) = self.opener.open(datagram) else {
            self.datagrams_dropped = self.datagrams_dropped.saturating_add(1);
            return;
        };
        // Only the control connection's address may open or move the media path.
        if header.stream != StreamKind::Probe || from.ip() != self.viewer_ip {
            return;
        }
        self.udp_peer = Some(from);
        if !self.media_started {
            self.start_media();
        }
        let _ = now_us;
    }

    /// An encoded unit from the pipeline.
    pub fn handle_media(&mut self, now_us: u64, unit: MediaUnit) {
        if self.ended.is_some() {
            return;
        }
        let parity = if unit.keyframe {
            // A keyframe lost is a broken picture until the next: protect it.
            self.keyframe_asked_us = None;
            self.parity
                .parity_pct()
                .max(self.config.keyframe_parity_min_pct)
        } else {
            self.parity.parity_pct()
        };
        if !self.sender.push(&unit, parity, self.parity.loss()) {
            self.ask_keyframe(now_us);
        }
    }

    pub fn handle_local(&mut self, now_us: u64, local: HostLocal) {
        if self.ended.is_some() {
            return;
        }
        match local {
            HostLocal::InputApplied { seq, host_us } => {
                self.control
                    .push_back(ControlMessage::InputApplied { seq, host_us });
            }
            HostLocal::Clipboard(text) => {
                self.control.push_back(ControlMessage::Clipboard { text })
            }
            HostLocal::Rumble(rumble) => self.control.push_back(ControlMessage::Rumble(rumble)),
            HostLocal::FramesDropped(count) => {
                self.frames_dropped = self.frames_dropped.saturating_add(count);
                self.ask_keyframe(now_us);
            }
            HostLocal::End(reason) => self.end(reason),
        }
    }

    /// The control connection broke without a goodbye: park for a resume.
    pub fn handle_connection_lost(&mut self, now_us: u64) {
        if self.ended.is_none() && !self.is_parked() {
            self.connection = Connection::Parked { since_us: now_us };
            self.control.clear();
        }
    }

    /// The viewer came back on a new connection.
    pub fn handle_resumed(&mut self, now_us: u64) {
        if self.ended.is_some() {
            return;
        }
        self.connection = Connection::Open {
            last_heard_us: now_us,
        };
        self.control.clear();
        self.control.push_back(ControlMessage::Resumed {
            session_id: self.session_id.clone(),
            last_input_seq: self.input.last(),
        });
    }

    pub fn handle_timeout(&mut self, now_us: u64) {
        if self.ended.is_some() {
            return;
        }
        if !self.media_started && now_us >= self.media_deadline_us {
            return self.end(EndReason::Timeout);
        }
        match self.connection {
            Connection::Open { last_heard_us }
                if now_us >= last_heard_us + self.config.host_idle_timeout_us =>
            {
                let why = format!(
                    "no control traffic for {} s",
                    self.config.host_idle_timeout_us / 1_000_000
                );
                self.handle_connection_lost(now_us);
                self.events.push_back(HostEvent::ConnectionLost(why));
            }
            Connection::Parked { since_us }
                if now_us >= since_us + self.config.resume_window_us =>
            {
                return self.end(EndReason::Timeout);
            }
            _ => {}
        }
        if now_us >= self.next_sender_report_us {
            self.next_sender_report_us = now_us + self.config.sender_report_interval_us;
            if self.media_started && !self.is_parked() {
                self.control
                    .push_back(ControlMessage::SenderReport(self.sender_report()));
            }
        }
    }

    pub fn poll_transmit(&mut self, now_us: u64) -> Option<Transmit> {
        if let Some(message) = self.control.pop_front() {
            return Some(Transmit::Control(message));
        }
        if self.ended.is_some() {
            return None;
        }
        let path = match (self.transport, self.udp_peer) {
            (Transport::Udp, Some(peer)) => MediaPath::Udp(peer),
            (Transport::WebSocket, _) if !self.is_parked() => MediaPath::WebSocket,
            // Nowhere to send: what waits is stale by the time a path opens.
            _ => {
                self.sender.discard_queued();
                return None;
            }
        };
        let datagram = self.sender.poll_datagram(now_us, self.pacing_kbps())?;
        Some(Transmit::Media { path, datagram })
    }

    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        if self.ended.is_some() {
            return None;
        }
        let connection = match self.connection {
            Connection::Open { last_heard_us } => last_heard_us + self.config.host_idle_timeout_us,
            Connection::Parked { since_us } => since_us + self.config.resume_window_us,
        };
        earliest([
            Some(connection),
            Some(self.next_sender_report_us),
            (!self.media_started).then_some(self.media_deadline_us),
            self.sender.next_send_us(self.pacing_kbps()),
        ])
    }

    fn pacing_kbps(&self) -> f64 {
        (f64::from(self.rate.target_kbps()) * self.config.pacing_factor)
            .max(f64::from(self.config.min_pacing_kbps))
    }

    fn start_media(&mut self) {
        self.media_started = true;
        self.events.push_back(HostEvent::StartMedia);
        self.events.push_back(HostEvent::EncoderBitrate {
            kbps: self.encoder_kbps,
        });
    }

    fn end(&mut self, reason: EndReason) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(reason);
        self.sender.discard_queued();
        if !self.is_parked() {
            self.control
                .push_back(ControlMessage::SenderReport(self.sender_report()));
            self.control.push_back(ControlMessage::Goodbye { reason });
        }
        self.events.push_back(HostEvent::Ended(reason));
    }

    /// Answers a keyframe request unless a keyframe newer than what the
    /// viewer has seen is already on its way, or one was just asked for.
    fn handle_keyframe_request(&mut self, now_us: u64, newest_seen: u32) {
        if let Some((index, _)) = self.sender.last_keyframe()
            && index > newest_seen
        {
            return;
        }
        self.ask_keyframe(now_us);
    }

    fn ask_keyframe(&mut self, now_us: u64) {
        let recently = self
            .keyframe_asked_us
            .is_some_and(|at| now_us < at + self.config.keyframe_min_interval_us);
        let just_sent = self
            .sender
            .last_keyframe()
            .is_some_and(|(_, at)| now_us < at + self.config.keyframe_min_interval_us);
        if recently || just_sent || !self.media_started {
            return;
        }
        self.keyframe_asked_us = Some(now_us);
        self.events.push_back(HostEvent::ForceKeyframe);
    }

    fn handle_report(&mut self, now_us: u64, report: ReceiverReport) {
        // Loss at a full queue is congestion: parity would only add to it.
        let noise = (report.shard_loss - report.queue_loss).max(0.0);
        self.parity
            .handle_loss(if report.delay_signal == DelaySignal::Overuse {
                noise.min(self.parity.loss())
            } else {
                noise
            });
        self.rate.handle_feedback(
            now_us,
            &Feedback {
                signal: report.delay_signal,
                loss: report.shard_loss,
                received_kbps: report.received_kbps,
            },
        );
        // What the wire carries per encoded byte, as measured: parity
        // (more for small frames at high loss) and framing.
        let budget_kbps = f64::from(self.rate.target_kbps()) - self.sender.other_kbps(now_us);
        let wanted = ((budget_kbps.max(0.0) / self.sender.overhead()) as u32)
            .min(self.configured_kbps)
            .max(self.config.min_bitrate_kbps);
        let change = f64::from(wanted.abs_diff(self.encoder_kbps));
        if change > self.config.encoder_retune_share * f64::from(self.encoder_kbps) {
            self.encoder_kbps = wanted;
            if self.media_started {
                self.events
                    .push_back(HostEvent::EncoderBitrate { kbps: wanted });
            }
        }
        if now_us >= self.next_stats_us {
            self.next_stats_us = now_us + self.config.stats_sample_interval_us;
            self.events.push_back(HostEvent::Stats(StreamSample {
                at_ms: now_us / 1000,
                received_kbps: report.received_kbps,
                encoder_kbps: self.encoder_kbps,
                latency_p50_ms: report.latency_p50_ms,
                loss: report.shard_loss,
                jitter_ms: report.jitter_ms,
            }));
        }
        self.last_viewer_report = Some(report);
    }
}
