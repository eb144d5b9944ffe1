//! Control-channel messages: JSON text frames over the TLS WebSocket, tagged
//! by `type`. The first exchange (`hello` → `welcome`) carries the protocol
//! version; a peer speaking another version is refused with an `error`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub const PROTOCOL_VERSION: u32 = 2;
/// Control frames larger than this are refused before parsing.
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlMessage {
    /// Viewer → host, first message.
    Hello {
        protocol_version: u32,
        token: String,
        client: String,
        /// The picture the viewer wants; a virtual display is made this size.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<DisplayRequest>,
    },
    /// Host → viewer: the session is open; media keys and parameters.
    Welcome {
        protocol_version: u32,
        session_id: String,
        udp_port: u16,
        keys: MediaKeys,
        video: VideoParams,
        audio: AudioParams,
        /// Lets this viewer take the session up again after a dropped
        /// connection (`resume`), within the session's resume window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
    },
    /// Viewer → host, first message on a new connection after the old one
    /// dropped: the same session goes on, without a new sign-in.
    Resume {
        protocol_version: u32,
        session_id: String,
        resume_token: String,
    },
    /// Host → viewer: the session goes on on this connection; input the
    /// host never applied should be sent again (the host skips repeats).
    Resumed {
        session_id: String,
        /// The last input sequence number the host received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_input_seq: Option<u64>,
    },
    /// Clock sync: the viewer's send time, echoed with the host's time.
    Ping {
        id: u64,
        viewer_us: u64,
    },
    Pong {
        id: u64,
        viewer_us: u64,
        host_us: u64,
    },
    /// Viewer → host, about once a second.
    ReceiverReport(ReceiverReport),
    /// Host → viewer, about once a second and once more before goodbye.
    SenderReport(SenderReport),
    KeyframeRequest {
        frame_index: u32,
    },
    /// Viewer → host: shards of a frame still missing after FEC.
    Nack {
        frame_index: u32,
        shards: Vec<u16>,
    },
    /// Viewer → host: carry media on this transport from now on (the
    /// viewer asks for the WebSocket when no UDP gets through).
    UseTransport {
        transport: Transport,
    },
    /// Reliable input (key presses and buttons must never be lost).
    Input {
        seq: u64,
        event: InputEvent,
    },
    /// Host → viewer: input up to `seq` has been injected (at `host_us`);
    /// sent after each batch, for the viewer's event → injection latency.
    InputApplied {
        seq: u64,
        host_us: u64,
    },
    /// Host → viewer after `welcome`: what this host can do for the session.
    Capabilities {
        gamepads: bool,
        /// Why gamepads are unavailable, in words for the viewer to show.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gamepads_note: Option<String>,
        clipboard: bool,
    },
    /// Host → viewer: a game asked a virtual pad to vibrate.
    Rumble(Rumble),
    /// Either way: clipboard text changed on this side.
    Clipboard {
        text: String,
    },
    Goodbye {
        reason: EndReason,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// How media datagrams travel: UDP, or as binary messages on the control
/// WebSocket when UDP is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Udp,
    WebSocket,
}

/// Media keys, base64; each direction has its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaKeys {
    pub host_to_viewer: String,
    pub viewer_to_host: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    H264,
    Hevc,
    Av1,
}

