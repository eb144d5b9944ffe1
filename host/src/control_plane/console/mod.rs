//! The web console at `/console`, on the host's TLS listener: console users
//! sign in with a password and TOTP (`host console enrol USER` makes the
//! one-time link that sets both), then every page calls the API in-process
//! as that user (`call`), so policies decide what they see and may change,
//! and the audit log names them. Cookies are `HttpOnly; Secure;
//! SameSite=Strict`, every form carries a CSRF token, the CSP allows no
//! script and no inline style, and sign-in shares the entitlement service's
//! throttle.

mod app_form;
mod applications;
mod audit;
mod call;
mod chart;
mod enrol;
mod keys;
mod now;
mod pages;
mod policies;
mod qr;
mod session;
#[cfg(test)]
mod tests;
mod users;
mod users_page;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;

pub use enrol::{ADMINISTRATOR_POLICY, enrol_link};

use crate::control_plane::entitlement::{EntitlementService, SignInRefused};
use crate::control_plane::{CallContext, ControlPlane};
use session::{PRE_SESSION_COOKIE, SESSION_COOKIE, Sessions};

/// Form bodies are small.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// No script, no inline style, no framing, forms only to the console.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub struct Console {
    plane: Arc<ControlPlane>,
    entitlement: Arc<EntitlementService>,
    /// The API, called in-process as the signed-in user.
    api: Router,
    sessions: Mutex<Sessions>,
}

