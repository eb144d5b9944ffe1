//! The Keys page: every access key (never a secret) with its principal,
//! state and age; Create, Rotate and Activate/Deactivate where the policy
//! allows, through the API as the signed-in user. A new key's secret is
//! shown once, in the answer to the post that made it: never in a
//! redirect, a cookie or a later page.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use common::api::{AccessKeyInfo, AccessKeyList, CreatedAccessKey, UserList};
use common::client::AccessKeyFile;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::layout;
use super::session::ConsoleSession;
use super::users::{poster, segment};
use super::{Console, Peer, call, changed_or_refused, notice_shown, read_notice};

const KEYS: &str = "/console/keys";

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route(KEYS, get(page).post(create))
        .route("/console/keys/{key}/rotate", post(rotate))
        .route("/console/keys/{key}/state", post(change_state))
}

struct KeyRow {
    key: AccessKeyInfo,
    can_rotate: bool,
    can_change_state: bool,
}

struct KeysPage<'a> {
    user: &'a str,
    csrf: &'a str,
    keys: &'a [KeyRow],
    /// Whom the create form offers: the users and every key's principal
    /// (roles have keys too).
    principals: &'a [String],
    can_create: bool,
    /// Just made: shown this once.
    created: Option<&'a CreatedAccessKey>,
    refusals: &'a [String],
    notice: Option<&'a str>,
}

/// The page, with `created`'s secret when a post just made a key.
async fn render(
    console: &Console,
    signed_in: &ConsoleSession,
    address: Option<IpAddr>,
    created: Option<&CreatedAccessKey>,
    notice: Option<&str>,
) -> Response {
    let (user, api) = (signed_in.user.as_str(), &console.api);
    let mut refusals = Vec::new();
    let listed: Result<AccessKeyList, _> =
        call::call(api, user, address, Method::GET, "/api/keys", None).await;
    let keys = listed.map(|l| l.keys).unwrap_or_else(|refused| {
        refusals.push(format!("Keys: {}", refused.reason));
        Vec::new()
    });
    let users: Result<UserList, _> =
        call::call(api, user, address, Method::GET, "/api/users", None).await;
    let mut principals: BTreeSet<String> = users
        .map(|l| l.users.into_iter().map(|u| u.name).collect())
        .unwrap_or_default();
    principals.extend(keys.iter().map(|k| k.principal.clone()));
    // Offered only where the policy lets this user make one.
    let principals: Vec<String> = principals
        .into_iter()
        .filter(|p| {
            let resource = format!("principal/{p}");
            console.may(user, "appstream:CreateAccessKey", &resource, address)
        })
        .collect();
    let rows: Vec<KeyRow> = keys
        .into_iter()
        .map(|key| {
            let resource = format!("key/{}", key.key_id);
            KeyRow {
                can_rotate: !key.temporary
                    && console.may(user, "appstream:RotateAccessKey", &resource, address),
                can_change_state: console.may(
                    user,
                    "appstream:UpdateAccessKey",
                    &resource,
                    address,
                ),
                key,
            }
        })
        .collect();
    let page = keys_page(&KeysPage {
        user,
        csrf: &signed_in.csrf,
        keys: &rows,
        can_create: !principals.is_empty(),
        principals: &principals,
        created,
        refusals: &refusals,
        notice,
    });
    let status = if created.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Html(page.into_string())).into_response()
}

pub async fn page(State(console): State<Arc<Console>>, peer: Peer, headers: HeaderMap) -> Response {
    let Some(signed_in) = console.signed_in(&headers) else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let notice = read_notice(&headers);
    let response = render(&console, &signed_in, super::source(peer), None, notice).await;
    notice_shown(response, notice)
}

