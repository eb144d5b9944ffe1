//! What a session streams and how: the planner picks sources, encoders and
//! the application for a session (`planner`); the pipeline threads capture
//! and encode (`pipeline`); the sender packetizes, seals and sends
//! (`sender`).

pub mod pipeline;
pub mod planner;
pub mod sender;
