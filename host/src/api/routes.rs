//! The 15 operations, and the icon route: which route is which IAM action on
//! which resource. Reading an application's icon is reading the application
//! (`appstream:GetApplication`), so the seed's policies cover it as they are.

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::get;

use super::handlers as h;
use crate::control_plane::ControlPlane;

pub fn router(plane: Arc<ControlPlane>) -> Router {
    Router::new()
        .route("/api", get(h::get_api_root))
        .route(
            "/api/applications",
            get(h::get_applications).post(h::create_application),
        )
        .route(
            "/api/applications/{app}",
            get(h::get_application)
                .patch(h::update_application)
                .delete(h::delete_application),
        )
        .route(
            "/api/applications/{app}/status",
            get(h::get_application_status),
        )
        .route("/api/applications/{app}/icon", get(h::get_application_icon))
        .route(
            "/api/applications/{app}/state",
            axum::routing::put(h::update_application_state),
        )
        .route(
            "/api/applications/{app}/errors",
            get(h::get_application_errors),
        )
        .route(
            "/api/applications/{app}/errors/{id}",
            get(h::get_application_error),
        )
        .route(
            "/api/applications/{app}/sessions",
            get(h::get_sessions).post(h::create_session),
        )
        .route("/api/applications/{app}/sessions/{id}", get(h::get_session))
        .route(
            "/api/applications/{app}/sessions/{id}/status",
            get(h::get_session_status),
        )
        .route(
            "/api/applications/{app}/sessions/{id}/state",
            axum::routing::put(h::update_session_state),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            plane.clone(),
            super::auth::authenticate,
        ))
        .with_state(plane)
}

/// The IAM action and resource name of a request, from its method and the
/// route it matched. Resources: `*` (the root), `application/*` (the
/// collection), `application/NAME`, `application/NAME/session/ID`,
/// `application/NAME/error/ID`.
pub fn action_and_resource(
    method: &Method,
    matched_route: &str,
    path: &str,
    body: &[u8],
) -> (&'static str, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let app = segments.get(2).copied().unwrap_or("");
    let item = segments.get(4).copied().unwrap_or("");
    let application = format!("application/{app}");
    let action = match (method.as_str(), matched_route) {
        ("GET", "/api") => return ("appstream:GetApiRoot", "*".into()),
        ("GET", "/api/applications") => {
            return ("appstream:GetApplications", "application/*".into());
        }
        ("POST", "/api/applications") => {
            return (
                "appstream:CreateApplication",
                new_application_resource(body),
            );
        }
        ("GET", "/api/applications/{app}" | "/api/applications/{app}/icon") => {
            "appstream:GetApplication"
        }
        ("PATCH", "/api/applications/{app}") => "appstream:UpdateApplication",
        ("DELETE", "/api/applications/{app}") => "appstream:DeleteApplication",
        ("GET", "/api/applications/{app}/status") => "appstream:GetApplicationStatus",
        ("PUT", "/api/applications/{app}/state") => "appstream:UpdateApplicationState",
        ("GET", "/api/applications/{app}/errors") => "appstream:GetApplicationErrors",
        ("GET", "/api/applications/{app}/errors/{id}") => {
            return (
                "appstream:GetApplicationError",
                format!("{application}/error/{item}"),
            );
        }
        ("GET", "/api/applications/{app}/sessions") => "appstream:GetSessions",
        ("POST", "/api/applications/{app}/sessions") => "appstream:CreateSession",
        (m, r) if r.starts_with("/api/applications/{app}/sessions/{id}") => {
            let action = match (m, r.rsplit('/').next().unwrap_or("")) {
                ("GET", "{id}") => "appstream:GetSession",
                ("GET", "status") => "appstream:GetSessionStatus",
                _ => "appstream:UpdateSessionState",
            };
            return (action, format!("{application}/session/{item}"));
        }
        _ => "appstream:Unknown",
    };
    (action, application)
}

/// CreateApplication acts on the application it creates, named in the body.
fn new_application_resource(body: &[u8]) -> String {
    let name = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("name")?.as_str().map(str::to_string))
        .filter(|n| common::api::validate_name("application", n).is_ok());
    match name {
        Some(name) => format!("application/{name}"),
        None => "application/*".into(),
    }
}
