//! The network side of a stream (tokio): control channel, UDP media path,
//! depacketizing, clock sync and reports. Decoded work is handed to the
//! decoder threads through bounded channels.
//!
//! Channel policy: a full video queue drops the frame, counts it and asks
//! for a keyframe (the decoder would otherwise show a broken reference
//! chain); a full audio queue drops the packet (the decoder conceals it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use anyhow::Context;
use common::StreamKind;
use common::clock::ClockSync;
use common::congestion::DelayTrend;
use common::control::{ControlMessage, DisplayRequest, EndReason, ReceiverReport, Transport};
use common::datagram::{Flags, Header};
use common::packetizer::{Depacketizer, DepacketizerEvent, Frame};
use common::seal::{MediaKey, Opener, Sealer};
use common::stream_url::StreamUrl;
use futures_util::{SinkExt, StreamExt};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::clock::{SharedClock, unix_now_us};
use crate::input::InputReceiver;
use crate::stats::StreamStats;
use crate::stream::connect::{ConnectError, ControlSocket, Welcome, connect};
use crate::stream::synthetic_input::SyntheticInput;
use common::control::Rumble;

mod local_input;
mod resume;

const PING_INTERVAL: Duration = Duration::from_millis(500);
/// Connecting, including the host launching the application, takes at most this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Receiver reports drive FEC and congestion control: often enough to react
/// within a few hundred milliseconds.
const REPORT_INTERVAL: Duration = Duration::from_millis(200);
/// After our goodbye, how long we wait for the host's final report.
const GOODBYE_GRACE: Duration = Duration::from_secs(2);
const UDP_RECEIVE_BUFFER_BYTES: usize = 8 << 20;
/// No UDP media for this long: ask for media over the WebSocket instead.
const UDP_SILENCE_FALLBACK: Duration = Duration::from_millis(1000);
const FALLBACK_CHECK_INTERVAL: Duration = Duration::from_millis(100);
const NACK_CHECK_INTERVAL: Duration = Duration::from_millis(5);
/// Shards later than this behind a newer frame are presumed lost, not reordered.
const NACK_REORDER_ALLOWANCE_US: u64 = 8_000;
/// A frame is asked for again at most this often.
const NACK_REPEAT_US: u64 = 20_000;

/// Where the network task delivers media.
pub struct MediaSinks {
    pub video: SyncSender<Frame>,
    /// Told the codec from the welcome, before any frame.
    pub video_codec: Arc<std::sync::OnceLock<common::control::VideoCodec>>,
    pub audio: SyncSender<Vec<u8>>,
    /// Decoders ask for keyframes through this.
    pub keyframe_requests: mpsc::Receiver<u32>,
}

/// How a stream ended, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    Ended(EndReason),
    /// The connection dropped without a goodbye.
    ConnectionLost(String),
}

/// What to connect to and what to send besides media reports.
pub struct NetOptions {
    pub url: StreamUrl,
    /// Send UDP somewhere else than the host (a relay in front of it).
    pub media_via: Option<SocketAddr>,
    /// Synthetic input to send (tests of reliable input).
    pub synthetic: SyntheticInput,
    pub display: Option<DisplayRequest>,
    /// Input from the window and the gamepads.
    pub input: Option<InputReceiver>,
    /// Rumble from the host, for the gamepad thread.
    pub rumble: Option<std::sync::mpsc::Sender<Rumble>>,
}

