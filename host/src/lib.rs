//! The streaming host: control server, sessions, media pipeline and the
//! platform backends it runs on.

pub mod app;
pub mod clock;
pub mod pipeline;
pub mod platform;
pub mod sender;
pub mod session;
pub mod tls;
pub mod tokens;
