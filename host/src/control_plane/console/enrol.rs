//! Enrolment: `host console enrol USER` stores a one-time link (10
//! minutes); opening it shows a new TOTP key (QR code and text), and the
//! form sets the password and the key once a code from the app proves it.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{
    Console, pages, pre_session_csrf_ok, session, signed_in_redirect, with_pre_session_csrf,
};
use crate::control_plane::entitlement::passwords;
use crate::control_plane::store::{ENROLMENT_TTL_S, PrincipalKind, Store, StoreError, token_hash};

/// The policy `--administrator` attaches: everything, with MFA shown (as
/// every console request has it; a long-term access key does not).
pub const ADMINISTRATOR_POLICY: (&str, &str) = (
    "ConsoleAdministrator",
    r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AdministerWithMfa",
      "Effect": "Allow",
      "Action": "appstream:*",
      "Resource": "*",
      "Condition": { "Bool": { "aws:MultiFactorAuthPresent": "true" } }
    }
  ]
}"#,
);

/// Passwords set through the console are at least this long.
const MIN_PASSWORD_CHARS: usize = 12;

/// Makes USER (a new user, or one that exists) a one-time enrolment link at
/// `base_url` (e.g. `https://host:47990`); `administrator` also attaches
/// `ADMINISTRATOR_POLICY`.
pub fn enrol_link(
    store: &dyn Store,
    user: &str,
    administrator: bool,
    base_url: &str,
    now: i64,
) -> anyhow::Result<String> {
    common::api::validate_name("user", user).map_err(anyhow::Error::msg)?;
    match store.principal(user) {
        Ok(p) if p.kind == PrincipalKind::User => {}
        Ok(_) => anyhow::bail!("{user} is a role, not a user"),
        Err(StoreError::NotFound(_)) => store.create_principal(user, PrincipalKind::User, now)?,
        Err(e) => return Err(e.into()),
    }
    if administrator {
        let (name, document) = ADMINISTRATOR_POLICY;
        if store.policy(name).is_err() {
            store.put_policy(name, document, now)?;
        }
        store.attach_policy(user, name)?;
    }
    let token = session::random_token();
    store.store_enrolment_token(&token_hash(&token), user, now + ENROLMENT_TTL_S)?;
    Ok(format!(
        "{}/console/enrol?token={token}",
        base_url.trim_end_matches('/')
    ))
}

#[derive(Deserialize)]
pub struct LinkQuery {
    token: String,
}

fn link_dead() -> Response {
    let page = pages::message(
        "Link expired",
        "This enrolment link has expired or was used. Ask for a new one (host console enrol USER).",
    );
    (StatusCode::GONE, Html(page.into_string())).into_response()
}

/// The user a live link is for; a dead link (or a store failure) is the
/// page to answer with.
fn enrolling(console: &Console, token: &str) -> Result<String, Box<Response>> {
    match console
        .plane
        .store
        .enrolment_token(&token_hash(token), console.plane.now())
    {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Box::new(link_dead())),
        Err(e) => Err(Box::new(
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        )),
    }
}

fn form_page(
    status: StatusCode,
    user: &str,
    token: &str,
    secret: &str,
    error: Option<&str>,
) -> Response {
    let qr_svg = super::qr::totp_svg(user, secret);
    let csrf = session::random_token();
    let page = pages::enrol(&pages::EnrolForm {
        user,
        token,
        csrf: &csrf,
        secret,
        qr_svg: &qr_svg,
        error,
    });
    with_pre_session_csrf(status, page, &csrf)
}

pub async fn page(State(console): State<Arc<Console>>, Query(query): Query<LinkQuery>) -> Response {
    match enrolling(&console, &query.token) {
        Err(response) => *response,
        Ok(user) => {
            let secret = passwords::new_totp_secret();
            form_page(StatusCode::OK, &user, &query.token, &secret, None)
        }
    }
}

#[derive(Deserialize)]
pub struct EnrolForm {
    csrf: String,
    token: String,
    secret: String,
    password: String,
    again: String,
    code: String,
}

pub async fn submit(
    State(console): State<Arc<Console>>,
    peer: super::Peer,
    headers: HeaderMap,
    Form(form): Form<EnrolForm>,
) -> Response {
    if !pre_session_csrf_ok(&headers, &form.csrf) {
        return super::csrf_refused();
    }
    let user = match enrolling(&console, &form.token) {
        Err(response) => return *response,
        Ok(user) => user,
    };
    let now = console.plane.now();
    let again = |why: &str| {
        form_page(
            StatusCode::BAD_REQUEST,
            &user,
            &form.token,
            &form.secret,
            Some(why),
        )
    };
    if form.password.chars().count() < MIN_PASSWORD_CHARS {
        return again("The password needs at least 12 characters.");
    }
    if form.password != form.again {
        return again("The two passwords differ.");
    }
    let Some(step) = passwords::totp_step(&form.secret, form.code.trim(), now) else {
        return again(
            "That code does not match the key: check the app's clock and try the next code.",
        );
    };
    let store = &console.plane.store;
    let hash = match passwords::hash_password(&form.password) {
        Ok(hash) => hash,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let saved = store
        .set_password_hash(&user, &hash)
        .and_then(|()| store.set_totp_secret(&user, Some(&form.secret)))
        // The code just shown cannot sign in again.
        .and_then(|()| store.claim_totp_step(&user, step).map(|_| ()))
        .and_then(|()| store.revoke_enrolment_token(&token_hash(&form.token)));
    if let Err(e) = saved {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    console.sessions().close_all_of(&user);
    let address = peer.map(|Extension(ConnectInfo(a))| a.ip());
    console
        .entitlement
        .audit(Some(&user), address, "/console/enrol", "enrolled", 303);
    tracing::info!(%user, "console user enrolled (password and TOTP set)");
    signed_in_redirect(&console, &user)
}
