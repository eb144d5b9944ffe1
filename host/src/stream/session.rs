//! One viewer's session on the control channel: hello → welcome, wait for
//! the viewer's UDP probe, run the pipeline, answer pings and keyframe
//! requests, report, and say goodbye with a reason. A connection that drops
//! parks the session for a resume (`crate::stream::resume`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use common::StreamKind;
use common::control::{
    AudioParams, ControlMessage, EndReason, ErrorCode, MediaKeys, PROTOCOL_VERSION,
    RESUME_WINDOW_S, Transport,
};
use common::seal::{MediaKey, Opener};
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use crate::apps::launcher::{AppExit, wait_for_exit};
use crate::clock::unix_now_us;
use crate::control_plane::store::RedeemError;
use crate::media::pipeline::{AUDIO_SAMPLE_RATE_HZ, Pipeline, PipelineParts};
use crate::media::planner::{AppHandle, SessionMedia};
use crate::media::sender::MediaOutput;
use crate::platform::gamepad::GamepadSupport;
use crate::platform::uinput_pads::VirtualPads;
use crate::platform::x11::clipboard::X11Clipboard;
use crate::stream::context::HostContext;
use crate::stream::input::{InputWorker, SinkFactory, WithGamepads};
use crate::stream::resume::{Channel, ControlWs, Parked, Takeover, newest, park};
use crate::stream::ws::{SEND_TIMEOUT, Ws, receive, send, send_raw};
use common::api::STREAM_BITRATE_KBPS;
use common::control::Rumble;
use common::control::{DisplayRequest, VideoParams};

/// What the viewer drives besides media: input, the application's end,
/// the clipboard.
struct Desk {
    input: InputWorker,
    app_exit: Option<watch::Receiver<Option<AppExit>>>,
    clipboard: Option<X11Clipboard>,
    /// Rumble of the virtual pads, for the viewer.
    rumble: Option<mpsc::Receiver<Rumble>>,
}

/// Adds virtual pads to the session's input when the host can make them.
fn with_gamepads(
    make_sink: SinkFactory,
    available: bool,
) -> (SinkFactory, Option<mpsc::Receiver<Rumble>>) {
    if !available {
        return (make_sink, None);
    }
    let (rumble_tx, rumble) = mpsc::channel(32);
    let factory: SinkFactory = Box::new(move || {
        Ok(Box::new(WithGamepads {
            inner: make_sink()?,
            pads: VirtualPads::new(rumble_tx),
        }))
    });
    (factory, Some(rumble))
}

/// The next item of an optional channel; never resolves without one.
async fn next_from<T>(channel: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match channel {
        Some(channel) => channel.recv().await,
        None => std::future::pending().await,
    }
}

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// No control traffic for this long means the connection is gone (the
/// viewer pings twice a second): the session parks, waiting for a resume.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Datagrams waiting for the WebSocket when media rides it (~1 s of 720p).
const WS_MEDIA_QUEUE: usize = 1024;

fn random_key() -> MediaKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    MediaKey::from_bytes(bytes)
}

