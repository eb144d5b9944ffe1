//! Connecting to a host: TLS pinned to the fingerprint in the stream URL
//! (self-signed host certificates are the norm on a LAN), the WebSocket
//! upgrade, and the hello → welcome exchange.

use std::sync::Arc;

use common::control::{
    ControlMessage, EndReason, ErrorCode, MAX_CONTROL_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use common::pinned_tls::PinnedCertificate;
use common::stream_url::StreamUrl;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type ControlSocket = WebSocketStream<TlsStream<TcpStream>>;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("host unreachable at {address}: {source}")]
    Unreachable {
        address: String,
        source: std::io::Error,
    },
    #[error(
        "certificate mismatch: the URL pins {expected} but the host presented {presented}; \
         refusing to connect (the link may be stale, or someone is in the middle)"
    )]
    FingerprintMismatch { expected: String, presented: String },
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("WebSocket upgrade failed: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("host refused the session ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("host ended the session: {0:?}")]
    Ended(EndReason),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// What the host said in its welcome.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub session_id: String,
    pub udp_port: u16,
    pub keys: common::control::MediaKeys,
    pub video: common::control::VideoParams,
    pub audio: common::control::AudioParams,
    /// Present when the host lets this session resume after a drop.
    pub resume_token: Option<String>,
}

/// Connects, pins, upgrades and says hello. Returns the open control socket.
pub async fn connect(
    url: &StreamUrl,
    display: Option<common::control::DisplayRequest>,
) -> Result<(ControlSocket, Welcome), ConnectError> {
    let mut ws = open(url).await?;
    let hello = ControlMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        token: url.token.clone(),
        client: format!("viewer/{}", env!("CARGO_PKG_VERSION")),
        display,
    };
    ws.send(Message::text(hello.to_json())).await?;
    match first_answer(&mut ws).await? {
        ControlMessage::Welcome {
            protocol_version,
            session_id,
            udp_port,
            keys,
            video,
            audio,
            resume_token,
        } if protocol_version == PROTOCOL_VERSION => Ok((
            ws,
            Welcome {
                session_id,
                udp_port,
                keys,
                video,
                audio,
                resume_token,
            },
        )),
        other => Err(ConnectError::Protocol(format!(
            "expected welcome, got {}",
            other.kind()
        ))),
    }
}

/// Takes a session up again on a new connection after the old one dropped.
/// Returns the socket and the last input sequence number the host received.
pub async fn resume(
    url: &StreamUrl,
    session_id: &str,
    resume_token: &str,
) -> Result<(ControlSocket, Option<u64>), ConnectError> {
    let mut ws = open(url).await?;
    let resume = ControlMessage::Resume {
        protocol_version: PROTOCOL_VERSION,
        session_id: session_id.to_string(),
        resume_token: resume_token.to_string(),
    };
    ws.send(Message::text(resume.to_json())).await?;
    match first_answer(&mut ws).await? {
        ControlMessage::Resumed { last_input_seq, .. } => Ok((ws, last_input_seq)),
        other => Err(ConnectError::Protocol(format!(
            "expected resumed, got {}",
            other.kind()
        ))),
    }
}

/// The host's first message; its refusals and goodbyes become errors.
async fn first_answer(ws: &mut ControlSocket) -> Result<ControlMessage, ConnectError> {
    loop {
        let Some(message) = ws.next().await else {
            return Err(ConnectError::Protocol(
                "host closed before answering".into(),
            ));
        };
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(_) => {
                return Err(ConnectError::Protocol(
                    "host closed before answering".into(),
                ));
            }
            _ => continue,
        };
        let parsed = ControlMessage::from_json(text.as_str())
            .map_err(|e| ConnectError::Protocol(e.to_string()))?;
        return match parsed {
            ControlMessage::Error { code, message } => Err(ConnectError::Refused { code, message }),
            ControlMessage::Goodbye { reason } => Err(ConnectError::Ended(reason)),
            other => Ok(other),
        };
    }
}

/// TCP, TLS pinned to the URL's fingerprint, and the WebSocket upgrade.
async fn open(url: &StreamUrl) -> Result<ControlSocket, ConnectError> {
    let address = format!("{}:{}", url.host, url.port);
    let tcp = TcpStream::connect(&address)
        .await
        .map_err(|source| ConnectError::Unreachable {
            address: address.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);

    let verifier = PinnedCertificate::new(url.fingerprint);
    let config = verifier
        .client_config()
        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let server_name = ServerName::try_from(url.host.clone())
        .map_err(|e| ConnectError::Protocol(format!("bad host name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = match connector.connect(server_name, tcp).await {
        Ok(tls) => tls,
        Err(e) => {
            return Err(match verifier.mismatch() {
                Some(presented) => ConnectError::FingerprintMismatch {
                    expected: url.fingerprint_hex(),
                    presented: hex::encode(presented),
                },
                None => ConnectError::Tls(e),
            });
        }
    };

    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CONTROL_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CONTROL_MESSAGE_BYTES));
    let request = format!("wss://{address}/stream");
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config)).await?;

    Ok(ws)
}
