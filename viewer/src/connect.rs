//! Connecting to a host: TLS pinned to the fingerprint in the stream URL
//! (self-signed host certificates are the norm on a LAN), the WebSocket
//! upgrade, and the hello → welcome exchange.

use std::sync::{Arc, Mutex};

use common::control::{
    ControlMessage, EndReason, ErrorCode, MAX_CONTROL_MESSAGE_BYTES, PROTOCOL_VERSION,
};
use common::stream_url::StreamUrl;
use futures_util::{SinkExt, StreamExt};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
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

/// Accepts exactly the certificate whose SHA-256 the URL carries, and still
/// checks the handshake signatures with it.
#[derive(Debug)]
struct PinnedCertificate {
    expected: [u8; 32],
    presented: Mutex<Option<[u8; 32]>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = common::stream_url::certificate_fingerprint(end_entity);
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = Some(presented);
        // Constant-time comparison is not needed: the fingerprint is public.
        if presented == self.expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What the host said in its welcome.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub session_id: String,
    pub udp_port: u16,
    pub keys: common::control::MediaKeys,
    pub video: common::control::VideoParams,
    pub audio: common::control::AudioParams,
}

/// Connects, pins, upgrades and says hello. Returns the open control socket.
pub async fn connect(url: &StreamUrl) -> Result<(ControlSocket, Welcome), ConnectError> {
    let address = format!("{}:{}", url.host, url.port);
    let tcp = TcpStream::connect(&address)
        .await
        .map_err(|source| ConnectError::Unreachable {
            address: address.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCertificate {
        expected: url.fingerprint,
        presented: Mutex::new(None),
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Protocol(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let server_name = ServerName::try_from(url.host.clone())
        .map_err(|e| ConnectError::Protocol(format!("bad host name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = match connector.connect(server_name, tcp).await {
        Ok(tls) => tls,
        Err(e) => {
            let presented = *verifier.presented.lock().unwrap_or_else(|p| p.into_inner());
            return Err(match presented {
                Some(presented) if presented != url.fingerprint => {
                    ConnectError::FingerprintMismatch {
                        expected: url.fingerprint_hex(),
                        presented: hex::encode(presented),
                    }
                }
                _ => ConnectError::Tls(e),
            });
        }
    };

    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CONTROL_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_CONTROL_MESSAGE_BYTES));
    let request = format!("wss://{address}/stream");
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config)).await?;

    let hello = ControlMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        token: url.token.clone(),
        client: format!("viewer/{}", env!("CARGO_PKG_VERSION")),
    };
    ws.send(Message::text(hello.to_json())).await?;
    loop {
        let Some(message) = ws.next().await else {
            return Err(ConnectError::Protocol("host closed before welcome".into()));
        };
        let text = match message? {
            Message::Text(text) => text,
            Message::Close(_) => {
                return Err(ConnectError::Protocol("host closed before welcome".into()));
            }
            _ => continue,
        };
        let parsed = ControlMessage::from_json(text.as_str())
            .map_err(|e| ConnectError::Protocol(e.to_string()))?;
        return match parsed {
            ControlMessage::Welcome {
                protocol_version,
                session_id,
                udp_port,
                keys,
                video,
                audio,
            } if protocol_version == PROTOCOL_VERSION => Ok((
                ws,
                Welcome {
                    session_id,
                    udp_port,
                    keys,
                    video,
                    audio,
                },
            )),
            ControlMessage::Error { code, message } => Err(ConnectError::Refused { code, message }),
            ControlMessage::Goodbye { reason } => Err(ConnectError::Ended(reason)),
            other => Err(ConnectError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
        };
    }
}