/// Runs one session to its end. Errors are the session's, logged by the caller.
/// `admission` is the connection's place under the host's connection caps:
/// held while the viewer is unauthenticated, let go once its entitlement is
/// redeemed (a session is bounded by entitlements from then on, and may sit
/// parked for a resume long after its connection closed).
pub async fn run(
    mut ws: ControlWs,
    ctx: Arc<HostContext>,
    peer: SocketAddr,
    admission: impl Send,
) -> anyhow::Result<()> {
    let hello = tokio::time::timeout(HELLO_TIMEOUT, receive(&mut ws))
        .await
        .context("no hello within 10 s")??;
    let (protocol_version, token, client, display) = match hello {
        Some(ControlMessage::Hello {
            protocol_version,
            token,
            client,
            display,
        }) => (protocol_version, token, client, display),
        Some(ControlMessage::Resume {
            protocol_version,
            session_id,
            resume_token,
        }) => return resume(ws, &ctx, peer, protocol_version, &session_id, &resume_token).await,
        _ => bail!("first message was neither a hello nor a resume"),
    };
    if protocol_version != PROTOCOL_VERSION {
        let message =
            format!("this host speaks protocol {PROTOCOL_VERSION}, the viewer {protocol_version}");
        refuse(&mut ws, ErrorCode::VersionMismatch, &message).await;
        bail!(message);
    }
    // Checked before the entitlement is spent and before anything starts.
    if let Some(kbps) = display.as_ref().and_then(|d| d.bitrate_kbps)
        && !STREAM_BITRATE_KBPS.contains(&kbps)
    {
        let message = format!(
            "the viewer asked for {kbps} kbps; this host streams {} to {} kbps",
            STREAM_BITRATE_KBPS.start(),
            STREAM_BITRATE_KBPS.end()
        );
        refuse(&mut ws, ErrorCode::BadMessage, &message).await;
        bail!("refused a hello from {peer}: {message}");
    }
    let (session, app) = match ctx.plane.redeem(&token) {
        Ok(Ok(redeemed)) => redeemed,
        Ok(Err(e)) => {
            let code = match e {
                RedeemError::Unknown | RedeemError::AlreadyUsed => ErrorCode::BadToken,
                RedeemError::Expired => ErrorCode::EntitlementExpired,
                RedeemError::ApplicationDisabled => ErrorCode::ApplicationDisabled,
            };
            refuse(&mut ws, code, &e.to_string()).await;
            bail!("refused an entitlement from {peer}: {e}");
        }
        Err(e) => {
            refuse(
                &mut ws,
                ErrorCode::Internal,
                "the host cannot read its state",
            )
            .await;
            bail!("redeeming an entitlement: {e}");
        }
    };
    drop(admission);
    let video = session_video(&app, display);
    let span = tracing::info_span!("session", id = %session.id, app = %app.name, user = %session.user, %peer, %client);
    let ended = ctx.plane.live.register(&session.id);
    let planned = {
        let (ctx, app, id, video) = (ctx.clone(), app.clone(), session.id.clone(), video.clone());
        tokio::task::spawn_blocking(move || ctx.media.plan(&app, &id, &video))
            .instrument(span.clone())
            .await?
    };
    let mut media = match planned {
        Ok(media) => media,
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "launch failed");
            let failure = crate::apps::failures::AppFailure {
                kind: "launch_failed",
                message: e.to_string(),
                exit: e.exit(),
            };
            crate::apps::failures::record_app_error(
                ctx.plane.store.as_ref(),
                &app.name,
                Some(&session.id),
                &failure,
                ctx.plane.now(),
            );
            ctx.plane.session_ended(&session.id, "launch_failed");
            refuse(&mut ws, ErrorCode::LaunchFailed, &e.to_string()).await;
            return Err(e.into());
        }
    };
    // The instance outlives the stream: it is told and ended afterwards.
    let instance = media.app.take();
    if let Some(app) = &instance {
        app.session_connected(&session.id, &session.user);
    }
    let app_exit = instance.as_ref().map(|app| app.exit());
    let reason = stream_session(
        ws,
        ctx.clone(),
        peer,
        &session.id,
        video,
        media,
        app_exit,
        ended,
    )
    .instrument(span)
    .await;
    // A session ended by the API was recorded there; this is a no-op then.
    let recorded = match &reason {
        Ok(reason) => reason.as_str(),
        Err(_) => EndReason::ProtocolError.as_str(),
    };
    if let Some(instance) = instance {
        instance.session_disconnected(&session.id, &session.user, recorded);
        if let AppHandle::Owned(owned) = instance {
            if matches!(reason, Ok(EndReason::AppExited))
                && let Some(exit) = owned.exit().borrow().clone()
            {
                crate::apps::failures::record_app_exit(
                    ctx.plane.store.as_ref(),
                    &app.name,
                    Some(&session.id),
                    &exit,
                    ctx.plane.now(),
                );
            }
            // Ends the process group (may wait for it): off the runtime.
            tokio::task::spawn_blocking(move || drop(owned)).await?;
        }
    }
    ctx.plane.session_ended(&session.id, recorded);
    reason.map(|_| ())
}