impl VideoCodec {
    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::Hevc => "HEVC",
            Self::Av1 => "AV1",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoParams {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioParams {
    pub codec: String,
    pub sample_rate_hz: u32,
    pub channels: u16,
    pub frame_ms: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceiverReport {
    pub frames_received: u64,
    pub frames_lost: u64,
    pub datagrams_dropped: u64,
    pub latency_p50_ms: Option<f64>,
    /// Share of media datagrams missing since the last report (0.0..=1.0),
    /// from gaps in sequence numbers; drives the FEC parity share.
    #[serde(default)]
    pub shard_loss: f64,
    /// The part of `shard_loss` dropped at a full queue (congestion, not
    /// noise): FEC parity follows only the rest.
    #[serde(default)]
    pub queue_loss: f64,
    /// Frames rebuilt from parity since the stream began.
    #[serde(default)]
    pub frames_recovered: u64,
    /// The delay detector's reading of the path: a growing queue shows
    /// here before loss does (congestion control).
    #[serde(default)]
    pub delay_signal: crate::congestion::DelaySignal,
    /// Media bytes that arrived since the last report, as a rate.
    #[serde(default)]
    pub received_kbps: f64,
    /// Interarrival jitter of frames.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Round trip of the control channel, from the viewer's pings.
    #[serde(default)]
    pub rtt_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderReport {
    pub frames_sent: u64,
    pub frames_dropped: u64,
    pub audio_packets_sent: u64,
    pub bytes_sent: u64,
    /// The encoder's current bitrate (congestion control's choice).
    #[serde(default)]
    pub encoder_kbps: u64,
    #[serde(default)]
    pub shards_retransmitted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    UserQuit,
    AdminTerminated,
    AppExited,
    Timeout,
    HostShutdown,
    ProtocolError,
}

impl EndReason {
    /// The snake_case name, as on the wire and in the session's record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserQuit => "user_quit",
            Self::AdminTerminated => "admin_terminated",
            Self::AppExited => "app_exited",
            Self::Timeout => "timeout",
            Self::HostShutdown => "host_shutdown",
            Self::ProtocolError => "protocol_error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    VersionMismatch,
    BadToken,
    EntitlementExpired,
    ApplicationDisabled,
    BadMessage,
    /// The application could not be started (the reason says why).
    LaunchFailed,
    /// A resume for a session that is over, unknown, or with the wrong token.
    CannotResume,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MouseButton {
    Left,
    Right,
    Middle,
    Back,
    Forward,
}

/// Input from the viewer; keys by physical scancode (USB HID usage), so the
/// host's layout decides the character.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputEvent {
    Key {
        usage: u16,
        pressed: bool,
    },
    MouseButton {
        button: MouseButton,
        pressed: bool,
    },
    MouseAbsolute {
        x: f32,
        y: f32,
    },
    MouseRelative {
        dx: i32,
        dy: i32,
    },
    Wheel {
        dx: f32,
        dy: f32,
    },
    GamepadConnected {
        pad: u8,
    },
    GamepadDisconnected {
        pad: u8,
    },
    GamepadButton {
        pad: u8,
        button: GamepadButton,
        pressed: bool,
    },
    /// Sticks -1.0..=1.0 (up is positive); triggers 0.0..=1.0.
    GamepadAxis {
        pad: u8,
        axis: GamepadAxis,
        value: f32,
    },
}

/// At most this many pads per session (like an Xbox).
pub const MAX_GAMEPADS: u8 = 4;

/// A pad's vibration: motor strengths (0..65535) for a while. What the
/// host's virtual pad was asked by the game, and what the viewer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rumble {
    pub pad: u8,
    pub strong: u16,
    pub weak: u16,
    pub duration_ms: u32,
}

/// Xbox-style names; `South` is A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GamepadButton {
    South,
    East,
    West,
    North,
    LeftBumper,
    RightBumper,
    Select,
    Start,
    Mode,
    LeftThumb,
    RightThumb,
    DpadUp,
    DpadDown,
    DpadLeft,
    DpadRight,
}

impl GamepadButton {
    pub const ALL: [GamepadButton; 15] = [
        Self::South,
        Self::East,
        Self::West,
        Self::North,
        Self::LeftBumper,
        Self::RightBumper,
        Self::Select,
        Self::Start,
        Self::Mode,
        Self::LeftThumb,
        Self::RightThumb,
        Self::DpadUp,
        Self::DpadDown,
        Self::DpadLeft,
        Self::DpadRight,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GamepadAxis {
    LeftX,
    LeftY,
    RightX,
    RightY,
    LeftTrigger,
    RightTrigger,
}

/// The size, rate, bitrate and codec the viewer asks for. A width or
/// height of 0 keeps the application's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayRequest {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<VideoCodec>,
}

impl InputEvent {
    /// Key and button events must never be dropped or reordered; moves may
    /// be coalesced.
    pub fn is_motion(&self) -> bool {
        matches!(
            self,
            Self::MouseAbsolute { .. } | Self::MouseRelative { .. } | Self::GamepadAxis { .. }
        )
    }
}

#[derive(Debug, Error)]
pub enum ControlError {
    #[error("control message of {0} bytes exceeds the {MAX_CONTROL_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("malformed control message: {0}")]
    Malformed(#[from] serde_json::Error),
}

impl ControlMessage {
    /// The message's `type`, for logs and errors: never its fields, which
    /// may hold tokens and keys.
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.get("type")?.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("control messages always serialise")
    }

    pub fn from_json(text: &str) -> Result<Self, ControlError> {
        if text.len() > MAX_CONTROL_MESSAGE_BYTES {
            return Err(ControlError::TooLarge(text.len()));
        }
        Ok(serde_json::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kind_names_the_type_and_nothing_else() {
        let hello = ControlMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            token: "secret-token".into(),
            client: "viewer".into(),
            display: None,
        };
        assert_eq!(hello.kind(), "hello");
    }

    fn samples() -> Vec<ControlMessage> {
        vec![
            ControlMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                token: "abc".into(),
                client: "viewer/0.1".into(),
                display: Some(DisplayRequest {
                    width: 1280,
                    height: 720,
                    fps: 60,
                    bitrate_kbps: Some(10_000),
                    codec: Some(VideoCodec::Hevc),
                }),
            },
            ControlMessage::Capabilities {
                gamepads: false,
                gamepads_note: Some("no /dev/uinput".into()),
                clipboard: true,
            },
            ControlMessage::InputApplied {
                seq: 41,
                host_us: 1_700_000_000_000_000,
            },
            ControlMessage::Rumble(Rumble {
                pad: 0,
                strong: 40_000,
                weak: 0,
                duration_ms: 200,
            }),
            ControlMessage::Clipboard {
                text: "héllo".into(),
            },
            ControlMessage::Input {
                seq: 9,
                event: InputEvent::GamepadAxis {
                    pad: 1,
                    axis: GamepadAxis::LeftTrigger,
                    value: 0.5,
                },
            },
            ControlMessage::Welcome {
                protocol_version: PROTOCOL_VERSION,
                session_id: "s-1".into(),
                udp_port: 4000,
                keys: MediaKeys {
                    host_to_viewer: "a".into(),
                    viewer_to_host: "b".into(),
                },
                video: VideoParams {
                    codec: VideoCodec::H264,
                    width: 1280,
                    height: 720,
                    fps: 60,
                    bitrate_kbps: 10_000,
                },
                audio: AudioParams {
                    codec: "opus".into(),
                    sample_rate_hz: 48_000,
                    channels: 2,
                    frame_ms: 10,
                },
                resume_token: None,
            },
            ControlMessage::Resume {
                protocol_version: PROTOCOL_VERSION,
                session_id: "s-1".into(),
                resume_token: "t".into(),
            },
            ControlMessage::Resumed {
                session_id: "s-1".into(),
                last_input_seq: Some(7),
            },
            ControlMessage::Ping {
                id: 1,
                viewer_us: 2,
            },
            ControlMessage::Pong {
                id: 1,
                viewer_us: 2,
                host_us: 3,
            },
            ControlMessage::ReceiverReport(ReceiverReport {
                frames_received: 5,
                latency_p50_ms: Some(4.5),
                ..Default::default()
            }),
            ControlMessage::SenderReport(SenderReport {
                frames_sent: 9,
                ..Default::default()
            }),
            ControlMessage::KeyframeRequest { frame_index: 4 },
            ControlMessage::Nack {
                frame_index: 4,
                shards: vec![1, 7],
            },
            ControlMessage::UseTransport {
                transport: Transport::WebSocket,
            },
            ControlMessage::Input {
                seq: 1,
                event: InputEvent::Key {
                    usage: 4,
                    pressed: true,
                },
            },
            ControlMessage::Goodbye {
                reason: EndReason::UserQuit,
            },
            ControlMessage::Error {
                code: ErrorCode::BadToken,
                message: "no".into(),
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for message in samples() {
            let json = message.to_json();
            assert_eq!(ControlMessage::from_json(&json).unwrap(), message, "{json}");
        }
    }

    #[test]
    fn wire_shape_is_tagged_by_type() {
        let json = ControlMessage::Ping {
            id: 1,
            viewer_us: 2,
        }
        .to_json();
        assert_eq!(json, r#"{"type":"ping","id":1,"viewer_us":2}"#);
    }

    #[test]
    fn oversized_and_unknown_are_errors() {
        let big = "x".repeat(MAX_CONTROL_MESSAGE_BYTES + 1);
        assert!(matches!(
            ControlMessage::from_json(&big),
            Err(ControlError::TooLarge(_))
        ));
        assert!(ControlMessage::from_json(r#"{"type":"launch_missiles"}"#).is_err());
    }

    proptest! {
        #[test]
        fn garbage_is_an_error_never_a_panic(text in ".{0,200}") {
            let _ = ControlMessage::from_json(&text);
        }

        #[test]
        fn pings_round_trip(id: u64, viewer_us: u64, host_us: u64) {
            let message = ControlMessage::Pong { id, viewer_us, host_us };
            prop_assert_eq!(ControlMessage::from_json(&message.to_json()).unwrap(), message);
        }
    }
}
