//! API errors: a status, a stable code and a reason in words, always JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::api::ErrorBody;

use crate::control_plane::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub reason: String,
    /// `Retry-After` (seconds) for 429 and 503 answers.
    pub retry_after_s: Option<i64>,
    /// For the audit log only, never sent: what exactly was wrong where the
    /// answer says less on purpose (which of key and signature failed).
    pub audit_detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> Self {
        Self {
            status,
            code,
            reason: reason.into(),
            retry_after_s: None,
            audit_detail: None,
        }
    }

    /// Keeps `detail` for the audit log; the client sees only the reason.
    pub fn with_audit_detail(mut self, detail: impl Into<String>) -> Self {
        self.audit_detail = Some(detail.into());
        self
    }

    /// What the audit log records as the reason.
    pub fn audit_reason(&self) -> String {
        self.audit_detail
            .clone()
            .unwrap_or_else(|| self.reason.clone())
    }

    /// Says when to try again.
    pub fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after_s = Some(seconds.max(1));
        self
    }

    pub fn bad_request(code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, reason)
    }

    pub fn unauthorized(code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, reason)
    }

    pub fn forbidden(code: &'static str, reason: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, reason)
    }

    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_string(),
            reason: self.reason,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after_s {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(format!("{what} does not exist")),
            StoreError::Conflict(reason) => Self::new(StatusCode::CONFLICT, "conflict", reason),
            e @ StoreError::ApplicationDisabled(_) => {
                Self::new(StatusCode::CONFLICT, "application_disabled", e.to_string())
            }
            e @ StoreError::ApplicationFull { .. } => {
                Self::new(StatusCode::CONFLICT, "application_full", e.to_string())
            }
            e @ StoreError::TooManyPending { .. } => {
                Self::new(StatusCode::CONFLICT, "too_many_pending", e.to_string())
            }
            e @ (StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::Postgres(_)
            | StoreError::Backend(_)) => {
                tracing::error!(error = %e, "control plane storage failed");
                Self::internal("storage failed; see the host's log")
            }
        }
    }
}

/// Parses a JSON request body, naming what was wrong: an unknown field, a
/// missing one, a wrong type, or not JSON at all.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "malformed_body",
            "the request needs a JSON body",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_field"
        } else {
            "malformed_body"
        };
        ApiError::bad_request(code, format!("body: {message}"))
    })
}
