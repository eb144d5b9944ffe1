//! The Applications page: every application with its icon, state and
//! newest errors; Enable/Disable and Remove where the policy allows, all
//! through the API as the signed-in user.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::api::{ApplicationErrorList, ApplicationList, ApplicationState};
use serde::Deserialize;

use super::{Console, Peer, call, changed_or_refused, notice_shown, pages, read_notice};

/// Errors shown per application (the newest).
const ERRORS_SHOWN: usize = 3;

pub async fn page(State(console): State<Arc<Console>>, peer: Peer, headers: HeaderMap) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let (user, address) = (signed_in.user.as_str(), super::source(peer));
    let api = &console.api;
    let mut refusals = Vec::new();
    let listed: Result<ApplicationList, _> =
        call::call(api, user, address, Method::GET, "/api/applications", None).await;
    let applications = listed.map(|l| l.applications).unwrap_or_else(|refused| {
        refusals.push(format!("Applications: {}", refused.reason));
        Vec::new()
    });
    let mut rows = Vec::new();
    for app in applications {
        let path = format!("/api/applications/{}/errors", app.name);
        let errors: Result<ApplicationErrorList, _> =
            call::call(api, user, address, Method::GET, &path, None).await;
        let mut errors = errors.map(|l| l.errors).unwrap_or_default();
        errors.sort_by_key(|e| std::cmp::Reverse(e.id));
        let resource = format!("application/{}", app.name);
        rows.push(pages::ApplicationRow {
            can_change_state: console.may(
                user,
                "appstream:UpdateApplicationState",
                &resource,
                address,
            ),
            can_edit: console.may(user, "appstream:UpdateApplication", &resource, address),
            can_remove: console.may(user, "appstream:DeleteApplication", &resource, address),
            errors: errors
                .into_iter()
                .take(ERRORS_SHOWN)
                .map(|e| (e.at, e.kind, e.message))
                .collect(),
            enabled: app.state == ApplicationState::Enabled,
            has_icon: app.icon.is_some(),
            max_sessions: app.max_sessions,
            command: app.command,
            description: app.description,
            name: app.name,
        });
    }
    let notice = read_notice(&headers);
    let page = pages::applications(&pages::ApplicationsPage {
        user,
        csrf: &signed_in.csrf,
        applications: &rows,
        can_add: console.may(
            user,
            "appstream:CreateApplication",
            "application/*",
            address,
        ),
        refusals: &refusals,
        notice,
    });
    notice_shown(Html(page.into_string()).into_response(), notice)
}

/// The icon, fetched through the API as the signed-in user (the page's
/// `img` cannot sign requests).
pub async fn icon(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let path = format!("/api/applications/{app}/icon");
    let address = super::source(peer);
    match call::call_raw(
        &console.api,
        &signed_in.user,
        address,
        Method::GET,
        &path,
        None,
    )
    .await
    {
        Ok((Some(content_type), bytes)) => {
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Ok((None, bytes)) => bytes.into_response(),
        Err(refused) => refused.status.into_response(),
    }
}

#[derive(Deserialize)]
pub struct StateForm {
    csrf: String,
    state: String,
}

pub async fn change_state(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(app): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    let signed_in = match console.posted_by(&headers, &form.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let path = format!("/api/applications/{app}/state");
    let body = serde_json::json!({ "state": form.state });
    let address = super::source(peer);
    let done = call::call_raw(
        &console.api,
        &signed_in.user,
        address,
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    changed_or_refused(
        done,
        "/console/applications",
        "state_changed",
        "Not changed",
    )
}

pub async fn remove(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(app): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let signed_in = match console.posted_by(&headers, &form.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let path = format!("/api/applications/{app}");
    let address = super::source(peer);
    let done = call::call_raw(
        &console.api,
        &signed_in.user,
        address,
        Method::DELETE,
        &path,
        None,
    )
    .await;
    changed_or_refused(done, "/console/applications", "removed", "Not changed")
}
