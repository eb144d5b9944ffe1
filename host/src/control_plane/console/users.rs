//! The Users page: every user with its state, password, authenticator,
//! entitlements and policies, and the forms that change them where the
//! policy allows; the authenticator's setup page (a new key as a QR code,
//! on only once a code from the app confirms it). Every change is an API
//! call as the signed-in user; a change to a user's credentials or state
//! ends that user's console sessions.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use common::api::{ApplicationList, PolicyList, UserInfo, UserList};
use serde::Deserialize;

use super::session::{self, ConsoleSession};
use super::users_page::{self, TotpSetup, UserRow, UsersPage};
use super::{Console, Peer, call, changed_or_refused, notice_shown, pages, read_notice};
use crate::control_plane::passwords;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/users", get(page).post(create))
        .route("/console/users/{user}/password", post(set_password))
        .route("/console/users/{user}/state", post(change_state))
        .route("/console/users/{user}/entitlements", post(entitle))
        .route(
            "/console/users/{user}/entitlements/{app}/revoke",
            post(revoke),
        )
        .route("/console/users/{user}/policies", post(attach))
        .route("/console/users/{user}/policies/{name}/detach", post(detach))
        .route(
            "/console/users/{user}/totp",
            get(totp_page).post(enable_totp),
        )
        .route("/console/users/{user}/totp/disable", post(disable_totp))
}

const USERS: &str = "/console/users";

