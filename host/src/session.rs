//! One viewer's session on the control channel: hello → welcome, wait for
//! the viewer's UDP probe, run the pipeline, answer pings and keyframe
//! requests, report, and say goodbye with a reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use common::StreamKind;
use common::control::{
    AudioParams, ControlMessage, EndReason, ErrorCode, MAX_CONTROL_MESSAGE_BYTES, MediaKeys,
    PROTOCOL_VERSION,
};
use common::seal::{MediaKey, Opener};
use futures_util::{SinkExt, StreamExt};
use rand::RngCore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument;

use crate::app::HostContext;
use crate::clock::unix_now_us;
use crate::pipeline::{AUDIO_SAMPLE_RATE_HZ, Pipeline};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// No control traffic for this long ends the session (the viewer pings twice a second).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_CONTROL_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CONTROL_MESSAGE_BYTES))
}

type Ws<S> = WebSocketStream<S>;

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut Ws<S>,
    message: &ControlMessage,
) -> anyhow::Result<()> {
    ws.send(Message::text(message.to_json())).await?;
    Ok(())
}

/// Next control message; pings/pongs of the WebSocket layer are skipped.
async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut Ws<S>,
) -> anyhow::Result<Option<ControlMessage>> {
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) => return Ok(Some(ControlMessage::from_json(text.as_str())?)),
            Message::Close(_) => return Ok(None),
            Message::Binary(_) => bail!("unexpected binary message on the control channel"),
            _ => continue,
        }
    }
    Ok(None)
}

fn random_key() -> MediaKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    MediaKey::from_bytes(bytes)
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("s-{}", hex::encode(bytes))
}

/// Runs one session to its end. Errors are the session's, logged by the caller.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: Ws<S>,
    ctx: Arc<HostContext>,
    peer: SocketAddr,
) -> anyhow::Result<()> {
    let hello = tokio::time::timeout(HELLO_TIMEOUT, receive(&mut ws))
        .await
        .context("no hello within 10 s")??;
    let Some(ControlMessage::Hello {
        protocol_version,
        token,
        client,
    }) = hello
    else {
        bail!("first message was not a hello");
    };
    if protocol_version != PROTOCOL_VERSION {
        let message =
            format!("this host speaks protocol {PROTOCOL_VERSION}, the viewer {protocol_version}");
        refuse(&mut ws, ErrorCode::VersionMismatch, &message).await;
        bail!(message);
    }
    if !ctx.tokens.redeem(&token) {
        refuse(
            &mut ws,
            ErrorCode::BadToken,
            "unknown or already used token",
        )
        .await;
        bail!("refused a bad or reused token from {peer}");
    }
    ctx.print_new_url();
    let session_id = random_id();
    let span = tracing::info_span!("session", id = %session_id, %peer, %client);
    stream_session(ws, ctx, peer, session_id)
        .instrument(span)
        .await
}

async fn stream_session<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: Ws<S>,
    ctx: Arc<HostContext>,
    peer: SocketAddr,
    session_id: String,
) -> anyhow::Result<()> {
    tracing::info!("session opened");

    let (to_viewer, to_host) = (random_key(), random_key());
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ctx.listen.ip(), 0))?;
    std_socket.set_nonblocking(true)?;
    let udp = tokio::net::UdpSocket::from_std(std_socket.try_clone()?)?;
    let udp_port = udp.local_addr()?.port();
    send(
        &mut ws,
        &ControlMessage::Welcome {
            protocol_version: PROTOCOL_VERSION,
            session_id: session_id.clone(),
            udp_port,
            keys: MediaKeys {
                host_to_viewer: to_viewer.to_base64(),
                viewer_to_host: to_host.to_base64(),
            },
            video: ctx.video.clone(),
            audio: AudioParams {
                codec: "opus".into(),
                sample_rate_hz: AUDIO_SAMPLE_RATE_HZ,
                channels: 2,
                frame_ms: 10,
            },
        },
    )
    .await?;

    let mut opener = Opener::new(&to_host);
    let viewer_udp = tokio::time::timeout(PROBE_TIMEOUT, wait_for_probe(&udp, &mut opener, peer))
        .await
        .context("no UDP probe from the viewer within 10 s")??;
    tracing::info!(%viewer_udp, "media path open");
    let parts = (ctx.make_parts)(&ctx.video);
    let pipeline = tokio::task::spawn_blocking({
        let key = to_viewer.clone();
        move || Pipeline::start(parts, std_socket, viewer_udp, &key)
    })
    .await??;

    let reason = control_loop(&mut ws, &pipeline, &udp, &mut opener).await;
    let counters = pipeline.counters.clone();
    tokio::task::spawn_blocking(move || pipeline.stop()).await?;
    let report = counters.report();
    tracing::info!(?reason, frames_sent = report.frames_sent, "session ended");
    // Best effort: the viewer may already be gone.
    let _ = send(&mut ws, &ControlMessage::SenderReport(report)).await;
    let _ = send(&mut ws, &ControlMessage::Goodbye { reason }).await;
    let _ = ws.close(None).await;
    Ok(())
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
    let _ = ws.close(None).await;
}

