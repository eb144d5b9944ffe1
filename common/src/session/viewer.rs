//! The viewer's side of a session, from the welcome to the goodbye.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::clock::ClockSync;
use crate::congestion::DelaySignal;
use crate::control::{
    ControlMessage, EndReason, InputEvent, ReceiverReport, Rumble, SenderReport, Transport,
    VideoParams,
};
use crate::datagram::{Flags, Header, StreamKind};
use crate::packetizer::Frame;
use crate::seal::{MediaKey, Sealer};

use super::input::InputQueue;
use super::receiver::{MediaReceiver, Received, ReceiverStats};
use super::{MediaPath, SessionConfig, Transmit, earliest};

#[derive(Debug, Clone)]
pub struct ViewerSessionParams {
    pub session_id: String,
    pub host_to_viewer: MediaKey,
    pub viewer_to_host: MediaKey,
    pub video: VideoParams,
    /// Where UDP goes: the host's media port (or a relay in front of it).
    pub udp_target: SocketAddr,
    /// Lets a dropped connection resume the session; `None` when the host
    /// does not offer it.
    pub resume_token: Option<String>,
}

/// How a stream ended, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    Ended(EndReason),
    /// The connection dropped without a goodbye and could not be resumed.
    ConnectionLost(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ViewerEvent {
    /// A frame to decode; its reference chain is whole.
    Video(Frame),
    /// An Opus packet; `None`: conceal one.
    Audio(Option<Vec<u8>>),
    /// The host's clock minus ours, and the round trip.
    Clock {
        offset_us: i64,
        rtt_us: u64,
    },
    SenderReport(SenderReport),
    /// Input up to `seq` was injected at `host_us` (the host's clock).
    InputApplied {
        seq: u64,
        host_us: u64,
    },
    Rumble(Rumble),
    Clipboard(String),
    /// The host cannot take gamepads, and why.
    GamepadsUnavailable(String),
    /// Media moved to the WebSocket after this long without UDP media.
    FellBack {
        silent_us: u64,
    },
    /// The connection is gone: reconnect with the resume token, then call
    /// `handle_resumed` (or `handle_resume_refused`).
    Reconnect(String),
    Ended(StreamEnd),
}

/// What the viewer saw, for its statistics. Counters only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ViewerStats {
    pub receiver: ReceiverStats,
    pub rtt_us: Option<u64>,
    pub offset_us: Option<i64>,
    pub via_websocket: bool,
    pub fallback_after_us: Option<u64>,
    pub connection_drops: u64,
    pub resumes: u64,
    pub jitter_ms: f64,
    pub delay_signal: DelaySignal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Connection {
    Open { last_heard_us: u64 },
    Reconnecting { since_us: u64, why: String },
}

pub struct ViewerSession {
    config: SessionConfig,
    session_id: String,
    resume_token: Option<String>,
    udp_target: SocketAddr,
    sealer: Sealer,
    receiver: MediaReceiver,
    sync: ClockSync,
    input: InputQueue,
    connection: Connection,
    transport: Transport,
    /// Authentic media came on the current path since it (re)opened.
    media_flowing: bool,
    last_udp_media_us: u64,
    next_ping_us: u64,
    next_ping_id: u64,
    next_report_us: u64,
    next_probe_us: u64,
    next_repair_us: u64,
    goodbye_deadline_us: Option<u64>,
    latency_p50_ms: Option<f64>,
    reported_signal: DelaySignal,
    stats: ViewerStats,
    control: VecDeque<ControlMessage>,
    media: VecDeque<Vec<u8>>,
    events: VecDeque<ViewerEvent>,
    ended: bool,
}

impl ViewerSession {
    pub fn new(config: SessionConfig, params: ViewerSessionParams, now_us: u64) -> Self {
        ViewerSession {
            receiver: MediaReceiver::new(&params.host_to_viewer, &config, params.video.fps),
            sealer: Sealer::new(&params.viewer_to_host),
            session_id: params.session_id,
            resume_token: params.resume_token,
            udp_target: params.udp_target,
            sync: ClockSync::default(),
            input: InputQueue::default(),
            connection: Connection::Open {
                last_heard_us: now_us,
            },
            transport: Transport::Udp,
            media_flowing: false,
            last_udp_media_us: now_us,
            next_ping_us: now_us,
            next_ping_id: 0,
            next_report_us: now_us + config.receiver_report_interval_us,
            next_probe_us: now_us,
            next_repair_us: now_us,
            goodbye_deadline_us: None,
            latency_p50_ms: None,
            reported_signal: DelaySignal::Normal,
            stats: ViewerStats::default(),
            control: VecDeque::new(),
            media: VecDeque::new(),
            events: VecDeque::new(),
            ended: false,
            config,
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn resume_token(&self) -> Option<&str> {
        self.resume_token.as_deref()
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn stats(&self) -> ViewerStats {
        ViewerStats {
            receiver: self.receiver.stats(),
            rtt_us: self.sync.rtt_us(),
            offset_us: self.sync.offset_us(),
            via_websocket: self.transport == Transport::WebSocket,
            jitter_ms: self.receiver.jitter_ms(),
            delay_signal: self.receiver.signal(),
            ..self.stats
        }
    }

    pub fn handle_control(&mut self, now_us: u64, message: ControlMessage) {
        if self.ended {
            return;
        }
        if let ControlMessage::Resumed { last_input_seq, .. } = message {
            return self.handle_resumed(now_us, last_input_seq);
        }
        if let Connection::Open { last_heard_us } = &mut self.connection {
            *last_heard_us = now_us;
        }
        match message {
            ControlMessage::Pong {
                viewer_us, host_us, ..
            } => {
                self.sync.handle_pong(viewer_us, host_us, now_us);
                if let (Some(offset_us), Some(rtt_us)) = (self.sync.offset_us(), self.sync.rtt_us())
                {
                    self.events
                        .push_back(ViewerEvent::Clock { offset_us, rtt_us });
                }
            }
            ControlMessage::SenderReport(report) => {
                self.events.push_back(ViewerEvent::SenderReport(report));
            }
            ControlMessage::InputApplied { seq, host_us } => {
                self.input.applied(seq);
                self.events
                    .push_back(ViewerEvent::InputApplied { seq, host_us });
            }
            ControlMessage::Capabilities {
                gamepads: false,
                gamepads_note,
                ..
            } => {
                let why = gamepads_note.unwrap_or_else(|| "no reason given".into());
                self.events.push_back(ViewerEvent::GamepadsUnavailable(why));
            }
            ControlMessage::Clipboard { text } => {
                self.events.push_back(ViewerEvent::Clipboard(text))
            }
            ControlMessage::Rumble(rumble) => self.events.push_back(ViewerEvent::Rumble(rumble)),
            ControlMessage::Goodbye { reason } => self.end(StreamEnd::Ended(reason)),
            ControlMessage::Error { code, message } => {
                self.end(StreamEnd::ConnectionLost(format!("{code:?}: {message}")));
            }
            _ => {}
        }
    }

    /// A media datagram, from UDP or riding the WebSocket.
    pub fn handle_datagram(&mut self, now_us: u64, via: Transport, datagram: &[u8]) {
        if self.ended {
            return;
        }
        if via == Transport::WebSocket
            && let Connection::Open { last_heard_us } = &mut self.connection
        {
            *last_heard_us = now_us;
        }
        if self.receiver.handle_datagram(now_us, datagram).is_err() {
            return;
        }
        if via == self.transport {
            self.media_flowing = true;
        }
        if via == Transport::Udp {
            self.last_udp_media_us = now_us;
        }
        self.drain_received();
        if self.receiver.signal() != self.reported_signal {
            // A queue building (or draining) is news now, not in 100 ms.
            self.report(now_us);
        }
        self.request_repairs(now_us);
    }

    /// Input from the window or the gamepads; its sequence number.
    pub fn handle_input(&mut self, event: InputEvent) -> u64 {
        let seq = self.input.push(event);
        if matches!(self.connection, Connection::Open { .. }) && !self.ended {
            self.control.push_back(ControlMessage::Input { seq, event });
        }
        seq
    }

    /// Clipboard text changed on this side.
    pub fn handle_clipboard(&mut self, text: String) {
        if matches!(self.connection, Connection::Open { .. }) && !self.ended {
            self.control.push_back(ControlMessage::Clipboard { text });
        }
    }

    /// The decoder failed on a frame: the picture needs a keyframe.
    pub fn handle_decode_error(&mut self, now_us: u64) {
        self.receiver.handle_decode_error();
        self.request_repairs(now_us);
    }

    /// What the decoder measured, for the receiver report.
    pub fn handle_playout(&mut self, latency_p50_ms: Option<f64>) {
        self.latency_p50_ms = latency_p50_ms;
    }

    /// The user quits: goodbye, and wait briefly for the host's last report.
    pub fn quit(&mut self, now_us: u64) {
        if self.ended || self.goodbye_deadline_us.is_some() {
            return;
        }
        if matches!(self.connection, Connection::Reconnecting { .. }) {
            return self.end(StreamEnd::Ended(EndReason::UserQuit));
        }
        self.control.push_back(ControlMessage::Goodbye {
            reason: EndReason::UserQuit,
        });
        self.goodbye_deadline_us = Some(now_us + self.config.goodbye_grace_us);
    }

    /// The control connection broke (an error, a close without goodbye).
    pub fn handle_connection_lost(&mut self, now_us: u64, why: String) {
        if self.ended || matches!(self.connection, Connection::Reconnecting { .. }) {
            return;
        }
        if self.goodbye_deadline_us.is_some() {
            return self.end(StreamEnd::Ended(EndReason::UserQuit));
        }
        if self.resume_token.is_none() {
            return self.end(StreamEnd::ConnectionLost(why));
        }
        self.stats.connection_drops += 1;
        self.control.clear();
        self.connection = Connection::Reconnecting {
            since_us: now_us,
            why: why.clone(),
        };
        self.events.push_back(ViewerEvent::Reconnect(why));
    }

    /// The host took the session up on a new connection; it had received
    /// input up to `host_received`.
    pub fn handle_resumed(&mut self, now_us: u64, host_received: Option<u64>) {
        if self.ended {
            return;
        }
        self.stats.resumes += 1;
        self.connection = Connection::Open {
            last_heard_us: now_us,
        };
        self.control.clear();
        for (seq, event) in self.input.resend_after(host_received) {
            self.control.push_back(ControlMessage::Input { seq, event });
        }
        if self.transport == Transport::Udp {
            // Probe again, in case our address changed on the way.
            self.media_flowing = false;
            self.last_udp_media_us = now_us;
            self.next_probe_us = now_us;
        }
        // Whatever was missed, a keyframe starts the picture again.
        self.receiver.handle_decode_error();
        self.request_repairs(now_us);
    }

    /// The host refused the resume: the stream is over.
    pub fn handle_resume_refused(&mut self, message: &str) {
        let why = match &self.connection {
            Connection::Reconnecting { why, .. } => why.clone(),
            Connection::Open { .. } => "connection lost".into(),
        };
        self.end(StreamEnd::ConnectionLost(format!(
            "{why}; the host would not resume the session: {message}"
        )));
    }

    pub fn handle_timeout(&mut self, now_us: u64) {
        if self.ended {
            return;
        }
        if self.goodbye_deadline_us.is_some_and(|at| now_us >= at) {
            return self.end(StreamEnd::Ended(EndReason::UserQuit));
        }
        match self.connection.clone() {
            Connection::Open { last_heard_us } => {
                if now_us >= last_heard_us + self.config.viewer_silence_us {
                    let why = format!(
                        "no answer from the host for {} s",
                        self.config.viewer_silence_us / 1_000_000
                    );
                    return self.handle_connection_lost(now_us, why);
                }
                if now_us >= self.next_ping_us {
                    self.next_ping_us = now_us + self.config.ping_interval_us;
                    self.next_ping_id += 1;
                    self.control.push_back(ControlMessage::Ping {
                        id: self.next_ping_id,
                        viewer_us: now_us,
                    });
                }
                self.check_fallback(now_us, last_heard_us);
            }
            Connection::Reconnecting { since_us, why } => {
                // A little inside the host's window, so the last try can land.
                let give_up = since_us + self.config.resume_window_us.saturating_sub(2_000_000);
                if now_us >= give_up {
                    let secs = self.config.resume_window_us / 1_000_000;
                    return self.end(StreamEnd::ConnectionLost(format!(
                        "{why}; no way back to the host within {secs} s"
                    )));
                }
            }
        }
        if self.transport == Transport::Udp && !self.media_flowing && now_us >= self.next_probe_us {
            self.next_probe_us = now_us + self.config.probe_interval_us;
            self.probe(now_us);
        }
        self.receiver.handle_timeout(now_us);
        self.drain_received();
        if now_us >= self.next_repair_us {
            self.request_repairs(now_us);
        }
        if now_us >= self.next_report_us {
            self.report(now_us);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if matches!(self.connection, Connection::Open { .. })
            && let Some(message) = self.control.pop_front()
        {
            return Some(Transmit::Control(message));
        }
        let datagram = self.media.pop_front()?;
        Some(Transmit::Media {
            path: MediaPath::Udp(self.udp_target),
            datagram,
        })
    }

    pub fn poll_event(&mut self) -> Option<ViewerEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        if self.ended {
            return None;
        }
        let connection = match &self.connection {
            Connection::Open { last_heard_us } => earliest([
                Some(last_heard_us + self.config.viewer_silence_us),
                Some(self.next_ping_us),
                // A fallback is only due while the host is heard (see
                // `check_fallback`); otherwise the deadline would pass idle.
                (self.transport == Transport::Udp && *last_heard_us > self.last_udp_media_us)
                    .then_some(self.last_udp_media_us + self.config.udp_silence_fallback_us),
            ]),
            Connection::Reconnecting { since_us, .. } => {
                Some(since_us + self.config.resume_window_us.saturating_sub(2_000_000))
            }
        };
        earliest([
            connection,
            self.goodbye_deadline_us,
            Some(self.next_report_us),
            self.receiver.needs_repair().then_some(self.next_repair_us),
            (self.transport == Transport::Udp && !self.media_flowing).then_some(self.next_probe_us),
            self.receiver.poll_timeout(),
        ])
    }

    fn end(&mut self, end: StreamEnd) {
        if !self.ended {
            self.ended = true;
            self.events.push_back(ViewerEvent::Ended(end));
        }
    }

    /// No UDP media for a while although the host answers: UDP is blocked
    /// (when the host is silent too, the whole network is down: that is for
    /// a resume, not a fallback).
    fn check_fallback(&mut self, now_us: u64, last_heard_us: u64) {
        let silent_us = now_us.saturating_sub(self.last_udp_media_us);
        let host_heard = now_us.saturating_sub(last_heard_us) < self.config.udp_silence_fallback_us;
        if self.transport == Transport::Udp
            && silent_us >= self.config.udp_silence_fallback_us
            && host_heard
        {
            self.transport = Transport::WebSocket;
            self.media_flowing = false;
            self.stats.fallback_after_us = Some(silent_us);
            self.control.push_back(ControlMessage::UseTransport {
                transport: Transport::WebSocket,
            });
            self.events.push_back(ViewerEvent::FellBack { silent_us });
        }
    }

    fn probe(&mut self, now_us: u64) {
        let header = Header {
            stream: StreamKind::Probe,
            flags: Flags::empty(),
            sequence: 0,
            frame_index: 0,
            shard_index: 0,
            shard_count: 1,
            data_shards: 1,
            capture_us: now_us,
            send_offset_us: None,
        };
        let datagram = self.sealer.seal(header, b"probe");
        self.media.push_back(datagram);
    }

    fn rtt_us(&self) -> u64 {
        self.sync.rtt_us().unwrap_or(0)
    }

    /// NACKs for shards still missing and a keyframe request while the
    /// picture is broken, each at most once per round trip.
    fn request_repairs(&mut self, now_us: u64) {
        self.next_repair_us = now_us + self.config.nack_min_wait_us;
        if !matches!(self.connection, Connection::Open { .. }) {
            return;
        }
        // A retransmission waits in the same queues as the media did.
        let path_us =
            (self.receiver.queue_delay_ms() * 1000.0 + 2000.0 * self.receiver.jitter_ms()) as u64;
        let repeat_us = self.rtt_us().max(self.config.nack_repeat_min_us) + path_us;
        for (frame_index, shards) in
            self.receiver
                .due_nacks(now_us, self.config.nack_min_wait_us, repeat_us)
        {
            self.control.push_back(ControlMessage::Nack {
                frame_index,
                shards,
            });
        }
        let repeat_us = self.rtt_us().max(self.config.keyframe_request_min_us);
        if let Some(frame_index) = self.receiver.due_keyframe_request(now_us, repeat_us) {
            self.control
                .push_back(ControlMessage::KeyframeRequest { frame_index });
        }
    }

    fn report(&mut self, now_us: u64) {
        self.next_report_us = now_us + self.config.receiver_report_interval_us;
        if !matches!(self.connection, Connection::Open { .. }) {
            return;
        }
        let stats = self.receiver.stats();
        let signal = self.receiver.signal();
        self.reported_signal = signal;
        let loss = self.receiver.take_loss();
        let report = ReceiverReport {
            frames_received: stats.frames_received,
            frames_lost: stats.frames_lost,
            datagrams_dropped: stats.datagrams_dropped,
            latency_p50_ms: self.latency_p50_ms,
            shard_loss: loss.all,
            queue_loss: loss.at_queue,
            frames_recovered: stats.frames_recovered,
            delay_signal: signal,
            received_kbps: self.receiver.received_kbps(now_us),
            jitter_ms: self.receiver.jitter_ms(),
            rtt_ms: self.rtt_us() as f64 / 1000.0,
        };
        self.control
            .push_back(ControlMessage::ReceiverReport(report));
    }

    fn drain_received(&mut self) {
        while let Some(received) = self.receiver.poll_output() {
            self.events.push_back(match received {
                Received::Video(frame) => ViewerEvent::Video(frame),
                Received::Audio(packet) => ViewerEvent::Audio(packet),
            });
        }
    }
}