/// After Create or Rotate: the page with the secret, or the refusal.
async fn made(
    console: &Console,
    signed_in: &ConsoleSession,
    address: Option<IpAddr>,
    result: Result<CreatedAccessKey, call::Refused>,
) -> Response {
    match result {
        Ok(created) => render(console, signed_in, address, Some(&created), None).await,
        Err(refused) => {
            let page = super::pages::message("No key made", &refused.reason);
            (refused.status, Html(page.into_string())).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    principal: String,
}

pub async fn create(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let body = serde_json::json!({ "principal": form.principal });
    let result = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::POST,
        "/api/keys",
        Some(body),
    )
    .await;
    made(&console, &signed_in, address, result).await
}

pub async fn rotate(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(key_id): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!("/api/keys/{}/rotate", segment(&key_id));
    let result = call::call(
        &console.api,
        &signed_in.user,
        address,
        Method::POST,
        &path,
        None,
    )
    .await;
    made(&console, &signed_in, address, result).await
}

#[derive(Deserialize)]
pub struct StateForm {
    csrf: String,
    /// `true` or `false`.
    active: String,
}

pub async fn change_state(
    State(console): State<Arc<Console>>,
    peer: Peer,
    headers: HeaderMap,
    Path(key_id): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    let (signed_in, address) = match poster(&console, peer, &headers, &form.csrf) {
        Ok(poster) => poster,
        Err(response) => return *response,
    };
    let path = format!("/api/keys/{}/state", segment(&key_id));
    let body = serde_json::json!({ "active": form.active == "true" });
    let done = call::call_raw(
        &console.api,
        &signed_in.user,
        address,
        Method::PUT,
        &path,
        Some(body),
    )
    .await;
    changed_or_refused(done, KEYS, "key_state_changed", "Not changed")
}

fn keys_page(page: &KeysPage<'_>) -> Markup {
    layout(
        "Keys",
        Some((page.user, page.csrf)),
        html! {
            @if let Some(notice) = page.notice { p.notice role="status" { (notice) } }
            @for refusal in page.refusals { p.error { (refusal) } }
            @if let Some(created) = page.created { (new_key(created)) }
            section.card {
                h2 { "Access keys" }
                @if page.keys.is_empty() && page.refusals.is_empty() {
                    p #no-keys { "No access keys yet." }
                } @else if !page.keys.is_empty() {
                    div.scroll {
                        table #keys {
                            thead { tr { th { "Key" } th { "Principal" } th { "State" } th { "Created" } th { "Kind" } } }
                            tbody {
                                @for row in page.keys { (key_row(page.csrf, row)) }
                            }
                        }
                    }
                }
            }
            @if page.can_create {
                section.card {
                    h2 { "Create a key" }
                    form #create-key method="post" action=(KEYS) {
                        input type="hidden" name="csrf" value=(page.csrf);
                        label for="key-principal" { "For" }
                        select #key-principal name="principal" {
                            @for principal in page.principals { option value=(principal) { (principal) } }
                        }
                        p { button type="submit" { "Create key" } }
                    }
                }
            }
        },
    )
}

fn key_row(csrf: &str, row: &KeyRow) -> Markup {
    let key = &row.key;
    let base = format!("/console/keys/{}", key.key_id);
    html! {
        tr data-key=(key.key_id) {
            td { code { (key.key_id) } }
            td { (key.principal) }
            td {
                @if key.active { "Active" } @else { strong { "Inactive" } }
                @if row.can_change_state {
                    form method="post" action={ (base) "/state" } {
                        input type="hidden" name="csrf" value=(csrf);
                        @if key.active {
                            input type="hidden" name="active" value="false";
                            button.danger type="submit" { "Deactivate" }
                        } @else {
                            input type="hidden" name="active" value="true";
                            button type="submit" { "Activate" }
                        }
                    }
                }
            }
            td { (key.created_at) }
            td {
                @if key.temporary {
                    "Temporary"
                    @if let Some(expires_at) = &key.expires_at { br; small { "expires " (expires_at) } }
                } @else {
                    "Long-term"
                    @if row.can_rotate {
                        form method="post" action={ (base) "/rotate" } {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Rotate" }
                        }
                    }
                }
            }
        }
    }
}

/// The new key, its only showing.
fn new_key(created: &CreatedAccessKey) -> Markup {
    let file = AccessKeyFile {
        key_id: created.key_id.clone(),
        secret: created.secret.clone(),
    };
    html! {
        section.card #new-key role="status" {
            h2 { "New key for " (created.principal) }
            p.notice { strong { "Copy the secret now: it is not shown again." } }
            p { "Key: " code { (created.key_id) } }
            p { "Secret: " code #new-secret { (created.secret) } }
            label for="key-file" { "As a key file" }
            textarea #key-file rows="2" readonly spellcheck="false" { (file.to_text()) }
            p { "Other keys of " (created.principal) " stay active: deactivate a rotated one once every client uses the new key." }
        }
    }
}
