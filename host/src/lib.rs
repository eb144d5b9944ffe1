//! The streaming host. Its parts are folders, imported in one direction:
//! the crate root wires them (`cli` parses the command line and, in
//! `cli::config`, the config file; `app`, `standalone`: `host serve`,
//! `host run`, `host entitlement`; `doctor`, `service`), `stream` drives
//! sessions over `media`, `apps` and the `control_plane`; `platform` is the
//! OS boundary under them all.
//!
//! - `control_plane`: store, policies, API, entitlement service, admin
//!   commands, the guards and connection caps of the HTTPS port.
//! - `stream`: the TLS port and its WebSocket upgrade, the session driver,
//!   resume, the session's input worker.
//! - `media`: what a session streams (the planner), the pipeline threads and
//!   the sender.
//! - `apps`: launching applications, their SDK socket, their runtime
//!   directories and their error records.
//! - `platform`: capture, encoders, audio, input injection, gamepads, the
//!   sandbox, Xvfb.

pub mod app;
pub mod apps;
pub mod cli;
pub mod clock;
pub mod control_plane;
pub mod discovery;
pub mod doctor;
pub mod media;
pub mod platform;
pub mod rate_control;
pub mod service;
pub mod standalone;
pub mod stream;
