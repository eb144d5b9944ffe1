//! `GET /entitlement/applications/{app}/icon`: the launcher's icons. The
//! signed-in user must be entitled to the application; the PNG comes from
//! the host's API (`GET /api/applications/{app}/icon`, which resolves the
//! path inside the host's data directory), since a standalone entitlement
//! service has no access to the host's files.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use common::client::ClientError;

use super::{EntitlementService, api_failure, bearer_user, check_entitled};
use crate::control_plane::api::error::ApiError;
use crate::control_plane::api::handlers::png_response;

/// The API's "no icon to serve" answers, passed on as they are.
const ICON_CODES: [&str; 4] = ["no_icon", "icon_remote", "icon_missing", "icon_refused"];

pub(super) async fn icon(
    State(service): State<Arc<EntitlementService>>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Result<Response, ApiError> {
    let user = bearer_user(&service, &headers)?;
    check_entitled(&service, &user, &app)?;
    match service.api.application_icon(&app).await {
        Ok(png) => Ok(png_response(png)),
        Err(ClientError::Api {
            status: 404,
            code,
            reason,
        }) if ICON_CODES.contains(&code.as_str()) => {
            let code = ICON_CODES
                .into_iter()
                .find(|c| *c == code)
                .unwrap_or("no_icon");
            Err(ApiError::new(StatusCode::NOT_FOUND, code, reason))
        }
        Err(e) => Err(api_failure(e)),
    }
}
