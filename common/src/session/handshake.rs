//! The first message on a control connection: a hello (a new session) or
//! a resume, checked before the host spends an entitlement or starts
//! anything.

use crate::api::STREAM_BITRATE_KBPS;
use crate::control::{ControlMessage, DisplayRequest, ErrorCode, PROTOCOL_VERSION};

#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    pub token: String,
    pub client: String,
    pub display: Option<DisplayRequest>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    Hello(Hello),
    Resume {
        session_id: String,
        resume_token: String,
    },
}

/// Why a connection is refused: the error message to send, then close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn message(&self) -> ControlMessage {
        ControlMessage::Error {
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// Checks the first message: protocol version, and a bitrate this host
/// can stream.
pub fn open(first: ControlMessage) -> Result<Opening, Refusal> {
    let version = |protocol_version: u32| {
        if protocol_version == PROTOCOL_VERSION {
            Ok(())
        } else {
            Err(Refusal {
                code: ErrorCode::VersionMismatch,
                message: format!(
                    "this host speaks protocol {PROTOCOL_VERSION}, the viewer {protocol_version}"
                ),
            })
        }
    };
    match first {
        ControlMessage::Hello {
            protocol_version,
            token,
            client,
            display,
        } => {
            version(protocol_version)?;
            if let Some(kbps) = display.as_ref().and_then(|d| d.bitrate_kbps)
                && !STREAM_BITRATE_KBPS.contains(&kbps)
            {
                return Err(Refusal {
                    code: ErrorCode::BadMessage,
                    message: format!(
                        "the viewer asked for {kbps} kbps; this host streams {} to {} kbps",
                        STREAM_BITRATE_KBPS.start(),
                        STREAM_BITRATE_KBPS.end()
                    ),
                });
            }
            Ok(Opening::Hello(Hello {
                token,
                client,
                display,
            }))
        }
        ControlMessage::Resume {
            protocol_version,
            session_id,
            resume_token,
        } => {
            version(protocol_version)?;
            Ok(Opening::Resume {
                session_id,
                resume_token,
            })
        }
        other => Err(Refusal {
            code: ErrorCode::BadMessage,
            message: format!(
                "the first message must be a hello or a resume, not {}",
                other.kind()
            ),
        }),
    }
}