/// A name as one path segment (the API decodes it and checks it).
pub(super) fn segment(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The signed-in user of a form post that carries its page's CSRF token,
/// and the browser's address; else the answer to give.
pub(super) fn poster(
    console: &Console,
    peer: Peer,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(ConsoleSession, Option<IpAddr>), Box<Response>> {
    let signed_in = console.posted_by(headers, csrf)?;
    Ok((signed_in, super::source(peer)))
}

/// A posted change, relayed to the API as the signed-in user.
async fn relay(
    console: &Console,
    signed_in: &ConsoleSession,
    address: Option<IpAddr>,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(Option<axum::http::HeaderValue>, axum::body::Bytes), call::Refused> {
    call::call_raw(&console.api, &signed_in.user, address, method, path, body).await
}

/// After a change to `target`'s credentials or state: its console sessions
/// end; when `target` is the signed-in user, a fresh session goes on.
fn sessions_end(
    console: &Console,
    target: &str,
    signed_in: &str,
    mut response: Response,
) -> Response {
    console.sessions().close_all_of(target);
    if target == signed_in {
        let (token, _) = console.sessions().open(target, console.plane.now());
        response
            .headers_mut()
            .append(header::SET_COOKIE, session::session_cookie(&token));
    }
    response
}

pub async fn page(State(console): State<Arc<Console>>, peer: Peer, headers: HeaderMap) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let (user, address) = (signed_in.user.as_str(), super::source(peer));
    let api = &console.api;
    let mut refusals = Vec::new();
    let listed: Result<UserList, _> =
        call::call(api, user, address, Method::GET, "/api/users", None).await;
    let users = listed.map(|l| l.users).unwrap_or_else(|refused| {
        refusals.push(format!("Users: {}", refused.reason));
        Vec::new()
    });
    // What the selects offer; without them the forms are left out.
    let applications: Result<ApplicationList, _> =
        call::call(api, user, address, Method::GET, "/api/applications", None).await;
    let applications: Vec<String> = applications
        .map(|l| l.applications.into_iter().map(|a| a.name).collect())
        .unwrap_or_default();
    let policies: Result<PolicyList, _> =
        call::call(api, user, address, Method::GET, "/api/policies", None).await;
    let policies = policies.map(|l| l.policies).unwrap_or_default();
    let rows: Vec<UserRow> = users
        .into_iter()
        .map(|info| {
            let user_resource = format!("user/{}", info.name);
            let principal = format!("principal/{}", info.name);
            let may = |action: &str, resource: &str| console.may(user, action, resource, address);
            UserRow {
                can_set_password: may("appstream:SetUserPassword", &user_resource),
                can_change_state: may("appstream:UpdateUserState", &user_resource),
                can_enable_totp: may("appstream:EnableUserTotp", &user_resource),
                can_disable_totp: may("appstream:DisableUserTotp", &user_resource),
                can_entitle: may("appstream:EntitleUser", &user_resource),
                can_revoke: may("appstream:RevokeEntitlement", &user_resource),
                can_attach: may("appstream:AttachPolicy", &principal),
                can_detach: may("appstream:DetachPolicy", &principal),
                is_signed_in_user: info.name == user,
                info,
            }
        })
        .collect();
    let notice = read_notice(&headers);
    let page = users_page::users(&UsersPage {
        user,
        csrf: &signed_in.csrf,
        users: &rows,
        applications: &applications,
        policies: &policies,
        can_create: console.may(user, "appstream:CreateUser", "user/*", address),
        refusals: &refusals,
        notice,
    });
    notice_shown(Html(page.into_string()).into_response(), notice)
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn create(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let mut body = serde_json::json!({ "name": form.name.trim() });
    if !form.password.is_empty() {
        body["password"] = form.password.into();
    }
    let done = relay(
        &console,
        &signed_in,
        address,
        Method::POST,
        "/api/users",
        Some(body),
    )
    .await;
    changed_or_refused(done, USERS, "user_created", "User not added")
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
}

pub async fn set_password(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!("/api/users/{}/password", segment(&target));
    let body = serde_json::json!({ "password": form.password });
    let done = relay(
        &console,
        &signed_in,
        address,
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    let changed = done.is_ok();
    let response = changed_or_refused(done, USERS, "password_set", "Password not set");
    if changed {
        return sessions_end(&console, &target, &signed_in.user, response);
    }
    response
}

#[derive(Deserialize)]
pub struct StateForm {
    csrf: String,
    /// `true` or `false`.
    enabled: String,
}

pub async fn change_state(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let enabled = form.enabled == "true";
    let path = format!("/api/users/{}/state", segment(&target));
    let body = serde_json::json!({ "enabled": enabled });
    let done = relay(
        &console,
        &signed_in,
        address,
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    let disabled = done.is_ok() && !enabled;
    let code = if enabled {
        "user_enabled"
    } else {
        "user_disabled"
    };
    let response = changed_or_refused(done, USERS, code, "Not changed");
    if disabled {
        // The API refuses to disable the caller: never the signed-in user.
        return sessions_end(&console, &target, &signed_in.user, response);
    }
    response
}

#[derive(Deserialize)]
pub struct ApplicationForm {
    csrf: String,
    application: String,
}

pub async fn entitle(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<ApplicationForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!(
        "/api/users/{}/entitlements/{}",
        segment(&target),
        segment(&form.application)
    );
    let done = relay(&console, &signed_in, address, Method::PUT, &path, None).await;
    changed_or_refused(done, USERS, "entitled", "Not entitled")
}

pub async fn revoke(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path((target, app)): Path<(String, String)>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!(
        "/api/users/{}/entitlements/{}",
        segment(&target),
        segment(&app)
    );
    let done = relay(&console, &signed_in, address, Method::DELETE, &path, None).await;
    changed_or_refused(done, USERS, "entitlement_revoked", "Not revoked")
}

#[derive(Deserialize)]
pub struct PolicyForm {
    csrf: String,
    policy: String,
}

pub async fn attach(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<PolicyForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!(
        "/api/principals/{}/policies/{}",
        segment(&target),
        segment(&form.policy)
    );
    let done = relay(&console, &signed_in, address, Method::PUT, &path, None).await;
    changed_or_refused(done, USERS, "policy_attached", "Not attached")
}

pub async fn detach(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path((target, policy)): Path<(String, String)>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!(
        "/api/principals/{}/policies/{}",
        segment(&target),
        segment(&policy)
    );
    let done = relay(&console, &signed_in, address, Method::DELETE, &path, None).await;
    changed_or_refused(done, USERS, "policy_detached", "Not detached")
}

/// The setup page for `target` with `secret` (and why the last code was
/// refused).
fn totp_setup(
    console: &Console,
    signed_in: &ConsoleSession,
    address: Option<IpAddr>,
    target: &str,
    secret: &str,
    error: Option<(StatusCode, &str)>,
) -> Response {
    let resource = format!("user/{target}");
    let qr_svg = super::qr::totp_svg(target, secret);
    let page = users_page::totp_setup(&TotpSetup {
        user: &signed_in.user,
        csrf: &signed_in.csrf,
        target,
        secret,
        qr_svg: &qr_svg,
        error: error.map(|(_, why)| why),
        can_enable: console.may(
            &signed_in.user,
            "appstream:EnableUserTotp",
            &resource,
            address,
        ),
    });
    let status = error.map_or(StatusCode::OK, |(status, _)| status);
    (status, Html(page.into_string())).into_response()
}

/// "Set up authenticator": a new key for a user that exists.
pub async fn totp_page(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let address = super::source(peer);
    let path = format!("/api/users/{}", segment(&target));
    let got: Result<UserInfo, _> = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::GET,
        &path,
        None,
    )
    .await;
    match got {
        Ok(info) => {
            let secret = passwords::new_totp_secret();
            totp_setup(&console, &signed_in, address, &info.name, &secret, None)
        }
        Err(refused) => {
            let page = pages::message("No such user", &refused.reason);
            (refused.status, Html(page.into_string())).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct TotpForm {
    csrf: String,
    secret: String,
    code: String,
}

/// The key goes on once the API accepts the code; otherwise the same page,
/// the same key, and the reason.
pub async fn enable_totp(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<TotpForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!("/api/users/{}/totp", segment(&target));
    let body = serde_json::json!({ "secret": form.secret, "code": form.code.trim() });
    let done = relay(
        &console,
        &signed_in,
        address,
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    match done {
        Ok(_) => {
            let response = super::redirect_with_notice(USERS, "totp_enabled");
            sessions_end(&console, &target, &signed_in.user, response)
        }
        Err(refused) => totp_setup(
            &console,
            &signed_in,
            address,
            &target,
            &form.secret,
            Some((refused.status, &refused.reason)),
        ),
    }
}

pub async fn disable_totp(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(target): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!("/api/users/{}/totp", segment(&target));
    let done = relay(&console, &signed_in, address, Method::DELETE, &path, None).await;
    let changed = done.is_ok();
    let response = changed_or_refused(done, USERS, "totp_disabled", "Not changed");
    if changed {
        return sessions_end(&console, &target, &signed_in.user, response);
    }
    response
}
