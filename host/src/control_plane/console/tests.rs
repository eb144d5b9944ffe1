//! The console's router, called without a socket: enrolment, sign-in with
//! TOTP, the Now page and Terminate as an administrator and as a read-only
//! user, CSRF, cookie flags, the CSP, and the throttle under concurrency.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use common::api::SessionState;
use tower::ServiceExt;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::control_plane::entitlement::passwords;
use crate::control_plane::store::{PrincipalKind, SqliteStore, Store, token_hash};

const START: i64 = 1_800_000_000;

struct Harness {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    plane: Arc<ControlPlane>,
    router: Router,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).unwrap());
    let clock = Arc::new(ManualClock::new(START));
    let stream_base = common::stream_url::StreamUrl {
        host: "127.0.0.1".into(),
        port: 47990,
        token: String::new(),
        fingerprint: [0; 32],
    };
    let data_dir = dir.path().to_path_buf();
    let plane = ControlPlane::with_data_dir(store.clone(), clock.clone(), stream_base, data_dir);
    // Sign-in never calls the API client; it points nowhere.
    let https = common::client::HttpsClient::new("https://127.0.0.1:9", [0; 32]).unwrap();
    let key = common::client::AccessKeyFile {
        key_id: "unused".into(),
        secret: "unused".into(),
    };
    let api = common::client::ApiClient::new(https, key);
    let entitlement = EntitlementService::new(store.clone(), api, clock.clone(), false).unwrap();
    let router = router(Console::new(plane.clone(), entitlement));
    let new: common::api::NewApplication =
        serde_json::from_value(serde_json::json!({ "name": "demo" })).unwrap();
    store.create_application(&new, START).unwrap();
    Harness {
        _dir: dir,
        clock,
        store,
        plane,
        router,
    }
}

async fn send(router: &Router, request: Request<Body>) -> (Response, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (Response::from_parts(parts, Body::empty()), text)
}

