//! The entitlement service over real TLS with the host's API in the same
//! process (as `host serve` embeds them): "remember me" refresh tokens
//! (issue, rotation, single use, expiry on the service's clock, disabled
//! users, sign-out, throttling) and the launcher's icons (served bytes, no
//! icon, an https URL, a path escaping the data directory, not entitled).

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::api::{ApplicationPatch, NewApplication, SignIn, StreamDefaults};
use common::client::{ApiClient, ClientError, EntitlementClient, HttpsClient};
use common::signing::format_date;
use common::stream_url::StreamUrl;
use host::clock::{Clock, ManualClock, SystemClock};
use host::control_plane::ControlPlane;
use host::control_plane::bootstrap::{ADMIN_KEY_FILE, DEMO_PASSWORD_FILE, ENTITLEMENT_KEY_FILE};
use host::control_plane::entitlement::EntitlementService;
use host::control_plane::store::REFRESH_TOKEN_TTL_S;
use host::control_plane::store::{SqliteStore, Store};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

const DAY_S: i64 = 24 * 3600;

struct Fixture {
    dir: PathBuf,
    /// The entitlement service's clock (the API keeps real time: its
    /// requests are signed with the wall clock).
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    base_url: String,
    fingerprint: [u8; 32],
    /// The entitlement routes alone, for looking at headers.
    entitlement: Router,
    password: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn fixture(label: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("entitlement-test-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(&dir).unwrap());
    let now = SystemClock.now_unix_s();
    host::control_plane::bootstrap::ensure(store.as_ref(), &dir, &StreamDefaults::default(), now)
        .unwrap();
    let identity = host::stream::tls::Identity::load_or_create(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base_url = format!("https://127.0.0.1:{port}");
    let plane = ControlPlane::with_data_dir(
        store.clone(),
        Arc::new(SystemClock),
        StreamUrl {
            host: "127.0.0.1".into(),
            port,
            token: String::new(),
            fingerprint: identity.fingerprint,
        },
        dir.clone(),
    );
    let key = host::app::read_key_file(&dir.join(ENTITLEMENT_KEY_FILE)).unwrap();
    let api = ApiClient::new(
        HttpsClient::new(&base_url, identity.fingerprint).unwrap(),
        key,
    );
    let clock = Arc::new(ManualClock::new(now));
    let service = EntitlementService::new(store.clone(), api, clock.clone(), false).unwrap();
    let entitlement = host::control_plane::entitlement::router(service);
    let router = host::control_plane::api::router(plane).merge(entitlement.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let acceptor = TlsAcceptor::from(identity.server_config().unwrap());
    let limits = host::control_plane::connection_limits::ConnectionLimits::new(Default::default());
    tokio::spawn(host::stream::server::serve(
        listener,
        acceptor,
        router,
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    let password = std::fs::read_to_string(dir.join(DEMO_PASSWORD_FILE))
        .unwrap()
        .trim()
        .to_string();
    Fixture {
        dir,
        clock,
        store,
        base_url,
        fingerprint: identity.fingerprint,
        entitlement,
        password,
        _stop: stop,
    }
}

impl Fixture {
    fn client(&self) -> EntitlementClient {
        EntitlementClient::new(HttpsClient::new(&self.base_url, self.fingerprint).unwrap())
    }

    fn remember(&self) -> SignIn {
        SignIn {
            user: "demo".into(),
            password: self.password.clone(),
            totp: None,
            remember: true,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_unix_s()
    }

    /// Sets the demo user's `enabled` flag straight in the database (there
    /// is no admin command for it yet).
    fn set_demo_enabled(&self, enabled: bool) {
        let db = rusqlite::Connection::open(self.dir.join("control-plane.sqlite3")).unwrap();
        db.execute(
            "UPDATE principals SET enabled = ?1 WHERE name = 'demo'",
            [enabled],
        )
        .unwrap();
    }

    /// GET on the entitlement routes; (status, headers, body).
    async fn get(
        &self,
        path: &str,
        bearer: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut builder = Request::builder().method("GET").uri(path);
        if let Some(token) = bearer {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let response = self
            .entitlement
            .clone()
            .oneshot(builder.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 2 << 20).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }
}

fn api_error(e: ClientError) -> (u16, String, String) {
    match e {
        ClientError::Api {
            status,
            code,
            reason,
        } => (status, code, reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_me_issues_a_refresh_token_that_rotates_and_is_single_use() {
    let f = fixture("rotate").await;
    let mut signin = f.client();
    let plain = signin.sign_in("demo", &f.password, None).await.unwrap();
    assert_eq!(
        (plain.refresh_token, plain.refresh_expires_at),
        (None, None)
    );

    let remembered = signin.sign_in_with(&f.remember()).await.unwrap();
    let first = remembered.refresh_token.clone().unwrap();
    assert_eq!(first.len(), 64);
    assert_eq!(
        remembered.refresh_expires_at,
        Some(format_date(f.now() + REFRESH_TOKEN_TTL_S))
    );

    // The launcher starts again, with only the saved refresh token.
    let mut launcher = f.client();
    let again = launcher.refresh(&first).await.unwrap();
    assert_eq!((again.user.as_str(), again.mfa), ("demo", false));
    let second = again.refresh_token.clone().unwrap();
    assert_ne!(second, first);
    assert_ne!(again.token, remembered.token);
    let apps = launcher.applications().await.unwrap();
    assert!(apps.iter().any(|a| a.name == "demo"), "{apps:?}");

    let third = launcher.refresh(&second).await.unwrap().refresh_token;
    // A used token presented again (stolen, replayed): refused, and the
    // whole chain with it, so the newest token stops working too.
    let (status, code, reason) = api_error(launcher.refresh(&first).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "refresh_expired"));
    assert!(reason.contains("sign in again"), "{reason}");
    let (status, _, _) = api_error(launcher.refresh(third.as_ref().unwrap()).await.unwrap_err());
    assert_eq!(status, 401, "the chain was revoked");

    let log = f.store.audit_log(50).unwrap();
    let outcome = |d: &str| {
        log.iter()
            .filter(|e| e.decision == d && e.action.as_deref() == Some("entitlement:Refresh"))
            .count()
    };
    assert_eq!(
        (
            outcome("refresh_ok"),
            outcome("refresh_reused"),
            outcome("refresh_failed")
        ),
        (2, 1, 1)
    );
    // Tokens never reach the audit log or the database in the clear.
    let logged = format!("{log:?}");
    let mut database = Vec::new();
    for file in ["control-plane.sqlite3", "control-plane.sqlite3-wal"] {
        database.extend(std::fs::read(f.dir.join(file)).unwrap_or_default());
    }
    let database = String::from_utf8_lossy(&database);
    for token in [&first, &second, third.as_ref().unwrap(), &again.token] {
        assert!(!logged.contains(token.as_str()));
        assert!(!database.contains(token.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_sign_in_lasts_30_days_from_its_last_use_and_not_for_a_disabled_user() {
    let f = fixture("expiry").await;
    let mut c = f.client();
    let first = c.sign_in_with(&f.remember()).await.unwrap().refresh_token;
    f.clock.advance(REFRESH_TOKEN_TTL_S - 1);
    let second = c.refresh(&first.unwrap()).await.unwrap().refresh_token;
    f.clock.advance(29 * DAY_S);
    let third = c.refresh(&second.unwrap()).await.unwrap().refresh_token;
    f.clock.advance(REFRESH_TOKEN_TTL_S);
    let (status, code, _) = api_error(c.refresh(&third.unwrap()).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "refresh_expired"));

    let saved = c.sign_in_with(&f.remember()).await.unwrap().refresh_token;
    let saved = saved.unwrap();
    f.set_demo_enabled(false);
    let (status, code, _) = api_error(c.refresh(&saved).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "refresh_expired"));
    f.set_demo_enabled(true);
    // It was used up by the refused attempt.
    assert_eq!(
        c.refresh(&saved).await.unwrap_err().code(),
        Some("refresh_expired")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_bearer_token_and_the_refresh_token() {
    let f = fixture("signout").await;
    let mut c = f.client();
    let signed_in = c.sign_in_with(&f.remember()).await.unwrap();
    let refresh = signed_in.refresh_token.unwrap();
    c.applications().await.unwrap();
    c.sign_out(Some(&refresh)).await.unwrap();
    assert_eq!(
        c.applications().await.unwrap_err().code(),
        Some("not_signed_in")
    );
    assert_eq!(
        c.refresh(&refresh).await.unwrap_err().code(),
        Some("refresh_expired")
    );
    // Signing out again, with a dead bearer token, still works.
    c.sign_out(None).await.unwrap();
    // Nothing to sign out with at all: 401.
    let (status, code, _) = api_error(f.client().sign_out(None).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "not_signed_in"));
    // Forgetting a saved sign-in needs only the refresh token.
    let other = c.sign_in_with(&f.remember()).await.unwrap();
    let other_refresh = other.refresh_token.unwrap();
    f.client().sign_out(Some(&other_refresh)).await.unwrap();
    assert!(c.refresh(&other_refresh).await.is_err());
    let signouts = f
        .store
        .audit_log(50)
        .unwrap()
        .into_iter()
        .filter(|e| e.decision == "signout")
        .count();
    assert_eq!(signouts, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refreshes_are_throttled_by_address() {
    let f = fixture("throttle").await;
    let mut c = f.client();
    for _ in 0..5 {
        assert_eq!(
            c.refresh(&"0".repeat(64)).await.unwrap_err().code(),
            Some("refresh_expired")
        );
    }
    let (status, code, _) = api_error(c.refresh(&"0".repeat(64)).await.unwrap_err());
    assert_eq!((status, code.as_str()), (429, "throttled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icons_are_served_from_the_data_directory_to_entitled_users() {
    let f = fixture("icons").await;
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[42u8; 100]].concat();
    std::fs::create_dir_all(f.dir.join("icons")).unwrap();
    std::fs::write(f.dir.join("icons/demo.png"), &png).unwrap();
    let outside = format!("outside-{}.png", std::process::id());
    std::fs::write(f.dir.parent().unwrap().join(&outside), &png).unwrap();
    let now = f.now();
    let patch = ApplicationPatch {
        icon: Some("icons/demo.png".into()),
        ..Default::default()
    };
    f.store.update_application("demo", &patch, now).unwrap();
    for (name, icon) in [
        ("remote", Some("https://example.com/remote.png".to_string())),
        ("plain", None),
        ("escape", Some(format!("../{outside}"))),
        ("secret", Some("icons/demo.png".to_string())),
    ] {
        let mut new: NewApplication =
            serde_json::from_value(serde_json::json!({ "name": name })).unwrap();
        new.icon = icon;
        f.store.create_application(&new, now).unwrap();
        if name != "secret" {
            f.store.entitle("demo", name).unwrap();
        }
    }

    let mut c = f.client();
    let token = c.sign_in("demo", &f.password, None).await.unwrap().token;
    assert_eq!(c.icon("demo").await.unwrap(), Some(png.clone()));
    assert_eq!(c.icon("plain").await.unwrap(), None);
    assert_eq!(c.icon("remote").await.unwrap(), None);
    let (status, code, _) = api_error(c.icon("secret").await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "not_entitled"));

    let (status, headers, body) = f
        .get("/entitlement/applications/demo/icon", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    assert_eq!(body, png);
    let error = |body: &[u8]| -> (String, String) {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        (
            value["code"].as_str().unwrap().to_string(),
            value["reason"].as_str().unwrap().to_string(),
        )
    };
    for (app, expected) in [
        ("plain", "no_icon"),
        ("remote", "icon_remote"),
        ("escape", "icon_refused"),
    ] {
        let path = format!("/entitlement/applications/{app}/icon");
        let (status, _, body) = f.get(&path, Some(&token)).await;
        let (code, reason) = error(&body);
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, expected));
        if app == "remote" {
            assert!(
                reason.contains("https://example.com/remote.png"),
                "{reason}"
            );
        }
    }
    let (status, _, _) = f.get("/entitlement/applications/demo/icon", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The host's API route itself, with the admin key.
    let admin = ApiClient::new(
        HttpsClient::new(&f.base_url, f.fingerprint).unwrap(),
        host::app::read_key_file(&f.dir.join(ADMIN_KEY_FILE)).unwrap(),
    );
    assert_eq!(admin.application_icon("demo").await.unwrap(), png);
    assert_eq!(
        admin.application_icon("escape").await.unwrap_err().code(),
        Some("icon_refused")
    );
    assert_eq!(
        admin.application_icon("ghost").await.unwrap_err().code(),
        Some("not_found")
    );
}
