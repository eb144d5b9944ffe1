//! Access keys through the API (what the console's Keys page calls):
//! GetAccessKeys (never a secret), CreateAccessKey and RotateAccessKey
//! (the answer is the only time the new secret is shown; a rotated key
//! stays active until deactivated), UpdateAccessKey (activate/deactivate).
//! Temporary keys (the machine role's) are listed but rotate themselves.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use common::api::{
    AccessKeyInfo, AccessKeyList, AccessKeyStateChange, CreatedAccessKey, NewAccessKey,
};

use super::error::{ApiError, parse_body};
use crate::control_plane::ControlPlane;
use crate::control_plane::bootstrap::create_access_key;
use crate::control_plane::store::AccessKey;

type Plane = State<Arc<ControlPlane>>;
type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Arc<ControlPlane>> {
    Router::new()
        .route("/api/keys", get(get_keys).post(create_key))
        .route("/api/keys/{key}/rotate", post(rotate_key))
        .route("/api/keys/{key}/state", put(update_key_state))
}

fn is_temporary(key: &AccessKey) -> bool {
    key.expires_at.is_some() || key.session_token.is_some()
}

fn info(key: &AccessKey) -> AccessKeyInfo {
    AccessKeyInfo {
        key_id: key.key_id.clone(),
        principal: key.principal.clone(),
        active: key.active,
        created_at: common::signing::format_date(key.created_at),
        expires_at: key.expires_at.map(common::signing::format_date),
        temporary: is_temporary(key),
    }
}

pub async fn get_keys(State(plane): Plane) -> ApiResult {
    let keys = plane.store.keys(None)?.iter().map(info).collect();
    Ok(Json(AccessKeyList { keys }).into_response())
}

/// A new long-term key for `principal`: 201 with its secret.
fn new_key(plane: &ControlPlane, principal: &str) -> ApiResult {
    let file = create_access_key(plane.store.as_ref(), principal, plane.now())?;
    tracing::info!(%principal, key_id = %file.key_id, "access key created through the API");
    let created = CreatedAccessKey {
        key_id: file.key_id.clone(),
        principal: principal.to_string(),
        secret: file.secret.clone(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub async fn create_key(State(plane): Plane, body: Bytes) -> ApiResult {
    let NewAccessKey { principal } = parse_body(&body)?;
    plane.store.principal(&principal)?;
    new_key(&plane, &principal)
}

pub async fn rotate_key(State(plane): Plane, Path(key_id): Path<String>) -> ApiResult {
    let old = plane.store.key(&key_id)?;
    if is_temporary(&old) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "temporary_key",
            format!(
                "{key_id} is a temporary key of {}: the host rotates those itself",
                old.principal
            ),
        ));
    }
    new_key(&plane, &old.principal)
}

pub async fn update_key_state(
    State(plane): Plane,
    Path(key_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let AccessKeyStateChange { active } = parse_body(&body)?;
    plane.store.set_key_active(&key_id, active)?;
    tracing::info!(%key_id, active, "access key state changed through the API");
    Ok(Json(info(&plane.store.key(&key_id)?)).into_response())
}
