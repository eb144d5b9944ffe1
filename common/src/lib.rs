//! Sans-IO core of the streaming system: wire formats, packetizer, sealing,
//! control messages, clock sync and the latency barcode.
//!
//! Nothing here opens a socket, spawns a thread or reads a clock: time is a
//! parameter (`now_us`, microseconds on the caller's clock).

pub mod api;
pub mod barcode;
#[cfg(feature = "client")]
pub mod client;
pub mod clock;
pub mod congestion;
pub mod control;
pub mod datagram;
pub mod discovery;
pub mod fec;
pub mod packetizer;
pub mod pinned_tls;
pub mod policy;
pub mod sdk;
pub mod seal;
pub mod session;
pub mod signing;
pub mod stats;
pub mod stream_url;
pub mod testing;
pub mod thread_priority;

pub use datagram::{Flags, Header, StreamKind};