/// Connects and streams until the host ends the session or `quit` turns true.
pub async fn run(
    options: NetOptions,
    sinks: MediaSinks,
    stats: Arc<StreamStats>,
    clock: Arc<SharedClock>,
    mut quit: watch::Receiver<bool>,
) -> Result<StreamEnd, ConnectError> {
    let NetOptions {
        url,
        media_via,
        synthetic,
        display,
        input,
        rumble,
    } = options;
    // The window may close while the host is still launching the app.
    let (ws, welcome) = tokio::select! {
        connected = tokio::time::timeout(CONNECT_TIMEOUT, connect(&url, display)) => match connected {
            Ok(connected) => connected?,
            Err(_) => {
                return Err(ConnectError::Unreachable {
                    address: format!("{}:{}", url.host, url.port),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer within 20 s",
                    ),
                });
            }
        },
        _ = quit.wait_for(|quit| *quit) => return Ok(StreamEnd::Ended(EndReason::UserQuit)),
    };
    tracing::info!(session = %welcome.session_id, video = ?welcome.video, "connected");
    let _ = sinks.video_codec.set(welcome.video.codec);
    let host_ip: std::net::IpAddr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .map(|a| a.ip())
        .ok_or_else(|| ConnectError::Protocol(format!("cannot resolve {}", url.host)))?;
    let udp_target = media_via.unwrap_or(SocketAddr::new(host_ip, welcome.udp_port));
    let media = MediaPath::open(udp_target, &welcome)
        .map_err(|e| ConnectError::Protocol(format!("{e:#}")))?;
    let mut session = Session {
        ws,
        session_id: welcome.session_id.clone(),
        resume_token: welcome.resume_token.clone(),
        url,
        last_control: tokio::time::Instant::now(),
        input,
        unacked: Default::default(),
        held_input: None,
        rumble,
        media,
        sinks,
        stats,
        clock,
        sync: ClockSync::default(),
        video: Depacketizer::new(StreamKind::Video, Default::default()),
        audio: Depacketizer::new(StreamKind::Audio, Default::default()),
        next_ping_id: 0,
        media_flowing: false,
        transport: Transport::Udp,
        nacked: Default::default(),
        synthetic,
        input_seq: 0,
        trend: DelayTrend::default(),
        last_udp_media: tokio::time::Instant::now(),
        loss: LossMeter::default(),
    };
    Ok(session.drive(&mut quit).await)
}

struct MediaPath {
    socket: UdpSocket,
    sealer: Sealer,
    opener: Opener,
}

impl MediaPath {
    fn open(host: SocketAddr, welcome: &Welcome) -> anyhow::Result<Self> {
        let domain = socket2::Domain::for_address(host);
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
        // Keyframes arrive as a burst of shards; a larger buffer absorbs it.
        if let Err(e) = socket.set_recv_buffer_size(UDP_RECEIVE_BUFFER_BYTES) {
            tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
        }
        let any: SocketAddr = if host.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        socket.bind(&any.into())?;
        socket.connect(&host.into())?;
        socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(socket.into()).context("UDP socket")?;
        let to_viewer = MediaKey::from_base64(&welcome.keys.host_to_viewer)?;
        let to_host = MediaKey::from_base64(&welcome.keys.viewer_to_host)?;
        Ok(MediaPath {
            socket,
            sealer: Sealer::new(&to_host),
            opener: Opener::new(&to_viewer),
        })
    }

    async fn send_probe(&mut self) {
        let header = Header {
            stream: StreamKind::Probe,
            flags: Flags::empty(),
            sequence: 0,
            frame_index: 0,
            shard_index: 0,
            shard_count: 1,
            data_shards: 1,
            capture_us: unix_now_us(),
        };
        let datagram = self.sealer.seal(header, b"probe");
        if let Err(e) = self.socket.send(&datagram).await {
            tracing::debug!(error = %e, "probe not sent");
        }
    }
}

struct Session {
    ws: ControlSocket,
    url: StreamUrl,
    session_id: String,
    /// Lets a dropped connection resume the session; `None` when the host
    /// does not offer it.
    resume_token: Option<String>,
    /// The last message from the host on the control channel.
    last_control: tokio::time::Instant,
    /// Input from the window and the gamepads, sent in order.
    input: Option<InputReceiver>,
    /// Keys, buttons and the like sent but not yet confirmed applied: resent
    /// after a resume. Pointer moves are not kept (a stale move is useless).
    unacked: std::collections::VecDeque<(u64, common::control::InputEvent)>,
    /// An event read while merging pointer moves, sent next.
    held_input: Option<common::control::InputEvent>,
    rumble: Option<std::sync::mpsc::Sender<Rumble>>,
    media: MediaPath,
    sinks: MediaSinks,
    stats: Arc<StreamStats>,
    clock: Arc<SharedClock>,
    sync: ClockSync,
    video: Depacketizer,
    audio: Depacketizer,
    next_ping_id: u64,
    media_flowing: bool,
    transport: Transport,
    trend: DelayTrend,
    /// Synthetic key events still to send (a test of reliable input).
    synthetic: SyntheticInput,
    input_seq: u64,
    /// When each frame was last NACKed.
    nacked: std::collections::BTreeMap<u32, u64>,
    /// The last authentic UDP datagram (or the start, before any).
    last_udp_media: tokio::time::Instant,
    loss: LossMeter,
}

/// Datagram loss between reports, from gaps in the sender's sequence numbers.
#[derive(Debug, Default)]
struct LossMeter {
    highest: Option<u64>,
    highest_at_last_report: Option<u64>,
    received_since_report: u64,
}