async fn get(router: &Router, path: &str, cookies: &str) -> (Response, String) {
    let request = Request::get(path)
        .header(header::COOKIE, cookies)
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

async fn post(
    router: &Router,
    path: &str,
    cookies: &str,
    form: &[(&str, &str)],
) -> (Response, String) {
    let body = form
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let request = Request::post(path)
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

/// `name=value` of a Set-Cookie header the response sets for `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(String::from)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// A hidden field's value in a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

/// Enrols `user` through the link `host console enrol` makes; returns the
/// session cookie and the TOTP secret.
async fn enrol(h: &Harness, user: &str, administrator: bool) -> (String, String) {
    let link = enrol_link(
        h.store.as_ref(),
        user,
        administrator,
        "https://host:47990",
        START,
    )
    .unwrap();
    let path = link.strip_prefix("https://host:47990").unwrap();
    let (response, page) = get(&h.router, path, "").await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(page.contains("<svg"), "a QR code: {page}");
    let csrf_cookie = cookie_pair(&set_cookie(&response, PRE_SESSION_COOKIE).unwrap());
    let secret = field(&page, "secret");
    let code = passwords::totp_code(&secret, h.clock.now_unix_s()).unwrap();
    let form = [
        ("csrf", field(&page, "csrf")),
        ("token", field(&page, "token")),
        ("secret", secret.clone()),
        ("password", "correct horse battery".into()),
        ("again", "correct horse battery".into()),
        ("code", code),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (response, page) = post(&h.router, "/console/enrol", &csrf_cookie, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    assert_eq!(location(&response), "/console");
    let session = cookie_pair(&set_cookie(&response, SESSION_COOKIE).unwrap());
    // The link works once.
    let (response, _) = get(&h.router, path, "").await;
    assert_eq!(response.status(), StatusCode::GONE);
    (session, secret)
}

async fn sign_in(h: &Harness, user: &str, password: &str, code: &str) -> (Response, String) {
    let (response, page) = get(&h.router, "/console/sign-in", "").await;
    let csrf_cookie = cookie_pair(&set_cookie(&response, PRE_SESSION_COOKIE).unwrap());
    let csrf = field(&page, "csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("user", user),
        ("password", password),
        ("code", code),
    ];
    post(&h.router, "/console/sign-in", &csrf_cookie, &form).await
}

const READ_ONLY_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appstream:Get*","Resource":"*"}]}"#;

/// `rory`, with a password, TOTP and only the ReadOnly policy
/// (`appstream:Get*`), signed in: the session cookie.
async fn signed_in_read_only(h: &Harness) -> String {
    h.store
        .create_principal("rory", PrincipalKind::User, START)
        .unwrap();
    let hash = passwords::hash_password("read only password").unwrap();
    h.store.set_password_hash("rory", &hash).unwrap();
    let secret = passwords::new_totp_secret();
    h.store.set_totp_secret("rory", Some(&secret)).unwrap();
    h.store
        .put_policy("ReadOnly", READ_ONLY_POLICY, START)
        .unwrap();
    h.store.attach_policy("rory", "ReadOnly").unwrap();
    let code = passwords::totp_code(&secret, START).unwrap();
    let (response, page) = sign_in(h, "rory", "read only password", &code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    cookie_pair(&set_cookie(&response, SESSION_COOKIE).unwrap())
}

fn live_session(h: &Harness, user: &str) -> String {
    let session = h
        .store
        .create_session("demo", user, &token_hash(user), START, START + 600, 5)
        .unwrap();
    session.id
}

#[tokio::test]
async fn an_administrator_enrols_sees_a_live_session_and_terminates_it() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let id = live_session(&h, "player");
    let (response, page) = get(&h.router, "/console", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(
        page.contains(&id) && page.contains("player") && page.contains("Terminate"),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let terminate = format!("/console/sessions/demo/{id}/terminate");

    // Without the page's CSRF token: refused, the session lives on.
    let (response, _) = post(&h.router, &terminate, &cookie, &[("csrf", "forged")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        h.store.session("demo", &id).unwrap().state,
        SessionState::Pending
    );

    let (response, _) = post(&h.router, &terminate, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        h.store.session("demo", &id).unwrap().state,
        SessionState::Terminated
    );
    // The audit log names the console user, with the console as the key.
    let audit = h.store.audit_log(20).unwrap();
    assert!(audit.iter().any(|e| e.principal.as_deref() == Some("ada")
        && e.key_id.as_deref() == Some("console")
        && e.action.as_deref() == Some("appstream:UpdateSessionState")
        && e.decision == "allow"));
}

#[tokio::test]
async fn a_read_only_user_sees_no_button_and_its_post_is_refused() {
    let h = harness();
    let id = live_session(&h, "player");
    let cookie = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console", &cookie).await;
    assert!(page.contains(&id), "{page}");
    assert!(!page.contains("Terminate"), "no button: {page}");
    let csrf = field(&page, "csrf");
    let terminate = format!("/console/sessions/demo/{id}/terminate");
    let (response, page) = post(&h.router, &terminate, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("may not perform appstream:UpdateSessionState"),
        "{page}"
    );
    assert_eq!(
        h.store.session("demo", &id).unwrap().state,
        SessionState::Pending
    );
}

#[tokio::test]
async fn sign_in_needs_the_form_token_a_fresh_code_and_totp_itself() {
    let h = harness();
    let (_, secret) = enrol(&h, "ada", true).await;
    // The enrolment's code was used: the same step cannot sign in.
    let code = passwords::totp_code(&secret, START).unwrap();
    let (response, page) = sign_in(&h, "ada", "correct horse battery", &code).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{page}");
    assert!(page.contains("already used"), "{page}");

    h.clock.set(START + 60);
    let code = passwords::totp_code(&secret, START + 60).unwrap();
    // A form posted from elsewhere carries no matching cookie.
    let form = [
        ("csrf", "x"),
        ("user", "ada"),
        ("password", "correct horse battery"),
        ("code", code.as_str()),
    ];
    let (response, _) = post(&h.router, "/console/sign-in", "console_csrf=y", &form).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (response, _) = sign_in(&h, "ada", "correct horse battery", &code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // A user without TOTP is not let in, even with the right password.
    h.store
        .create_principal("bob", PrincipalKind::User, START)
        .unwrap();
    h.store
        .set_password_hash(
            "bob",
            &passwords::hash_password("bob's long password").unwrap(),
        )
        .unwrap();
    let (response, page) = sign_in(&h, "bob", "bob's long password", "000000").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("host console enrol"), "{page}");
    assert!(set_cookie(&response, SESSION_COOKIE).is_none());
}

#[tokio::test]
async fn pages_carry_the_csp_and_cookies_their_flags() {
    let h = harness();
    let (response, _) = get(&h.router, "/console/sign-in", "").await;
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
    let (cookie, _) = enrol(&h, "ada", true).await;
    let (response, _) = get(&h.router, "/console", &cookie).await;
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    // Signed out, the Now page sends the browser to sign in.
    let (response, _) = get(&h.router, "/console", "").await;
    assert_eq!(location(&response), "/console/sign-in");
    let link = enrol_link(h.store.as_ref(), "eve", false, "https://h", START).unwrap();
    let (response, _) = get(&h.router, link.strip_prefix("https://h").unwrap(), "").await;
    let set = set_cookie(&response, PRE_SESSION_COOKIE).unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(set.contains(flag), "{set}");
    }
}

/// Many wrong sign-ins at once: no more reach the password check than the
/// free allowance; the rest are told to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sign_in_throttle_holds_under_concurrency() {
    let h = Arc::new(harness());
    let (_, secret) = enrol(&h, "ada", true).await;
    let attempts = (0..24).map(|_| {
        let h = h.clone();
        tokio::spawn(async move {
            sign_in(&h, "ada", "wrong password!", "123456")
                .await
                .0
                .status()
        })
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= crate::control_plane::entitlement::throttle::FREE_FAILURES,
        "{statuses:?}"
    );
    assert_eq!(checked + throttled, statuses.len(), "{statuses:?}");
    // The right password is throttled too, for a while.
    h.clock.set(START + 10);
    let code = passwords::totp_code(&secret, START + 10).unwrap();
    let (response, _) = sign_in(&h, "ada", "correct horse battery", &code).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The audit page filters by principal and outcome, and pages back.
#[tokio::test]
async fn the_audit_page_filters_and_pages() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    for n in 0..57 {
        let entry = crate::control_plane::store::AuditEntry {
            at: START + n,
            principal: Some(if n % 2 == 0 { "mallory" } else { "bob" }.into()),
            method: "POST".into(),
            path: "/entitlement/signin".into(),
            action: Some("entitlement:SignIn".into()),
            decision: if n % 2 == 0 {
                "signin_failed"
            } else {
                "signin_ok"
            }
            .into(),
            status: 401,
            ..Default::default()
        };
        h.store.audit(&entry).unwrap();
    }
    let (response, page) = get(&h.router, "/console/audit?principal=mallory", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert_eq!(page.matches("data-entry=").count(), 29, "{page}");
    assert!(!page.contains(">bob<"), "{page}");
    let (_, page) = get(&h.router, "/console/audit?decision=signin_ok", &cookie).await;
    assert_eq!(page.matches("data-entry=").count(), 28, "{page}");
    // Page through all of it: every entry once. Each listing is itself
    // audited, after it reads, so it never shows itself.
    let before = h.store.audit_rows().unwrap();
    let (mut seen, mut pages, mut path) = (0, 0, "/console/audit".to_string());
    loop {
        let (_, page) = get(&h.router, &path, &cookie).await;
        pages += 1;
        seen += page.matches("data-entry=").count();
        let Some(at) = page.find("id=\"older\" href=\"") else {
            break;
        };
        let href = page[at + 17..].split('"').next().unwrap();
        path = href.replace("&amp;", "&");
    }
    assert!(pages >= 2, "{pages} pages");
    assert_eq!(seen as u64, before);
    let (response, page) = get(&h.router, "/console/audit?since=yesterday", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(page.contains("is not an RFC 3339 time"), "{page}");
}

/// The policy editor refuses a malformed document in words and keeps it;
/// a good one is saved; the simulator says who decided.
#[tokio::test]
async fn policies_are_edited_with_errors_in_words_and_simulated() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let (_, page) = get(&h.router, "/console/policies", &cookie).await;
    assert!(page.contains("ConsoleAdministrator"), "{page}");
    let csrf = field(&page, "csrf");
    let broken =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"appstream:Get*"}]}"#;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "ReadOnly"),
        ("document", broken),
    ];
    let (response, page) = post(&h.router, "/console/policies", &cookie, &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("the policy is refused: statement 1"),
        "{page}"
    );
    assert!(
        page.contains("appstream:Get*"),
        "the document stays: {page}"
    );
    assert!(h.store.policy("ReadOnly").is_err());

    let good = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Look","Effect":"Allow","Action":"appstream:Get*","Resource":"*"}]}"#;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "ReadOnly"),
        ("document", good),
    ];
    let (response, _) = post(&h.router, "/console/policies", &cookie, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.store.policy("ReadOnly").unwrap(), good);
    h.store
        .create_principal("rory", PrincipalKind::User, START)
        .unwrap();
    h.store.attach_policy("rory", "ReadOnly").unwrap();

    let simulate = |action: &str| {
        format!(
            "/console/policies?principal=rory&action={action}&resource=application%2Fdemo&mfa=present"
        )
    };
    let (_, page) = get(&h.router, &simulate("appstream%3AGetSessions"), &cookie).await;
    assert!(page.contains("Allowed, by ReadOnly/Look."), "{page}");
    let (_, page) = get(
        &h.router,
        &simulate("appstream%3AUpdateSessionState"),
        &cookie,
    )
    .await;
    assert!(page.contains("Denied: no policy allows it."), "{page}");
}

#[tokio::test]
async fn a_read_only_user_cannot_save_a_policy() {
    let h = harness();
    let (_, _) = enrol(&h, "ada", true).await;
    let cookie = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console/policies?name=ReadOnly", &cookie).await;
    assert!(
        page.contains("appstream:Get*") && !page.contains(">Save<"),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let everything =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "ReadOnly"),
        ("document", everything),
    ];
    let (response, page) = post(&h.router, "/console/policies", &cookie, &form).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert_eq!(h.store.policy("ReadOnly").unwrap(), READ_ONLY_POLICY);
}

/// Applications with their icons; Disable, Enable and Remove through the
/// API; a read-only user sees the list without the buttons.
mod applications;
/// The Users and Keys pages.
mod users_and_keys;
