//! A fleet at the API: hosts on one PostgreSQL database (a private
//! cluster), each with its own control plane and entitlement service, as
//! `host serve --database postgres://...` builds them. GetHosts lists them
//! to administrators; a signed request replayed to the other host is
//! refused, and a password guess spread over both hosts is throttled as it
//! is on one.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::api::SessionState;
use common::client::{AccessKeyFile, ApiClient, HttpsClient};
use common::stream_url::StreamUrl;
use host::clock::ManualClock;
use host::control_plane::ControlPlane;
use host::control_plane::bootstrap::{FULL_ACCESS_POLICY, create_access_key};
use host::control_plane::entitlement::EntitlementService;
use host::control_plane::entitlement::throttle::FREE_FAILURES;
use host::control_plane::guards::Guards;
use host::control_plane::passwords;
use host::control_plane::store::postgres::cluster::PrivateCluster;
use host::control_plane::store::{Heartbeat, PostgresStore, PrincipalKind, Store};
use serde_json::json;
use support::{Signature, T0, call, nonce, request, send};
use tower::ServiceExt;

fn database() -> String {
    static CLUSTER: OnceLock<PrivateCluster> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| PrivateCluster::start(&[]).expect("a private cluster"));
    cluster.new_database().expect("a database")
}

/// One host of the fleet: its API and entitlement routes.
fn host_on(url: &str, clock: &Arc<ManualClock>) -> (Arc<dyn Store>, Router) {
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(url, 2).unwrap());
    let plane = ControlPlane::serving(
        store.clone(),
        clock.clone(),
        StreamUrl {
            host: "127.0.0.1".into(),
            port: 47990,
            token: String::new(),
            fingerprint: [7; 32],
        },
        std::env::temp_dir(),
        Guards {
            shared: true,
            ..Guards::default()
        },
        host::control_plane::allowed_commands::CommandPolicy::Any,
    );
    // Sign-in never calls the API: an address nothing listens on.
    let api = ApiClient::new(
        HttpsClient::new("https://127.0.0.1:9", [0; 32]).unwrap(),
        AccessKeyFile {
            key_id: "AKUNUSED".into(),
            secret: "unused".into(),
        },
    );
    let service = EntitlementService::new(store.clone(), api, clock.clone(), true).unwrap();
    let router = host::control_plane::api::router(plane)
        .merge(host::control_plane::entitlement::router(service));
    (store, router)
}