impl LossMeter {
    fn record(&mut self, sequence: u64) {
        self.received_since_report += 1;
        self.highest = Some(self.highest.map_or(sequence, |h| h.max(sequence)));
    }

    /// Share of datagrams missing since the last call.
    fn take_loss(&mut self) -> f64 {
        let loss = match (self.highest, self.highest_at_last_report) {
            (Some(high), Some(low)) if high > low => {
                1.0 - (self.received_since_report as f64 / (high - low) as f64).min(1.0)
            }
            _ => 0.0,
        };
        self.highest_at_last_report = self.highest;
        self.received_since_report = 0;
        loss
    }
}

enum Step {
    Continue,
    End(StreamEnd),
}

impl Session {
    async fn drive(&mut self, quit: &mut watch::Receiver<bool>) -> StreamEnd {
        let mut probe_timer = tokio::time::interval(PROBE_INTERVAL);
        let mut ping_timer = tokio::time::interval(PING_INTERVAL);
        let mut report_timer = tokio::time::interval(REPORT_INTERVAL);
        let mut fallback_timer = tokio::time::interval(FALLBACK_CHECK_INTERVAL);
        let mut nack_timer = tokio::time::interval(NACK_CHECK_INTERVAL);
        let mut buffer = vec![0u8; 65_536];
        let mut goodbye_deadline: Option<tokio::time::Instant> = None;
        loop {
            let reorder_deadline = [self.video.poll_timeout(), self.audio.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .map(|at_us| {
                    let wait_us = at_us.saturating_sub(unix_now_us());
                    tokio::time::Instant::now() + Duration::from_micros(wait_us)
                });
            let step = tokio::select! {
                received = self.media.socket.recv(&mut buffer) => match received {
                    Ok(len) => {
                        if self.handle_datagram(&buffer[..len]) {
                            self.last_udp_media = tokio::time::Instant::now();
                        }
                        Step::Continue
                    }
                    Err(e) => { tracing::debug!(error = %e, "UDP receive error"); Step::Continue }
                },
                _ = nack_timer.tick() => match self.send_nacks().await {
                    Step::Continue => self.send_synthetic_input().await,
                    end => end,
                },
                Some(event) = local_input::next(&mut self.input, &mut self.held_input) => self.send_input(event).await,
                _ = fallback_timer.tick(), if self.transport == Transport::Udp => {
                    let silent = self.last_udp_media.elapsed();
                    // When the control channel is silent too, the whole
                    // network is down: that is for a resume, not a fallback.
                    let host_heard = self.last_control.elapsed() < UDP_SILENCE_FALLBACK;
                    if silent >= UDP_SILENCE_FALLBACK && host_heard {
                        tracing::warn!(silent_ms = silent.as_millis() as u64, "no UDP media: switching to the WebSocket");
                        self.transport = Transport::WebSocket;
                        self.stats.via_websocket.store(true, Ordering::Relaxed);
                        *self.stats.fallback_after_ms.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(silent.as_millis() as u64);
                        self.send(&ControlMessage::UseTransport { transport: Transport::WebSocket }).await
                    } else {
                        Step::Continue
                    }
                }
                message = self.ws.next() => self.handle_control(message).await,
                Some(frame_index) = self.sinks.keyframe_requests.recv() => {
                    StreamStats::add(&self.stats.keyframe_requests, 1);
                    self.send(&ControlMessage::KeyframeRequest { frame_index }).await
                }
                _ = probe_timer.tick(), if !self.media_flowing && self.transport == Transport::Udp => {
                    self.media.send_probe().await;
                    Step::Continue
                }
                _ = ping_timer.tick() => {
                    if self.last_control.elapsed() >= resume::CONTROL_SILENCE {
                        let why = format!("no answer from the host for {} s", resume::CONTROL_SILENCE.as_secs());
                        Step::End(StreamEnd::ConnectionLost(why))
                    } else {
                    self.next_ping_id += 1;
                    let ping = ControlMessage::Ping { id: self.next_ping_id, viewer_us: unix_now_us() };
                    self.send(&ping).await
                    }
                }
                _ = report_timer.tick() => {
                    let snapshot = self.stats.snapshot();
                    let report = ReceiverReport {
                        frames_received: snapshot.frames_received,
                        frames_lost: snapshot.frames_lost,
                        datagrams_dropped: snapshot.datagrams_dropped,
                        latency_p50_ms: snapshot.latency_ms.map(|p| p.p50),
                        frames_recovered: self.video.stats().frames_recovered,
                        ..self.path_report()
                    };
                    self.send(&ControlMessage::ReceiverReport(report)).await
                }
                _ = sleep_until_opt(reorder_deadline) => {
                    self.video.handle_timeout(unix_now_us());
                    self.audio.handle_timeout(unix_now_us());
                    self.drain_video();
                    self.drain_audio();
                    Step::Continue
                }
                changed = quit.changed(), if goodbye_deadline.is_none() => {
                    if changed.is_err() || *quit.borrow() {
                        goodbye_deadline = Some(tokio::time::Instant::now() + GOODBYE_GRACE);
                        self.send(&ControlMessage::Goodbye { reason: EndReason::UserQuit }).await
                    } else {
                        Step::Continue
                    }
                }
                _ = sleep_until_opt(goodbye_deadline) => Step::End(StreamEnd::Ended(EndReason::UserQuit)),
            };
            match step {
                Step::End(StreamEnd::ConnectionLost(why))
                    if self.resume_token.is_some() && goodbye_deadline.is_none() =>
                {
                    if let Err(end) = self.resume(why, quit).await {
                        return end;
                    }
                }
                Step::End(end) => return end,
                Step::Continue => {}
            }
        }
    }

    /// Loss, delay trend and received rate since the last report.
    fn path_report(&mut self) -> ReceiverReport {
        let loss = self.loss.take_loss();
        let path = self.trend.report(REPORT_INTERVAL.as_micros() as u64, loss);
        ReceiverReport {
            shard_loss: path.loss,
            delay_trend_ms: path.delay_trend_ms,
            received_kbps: path.received_kbps,
            jitter_ms: path.jitter_ms,
            ..Default::default()
        }
    }

    /// Asks again for shards FEC could not make up for, while the frame can
    /// still be shown.
    async fn send_nacks(&mut self) -> Step {
        let now = unix_now_us();
        for (frame_index, shards) in self.video.missing_shards(now, NACK_REORDER_ALLOWANCE_US) {
            let due = self
                .nacked
                .get(&frame_index)
                .is_none_or(|&at| now >= at + NACK_REPEAT_US);
            if !due || shards.is_empty() {
                continue;
            }
            self.nacked.insert(frame_index, now);
            StreamStats::add(&self.stats.nacks_sent, 1);
            let nack = ControlMessage::Nack {
                frame_index,
                shards,
            };
            if let Step::End(end) = self.send(&nack).await {
                return Step::End(end);
            }
        }
        self.nacked.retain(|_, at| now < *at + 1_000_000);
        Step::Continue
    }

    async fn send(&mut self, message: &ControlMessage) -> Step {
        match self.ws.send(Message::text(message.to_json())).await {
            Ok(()) => Step::Continue,
            Err(e) => Step::End(StreamEnd::ConnectionLost(e.to_string())),
        }
    }

    async fn handle_control(
        &mut self,
        message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Step {
        let text = match message {
            None => return Step::End(StreamEnd::ConnectionLost("control channel closed".into())),
            Some(Err(e)) => return Step::End(StreamEnd::ConnectionLost(e.to_string())),
            Some(Ok(Message::Text(text))) => {
                self.last_control = tokio::time::Instant::now();
                text
            }
            Some(Ok(Message::Close(_))) => {
                return Step::End(StreamEnd::ConnectionLost(
                    "host closed the connection".into(),
                ));
            }
            Some(Ok(Message::Binary(datagram))) => {
                self.last_control = tokio::time::Instant::now();
                // Media riding the WebSocket (the UDP fallback).
                self.handle_datagram(&datagram);
                return Step::Continue;
            }
            Some(Ok(_)) => return Step::Continue,
        };
        let message = match ControlMessage::from_json(text.as_str()) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "dropped a malformed control message");
                return Step::Continue;
            }
        };
        match message {
            ControlMessage::Pong {
                viewer_us, host_us, ..
            } => {
                self.sync.handle_pong(viewer_us, host_us, unix_now_us());
                if let Some(offset) = self.sync.offset_us() {
                    self.clock.offset_us.store(offset, Ordering::Relaxed);
                }
                if let Some(rtt) = self.sync.rtt_us() {
                    self.stats.rtt_us.store(rtt, Ordering::Relaxed);
                }
            }
            ControlMessage::SenderReport(report) => {
                self.stats
                    .frames_sent
                    .store(report.frames_sent, Ordering::Relaxed);
                self.stats
                    .encoder_kbps
                    .store(report.encoder_kbps, Ordering::Relaxed);
            }
            ControlMessage::InputApplied { seq, host_us } => {
                self.unacked.retain(|(sent, _)| *sent > seq);
                // On our clock: the host's time minus the estimated offset.
                let offset = self.clock.offset_us.load(Ordering::Relaxed);
                self.stats
                    .input_applied(seq, host_us.saturating_add_signed(-offset));
            }
            ControlMessage::Capabilities {
                gamepads,
                gamepads_note,
                ..
            } => {
                if !gamepads {
                    let why = gamepads_note.unwrap_or_else(|| "no reason given".into());
                    tracing::warn!("the host cannot take gamepads: {why}");
                    *self
                        .stats
                        .gamepads_note
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(why);
                }
            }
            ControlMessage::Clipboard { text } => {
                *self
                    .stats
                    .clipboard_received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(text);
            }
            ControlMessage::Rumble(request) => {
                if let Some(rumble) = &self.rumble {
                    let _ = rumble.send(request);
                }
            }
            ControlMessage::Goodbye { reason } => return Step::End(StreamEnd::Ended(reason)),
            ControlMessage::Error { code, message } => {
                return Step::End(StreamEnd::ConnectionLost(format!("{code:?}: {message}")));
            }
            other => tracing::debug!(kind = %other.kind(), "ignored control message"),
        }
        Step::Continue
    }

    /// Handles one media datagram; true when it was authentic.
    fn handle_datagram(&mut self, datagram: &[u8]) -> bool {
        StreamStats::add(&self.stats.datagrams_received, 1);
        StreamStats::add(&self.stats.bytes_received, datagram.len() as u64);
        let (header, payload) = match self.media.opener.open(datagram) {
            Ok(opened) => opened,
            Err(e) => {
                if self.stats.datagrams_dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(error = %e, "dropped a datagram (further drops are only counted)");
                }
                return false;
            }
        };
        self.media_flowing = true;
        self.loss.record(header.sequence);
        self.trend.handle_datagram(datagram.len());
        match header.stream {
            StreamKind::Video => {
                if let Err(e) = self.video.handle_shard(unix_now_us(), &header, &payload) {
                    StreamStats::add(&self.stats.datagrams_dropped, 1);
                    tracing::debug!(error = %e, "dropped a shard");
                }
                self.drain_video();
                let recovered = self.video.stats().frames_recovered;
                self.stats
                    .frames_recovered
                    .store(recovered, Ordering::Relaxed);
            }
            StreamKind::Audio => {
                if let Err(e) = self.audio.handle_shard(unix_now_us(), &header, &payload) {
                    StreamStats::add(&self.stats.datagrams_dropped, 1);
                    tracing::debug!(error = %e, "dropped an audio shard");
                }
                self.drain_audio();
            }
            StreamKind::Input | StreamKind::Probe => {}
        }
        true
    }

    fn drain_audio(&mut self) {
        while let Some(event) = self.audio.poll_event() {
            let packets = match event {
                DepacketizerEvent::Frame(packet) => {
                    StreamStats::add(&self.stats.audio_packets, 1);
                    vec![packet.data]
                }
                // An empty packet asks the audio thread to conceal one gap;
                // past a few, silence is the honest answer.
                DepacketizerEvent::Lost { count, .. } => vec![Vec::new(); count.min(5) as usize],
            };
            for packet in packets {
                if let Err(TrySendError::Full(_)) = self.sinks.audio.try_send(packet) {
                    tracing::debug!("audio queue full; packet dropped");
                }
            }
        }
    }

    fn drain_video(&mut self) {
        while let Some(event) = self.video.poll_event() {
            match event {
                DepacketizerEvent::Frame(frame) => {
                    StreamStats::add(&self.stats.frames_received, 1);
                    self.trend
                        .handle_frame(frame.capture_us, frame.last_shard_us);
                    match self.sinks.video.try_send(frame) {
                        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                        Err(TrySendError::Full(frame)) => {
                            // The decoder will see the gap and ask for a keyframe.
                            StreamStats::add(&self.stats.frames_lost, 1);
                            tracing::debug!(frame = frame.frame_index, "video queue full");
                        }
                    }
                }
                DepacketizerEvent::Lost { count, .. } => {
                    StreamStats::add(&self.stats.frames_lost, u64::from(count));
                }
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
