//! What the API tests share: a control plane on an in-memory store with an
//! admin, a reader and a principal with no policy; signed requests through
//! `router(plane)` without a socket; the 15 operations.

#![allow(dead_code)] // each test file uses its part
#![allow(clippy::unwrap_used)] // test helpers

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::client::AccessKeyFile;
use common::signing::{self, SignedParts};
use common::stream_url::StreamUrl;
use host::clock::ManualClock;
use host::control_plane::ControlPlane;
use host::control_plane::bootstrap::{FULL_ACCESS_POLICY, READ_ONLY_POLICY, create_access_key};
use host::control_plane::store::{PrincipalKind, SqliteStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const T0: i64 = 1_800_000_000;

pub struct Fixture {
    pub plane: Arc<ControlPlane>,
    pub clock: Arc<ManualClock>,
    pub router: Router,
    pub admin: AccessKeyFile,
    pub reader: AccessKeyFile,
    pub nobody: AccessKeyFile,
}

pub fn fixture() -> Fixture {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let plane = ControlPlane::new(
        store.clone(),
        clock.clone(),
        StreamUrl {
            host: "127.0.0.1".into(),
            port: 47990,
            token: String::new(),
            fingerprint: [7; 32],
        },
    );
    store
        .put_policy("full-access", FULL_ACCESS_POLICY, T0)
        .unwrap();
    store.put_policy("read-only", READ_ONLY_POLICY, T0).unwrap();
    let mut keys = Vec::new();
    for (name, policy) in [
        ("admin", Some("full-access")),
        ("reader", Some("read-only")),
        ("nobody", None),
    ] {
        store
            .create_principal(name, PrincipalKind::User, T0)
            .unwrap();
        if let Some(policy) = policy {
            store.attach_policy(name, policy).unwrap();
        }
        keys.push(create_access_key(store.as_ref(), name, T0).unwrap());
    }
    let router = host::control_plane::api::router(plane.clone());
    let mut keys = keys.into_iter();
    Fixture {
        plane,
        clock,
        router,
        admin: keys.next().unwrap(),
        reader: keys.next().unwrap(),
        nobody: keys.next().unwrap(),
    }
}

#[derive(Clone, Copy)]
pub enum Signature {
    None,
    Wrong,
    Good,
}

pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: Vec<u8>,
}

pub fn call<'a>(method: &'a str, path: &'a str, body: Value) -> Call<'a> {
    Call {
        method,
        path,
        body: if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        },
    }
}

/// Builds a signed request the way the README describes.
pub fn request(
    key: &AccessKeyFile,
    signature: Signature,
    c: &Call<'_>,
    date_s: i64,
    nonce: &str,
) -> Request<Body> {
    let (path, query) = c.path.split_once('?').unwrap_or((c.path, ""));
    let date = signing::format_date(date_s);
    let mut signed = signing::sign(
        &key.secret,
        &SignedParts {
            method: c.method,
            path,
            query,
            date: &date,
            nonce,
            body: &c.body,
        },
    );
    if let Signature::Wrong = signature {
        signed = signing::sign(
            "not the secret",
            &SignedParts {
                method: c.method,
                path,
                query,
                date: &date,
                nonce,
                body: &c.body,
            },
        );
    }
    let mut builder = Request::builder().method(c.method).uri(c.path);
    if !matches!(signature, Signature::None) {
        builder = builder
            .header(
                "authorization",
                signing::format_authorization(&key.key_id, &signed),
            )
            .header("x-date", date)
            .header("x-nonce", nonce);
    }
    let mut request = builder.body(Body::from(c.body.clone())).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 168, 1, 50], 40000))));
    request
}

pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

pub static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn nonce() -> String {
    format!(
        "nonce-{:08}",
        NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

pub async fn as_(f: &Fixture, key: &AccessKeyFile, c: &Call<'_>) -> (StatusCode, Value) {
    send(
        &f.router,
        request(key, Signature::Good, c, f.clock.now(), &nonce()),
    )
    .await
}

pub trait Now {
    fn now(&self) -> i64;
}
impl Now for ManualClock {
    fn now(&self) -> i64 {
        host::clock::Clock::now_unix_s(self)
    }
}

/// Creates an application, a session in it and an error record.
pub async fn seed(f: &Fixture, app: &str) -> String {
    let (status, _) = as_(
        f,
        &f.admin,
        &call(
            "POST",
            "/api/applications",
            json!({"name": app, "max_sessions": 8}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/applications/{app}/sessions");
    let (status, created) = as_(f, &f.admin, &call("POST", &path, json!({"user": "alice"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    f.plane
        .store
        .record_application_error(
            &host::control_plane::store::NewApplicationError {
                application: app.into(),
                kind: "app_exited".into(),
                message: "exit status 3".into(),
                ..Default::default()
            },
            T0,
        )
        .unwrap();
    created["session"]["id"].as_str().unwrap().to_string()
}

/// The 15 operations, each with a body that succeeds for an allowed caller.
pub fn operations(
    app: &str,
    session: &str,
    fresh: &str,
) -> Vec<(&'static str, &'static str, String, Value, StatusCode)> {
    let a = format!("/api/applications/{app}");
    let s = format!("{a}/sessions/{session}");
    vec![
        (
            "GetApiRoot",
            "GET",
            "/api".into(),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "GetApplications",
            "GET",
            "/api/applications".into(),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "CreateApplication",
            "POST",
            "/api/applications".into(),
            json!({"name": fresh}),
            StatusCode::CREATED,
        ),
        (
            "GetApplication",
            "GET",
            a.clone(),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "UpdateApplication",
            "PATCH",
            a.clone(),
            json!({"description": "new"}),
            StatusCode::OK,
        ),
        (
            "GetApplicationStatus",
            "GET",
            format!("{a}/status"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "UpdateApplicationState",
            "PUT",
            format!("{a}/state"),
            json!({"state": "ENABLED"}),
            StatusCode::OK,
        ),
        (
            "GetApplicationErrors",
            "GET",
            format!("{a}/errors"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "GetApplicationError",
            "GET",
            format!("{a}/errors/1"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "GetSessions",
            "GET",
            format!("{a}/sessions"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "CreateSession",
            "POST",
            format!("{a}/sessions"),
            json!({"user": "bob"}),
            StatusCode::CREATED,
        ),
        ("GetSession", "GET", s.clone(), Value::Null, StatusCode::OK),
        (
            "GetSessionStatus",
            "GET",
            format!("{s}/status"),
            Value::Null,
            StatusCode::OK,
        ),
        (
            "UpdateSessionState",
            "PUT",
            format!("{s}/state"),
            json!({"state": "TERMINATED"}),
            StatusCode::OK,
        ),
        (
            "DeleteApplication",
            "DELETE",
            format!("/api/applications/{fresh}"),
            Value::Null,
            StatusCode::NO_CONTENT,
        ),
    ]
}
