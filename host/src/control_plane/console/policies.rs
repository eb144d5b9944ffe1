//! The policy page: the stored policies, an editor whose refusals are the
//! API's words, and the simulator (SimulatePolicy), all as the signed-in
//! user.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use common::api::{PolicyDocument, PolicyList, SimulationRequest, SimulationResult};
use serde::Deserialize;

use super::pages::{PoliciesPage, SimulationForm};
use super::{Console, Peer, call, notice_shown, pages, read_notice, redirect_with_notice, session};

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    simulation: SimulationForm,
}

/// What the page shows besides the list and the simulator.
struct Editing {
    name: String,
    document: String,
    /// Why the API refused it, in words.
    error: Option<(StatusCode, String)>,
}

/// A name as one path segment (the API decodes it and checks it).
fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub async fn page(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let address = super::source(peer);
    let user = signed_in.user.as_str();
    let mut editing = Editing {
        name: query.name.clone(),
        document: String::new(),
        error: None,
    };
    if !query.name.is_empty() {
        let path = format!("/api/policies/{}", segment(&query.name));
        let got: Result<PolicyDocument, _> =
            call::call(&console.api, user, address, Method::GET, &path, None).await;
        match got {
            Ok(policy) => editing.document = policy.document,
            Err(refused) => editing.error = Some((refused.status, refused.reason)),
        }
    }
    let verdict = simulate(&console, user, address, &query.simulation).await;
    let notice = read_notice(&headers);
    let response = render(
        &console,
        &signed_in,
        address,
        &editing,
        &query.simulation,
        verdict,
        notice,
    )
    .await;
    notice_shown(response, notice)
}

/// The simulator's verdict in words, when it was asked something.
async fn simulate(
    console: &Console,
    user: &str,
    address: Option<std::net::IpAddr>,
    form: &SimulationForm,
) -> Option<String> {
    if form.principal.trim().is_empty() {
        return None;
    }
    let source_ip = match form.source_ip.trim() {
        "" => None,
        text => match text.parse() {
            Ok(ip) => Some(ip),
            Err(_) => return Some(format!("{text:?} is not an IP address")),
        },
    };
    let request = SimulationRequest {
        principal: form.principal.trim().into(),
        action: form.action.trim().into(),
        resource: form.resource.trim().into(),
        source_ip,
        mfa: match form.mfa.as_str() {
            "absent" => None,
            "false" => Some(false),
            _ => Some(true),
        },
    };
    let body = serde_json::to_value(&request).ok();
    let answer: Result<SimulationResult, _> = call::call(
        &console.api,
        user,
        address,
        Method::POST,
        "/api/simulate",
        body,
    )
    .await;
    Some(match answer {
        Ok(result) => {
            let verdict = match result.decision.as_str() {
                "ALLOW" => "Allowed",
                "EXPLICIT_DENY" => "Denied explicitly",
                _ => "Denied: no policy allows it",
            };
            match result.decided_by {
                Some(by) => format!("{verdict}, by {by}."),
                None => format!("{verdict}."),
            }
        }
        Err(refused) => format!("Not simulated: {}", refused.reason),
    })
}

async fn render(
    console: &Console,
    signed_in: &session::ConsoleSession,
    address: Option<std::net::IpAddr>,
    editing: &Editing,
    simulation: &SimulationForm,
    verdict: Option<String>,
    notice: Option<&str>,
) -> Response {
    let user = signed_in.user.as_str();
    let listed: Result<PolicyList, _> = call::call(
        &console.api,
        user,
        address,
        Method::GET,
        "/api/policies",
        None,
    )
    .await;
    let (names, list_error) = match listed {
        Ok(list) => (list.policies, None),
        Err(refused) => (Vec::new(), Some(refused.reason)),
    };
    let resource = match editing.name.as_str() {
        "" => "policy/*".to_string(),
        name => format!("policy/{name}"),
    };
    let can_save = console.may(user, "appstream:PutPolicy", &resource, address);
    let error = editing
        .error
        .as_ref()
        .map(|(_, why)| why.as_str())
        .or(list_error.as_deref());
    let page = pages::policies(&PoliciesPage {
        user,
        csrf: &signed_in.csrf,
        names: &names,
        editing: (&editing.name, &editing.document),
        can_save,
        notice,
        error,
        simulation,
        verdict: verdict.as_deref(),
    });
    let status = editing
        .error
        .as_ref()
        .map_or(StatusCode::OK, |(status, _)| *status);
    (status, Html(page.into_string())).into_response()
}

#[derive(Deserialize)]
pub struct SaveForm {
    csrf: String,
    name: String,
    document: String,
}

pub async fn save(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<SaveForm>,
) -> Response {
    let signed_in = match console.posted_by(&headers, &form.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let address = super::source(peer);
    let name = form.name.trim();
    let path = format!("/api/policies/{}", segment(name));
    let body = serde_json::to_value(PolicyDocument {
        document: form.document.clone(),
    })
    .ok();
    let saved: Result<PolicyDocument, _> = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::PUT,
        &path,
        body,
    )
    .await;
    match saved {
        Ok(_) => redirect_with_notice(&format!("/console/policies?name={name}"), "saved"),
        Err(refused) => {
            // The document stays in the editor, with the reason above it.
            let editing = Editing {
                name: name.to_string(),
                document: form.document,
                error: Some((refused.status, refused.reason)),
            };
            let simulation = SimulationForm::default();
            render(
                &console,
                &signed_in,
                address,
                &editing,
                &simulation,
                None,
                None,
            )
            .await
        }
    }
}
