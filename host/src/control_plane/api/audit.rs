//! GetAuditLog: `GET /api/audit?principal=&action=&decision=&since=&until=&before=&limit=`,
//! newest first, paged by entry id (`before`). Times are RFC 3339.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use common::api::{AuditLogPage, AuditRecord};
use serde::Deserialize;

use super::error::ApiError;
use crate::control_plane::ControlPlane;
use crate::control_plane::store::{AuditEntry, AuditQuery};

/// Entries per page unless asked, and at most.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

impl AuditParams {
    /// The store's query; an empty field is no filter.
    pub fn query(&self) -> Result<AuditQuery, ApiError> {
        let text = |field: &Option<String>| field.clone().filter(|v| !v.trim().is_empty());
        let time = |name: &str, field: &Option<String>| match text(field) {
            None => Ok(None),
            Some(date) => common::signing::parse_date(date.trim())
                .map(Some)
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_value",
                        format!(
                            "{name} {date:?} is not an RFC 3339 time like 2026-12-02T18:00:00Z"
                        ),
                    )
                }),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_value",
                format!("limit {limit} must be 1 to {MAX_LIMIT}"),
            ));
        }
        Ok(AuditQuery {
            principal: text(&self.principal),
            action: text(&self.action),
            decision: text(&self.decision),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            before: self.before,
            limit,
        })
    }
}

pub async fn get_audit_log(
    State(plane): State<Arc<ControlPlane>>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let mut query = params.query()?;
    // One more than asked says whether an older page exists.
    let limit = query.limit;
    query.limit += 1;
    let mut found = plane.store.audit_search(&query)?;
    let older = (found.len() > limit).then(|| found[limit - 1].0);
    found.truncate(limit);
    let entries = found.into_iter().map(|(id, e)| record(id, e)).collect();
    Ok(Json(AuditLogPage { entries, older }).into_response())
}

fn record(id: i64, e: AuditEntry) -> AuditRecord {
    AuditRecord {
        id,
        at: common::signing::format_date(e.at),
        principal: e.principal,
        key_id: e.key_id,
        source_ip: e.source_ip,
        method: e.method,
        path: e.path,
        action: e.action,
        resource: e.resource,
        decision: e.decision,
        status: e.status,
        reason: e.reason,
    }
}