/// Two hosts on a new database, and an administrator's access key.
fn two_hosts_and_an_administrator() -> (Arc<dyn Store>, [Router; 2], AccessKeyFile) {
    let url = database();
    let clock = Arc::new(ManualClock::new(T0));
    let (store, first) = host_on(&url, &clock);
    let (_, second) = host_on(&url, &clock);
    store
        .put_policy("full-access", FULL_ACCESS_POLICY, T0)
        .unwrap();
    store
        .create_principal("admin", PrincipalKind::User, T0)
        .unwrap();
    store.attach_policy("admin", "full-access").unwrap();
    let admin = create_access_key(store.as_ref(), "admin", T0).unwrap();
    (store, [first, second], admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_replayed_to_another_host_is_refused() {
    let (_, [first, second], admin) = two_hosts_and_an_administrator();

    let list = call("GET", "/api/applications", json!(null));
    let nonce = nonce();
    let (status, _) = send(&first, request(&admin, Signature::Good, &list, T0, &nonce)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&second, request(&admin, Signature::Good, &list, T0, &nonce)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "replayed_request", "{body}");
    let (status, _) = send(&first, request(&admin, Signature::Good, &list, T0, &nonce)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "and to the first host again"
    );
    // A fresh nonce goes through either host.
    let (status, _) = send(
        &second,
        request(&admin, Signature::Good, &list, T0, &support::nonce()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Sends `list` to `router` with fresh nonces until it answers `want`;
/// how long that took.
async fn until_answered(
    router: &Router,
    key: &AccessKeyFile,
    list: &support::Call<'_>,
    want: StatusCode,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let (status, _) = send(router, request(key, Signature::Good, list, T0, &nonce())).await;
        if status == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "still {status}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Each host keeps keys, principals and policies in memory while it hears
/// the database's changes: a change made through another host (or the
/// admin CLI, another connection) reaches it at once, not after the cache's
/// 30 s safety net.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_detached_or_key_deactivated_elsewhere_stops_at_every_host_at_once() {
    // The first host's store is the admin CLI, another connection.
    let (store, [_, second], admin) = two_hosts_and_an_administrator();
    let list = call("GET", "/api/applications", json!(null));
    // The second host reads the key, principal and policies (and keeps them).
    until_answered(&second, &admin, &list, StatusCode::OK).await;
    until_answered(&second, &admin, &list, StatusCode::OK).await;

    store.detach_policy("admin", "full-access").unwrap();
    let denied = until_answered(&second, &admin, &list, StatusCode::FORBIDDEN).await;
    store.attach_policy("admin", "full-access").unwrap();
    until_answered(&second, &admin, &list, StatusCode::OK).await;
    store.set_key_active(&admin.key_id, false).unwrap();
    let refused = until_answered(&second, &admin, &list, StatusCode::UNAUTHORIZED).await;
    eprintln!("denied after {denied:?}, key refused after {refused:?}");
    let prompt = std::time::Duration::from_secs(1);
    assert!(
        denied < prompt && refused < prompt,
        "{denied:?}, {refused:?}"
    );
}

/// Two hosts' APIs, 32 clients at each, asking CreateSession at once for
/// an application of ten seats: ten are created, placed on hosts with room,
/// and every other client hears `application_full`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_racing_create_session_with_32_clients_each_never_pass_max_sessions() {
    let (store, [first, second], admin) = two_hosts_and_an_administrator();
    let mut game: common::api::NewApplication =
        serde_json::from_value(json!({"name": "game"})).unwrap();
    game.max_sessions = 10;
    store.create_application(&game, T0).unwrap();
    for id in ["h-a", "h-b", "h-c"] {
        let beat = Heartbeat {
            id: id.into(),
            address: "127.0.0.1:47990".into(),
            fingerprint: "07".repeat(32),
            max_sessions: 8,
            live_sessions: 0,
            cpu_pct: 0.0,
            applications: vec!["game".into()],
        };
        store.heartbeat(&beat, T0).unwrap();
    }
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let router = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let admin = admin.clone();
            tokio::spawn(async move {
                let body = json!({ "user": format!("player{i}") });
                let create = call("POST", "/api/applications/game/sessions", body);
                send(
                    &router,
                    request(&admin, Signature::Good, &create, T0, &nonce()),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    for client in clients {
        let (status, body) = client.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_eq!(body["code"], "application_full", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 10);
    let live = store
        .sessions("game")
        .unwrap()
        .iter()
        .filter(|s| s.state == SessionState::Pending)
        .count();
    assert_eq!(live, 10);
}

async fn sign_in(router: &Router, user: &str, password: &str) -> (StatusCode, serde_json::Value) {
    let body = json!({ "user": user, "password": password }).to_string();
    let mut request = Request::builder()
        .method("POST")
        .uri("/entitlement/signin")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 168, 1, 66], 50000))));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_guess_spread_over_two_hosts_is_throttled_as_on_one() {
    let url = database();
    let clock = Arc::new(ManualClock::new(T0));
    let hosts = [host_on(&url, &clock), host_on(&url, &clock)];
    let store = &hosts[0].0;
    store
        .create_principal("ann", PrincipalKind::User, T0)
        .unwrap();
    store
        .set_password_hash(
            "ann",
            &passwords::hash_password("correct horse battery").unwrap(),
        )
        .unwrap();
    // The free failures, alternating between the hosts: neither saw them all.
    for attempt in 0..FREE_FAILURES {
        let (status, body) = sign_in(&hosts[attempt % 2].1, "ann", "wrong guess").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {body}"
        );
    }
    // Then both refuse even the right password: each counts the other's.
    for (name, (_, router)) in ["first", "second"].iter().zip(&hosts) {
        let (status, body) = sign_in(router, "ann", "correct horse battery").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{name} host: {body}");
    }
    // Once the wait is over, the right password works on either host and
    // clears the user's record for both.
    clock.advance(3600);
    let (status, body) = sign_in(&hosts[0].1, "ann", "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = sign_in(&hosts[1].1, "ann", "wrong again").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a fresh allowance, not a wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_hosts_lists_the_fleet_to_administrators_only() {
    let url = database();
    let clock = Arc::new(ManualClock::new(T0));
    let (store, router) = host_on(&url, &clock);
    store
        .put_policy("full-access", FULL_ACCESS_POLICY, T0)
        .unwrap();
    store
        .create_principal("admin", PrincipalKind::User, T0)
        .unwrap();
    store.attach_policy("admin", "full-access").unwrap();
    store
        .create_principal("nobody", PrincipalKind::Role, T0)
        .unwrap();
    let admin = create_access_key(store.as_ref(), "admin", T0).unwrap();
    let nobody = create_access_key(store.as_ref(), "nobody", T0).unwrap();
    for id in ["h-one", "h-two"] {
        let beat = host::control_plane::store::Heartbeat {
            id: id.into(),
            address: format!("{id}:47990"),
            fingerprint: "00".repeat(32),
            max_sessions: 4,
            live_sessions: 0,
            cpu_pct: 3.0,
            applications: vec![],
        };
        store.heartbeat(&beat, T0).unwrap();
    }
    let hosts = call("GET", "/api/hosts", json!(null));
    let (status, body) = send(
        &router,
        request(&admin, Signature::Good, &hosts, T0, &nonce()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hosts"][1]["id"], "h-two");
    assert_eq!(body["hosts"][0]["state"], "AVAILABLE");
    let (status, body) = send(
        &router,
        request(&nobody, Signature::Good, &hosts, T0, &nonce()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
