//! What a session streams and how: the planner picks sources, encoders and
//! the application for a session (`planner`); the pipeline threads capture
//! and encode (`pipeline`). Packetizing, pacing and sealing are the
//! session machine's (`common::session`).

pub mod pipeline;
pub mod planner;