/// Waits for the first authentic probe; its source becomes the media peer.
/// Only the control connection's address may open the media path.
async fn wait_for_probe(
    udp: &tokio::net::UdpSocket,
    opener: &mut Opener,
    control_peer: SocketAddr,
) -> anyhow::Result<SocketAddr> {
    let mut buffer = vec![0u8; 2048];
    loop {
        let (len, from) = udp.recv_from(&mut buffer).await?;
        if from.ip() != control_peer.ip() {
            continue;
        }
        match opener.open(&buffer[..len]) {
            Ok((header, _)) if header.stream == StreamKind::Probe => return Ok(from),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "dropped a datagram before the probe"),
        }
    }
}

async fn control_loop<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut Ws<S>,
    pipeline: &Pipeline,
    udp: &tokio::net::UdpSocket,
    opener: &mut Opener,
) -> EndReason {
    let mut report_timer = tokio::time::interval(REPORT_INTERVAL);
    let mut buffer = vec![0u8; 2048];
    let mut dropped_datagrams = 0u64;
    loop {
        tokio::select! {
            message = tokio::time::timeout(IDLE_TIMEOUT, receive(ws)) => {
                let message = match message {
                    Err(_) => return EndReason::Timeout,
                    Ok(Ok(Some(message))) => message,
                    Ok(Ok(None)) => return EndReason::UserQuit,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "control channel error");
                        return EndReason::ProtocolError;
                    }
                };
                match message {
                    ControlMessage::Ping { id, viewer_us } => {
                        let pong = ControlMessage::Pong { id, viewer_us, host_us: unix_now_us() };
                        if send(ws, &pong).await.is_err() {
                            return EndReason::UserQuit;
                        }
                    }
                    ControlMessage::KeyframeRequest { frame_index } => {
                        tracing::debug!(frame_index, "keyframe requested");
                        pipeline.request_keyframe();
                    }
                    ControlMessage::ReceiverReport(report) => {
                        tracing::debug!(?report, "receiver report");
                        pipeline.handle_receiver_report(&report);
                    }
                    ControlMessage::Input { seq, event } => {
                        tracing::trace!(seq, ?event, "input (no injector in this build)");
                    }
                    ControlMessage::Goodbye { reason } => return reason,
                    other => tracing::debug!(?other, "ignored control message"),
                }
            }
            received = udp.recv_from(&mut buffer) => {
                // Probes keep coming until media flows; later input datagrams.
                if let Ok((len, _)) = received
                    && opener.open(&buffer[..len]).is_err()
                {
                    dropped_datagrams += 1;
                    if dropped_datagrams == 1 {
                        tracing::warn!("dropped an unauthentic datagram");
                    }
                }
            }
            _ = report_timer.tick() => {
                let report = ControlMessage::SenderReport(pipeline.counters.report());
                if send(ws, &report).await.is_err() {
                    return EndReason::UserQuit;
                }
            }
        }
    }
}