/// Hands a new connection to the session it resumes, or refuses it.
async fn resume(
    ws: ControlWs,
    ctx: &HostContext,
    peer: SocketAddr,
    protocol_version: u32,
    session_id: &str,
    resume_token: &str,
) -> anyhow::Result<()> {
    let mut ws = ws;
    if protocol_version != PROTOCOL_VERSION {
        let message =
            format!("this host speaks protocol {PROTOCOL_VERSION}, the viewer {protocol_version}");
        refuse(&mut ws, ErrorCode::VersionMismatch, &message).await;
        bail!(message);
    }
    match ctx
        .resume
        .hand_over(session_id, resume_token, Takeover { ws, peer })
    {
        Ok(()) => {
            tracing::info!(session = %session_id, %peer, "viewer resumes its session");
            Ok(())
        }
        Err((why, takeover)) => {
            let mut ws = takeover.ws;
            refuse(&mut ws, ErrorCode::CannotResume, why).await;
            bail!("refused a resume of {session_id} from {peer}: {why}");
        }
    }
}

/// The viewer's requested size, rate and bitrate where it gave them (within
/// limits), otherwise the application's defaults. A codec this host cannot
/// encode is answered with H.264 in the welcome.
fn session_video(app: &common::api::Application, request: Option<DisplayRequest>) -> VideoParams {
    let defaults = &app.stream;
    let Some(r) = request else {
        return crate::media::planner::video_params(
            defaults.width,
            defaults.height,
            defaults.fps,
            defaults.bitrate_kbps,
        );
    };
    let (width, height) = if (64..=7680).contains(&r.width) && (64..=4320).contains(&r.height) {
        (r.width & !1, r.height & !1)
    } else {
        (defaults.width, defaults.height)
    };
    let fps = if (1..=240).contains(&r.fps) {
        r.fps
    } else {
        defaults.fps
    };
    let bitrate_kbps = r
        .bitrate_kbps
        .filter(|kbps| STREAM_BITRATE_KBPS.contains(kbps))
        .or(defaults
            .bitrate_kbps
            .filter(|_| (width, height) == (defaults.width, defaults.height)));
    let mut params = crate::media::planner::video_params(width, height, fps, bitrate_kbps);
    match r.codec {
        Some(codec) if crate::platform::ffmpeg_video::can_encode(codec) => params.codec = codec,
        Some(codec) => tracing::warn!(?codec, "cannot encode the codec asked for; H.264 instead"),
        None => {}
    }
    params
}

