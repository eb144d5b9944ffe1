//! Drives the viewer's `ViewerSession` (tokio): the control WebSocket
//! (reconnected on a resume), the UDP media socket, local input, the
//! decoders' reports and the user's quit. Decodable frames and audio go to
//! the decoder threads through bounded channels. Every protocol decision
//! is the machine's; this file owns sockets, timers and channels.
//!
//! Channel policy: a full video queue drops the frame, counts it and tells
//! the machine the picture is broken (it asks for a keyframe); a full audio
//! queue drops the packet (the decoder conceals it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;

use common::control::{ControlMessage, EndReason, Rumble, Transport};
use common::packetizer::Frame;
use common::seal::MediaKey;
pub use common::session::StreamEnd;
use common::session::{SessionConfig, Transmit, ViewerEvent, ViewerSession, ViewerSessionParams};
use common::stream_url::StreamUrl;
use futures_util::SinkExt;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::clock::SharedClock;
use crate::input::InputReceiver;
use crate::stats::StreamStats;
use crate::stream::connect::{self, ConnectError, ControlSocket, connect};
use crate::stream::synthetic_input::SyntheticInput;
use waits::{next_message, sleep_until};

mod local_input;
mod options;
mod publish;
mod udp;
mod waits;

pub use options::{MediaSinks, NetOptions};

/// The one clock of the session: our wall clock in µs.
fn now_us() -> u64 {
    crate::clock::unix_now_us()
}

/// A deadline on the session's clock as a tokio instant.
fn instant_at(deadline_us: u64) -> tokio::time::Instant {
    let wait = std::time::Duration::from_micros(deadline_us.saturating_sub(now_us()));
    tokio::time::Instant::now() + wait
}

/// Connects and streams until the host ends the session or `quit` turns true.
pub async fn run(
    options: NetOptions,
    sinks: MediaSinks,
    stats: Arc<StreamStats>,
    clock: Arc<SharedClock>,
    mut quit: watch::Receiver<bool>,
) -> Result<StreamEnd, ConnectError> {
    let config = SessionConfig::default();
    let connect_timeout = std::time::Duration::from_micros(config.connect_timeout_us);
    // The window may close while the host is still launching the app.
    let (ws, welcome) = tokio::select! {
        connected = tokio::time::timeout(connect_timeout, connect(&options.url, options.display)) => match connected {
            Ok(connected) => connected?,
            Err(_) => return Err(ConnectError::Unreachable {
                address: format!("{}:{}", options.url.host, options.url.port),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"),
            }),
        },
        _ = quit.wait_for(|quit| *quit) => return Ok(StreamEnd::Ended(EndReason::UserQuit)),
    };
    tracing::info!(session = %welcome.session_id, video = ?welcome.video, "connected");
    let _ = sinks.video_codec.set(welcome.video.codec);
    let protocol = |e: anyhow::Error| ConnectError::Protocol(format!("{e:#}"));
    let udp_target = match options.media_via {
        Some(via) => via,
        None => udp::host_address(&options.url, welcome.udp_port)
            .await
            .map_err(protocol)?,
    };
    let params = ViewerSessionParams {
        session_id: welcome.session_id.clone(),
        host_to_viewer: MediaKey::from_base64(&welcome.keys.host_to_viewer)
            .map_err(|e| protocol(e.into()))?,
        viewer_to_host: MediaKey::from_base64(&welcome.keys.viewer_to_host)
            .map_err(|e| protocol(e.into()))?,
        video: welcome.video.clone(),
        udp_target,
        resume_token: welcome.resume_token.clone(),
    };
    let mut driver = Driver {
        session: ViewerSession::new(config, params, now_us()),
        ws: Some(ws),
        udp: udp::open(udp_target).map_err(protocol)?,
        url: options.url,
        input: options.input,
        held_input: None,
        synthetic: Some(options.synthetic),
        synthetic_events: None,
        rumble: options.rumble,
        notes: options.notes,
        sinks,
        stats,
        clock,
        dropped: 0,
    };
    Ok(driver.run(&mut quit).await)
}

struct Driver {
    session: ViewerSession,
    ws: Option<ControlSocket>,
    udp: UdpSocket,
    url: StreamUrl,
    input: Option<InputReceiver>,
    held_input: Option<common::control::InputEvent>,
    /// Synthetic input, started once media flows.
    synthetic: Option<SyntheticInput>,
    synthetic_events: Option<mpsc::Receiver<common::control::InputEvent>>,
    rumble: Option<std::sync::mpsc::Sender<Rumble>>,
    notes: std::sync::mpsc::Sender<crate::stream::notes::HostNote>,
    sinks: MediaSinks,
    stats: Arc<StreamStats>,
    clock: Arc<SharedClock>,
    /// Frames the decoder's queue had no room for.
    dropped: u64,
}

