//! Drives one session's `HostSession`: the control WebSocket (replaced on a
//! resume), the media UDP socket, the pipeline's units, the input worker,
//! the clipboard, rumble and the application's end. Every protocol
//! decision is the machine's; this file owns sockets, timers and threads.

use std::net::SocketAddr;
use std::sync::Arc;

use common::control::{ControlMessage, EndReason};
use common::session::{HostEvent, HostLocal, HostSession, MediaPath, MediaUnit, Transmit};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::apps::launcher::{AppExit, wait_for_exit};
use crate::control_plane::ControlPlane;
use crate::media::desk::Clipboard;
use crate::media::pipeline::{Pipeline, PipelineParts};
use crate::stream::input::InputWorker;
use crate::stream::resume::{ControlWs, Takeover, newest};
use crate::stream::ws::send_raw;
use common::control::Rumble;

/// The one clock of the session: the host's wall clock in µs (frames carry
/// it as their capture time).
fn now_us() -> u64 {
    crate::clock::unix_now_us()
}

/// A deadline on the session's clock as a tokio instant.
fn instant_at(deadline_us: u64) -> tokio::time::Instant {
    let wait = std::time::Duration::from_micros(deadline_us.saturating_sub(now_us()));
    tokio::time::Instant::now() + wait
}

/// What the viewer drives besides media: input, the application's end,
/// the clipboard, the virtual pads' rumble.
pub(crate) struct Desk {
    pub input: InputWorker,
    pub app_exit: Option<watch::Receiver<Option<AppExit>>>,
    pub clipboard: Option<Clipboard>,
    pub rumble: Option<mpsc::Receiver<Rumble>>,
}

/// Everything one session's loop owns.
pub(crate) struct Driver {
    pub session: HostSession,
    pub ws: Option<ControlWs>,
    pub peer: SocketAddr,
    pub udp: tokio::net::UdpSocket,
    pub parts: Option<PipelineParts>,
    pub desk: Desk,
    pub takeovers: mpsc::Receiver<Takeover>,
    pub ended: watch::Receiver<Option<EndReason>>,
    pub stats: StatsOut,
}

/// Where the session's readings go for GetSessionStatus and the console.
pub(crate) struct StatsOut {
    pub plane: Arc<ControlPlane>,
    pub session_id: String,
}

/// The next item of an optional channel; never resolves without one.
async fn next_from<T>(channel: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match channel {
        Some(channel) => channel.recv().await,
        None => std::future::pending().await,
    }
}

