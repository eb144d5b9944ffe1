//! Handlers of the 15 operations and of the icon route. Authentication and
//! authorization happened in `auth`; these validate the body, call the store
//! and answer JSON (the icon: PNG bytes).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::api::{
    ApiRoot, ApplicationErrorList, ApplicationList, ApplicationPatch, ApplicationStateChange,
    CreatedSession, DEFAULT_ENTITLEMENT_TTL_S, MAX_ENTITLEMENT_TTL_S, NewApplication, NewSession,
    SessionList, SessionState, SessionStateChange, SessionStatus, validate_name,
};
use common::control::EndReason;
use common::stream_url::StreamUrl;
use rand::RngCore;

use super::error::{ApiError, parse_body};
use crate::control_plane::ControlPlane;
use crate::control_plane::allowed_commands::CommandRefused;
use crate::control_plane::fleet;
use crate::control_plane::store::{NewPending, token_hash};

type Plane = State<Arc<ControlPlane>>;
type ApiResult = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(value: T) -> ApiResult {
    Ok(Json(value).into_response())
}

/// Commands are the host owner's to allow, not the API caller's.
fn check_command(plane: &ControlPlane, command: &str) -> Result<(), ApiError> {
    plane.commands.check(command).map_err(|e| match e {
        e @ CommandRefused::NotListed { .. } => {
            ApiError::forbidden("command_not_allowed", e.to_string())
        }
        e @ CommandRefused::BadFile { .. } => {
            tracing::error!(error = %e, "the allowed-commands file is unreadable");
            ApiError::internal(e.to_string())
        }
    })
}

fn invalid(reason: String) -> ApiError {
    ApiError::bad_request("invalid_value", reason)
}

pub async fn get_api_root() -> ApiResult {
    let links = [
        ("applications", "/api/applications"),
        ("application", "/api/applications/{app}"),
        ("application_status", "/api/applications/{app}/status"),
        ("application_icon", "/api/applications/{app}/icon"),
        ("application_state", "/api/applications/{app}/state"),
        ("application_errors", "/api/applications/{app}/errors"),
        ("application_error", "/api/applications/{app}/errors/{id}"),
        ("sessions", "/api/applications/{app}/sessions"),
        ("session", "/api/applications/{app}/sessions/{id}"),
        (
            "session_status",
            "/api/applications/{app}/sessions/{id}/status",
        ),
        (
            "session_state",
            "/api/applications/{app}/sessions/{id}/state",
        ),
    ];
    ok(ApiRoot {
        name: "appstream host".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        links: links
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    })
}

pub async fn get_applications(State(plane): Plane) -> ApiResult {
    ok(ApplicationList {
        applications: plane.store.applications()?,
    })
}

pub async fn create_application(State(plane): Plane, body: Bytes) -> ApiResult {
    let new: NewApplication = parse_body(&body)?;
    new.validate().map_err(invalid)?;
    check_command(&plane, &new.command)?;
    let app = plane.store.create_application(&new, plane.now())?;
    tracing::info!(application = %app.name, "application created");
    Ok((StatusCode::CREATED, Json(app)).into_response())
}

pub async fn get_application(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    ok(plane.store.application(&app)?)
}

pub async fn update_application(
    State(plane): Plane,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let patch: ApplicationPatch = parse_body(&body)?;
    patch.validate().map_err(invalid)?;
    if let Some(command) = &patch.command {
        check_command(&plane, command)?;
    }
    ok(plane.store.update_application(&app, &patch, plane.now())?)
}

pub async fn delete_application(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    plane.store.delete_application(&app)?;
    tracing::info!(application = %app, "application deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_application_status(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    ok(plane.store.application_status(&app, plane.now())?)
}

/// The application's icon file (PNG), or 404 with why there is none.
pub async fn get_application_icon(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    let icon = plane.store.application(&app)?.icon;
    let Some(data_dir) = plane.data_dir.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_icon",
            "this host serves no icon files",
        ));
    };
    let loaded = tokio::task::spawn_blocking(move || {
        crate::control_plane::icons::load(&data_dir, icon.as_deref())
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the icon failed: {e}")))?;
    match loaded {
        Ok(png) => Ok(png_response(png)),
        Err(e) => {
            if matches!(e.code(), "icon_refused" | "icon_missing") {
                tracing::warn!(application = %app, error = %e, "icon not served");
            }
            Err(ApiError::new(
                StatusCode::NOT_FOUND,
                e.code(),
                e.to_string(),
            ))
        }
    }
}

/// UpdateApplication's icon: the body is the PNG, kept as
/// `DATA_DIR/icons/APP.png`; answers the application.
pub async fn put_application_icon(
    State(plane): Plane,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    plane.store.application(&app)?;
    let Some(data_dir) = plane.data_dir.clone() else {
        return Err(ApiError::bad_request(
            "no_icon",
            "this host keeps no icon files",
        ));
    };
    let name = app.clone();
    let saved = tokio::task::spawn_blocking(move || {
        crate::control_plane::icons::save_upload(&data_dir, &name, &body)
    })
    .await
    .map_err(|e| ApiError::internal(format!("saving the icon failed: {e}")))?;
    let icon = saved.map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;
    let patch = ApplicationPatch {
        icon: Some(icon),
        ..ApplicationPatch::default()
    };
    let app = plane.store.update_application(&app, &patch, plane.now())?;
    tracing::info!(application = %app.name, "application icon replaced");
    ok(app)
}

/// PNG bytes for one signed-in person: private caches only.
pub fn png_response(png: Vec<u8>) -> Response {
    use axum::http::header;
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        png,
    )
        .into_response()
}