impl Driver {
    async fn run(&mut self, quit: &mut watch::Receiver<bool>) -> StreamEnd {
        let mut buffer = vec![0u8; 65_536];
        let mut next_playout_us = 0;
        loop {
            self.flush().await;
            while let Some(event) = self.session.poll_event() {
                match event {
                    ViewerEvent::Ended(end) => return end,
                    ViewerEvent::Reconnect(why) => self.reconnect(why, quit).await,
                    ViewerEvent::Video(frame) => self.deliver_video(frame),
                    other => publish::event(
                        other,
                        &self.stats,
                        &self.clock,
                        &self.sinks,
                        &self.rumble,
                        &self.notes,
                    ),
                }
            }
            publish::stats(&self.session.stats(), self.dropped, &self.stats);
            let now = now_us();
            if now >= next_playout_us {
                next_playout_us = now + self.session.config().receiver_report_interval_us;
                let latency = self.stats.snapshot().latency_ms.map(|p| p.p50);
                self.session.handle_playout(latency);
            }
            self.start_synthetic();
            let deadline = self.session.poll_timeout().map(instant_at);
            tokio::select! {
                received = self.udp.recv(&mut buffer) => match received {
                    Ok(len) => self.session.handle_datagram(now_us(), Transport::Udp, &buffer[..len]),
                    Err(e) => tracing::debug!(error = %e, "UDP receive error"),
                },
                message = next_message(&mut self.ws) => self.handle_message(message),
                Some(event) = local_input::next(&mut self.input, &mut self.held_input) => self.send_input(event),
                Some(event) = local_input::next_synthetic(&mut self.synthetic_events) => self.send_input(event),
                Some(_) = self.sinks.keyframe_requests.recv() => self.session.handle_decode_error(now_us()),
                changed = quit.changed() => {
                    if changed.is_err() || *quit.borrow() {
                        self.session.quit(now_us());
                    }
                }
                () = sleep_until(deadline) => self.session.handle_timeout(now_us()),
            }
        }
    }

    fn send_input(&mut self, event: common::control::InputEvent) {
        let seq = self.session.handle_input(event);
        self.stats.input_sent(seq, now_us());
    }

    /// Once media flows, synthetic input (tests) starts.
    fn start_synthetic(&mut self) {
        if self.stats.frames_received.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(synthetic) = self.synthetic.take() {
            if let Some(text) = synthetic.clipboard.clone() {
                self.session.handle_clipboard(text);
            }
            self.synthetic_events = local_input::spawn_synthetic(synthetic);
        }
    }

    fn deliver_video(&mut self, frame: Frame) {
        match self.sinks.video.try_send(frame) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(frame)) => {
                self.dropped += 1;
                tracing::debug!(frame = frame.frame_index, "video queue full");
                self.session.handle_decode_error(now_us());
            }
        }
    }

    /// Hands a control-connection message to the machine.
    fn handle_message(&mut self, message: Option<Result<Message, String>>) {
        let now = now_us();
        match message {
            Some(Ok(Message::Text(text))) => match ControlMessage::from_json(text.as_str()) {
                Ok(message) => self.session.handle_control(now, message),
                Err(e) => tracing::warn!(error = %e, "dropped a malformed control message"),
            },
            // Media riding the WebSocket (the UDP fallback).
            Some(Ok(Message::Binary(datagram))) => {
                self.session
                    .handle_datagram(now, Transport::WebSocket, &datagram);
            }
            Some(Ok(Message::Close(_))) | None => {
                self.lose_connection(now, "the host closed the connection".into())
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => self.lose_connection(now, e),
        }
    }

    fn lose_connection(&mut self, now: u64, why: String) {
        self.ws = None;
        self.session.handle_connection_lost(now, why);
    }

    async fn flush(&mut self) {
        while let Some(transmit) = self.session.poll_transmit() {
            match transmit {
                Transmit::Control(message) => {
                    let Some(ws) = self.ws.as_mut() else { continue };
                    if let Err(e) = ws.send(Message::text(message.to_json())).await {
                        self.lose_connection(now_us(), e.to_string());
                    }
                }
                Transmit::Media { datagram, .. } => {
                    if let Err(e) = self.udp.send(&datagram).await {
                        tracing::debug!(error = %e, "UDP send failed");
                    }
                }
            }
        }
    }

    /// Reconnects with the resume token until the host takes the session
    /// back, refuses it, or the machine gives up.
    async fn reconnect(&mut self, why: String, quit: &mut watch::Receiver<bool>) {
        tracing::warn!(%why, "connection lost; resuming the session");
        let config = self.session.config().clone();
        let Some(token) = self.session.resume_token().map(str::to_string) else {
            return;
        };
        let attempt_timeout = std::time::Duration::from_micros(config.resume_attempt_timeout_us);
        let started = now_us();
        while !self.session.is_ended() {
            let attempt = connect::resume(&self.url, self.session.session_id(), &token);
            match tokio::time::timeout(attempt_timeout, attempt).await {
                Ok(Ok((ws, host_received))) => {
                    self.ws = Some(ws);
                    let took_ms = now_us().saturating_sub(started) / 1000;
                    tracing::info!(took_ms, "session resumed");
                    self.stats.last_resume_ms.store(took_ms, Ordering::Relaxed);
                    return self.session.handle_resumed(now_us(), host_received);
                }
                Ok(Err(ConnectError::Refused { message, .. })) => {
                    return self.session.handle_resume_refused(&message);
                }
                Ok(Err(ConnectError::Ended(reason))) => {
                    return self
                        .session
                        .handle_control(now_us(), ControlMessage::Goodbye { reason });
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "resume attempt failed"),
                Err(_) => tracing::debug!("resume attempt timed out"),
            }
            self.session.handle_timeout(now_us());
            let retry = instant_at(now_us() + config.resume_retry_us);
            tokio::select! {
                () = tokio::time::sleep_until(retry) => {}
                changed = quit.changed() => {
                    if changed.is_err() || *quit.borrow() {
                        return self.session.quit(now_us());
                    }
                }
            }
        }
    }
}
