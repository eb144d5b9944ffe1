//! The SDK protocol between the host and a streamed application (the seed's
//! "initialization calls"): newline-delimited JSON over a local stream socket
//! whose path is in the application's environment (`APPSTREAM_SDK_SOCKET`).
//!
//! Application → host: `{"type":"ready"}` once its first frame is on screen.
//! Host → application: `{"type":"session_connected","session_id":"…","user":"…"}`
//! and `{"type":"session_disconnected","session_id":"…","user":"…","reason":"user_quit"}`.
//! Lines are UTF-8, at most `MAX_LINE_BYTES`; unknown `type`s are ignored by
//! both sides, so either may add messages later.

#[cfg(feature = "sdk")]
pub mod client;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The environment variable holding the socket's path.
pub const SOCKET_ENV: &str = "APPSTREAM_SDK_SOCKET";
pub const MAX_LINE_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SdkMessage {
    /// Application → host: the window is up and drawn; start capturing.
    Ready,
    SessionConnected {
        session_id: String,
        user: String,
    },
    SessionDisconnected {
        session_id: String,
        user: String,
        reason: String,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SdkError {
    #[error("SDK line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error("SDK line is not UTF-8")]
    NotUtf8,
    #[error("unknown SDK message type {0:?}")]
    UnknownType(String),
    #[error("malformed SDK message: {0}")]
    Malformed(String),
}

impl SdkMessage {
    /// One line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("SDK messages always serialise");
        line.push('\n');
        line
    }

    pub fn parse(line: &str) -> Result<SdkMessage, SdkError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| SdkError::Malformed(e.to_string()))?;
        let kind = value
            .get("type")
            .and_then(|t| t.as_str())
            .ok_or_else(|| SdkError::Malformed("no \"type\" field".into()))?
            .to_string();
        serde_json::from_value(value).map_err(|e| {
            if e.to_string().contains("unknown variant") {
                SdkError::UnknownType(kind)
            } else {
                SdkError::Malformed(e.to_string())
            }
        })
    }
}

/// Splits a byte stream into lines (sans-IO: feed bytes, take lines).
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Discarding the rest of an overlong line.
    skipping: bool,
}

impl LineBuffer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete line; an overlong line is reported once and skipped.
    pub fn next_line(&mut self) -> Option<Result<String, SdkError>> {
        loop {
            match self.pending.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let line: Vec<u8> = self.pending.drain(..=end).collect();
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    if line.len() - 1 > MAX_LINE_BYTES {
                        return Some(Err(SdkError::LineTooLong));
                    }
                    return Some(
                        String::from_utf8(line[..line.len() - 1].to_vec())
                            .map(|s| s.trim_end_matches('\r').to_string())
                            .map_err(|_| SdkError::NotUtf8),
                    );
                }
                None if self.pending.len() > MAX_LINE_BYTES && !self.skipping => {
                    self.pending.clear();
                    self.skipping = true;
                    return Some(Err(SdkError::LineTooLong));
                }
                None => {
                    if self.skipping {
                        self.pending.clear();
                    }
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip_and_match_the_documented_lines() {
        assert_eq!(SdkMessage::Ready.to_line(), "{\"type\":\"ready\"}\n");
        let connected = SdkMessage::SessionConnected {
            session_id: "s-1".into(),
            user: "demo".into(),
        };
        assert_eq!(
            SdkMessage::parse(connected.to_line().trim_end()),
            Ok(connected)
        );
        assert_eq!(
            SdkMessage::parse(r#"{"type":"jump"}"#),
            Err(SdkError::UnknownType("jump".into()))
        );
        assert!(matches!(
            SdkMessage::parse("{\"user\":1}"),
            Err(SdkError::Malformed(_))
        ));
    }

    #[test]
    fn lines_split_across_reads_and_overlong_lines_are_skipped() {
        let mut buffer = LineBuffer::default();
        buffer.push(b"{\"type\":");
        assert_eq!(buffer.next_line(), None);
        buffer.push(b"\"ready\"}\r\n");
        assert_eq!(buffer.next_line(), Some(Ok("{\"type\":\"ready\"}".into())));
        buffer.push(&vec![b'x'; MAX_LINE_BYTES + 10]);
        assert_eq!(buffer.next_line(), Some(Err(SdkError::LineTooLong)));
        buffer.push(b"yyy\nnext\n");
        assert_eq!(buffer.next_line(), Some(Ok("next".into())));
        assert_eq!(buffer.next_line(), None);
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..20)) {
            let mut buffer = LineBuffer::default();
            for chunk in &chunks {
                buffer.push(chunk);
                while let Some(line) = buffer.next_line() {
                    if let Ok(line) = line {
                        let _ = SdkMessage::parse(&line);
                    }
                }
            }
        }
    }
}