pub async fn update_application_state(
    State(plane): Plane,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let change: ApplicationStateChange = parse_body(&body)?;
    let app = plane
        .store
        .set_application_state(&app, change.state, plane.now())?;
    tracing::info!(application = %app.name, state = ?app.state, "application state changed");
    ok(app)
}

pub async fn get_application_errors(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    ok(ApplicationErrorList {
        errors: plane.store.application_errors(&app)?,
    })
}

pub async fn get_application_error(
    State(plane): Plane,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| invalid(format!("error id {id:?} is not a number")))?;
    ok(plane.store.application_error(&app, id)?)
}

pub async fn get_sessions(State(plane): Plane, Path(app): Path<String>) -> ApiResult {
    ok(SessionList {
        sessions: plane.store.sessions(&app)?,
    })
}

pub async fn create_session(
    State(plane): Plane,
    Path(app): Path<String>,
    body: Bytes,
) -> ApiResult {
    let new: NewSession = parse_body(&body)?;
    validate_name("user", &new.user).map_err(invalid)?;
    let ttl_s = new.expires_in_s.unwrap_or(DEFAULT_ENTITLEMENT_TTL_S);
    if !(1..=MAX_ENTITLEMENT_TTL_S).contains(&ttl_s) {
        return Err(invalid(format!(
            "expires_in_s {ttl_s} must be 1 to {MAX_ENTITLEMENT_TTL_S}"
        )));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let now = plane.now();
    let pending = NewPending {
        application: &app,
        user: &new.user,
        token_hash: &token_hash(&token),
        now,
        expires_at: now + i64::from(ttl_s),
        max_pending_per_user: plane.guards.max_pending_per_user,
    };
    // On a shared database the fleet places the session; alone, it is ours.
    let (session, url) = if plane.guards.shared {
        let fresh_since = now - fleet::HEARTBEAT_INTERVAL_S * fleet::LOST_AFTER_INTERVALS;
        match plane.store.create_placed_session(&pending, fresh_since)? {
            (session, Ok(host)) => (
                session,
                fleet::stream_url(&host, token).map_err(ApiError::internal)?,
            ),
            (_, Err(unplaced)) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "no_capacity",
                    format!("no host has room for application {app}: {unplaced}"),
                ));
            }
        }
    } else {
        let session = plane.store.create_session(
            pending.application,
            pending.user,
            pending.token_hash,
            pending.now,
            pending.expires_at,
            pending.max_pending_per_user,
        )?;
        let url = StreamUrl {
            token,
            ..plane.stream_base.clone()
        };
        (session, url)
    };
    tracing::info!(session = %session.id, application = %app, user = %new.user, host = %url.host, "session created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedSession {
            session,
            entitlement_url: url.to_string(),
        }),
    )
        .into_response())
}

pub async fn get_session(
    State(plane): Plane,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult {
    ok(plane.store.session(&app, &id)?)
}

pub async fn get_session_status(
    State(plane): Plane,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult {
    let session = plane.store.session(&app, &id)?;
    ok(SessionStatus {
        stream: plane.live.stats(&session.id),
        id: session.id,
        state: session.state,
        reason: session.reason,
    })
}

pub async fn update_session_state(
    State(plane): Plane,
    Path((app, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let change: SessionStateChange = parse_body(&body)?;
    if change.state != SessionState::Terminated {
        return Err(invalid(format!(
            "state may only become TERMINATED, not {}",
            change.state.as_str()
        )));
    }
    plane.store.session(&app, &id)?;
    let Some(session) = plane
        .store
        .terminate_session(&id, "admin_terminated", plane.now())?
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "session_ended",
            format!("session {id} has already ended"),
        ));
    };
    let was_streaming = plane.live.end(&id, EndReason::AdminTerminated);
    tracing::info!(session = %id, was_streaming, "session terminated by the API");
    ok(session)
}
