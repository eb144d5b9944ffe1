//! What every connection of the host's port shares: the control plane, the
//! media planner, where media goes, gamepad support, the sessions waiting
//! for a resume. Built by the crate's wiring (`app::serve`).

use std::net::SocketAddr;
use std::sync::Arc;

use crate::control_plane::ControlPlane;
use crate::media::planner::MediaPlanner;
use crate::stream::resume::ResumeDesk;

/// Shared by every connection.
pub struct HostContext {
    pub plane: Arc<ControlPlane>,
    pub listen: SocketAddr,
    pub media_port: u16,
    pub media: MediaPlanner,
    pub gamepads: crate::platform::gamepad::GamepadSupport,
    /// Sessions whose viewer may come back after a dropped connection.
    pub resume: ResumeDesk,
}
