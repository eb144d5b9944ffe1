//! The streaming session as two state machines free of I/O and clocks, in
//! the style of quinn-proto and str0m: `HostSession` and `ViewerSession`
//! take `handle_control(now, message)`, `handle_datagram(now, bytes)`,
//! `handle_timeout(now)` and local happenings (input, the encoder's units,
//! a lost connection), and give `poll_transmit(now)`, `poll_event()` and
//! `poll_timeout()`. They own the protocol: welcome, resume, clock sync,
//! reports, FEC share, NACK timing, keyframe requests and their throttle,
//! congestion control, the UDP→WebSocket fallback, input sequencing and
//! de-duplication, idle timeouts. Every timing constant is in
//! `SessionConfig`, which both ends and the simulator share.
//!
//! `now` is microseconds on the caller's clock (the host passes its wall
//! clock, which it also stamps on frames; the viewer its own).

mod config;
mod handshake;
mod host;
mod input;
mod receiver;
mod sender;
mod viewer;

pub use config::SessionConfig;
pub use handshake::{Hello, Opening, Refusal, open};
pub use host::{HostEvent, HostLocal, HostSession, HostSessionParams};
pub use input::{InputDedup, InputQueue};
pub use receiver::{Received, ReceiverStats};
pub use sender::{MediaUnit, SenderStats};
pub use viewer::{StreamEnd, ViewerEvent, ViewerSession, ViewerSessionParams, ViewerStats};

use std::net::SocketAddr;

use crate::control::ControlMessage;

/// Where a media datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPath {
    Udp(SocketAddr),
    /// As a binary message on the control WebSocket (UDP is blocked).
    WebSocket,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Transmit {
    Control(ControlMessage),
    Media { path: MediaPath, datagram: Vec<u8> },
}

/// The earliest of some optional deadlines.
fn earliest(deadlines: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    deadlines.into_iter().flatten().min()
}
