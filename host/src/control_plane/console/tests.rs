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
#[tokio::test]
async fn applications_are_listed_with_icons_and_changed_by_those_allowed() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let icons = h._dir.path().join("icons");
    std::fs::create_dir_all(&icons).unwrap();
    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/icons/demo-game.png"
    ))
    .unwrap();
    std::fs::write(icons.join("game.png"), &png).unwrap();
    let new: common::api::NewApplication = serde_json::from_value(serde_json::json!({
        "name": "game", "description": "A game", "icon": "icons/game.png"
    }))
    .unwrap();
    h.store.create_application(&new, START).unwrap();
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        page.contains("data-application=\"demo\"") && page.contains("A game"),
        "{page}"
    );
    assert!(
        page.contains("src=\"/console/applications/game/icon\""),
        "{page}"
    );
    let (response, body) = get(&h.router, "/console/applications/game/icon", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    assert!(body.contains("PNG"), "a PNG");
    let (response, _) = get(&h.router, "/console/applications/game/icon", "").await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "signed out: no icon"
    );

    let csrf = field(&page, "csrf");
    let form = [("csrf", csrf.as_str()), ("state", "DISABLED")];
    let (response, _) = post(
        &h.router,
        "/console/applications/game/state",
        &cookie,
        &form,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        h.store.application("game").unwrap().state,
        common::api::ApplicationState::Disabled
    );
    let notice = cookie_pair(&set_cookie(&response, NOTICE_COOKIE).unwrap());
    let with_notice = format!("{cookie}; {notice}");
    let (_, page) = get(&h.router, "/console/applications", &with_notice).await;
    assert!(
        page.contains("The application&#39;s state was changed.")
            || page.contains("state was changed"),
        "{page}"
    );
    assert!(page.contains(">Enable<"), "{page}");
    let (response, _) = post(
        &h.router,
        "/console/applications/game/remove",
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(h.store.application("game").is_err());

    // Read-only: the list, no buttons, and the post refused.
    let rory = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console/applications", &rory).await;
    assert!(page.contains("data-application=\"demo\""), "{page}");
    assert!(
        !page.contains(">Disable<") && !page.contains(">Remove<"),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    let (response, _) = post(
        &h.router,
        "/console/applications/demo/remove",
        &rory,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.application("demo").is_ok());
}

#[tokio::test]
async fn a_streaming_session_shows_its_figures_and_chart() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let id = live_session(&h, "player");
    h.store
        .redeem(&token_hash("player"), START + 1)
        .unwrap()
        .unwrap();
    let _ended = h.plane.live.register(&id);
    let video = common::control::VideoParams {
        codec: common::control::VideoCodec::H264,
        width: 1280,
        height: 720,
        fps: 60,
        bitrate_kbps: 8000,
    };
    h.plane.live.set_video(&id, &video);
    for (i, latency) in [None, Some(11.0), Some(12.4)].into_iter().enumerate() {
        let sample = common::api::StreamSample {
            at_ms: START as u64 * 1000 + i as u64 * 1000,
            received_kbps: 4100.0,
            encoder_kbps: 4000,
            latency_p50_ms: latency,
            loss: 0.012,
            jitter_ms: 1.0,
        };
        h.plane.live.record(&id, sample);
    }
    let (response, page) = get(&h.router, "/console", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    for shown in [
        "1280×720 · 60 fps · H.264",
        "4100 kbit/s",
        "encoder 4000 kbit/s",
        "1.2 %",
        "12 ms",
        "<svg",
        "class=\"latency\"",
        "http-equiv=\"refresh\"",
    ] {
        assert!(page.contains(shown), "{shown:?} missing: {page}");
    }
    // The same figures through the API, as GetSessionStatus.
    let status: common::api::SessionStatus = call::call(
        &crate::control_plane::api::router(h.plane.clone()),
        "ada",
        None,
        Method::GET,
        &format!("/api/applications/demo/sessions/{id}/status"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status.stream.unwrap().samples.len(), 3);
}

/// A `multipart/form-data` body of text fields and an optional icon file.
fn multipart(fields: &[(&str, &str)], icon: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "console-test-boundary";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some(icon) = icon {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"icon\"; filename=\"game.png\"\r\n\
                 Content-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(icon);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(
    router: &Router,
    path: &str,
    cookies: &str,
    fields: &[(&str, &str)],
    icon: Option<&[u8]>,
) -> (Response, String) {
    let (content_type, body) = multipart(fields, icon);
    let request = Request::post(path)
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    send(router, request).await
}

#[tokio::test]
async fn an_application_is_added_with_an_icon_and_edited_and_a_bad_value_keeps_the_form() {
    let h = harness();
    let (cookie, _) = enrol(&h, "ada", true).await;
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        page.contains("Add an application") && page.contains("Edit"),
        "{page}"
    );
    let (_, form) = get(&h.router, "/console/applications/new", &cookie).await;
    let csrf = field(&form, "csrf");
    let png = b"\x89PNG\r\n\x1a\nnot really pixels".to_vec();
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "game"),
        ("description", "A game"),
        ("command", ""),
        ("args", "--fast\n--level 2"),
        ("max_sessions", "2"),
        ("width", "1920"),
        ("height", "1080"),
        ("fps", "30"),
        ("bitrate_kbps", ""),
    ];
    // Without the page's CSRF token: refused, nothing added.
    let mut forged = fields;
    forged[0] = ("csrf", "forged");
    let (response, _) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &forged,
        Some(&png),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.application("game").is_err());

    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &fields,
        Some(&png),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    let game = h.store.application("game").unwrap();
    assert_eq!(game.icon.as_deref(), Some("icons/game.png"));
    assert_eq!(game.args, ["--fast", "--level 2"]);
    assert_eq!(
        (game.stream.width, game.stream.fps, game.max_sessions),
        (1920, 30, 2)
    );
    let (response, icon) = get(&h.router, "/console/applications/game/icon", &cookie).await;
    assert_eq!(response.status(), StatusCode::OK);
    // (`send` reads the body as text: the first byte is not UTF-8.)
    assert!(
        icon.ends_with("PNG\r\n\u{1a}\nnot really pixels"),
        "{icon:?}"
    );

    // A value that is not a number: the form again, as typed, saying why.
    let edit = "/console/applications/game/edit";
    let (_, form) = get(&h.router, edit, &cookie).await;
    assert!(form.contains("value=\"1920\""), "{form}");
    let mut bad = fields;
    bad[8] = ("fps", "sixty");
    bad[2] = ("description", "Renamed");
    let (response, page) = post_multipart(&h.router, edit, &cookie, &bad, None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        page.contains("Frames per second must be a whole number, not &quot;sixty&quot;"),
        "{page}"
    );
    assert!(page.contains("value=\"sixty\"") && page.contains("value=\"Renamed\""));
    assert_eq!(h.store.application("game").unwrap().description, "A game");
    // A PNG that is not one: saved, the icon refused in words.
    let mut good = fields;
    good[2] = ("description", "Renamed");
    let (response, page) = post_multipart(&h.router, edit, &cookie, &good, Some(b"GIF89a")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("the icon was refused") && page.contains("not a PNG"),
        "{page}"
    );
    assert_eq!(h.store.application("game").unwrap().description, "Renamed");
}

#[tokio::test]
async fn a_read_only_user_cannot_add_or_edit_an_application() {
    let h = harness();
    let cookie = signed_in_read_only(&h).await;
    let (_, page) = get(&h.router, "/console/applications", &cookie).await;
    assert!(
        !page.contains("Add an application") && !page.contains(">Edit<"),
        "{page}"
    );
    let (_, form) = get(&h.router, "/console/applications/demo/edit", &cookie).await;
    let csrf = field(&form, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("name", "sneaky"),
        ("description", "changed"),
        ("command", ""),
        ("max_sessions", "1"),
        ("width", "640"),
        ("height", "480"),
        ("fps", "30"),
    ];
    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/new",
        &cookie,
        &fields,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("may not perform appstream:CreateApplication"),
        "{page}"
    );
    let (response, page) = post_multipart(
        &h.router,
        "/console/applications/demo/edit",
        &cookie,
        &fields,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(h.store.application("sneaky").is_err());
    assert_eq!(h.store.application("demo").unwrap().description, "");
}

/// The Users and Keys pages.
mod users_and_keys;
