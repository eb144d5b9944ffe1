//! What a session streams and how: the planner picks sources, encoders and
//! the application for a session (`planner`); the pipeline threads capture
//! and encode (`pipeline`); what a session drives besides media, its input
//! and clipboard, is made here too (`desk`). Packetizing, pacing and sealing are the
//! session machine's (`common::session`).

pub mod desk;
pub mod pipeline;
pub mod planner;
