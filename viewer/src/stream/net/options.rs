//! What the stream's network side is given: where to connect and what to
//! send besides media, and where decoded work goes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use common::control::{DisplayRequest, Rumble};
use common::packetizer::Frame;
use common::stream_url::StreamUrl;
use tokio::sync::mpsc;

use crate::input::InputReceiver;
use crate::stream::synthetic_input::SyntheticInput;

/// Where the network task delivers media.
pub struct MediaSinks {
    pub video: SyncSender<Frame>,
    /// Told the codec from the welcome, before any frame.
    pub video_codec: Arc<std::sync::OnceLock<common::control::VideoCodec>>,
    pub audio: SyncSender<Vec<u8>>,
    /// The decoder says the picture is broken (a decode error, a gap).
    pub keyframe_requests: mpsc::Receiver<u32>,
}

/// What to connect to and what to send besides media reports.
pub struct NetOptions {
    pub url: StreamUrl,
    /// Send UDP somewhere else than the host (a relay in front of it).
    pub media_via: Option<SocketAddr>,
    /// Synthetic input to send (tests of reliable input).
    pub synthetic: SyntheticInput,
    pub display: Option<DisplayRequest>,
    /// Input from the window and the gamepads.
    pub input: Option<InputReceiver>,
    /// What the host says in words, for the window or the JSON lines.
    pub notes: std::sync::mpsc::Sender<crate::stream::notes::HostNote>,
    /// Rumble from the host, for the gamepad thread.
    pub rumble: Option<std::sync::mpsc::Sender<Rumble>>,
}
