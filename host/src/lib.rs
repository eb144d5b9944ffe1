//! The streaming host: control plane (store, API, entitlement service),
//! control server, sessions, media pipeline and the platform backends it
//! runs on.

pub mod admin;
pub mod allowed_commands;
pub mod api;
pub mod app;
pub mod app_runtime;
pub mod bootstrap;
pub mod clock;
pub mod connection_limits;
pub mod control_plane;
pub mod discovery;
pub mod entitlement;
pub mod guards;
pub mod icons;
pub mod input;
pub mod instance;
pub mod launcher;
pub mod live;
pub mod machine_role;
pub mod media;
pub mod pipeline;
pub mod platform;
pub mod resume;
pub mod sdk_server;
pub mod sender;
pub mod server;
pub mod session;
pub mod standalone;
pub mod store;
pub mod tls;
