//! The session's control channel as WebSocket messages: the limits its
//! connections are upgraded with, and control messages sent (with a
//! deadline) and received. The session and its resume both speak it.

use std::time::Duration;

use anyhow::{Context, bail};
use common::control::{ControlMessage, MAX_CONTROL_MESSAGE_BYTES};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A write that takes longer than this means the connection is gone (a
/// dead peer fills the socket's buffer and the write never completes).
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(3);

pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_CONTROL_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CONTROL_MESSAGE_BYTES))
}

pub(crate) type Ws<S> = WebSocketStream<S>;

pub(crate) async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut Ws<S>,
    message: &ControlMessage,
) -> anyhow::Result<()> {
    send_raw(ws, Message::text(message.to_json())).await
}

pub(crate) async fn send_raw<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut Ws<S>,
    message: Message,
) -> anyhow::Result<()> {
    tokio::time::timeout(SEND_TIMEOUT, ws.send(message))
        .await
        .context("the viewer stopped taking data")??;
    Ok(())
}

/// Next control message; pings/pongs of the WebSocket layer are skipped.
pub(crate) async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
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