#[allow(clippy::too_many_arguments)]
async fn stream_session(
    mut ws: ControlWs,
    ctx: Arc<HostContext>,
    peer: SocketAddr,
    session_id: &str,
    video: VideoParams,
    media: SessionMedia,
    app_exit: Option<watch::Receiver<Option<AppExit>>>,
    mut ended: watch::Receiver<Option<EndReason>>,
) -> anyhow::Result<EndReason> {
    tracing::info!(
        codec = ?video.codec,
        width = video.width,
        height = video.height,
        fps = video.fps,
        bitrate_kbps = video.bitrate_kbps,
        "session opened"
    );

    let (to_viewer, to_host) = (random_key(), random_key());
    let (resume_token, mut takeovers) = ctx.resume.register(session_id);
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ctx.listen.ip(), ctx.media_port))
        .with_context(|| format!("binding the media port {}", ctx.media_port))?;
    std_socket.set_nonblocking(true)?;
    let udp = tokio::net::UdpSocket::from_std(std_socket.try_clone()?)?;
    let udp_port = udp.local_addr()?.port();
    send(
        &mut ws,
        &ControlMessage::Welcome {
            protocol_version: PROTOCOL_VERSION,
            session_id: session_id.to_string(),
            udp_port,
            keys: MediaKeys {
                host_to_viewer: to_viewer.to_base64(),
                viewer_to_host: to_host.to_base64(),
            },
            video: video.clone(),
            audio: AudioParams {
                codec: "opus".into(),
                sample_rate_hz: AUDIO_SAMPLE_RATE_HZ,
                channels: 2,
                frame_ms: 10,
            },
            resume_token: Some(resume_token),
        },
    )
    .await?;
    let (gamepads, gamepads_note) = match &ctx.gamepads {
        GamepadSupport::Available => (true, None),
        GamepadSupport::Unavailable(why) => (false, Some(why.clone())),
    };
    let clipboard = match media.clipboard_display.as_deref().map(X11Clipboard::start) {
        Some(Ok(clipboard)) => Some(clipboard),
        Some(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "no clipboard sharing");
            None
        }
        None => None,
    };
    send(
        &mut ws,
        &ControlMessage::Capabilities {
            gamepads,
            gamepads_note,
            clipboard: clipboard.is_some(),
        },
    )
    .await?;
    let (input, rumble) = with_gamepads(media.input, gamepads);
    let mut desk = Desk {
        input: InputWorker::start(input)?,
        app_exit,
        clipboard,
        rumble,
    };

    let (ws_media_tx, ws_media_rx) = mpsc::channel(WS_MEDIA_QUEUE);
    let mut media = Media {
        parts: Some(media.parts),
        udp_peer: Arc::default(),
        pipeline: None,
        socket: std_socket,
        key: to_viewer,
        use_websocket: Arc::new(AtomicBool::new(false)),
        websocket: ws_media_tx,
    };
    // Bound again after `media`, so it is dropped first whatever way this
    // ends: a pipeline sender blocked on the queue then fails fast instead of
    // hanging the pipeline's stop in its drop.
    let mut ws_media_rx = ws_media_rx;
    let mut opener = Opener::new(&to_host);
    let mut channel = Channel {
        ws,
        peer,
        session_id: session_id.to_string(),
        last_input_seq: None,
    };
    let reason = loop {
        let lost = control_loop(
            &mut channel,
            &mut media,
            &udp,
            &mut opener,
            &mut ws_media_rx,
            &mut ended,
            &mut desk,
            &mut takeovers,
        )
        .await;
        let why = match lost {
            LoopEnd::Ended(reason) => break reason,
            LoopEnd::Lost(why) => why,
        };
        tracing::warn!(%why, "control connection lost; the viewer has {RESUME_WINDOW_S} s to resume");
        match park(
            &mut takeovers,
            &mut ended,
            &mut desk.app_exit,
            &mut ws_media_rx,
        )
        .await
        {
            Parked::Resumed(takeover) => channel.take_over(takeover).await,
            Parked::Ended(reason) => {
                ctx.resume.unregister(session_id);
                break reason;
            }
        }
    };
    ctx.resume.unregister(session_id);
    let mut ws = channel.ws;
    desk.input.stop();
    // Nobody drains the WebSocket media queue any more: close it so a sender
    // blocked on it fails fast instead of hanging the pipeline's stop.
    drop(ws_media_rx);
    let report = match media.pipeline.take() {
        Some(pipeline) => {
            let counters = pipeline.counters.clone();
            tokio::task::spawn_blocking(move || pipeline.stop()).await?;
            counters.report()
        }
        None => Default::default(),
    };
    tracing::info!(?reason, frames_sent = report.frames_sent, "session ended");
    // Best effort: the viewer may already be gone.
    let _ = send(&mut ws, &ControlMessage::SenderReport(report)).await;
    let _ = send(&mut ws, &ControlMessage::Goodbye { reason }).await;
    let _ = tokio::time::timeout(SEND_TIMEOUT, ws.close(None)).await;
    Ok(reason)
}

/// The session's media side: started once the viewer's probe arrives over
/// UDP, or once it asks for the WebSocket because none could.
struct Media {
    parts: Option<PipelineParts>,
    udp_peer: Arc<std::sync::Mutex<Option<SocketAddr>>>,
    pipeline: Option<Pipeline>,
    socket: std::net::UdpSocket,
    key: MediaKey,
    use_websocket: Arc<AtomicBool>,
    websocket: mpsc::Sender<Vec<u8>>,
}

impl Media {
    fn move_udp_peer(&self, to: SocketAddr) {
        let mut peer = self.udp_peer.lock().unwrap_or_else(|e| e.into_inner());
        if *peer != Some(to) {
            tracing::info!(from = ?*peer, %to, "media now goes to the viewer's new address");
            *peer = Some(to);
        }
    }

