//! The AppStream-style HTTPS API: `router(plane)` serves the 15 operations,
//! the audit log (`audit`), policies, users (`users`) and access keys
//! (`keys`) behind request signing and policy
//! evaluation; tests call it without a socket. `routes` says which route is
//! which action on which resource, `auth` checks the signature and the
//! policies, `handlers` do the work.

pub mod audit;
pub mod auth;
pub mod error;
pub mod handlers;
pub mod hosts;
pub mod keys;
pub mod policies;
pub mod routes;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::control_plane::ControlPlane;
use handlers as h;

pub use routes::action_and_resource;

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
        .route(
            "/api/applications/{app}/icon",
            get(h::get_application_icon).put(h::put_application_icon),
        )
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
        .route("/api/audit", get(audit::get_audit_log))
        .route("/api/hosts", get(hosts::get_hosts))
        .route("/api/policies", get(policies::get_policies))
        .route(
            "/api/policies/{name}",
            get(policies::get_policy).put(policies::put_policy),
        )
        .route("/api/simulate", axum::routing::post(policies::simulate))
        .merge(users::routes())
        .merge(keys::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            plane.clone(),
            auth::authenticate,
        ))
        .with_state(plane)
}
