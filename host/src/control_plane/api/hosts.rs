//! GetHosts: `GET /api/hosts`, the hosts sharing this control plane as
//! their heartbeats last described them (on SQLite, this host alone).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use common::api::HostList;

use super::error::ApiError;
use crate::control_plane::ControlPlane;

pub async fn get_hosts(State(plane): State<Arc<ControlPlane>>) -> Result<Json<HostList>, ApiError> {
    Ok(Json(HostList {
        hosts: plane.store.hosts()?,
    }))
}
