//! The audit page: the API's GetAuditLog as the signed-in user, filtered
//! by principal, action, outcome and time, paged back by entry id.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::api::AuditLogPage;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{Console, call, pages};

/// The page's filters: query name, label.
const FILTERS: [(&str, &str); 5] = [
    ("principal", "Principal"),
    ("action", "Action (e.g. appstream:CreateSession)"),
    ("decision", "Outcome (allow, deny, signin_failed, …)"),
    ("since", "Since (RFC 3339)"),
    ("until", "Until (RFC 3339)"),
];

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    principal: Option<String>,
    action: Option<String>,
    decision: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

impl AuditFilters {
    fn values(&self) -> [String; 5] {
        [
            &self.principal,
            &self.action,
            &self.decision,
            &self.since,
            &self.until,
        ]
        .map(|v| v.clone().unwrap_or_default().trim().to_string())
    }

    /// `name=value&...` of the filters that are set, and `before` if given.
    fn query_string(&self, before: Option<i64>) -> String {
        let mut pairs: Vec<String> = FILTERS
            .iter()
            .zip(self.values())
            .filter(|(_, value)| !value.is_empty())
            .map(|((name, _), value)| {
                format!("{name}={}", utf8_percent_encode(&value, NON_ALPHANUMERIC))
            })
            .collect();
        if let Some(before) = before {
            pairs.push(format!("before={before}"));
        }
        pairs.join("&")
    }
}

pub async fn page(
    State(console): State<Arc<Console>>,
    peer: super::Peer,
    headers: HeaderMap,
    Query(filters): Query<AuditFilters>,
) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let path = format!("/api/audit?{}", filters.query_string(filters.before));
    let address = super::source(peer);
    let answer: Result<AuditLogPage, _> = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::GET,
        &path,
        None,
    )
    .await;
    let (entries, older, refusal) = match answer {
        Ok(page) => (page.entries, page.older, None),
        Err(refused) => (Vec::new(), None, Some(refused.reason)),
    };
    let filter_fields: Vec<(&'static str, &'static str, String)> = FILTERS
        .iter()
        .zip(filters.values())
        .map(|((name, label), value)| (*name, *label, value))
        .collect();
    let older_href = older.map(|id| format!("/console/audit?{}", filters.query_string(Some(id))));
    let page = pages::audit(&pages::AuditPage {
        user: &signed_in.user,
        csrf: &signed_in.csrf,
        filters: &filter_fields,
        entries: &entries,
        older_href,
        refusal: refusal.as_deref(),
    });
    Html(page.into_string()).into_response()
}
