//! The stream side of the host: its one TLS port (`server`, serving the
//! API too) and the WebSocket upgrade at `/stream`, one session's opening
//! (`session`) and driver (`driver`) with its control channel (`ws`), input worker (`input`) and
//! resume after a dropped connection (`resume`), and what every session
//! shares (`context`).

pub mod context;
pub mod driver;
pub mod input;
pub mod resume;
pub mod server;
pub mod session;
pub mod tls;
pub mod ws;