/// The next message of the control connection; never resolves without one.
async fn next_message(ws: &mut Option<ControlWs>) -> Option<Result<Message, String>> {
    match ws {
        Some(ws) => ws.next().await.map(|m| m.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Runs the session to its end; the pipeline is stopped (off the
    /// runtime), then `before_goodbye` runs (records that the viewer may
    /// look up once told), then the session's last words go out.
    pub async fn run(mut self, before_goodbye: impl FnOnce(EndReason)) -> EndReason {
        let (units_tx, mut units) =
            mpsc::channel::<MediaUnit>(crate::media::pipeline::MEDIA_QUEUE_UNITS);
        let mut units_tx = Some(units_tx);
        let mut pipeline: Option<Pipeline> = None;
        let mut buffer = vec![0u8; 2048];
        let reason = 'session: loop {
            // Events first: an end must reach `before_goodbye` before the
            // goodbye queued with it goes out.
            while let Some(event) = self.session.poll_event() {
                match event {
                    HostEvent::StartMedia => {
                        let (Some(parts), Some(tx)) = (self.parts.take(), units_tx.take()) else {
                            continue;
                        };
                        match tokio::task::spawn_blocking(move || Pipeline::start(parts, tx)).await
                        {
                            Ok(Ok(started)) => {
                                tracing::info!(udp_peer = ?self.peer, "media path open");
                                pipeline = Some(started);
                            }
                            Ok(Err(e)) => {
                                tracing::error!(error = %format!("{e:#}"), "media pipeline failed");
                                self.session.handle_local(
                                    now_us(),
                                    HostLocal::End(EndReason::ProtocolError),
                                );
                            }
                            Err(_) => self
                                .session
                                .handle_local(now_us(), HostLocal::End(EndReason::ProtocolError)),
                        }
                    }
                    HostEvent::EncoderBitrate { kbps } => {
                        tracing::debug!(
                            kbps,
                            target_kbps = self.session.target_kbps(),
                            "encoder bitrate"
                        );
                        if let Some(p) = &pipeline {
                            p.set_bitrate_kbps(kbps);
                        }
                    }
                    HostEvent::ForceKeyframe => {
                        if let Some(p) = &pipeline {
                            p.force_keyframe();
                        }
                    }
                    // Waits when the injector is behind: input is never dropped.
                    HostEvent::ApplyInput { seq, event } => {
                        if self.desk.input.events.send((seq, event)).await.is_err() {
                            tracing::error!("the input thread is gone");
                            self.session
                                .handle_local(now_us(), HostLocal::End(EndReason::ProtocolError));
                        }
                    }
                    HostEvent::Clipboard(text) => match &self.desk.clipboard {
                        Some(clipboard) => clipboard.set(text),
                        None => tracing::debug!(
                            "clipboard text from the viewer ignored: no clipboard here"
                        ),
                    },
                    HostEvent::ConnectionLost(why) => {
                        tracing::warn!(%why, "control connection lost; waiting for the viewer to resume");
                        self.ws = None;
                    }
                    HostEvent::Stats(sample) => {
                        self.stats.plane.live.record(&self.stats.session_id, sample);
                    }
                    HostEvent::Ended(reason) => break 'session reason,
                }
            }
            self.flush().await;
            if let Some(p) = &pipeline {
                let dropped = p.take_dropped();
                if dropped > 0 {
                    self.session
                        .handle_local(now_us(), HostLocal::FramesDropped(dropped));
                    continue;
                }
            }
            let deadline = self.session.poll_timeout().map(instant_at);
            let desk = &mut self.desk;
            tokio::select! {
                message = next_message(&mut self.ws) => self.handle_message(message),
                Some(takeover) = self.takeovers.recv() => {
                    let takeover = newest(takeover, &mut self.takeovers);
                    tracing::info!(peer = %takeover.peer, "session resumed on a new connection");
                    // The old connection is dropped, not closed: closing
                    // waits on a peer that may be gone.
                    self.ws = Some(takeover.ws);
                    self.peer = takeover.peer;
                    self.session.handle_resumed(now_us());
                }
                received = self.udp.recv_from(&mut buffer) => {
                    if let Ok((len, from)) = received {
                        self.session.handle_datagram(now_us(), from, &buffer[..len]);
                    }
                }
                Some(unit) = units.recv() => self.session.handle_media(now_us(), unit),
                Ok(()) = desk.input.applied.changed() => {
                    let (seq, host_us) = *desk.input.applied.borrow_and_update();
                    self.session.handle_local(now_us(), HostLocal::InputApplied { seq, host_us });
                }
                Some(text) = next_from(desk.clipboard.as_mut().map(|c| &mut c.changes)) => {
                    self.session.handle_local(now_us(), HostLocal::Clipboard(text));
                }
                Some(rumble) = next_from(desk.rumble.as_mut()) => {
                    self.session.handle_local(now_us(), HostLocal::Rumble(rumble));
                }
                exited = wait_for_exit(&mut desk.app_exit) => {
                    tracing::info!(status = ?exited.status, signal = ?exited.signal, "the application exited");
                    self.session.handle_local(now_us(), HostLocal::End(EndReason::AppExited));
                }
                changed = self.ended.changed() => {
                    // Ended from outside (UpdateSessionState, shutdown); a
                    // closed channel means the registry dropped us.
                    let reason = match changed {
                        Ok(()) => *self.ended.borrow(),
                        Err(_) => Some(EndReason::HostShutdown),
                    };
                    if let Some(reason) = reason {
                        self.session.handle_local(now_us(), HostLocal::End(reason));
                    }
                }
                () = sleep_until(deadline) => self.session.handle_timeout(now_us()),
            }
        };
        self.desk.input.stop();
        // Nobody takes units any more: a pipeline thread blocked on the
        // queue sees it closed.
        drop(units);
        if let Some(pipeline) = pipeline {
            let _ = tokio::task::spawn_blocking(move || drop(pipeline)).await;
        }
        before_goodbye(reason);
        self.flush().await;
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(crate::stream::ws::SEND_TIMEOUT, ws.close(None)).await;
        }
        reason
    }

    /// Hands a control-connection message to the machine.
    fn handle_message(&mut self, message: Option<Result<Message, String>>) {
        let now = now_us();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!("unexpected binary message on the control channel");
                return self.lose_connection(now, "a binary message on the control channel");
            }
            Some(Ok(Message::Close(_))) | None => {
                return self
                    .lose_connection(now, "the viewer closed the connection without a goodbye");
            }
            Some(Ok(_)) => return,
            Some(Err(e)) => return self.lose_connection(now, &e),
        };
        match ControlMessage::from_json(text.as_str()) {
            Ok(message) => self.session.handle_control(now, message),
            Err(e) => tracing::warn!(error = %e, "dropped a malformed control message"),
        }
    }

    fn lose_connection(&mut self, now: u64, why: &str) {
        tracing::warn!(%why, "control connection lost; waiting for the viewer to resume");
        self.ws = None;
        self.session.handle_connection_lost(now);
    }

    /// Sends what the machine has for the viewer, as the pacer allows.
    async fn flush(&mut self) {
        while let Some(transmit) = self.session.poll_transmit(now_us()) {
            let message = match transmit {
                Transmit::Control(message) => Message::text(message.to_json()),
                Transmit::Media {
                    path: MediaPath::WebSocket,
                    datagram,
                } => Message::binary(datagram),
                Transmit::Media {
                    path: MediaPath::Udp(to),
                    datagram,
                } => {
                    if let Err(e) = self.udp.send_to(&datagram, to).await {
                        tracing::debug!(error = %e, "media send failed");
                    }
                    continue;
                }
            };
            let Some(ws) = self.ws.as_mut() else { continue };
            if let Err(e) = send_raw(ws, message).await {
                let why = format!("sending failed: {e:#}");
                self.lose_connection(now_us(), &why);
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
