//! The AppStream-style HTTPS API: `router(plane)` serves the 15 operations
//! behind request signing and policy evaluation; tests call it without a
//! socket.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod routes;

pub use routes::{action_and_resource, router};