impl Console {
    pub fn new(plane: Arc<ControlPlane>, entitlement: Arc<EntitlementService>) -> Arc<Self> {
        let api = crate::control_plane::api::router(plane.clone());
        Arc::new(Self {
            plane,
            entitlement,
            api,
            sessions: Mutex::new(Sessions::default()),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signed-in user of a request, if its cookie is live.
    fn signed_in(&self, headers: &HeaderMap) -> Option<session::ConsoleSession> {
        let token = session::read_cookie(headers, SESSION_COOKIE)?;
        let signed_in = self.sessions().find(token, self.plane.now())?;
        // Disabled or deleted since (here, through the API or `host users`):
        // signed out.
        match self.plane.store.principal(&signed_in.user) {
            Ok(p) if p.enabled => Some(signed_in),
            Ok(_) | Err(crate::control_plane::store::StoreError::NotFound(_)) => {
                self.sessions().close_all_of(&signed_in.user);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the console user");
                None
            }
        }
    }

    /// The signed-in user of a form post that carries its page's CSRF
    /// token; else where to send the browser.
    fn posted_by(
        &self,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<session::ConsoleSession, Box<Response>> {
        let Some(signed_in) = self.signed_in(headers) else {
            return Err(Box::new(Redirect::to("/console/sign-in").into_response()));
        };
        if !session::same_token(&signed_in.csrf, csrf) {
            return Err(Box::new(csrf_refused()));
        }
        Ok(signed_in)
    }

    /// Whether the policy lets `user` do `action` on `resource` (to show
    /// the button; the API decides again when it is pressed).
    fn may(&self, user: &str, action: &str, resource: &str, source_ip: Option<IpAddr>) -> bool {
        let context = CallContext {
            source_ip,
            mfa_present: Some(true),
            secure_transport: true,
        };
        self.plane
            .authorize(user, action, resource, context)
            .is_ok_and(|e| e.decision == common::policy::Decision::Allow)
    }
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(now::page))
        .route("/console/style.css", get(style))
        .route("/console/audit", get(audit::page))
        .route("/console/applications", get(applications::page))
        .route("/console/applications/{app}/icon", get(applications::icon))
        .route(
            "/console/applications/new",
            get(app_form::new_page)
                .post(app_form::create)
                .layer(DefaultBodyLimit::max(app_form::MAX_FORM_BYTES)),
        )
        .route(
            "/console/applications/{app}/edit",
            get(app_form::edit_page)
                .post(app_form::update)
                .layer(DefaultBodyLimit::max(app_form::MAX_FORM_BYTES)),
        )
        .route(
            "/console/applications/{app}/state",
            post(applications::change_state),
        )
        .route(
            "/console/applications/{app}/remove",
            post(applications::remove),
        )
        .route(
            "/console/policies",
            get(policies::page).post(policies::save),
        )
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/enrol", get(enrol::page).post(enrol::submit))
        .merge(users::routes())
        .merge(keys::routes())
        .route(
            "/console/sessions/{app}/{id}/terminate",
            post(terminate_session),
        )
        .layer(axum::middleware::map_response(secure_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(console)
}

type ConsoleState = State<Arc<Console>>;
/// The browser's address, when the connection gives it.
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

fn source(peer: Peer) -> Option<IpAddr> {
    peer.map(|Extension(ConnectInfo(addr))| addr.ip())
}

async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
}

/// A page with a fresh pre-session CSRF cookie (sign-in and enrolment).
fn with_pre_session_csrf(status: StatusCode, page: maud::Markup, csrf: &str) -> Response {
    let cookie = session::cookie(PRE_SESSION_COOKIE, csrf, 3600);
    (
        status,
        [(header::SET_COOKIE, cookie)],
        Html(page.into_string()),
    )
        .into_response()
}

/// The pre-session form's token matches its cookie.
fn pre_session_csrf_ok(headers: &HeaderMap, given: &str) -> bool {
    session::read_cookie(headers, PRE_SESSION_COOKIE)
        .is_some_and(|expected| session::same_token(expected, given))
}

fn csrf_refused() -> Response {
    let page = pages::message(
        "Form expired",
        "This form was not sent from this console page (or it expired). Go back, reload and try again.",
    );
    (StatusCode::FORBIDDEN, Html(page.into_string())).into_response()
}

async fn sign_in_page() -> Response {
    let csrf = session::random_token();
    with_pre_session_csrf(StatusCode::OK, pages::sign_in(&csrf, None), &csrf)
}

#[derive(Deserialize)]
struct SignInForm {
    csrf: String,
    user: String,
    password: String,
    code: String,
}

async fn sign_in(
    State(console): ConsoleState,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !pre_session_csrf_ok(&headers, &form.csrf) {
        return csrf_refused();
    }
    let address = source(peer);
    let path = "/console/sign-in";
    let checked = console
        .entitlement
        .check_sign_in(
            &form.user,
            form.password,
            Some(form.code.trim()),
            address,
            path,
        )
        .await;
    let refusal = match checked {
        Ok(true) => None,
        // Right password, but an account without TOTP: not for the console.
        Ok(false) => Some((
            StatusCode::FORBIDDEN,
            "The console needs an authenticator: ask an administrator for an enrolment link \
             (host console enrol USER)."
                .to_string(),
        )),
        Err(refused) => Some(sign_in_refusal(refused)),
    };
    if let Some((status, why)) = refusal {
        let csrf = session::random_token();
        return with_pre_session_csrf(status, pages::sign_in(&csrf, Some(&why)), &csrf);
    }
    console
        .entitlement
        .audit(Some(&form.user), address, path, "signin_ok", 303);
    signed_in_redirect(&console, &form.user)
}

fn sign_in_refusal(refused: SignInRefused) -> (StatusCode, String) {
    match refused {
        SignInRefused::Throttled { retry_after_s } => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed sign-ins: try again in {retry_after_s} s."),
        ),
        SignInRefused::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            "The host is checking many sign-ins: try again in a second.".into(),
        ),
        SignInRefused::WrongPassword | SignInRefused::TotpRequired => (
            StatusCode::UNAUTHORIZED,
            "Wrong user name or password.".into(),
        ),
        SignInRefused::WrongTotp => (
            StatusCode::UNAUTHORIZED,
            "The authenticator code is wrong, too old or already used.".into(),
        ),
        SignInRefused::Store(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Opens a session for `user` and goes to the Now page.
fn signed_in_redirect(console: &Console, user: &str) -> Response {
    let (token, _) = console.sessions().open(user, console.plane.now());
    let mut response = Redirect::to("/console").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session::session_cookie(&token));
    headers.append(header::SET_COOKIE, session::cleared(PRE_SESSION_COOKIE));
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn sign_out(
    State(console): ConsoleState,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = console.posted_by(&headers, &form.csrf) {
        return *refused;
    }
    if let Some(token) = session::read_cookie(&headers, SESSION_COOKIE) {
        console.sessions().close(token);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session::cleared(SESSION_COOKIE));
    response
}

/// A one-shot notice for the next page (post/redirect/get), by code only.
const NOTICE_COOKIE: &str = "console_notice";

/// After a change: to `to`, which shows the notice `code` once.
fn redirect_with_notice(to: &str, code: &'static str) -> Response {
    let mut response = Redirect::to(to).into_response();
    let cookie = session::cookie(NOTICE_COOKIE, code, 60);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// The notice a page shows, if the last change left one.
fn read_notice(headers: &HeaderMap) -> Option<&'static str> {
    session::read_cookie(headers, NOTICE_COOKIE).map(notice_text)
}

/// A page that showed the notice clears it.
fn notice_shown(mut response: Response, notice: Option<&str>) -> Response {
    if notice.is_some() {
        let cleared = session::cleared(NOTICE_COOKIE);
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    response
}

/// A change's outcome: back to `to` with its notice, or the API's refusal
/// in words under `refused_title`.
fn changed_or_refused<T>(
    result: Result<T, call::Refused>,
    to: &str,
    code: &'static str,
    refused_title: &str,
) -> Response {
    match result {
        Ok(_) => redirect_with_notice(to, code),
        Err(refused) => {
            let page = pages::message(refused_title, &refused.reason);
            (refused.status, Html(page.into_string())).into_response()
        }
    }
}

fn notice_text(code: &str) -> &'static str {
    match code {
        "terminated" => "The session was terminated.",
        "saved" => "The policy was saved.",
        "state_changed" => "The application's state was changed.",
        "removed" => "The application was removed.",
        "user_created" => "The user was added.",
        "password_set" => "The password was set; the user's console sessions ended.",
        "user_enabled" => "The user was enabled.",
        "user_disabled" => "The user was disabled and signed out of the console.",
        "entitled" => "The user may start the application now.",
        "entitlement_revoked" => "The entitlement was revoked.",
        "policy_attached" => "The policy was attached.",
        "policy_detached" => "The policy was detached.",
        "totp_enabled" => "The authenticator is on.",
        "totp_disabled" => "The authenticator is off.",
        "key_state_changed" => "The key's state was changed.",
        "application_added" => "The application was added.",
        "application_saved" => "The application was saved.",
        _ => "Done.",
    }
}

async fn terminate_session(
    State(console): ConsoleState,
    peer: Peer,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let signed_in = match console.posted_by(&headers, &form.csrf) {
        Ok(signed_in) => signed_in,
        Err(refused) => return *refused,
    };
    let path = format!("/api/applications/{app}/sessions/{id}/state");
    let body = serde_json::json!({ "state": "TERMINATED" });
    let result: Result<serde_json::Value, _> = call::call(
        &console.api,
        &signed_in.user,
        source(peer),
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    changed_or_refused(result, "/console", "terminated", "Not terminated")
}