    async fn start(&mut self, udp_peer: Option<SocketAddr>) -> anyhow::Result<()> {
        let Some(parts) = self.parts.take() else {
            return Ok(());
        };
        *self.udp_peer.lock().unwrap_or_else(|e| e.into_inner()) = udp_peer;
        let output = MediaOutput {
            socket: self.socket.try_clone()?,
            udp_peer: self.udp_peer.clone(),
            websocket: self.websocket.clone(),
            use_websocket: self.use_websocket.clone(),
        };
        let key = self.key.clone();
        let pipeline =
            tokio::task::spawn_blocking(move || Pipeline::start(parts, output, &key)).await??;
        tracing::info!(?udp_peer, "media path open");
        self.pipeline = Some(pipeline);
        Ok(())
    }
}

async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut Ws<S>, code: ErrorCode, message: &str) {
    let _ = send(
        ws,
        &ControlMessage::Error {
            code,
            message: message.into(),
        },
    )
    .await;
    let _ = tokio::time::timeout(SEND_TIMEOUT, ws.close(None)).await;
}

/// Why the control loop stopped.
enum LoopEnd {
    Ended(EndReason),
    /// The connection broke without a goodbye: the viewer may resume.
    Lost(String),
}

#[allow(clippy::too_many_arguments)]
async fn control_loop(
    channel: &mut Channel,
    media: &mut Media,
    udp: &tokio::net::UdpSocket,
    opener: &mut Opener,
    ws_media: &mut mpsc::Receiver<Vec<u8>>,
    ended: &mut watch::Receiver<Option<EndReason>>,
    desk: &mut Desk,
    takeovers: &mut mpsc::Receiver<Takeover>,
) -> LoopEnd {
    let Desk {
        input,
        app_exit,
        clipboard,
        rumble,
    } = desk;
    let mut report_timer = tokio::time::interval(REPORT_INTERVAL);
    let probe_deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
    let mut buffer = vec![0u8; 2048];
    let mut dropped_datagrams = 0u64;
    let lost = |what: &str| LoopEnd::Lost(what.to_string());
    let mut idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
    loop {
        let ws = &mut channel.ws;
        tokio::select! {
            message = receive(ws) => {
                let message = match message {
                    Ok(Some(message)) => message,
                    Ok(None) => return lost("the viewer closed the connection without a goodbye"),
                    Err(e) => {
                        tracing::warn!(error = %e, "control channel error");
                        return lost("control channel error");
                    }
                };
                idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
                match message {
                    ControlMessage::Ping { id, viewer_us } => {
                        let pong = ControlMessage::Pong { id, viewer_us, host_us: unix_now_us() };
                        if send(ws, &pong).await.is_err() {
                            return lost("sending failed");
                        }
                    }
                    ControlMessage::Nack { frame_index, shards } => {
                        if let Some(pipeline) = &media.pipeline {
                            pipeline.retransmit(frame_index, shards);
                        }
                    }
                    ControlMessage::KeyframeRequest { frame_index } => {
                        tracing::debug!(frame_index, "keyframe requested");
                        if let Some(pipeline) = &media.pipeline {
                            pipeline.request_keyframe();
                        }
                    }
                    ControlMessage::ReceiverReport(report) => {
                        tracing::debug!(?report, "receiver report");
                        if let Some(pipeline) = &media.pipeline {
                            pipeline.handle_receiver_report(&report);
                        }
                    }
                    ControlMessage::UseTransport { transport } => {
                        tracing::info!(?transport, "viewer switched the media transport");
                        let websocket = transport == Transport::WebSocket;
                        media.use_websocket.store(websocket, Ordering::Relaxed);
                        if let Some(pipeline) = &media.pipeline {
                            // The decoder restarts from a keyframe on the new path.
                            pipeline.request_keyframe();
                        } else if websocket && let Err(e) = media.start(None).await {
                            tracing::error!(error = %format!("{e:#}"), "media pipeline failed");
                            return LoopEnd::Ended(EndReason::ProtocolError);
                        }
                    }
                    ControlMessage::Input { seq, event } => {
                        if channel.last_input_seq.is_some_and(|last| seq <= last) {
                            continue; // resent after a resume; applied already
                        }
                        channel.last_input_seq = Some(seq);
                        // Waits when the injector is behind: input is never dropped.
                        if input.events.send((seq, event)).await.is_err() {
                            tracing::error!("the input thread is gone");
                            return LoopEnd::Ended(EndReason::ProtocolError);
                        }
                    }
                    ControlMessage::Clipboard { text } => match clipboard {
                        Some(clipboard) => clipboard.set(text),
                        None => tracing::debug!("clipboard text from the viewer ignored: no clipboard here"),
                    },
                    ControlMessage::Goodbye { reason } => return LoopEnd::Ended(reason),
                    other => tracing::debug!(kind = %other.kind(), "ignored control message"),
                }
            }
            Some(takeover) = takeovers.recv() => {
                // The viewer came back on a new connection before this one
                // looked broken from here.
                channel.take_over(newest(takeover, takeovers)).await;
                idle_deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
            }
            received = udp.recv_from(&mut buffer) => {
                let Ok((len, from)) = received else { continue };
                match opener.open(&buffer[..len]) {
                    // Only the control connection's address may open the media path.
                    Ok((header, _)) if header.stream == StreamKind::Probe
                        && media.pipeline.is_none()
                        && from.ip() == channel.peer.ip() =>
                    {
                        if let Err(e) = media.start(Some(from)).await {
                            tracing::error!(error = %format!("{e:#}"), "media pipeline failed");
                            return LoopEnd::Ended(EndReason::ProtocolError);
                        }
                    }
                    // A resumed viewer may probe from a new address.
                    Ok((header, _)) if header.stream == StreamKind::Probe
                        && from.ip() == channel.peer.ip() =>
                    {
                        media.move_udp_peer(from);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        dropped_datagrams += 1;
                        if dropped_datagrams == 1 {
                            tracing::warn!(error = %e, "dropped an unauthentic datagram");
                        }
                    }
                }
            }
            Some(datagram) = ws_media.recv() => {
                if send_raw(ws, Message::binary(datagram)).await.is_err() {
                    return lost("sending media failed");
                }
            }
            Ok(()) = input.applied.changed() => {
                let (seq, host_us) = *input.applied.borrow_and_update();
                if send(ws, &ControlMessage::InputApplied { seq, host_us }).await.is_err() {
                    return lost("sending failed");
                }
            }
            Some(text) = next_from(clipboard.as_mut().map(|c| &mut c.changes)) => {
                if send(ws, &ControlMessage::Clipboard { text }).await.is_err() {
                    return lost("sending failed");
                }
            }
            Some(r) = next_from(rumble.as_mut()) => {
                if send(ws, &ControlMessage::Rumble(r)).await.is_err() {
                    return lost("sending failed");
                }
            }
            exited = wait_for_exit(app_exit) => {
                tracing::info!(status = ?exited.status, signal = ?exited.signal, "the application exited");
                return LoopEnd::Ended(EndReason::AppExited);
            }
            _ = report_timer.tick() => {
                if let Some(pipeline) = &media.pipeline {
                    let report = ControlMessage::SenderReport(pipeline.counters.report());
                    if send(ws, &report).await.is_err() {
                        return lost("sending failed");
                    }
                }
            }
            changed = ended.changed() => {
                // Ended from outside (UpdateSessionState, shutdown); a closed
                // channel means the registry dropped us: end as shutdown.
                let reason = match changed {
                    Ok(()) => *ended.borrow(),
                    Err(_) => Some(EndReason::HostShutdown),
                };
                if let Some(reason) = reason {
                    return LoopEnd::Ended(reason);
                }
            }
            () = tokio::time::sleep_until(idle_deadline) => {
                return lost("no control traffic for 10 s");
            }
            () = tokio::time::sleep_until(probe_deadline), if media.pipeline.is_none() => {
                tracing::warn!("no media path within 10 s: neither a UDP probe nor a switch to the WebSocket");
                return LoopEnd::Ended(EndReason::Timeout);
            }
        }
    }
}
