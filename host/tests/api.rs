//! The API through `router(plane)` without a socket: every route with no
//! credentials, a wrong signature, an allowed and a denied principal; the
//! signature's guards (changed body, stale date, replay, deactivated key);
//! bad bodies; ending a live stream; conditions; the machine role.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

mod support;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use common::client::AccessKeyFile;
use common::control::EndReason;
use common::signing;
use common::stream_url::StreamUrl;
use host::control_plane::store::PrincipalKind;
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn every_route_refuses_missing_and_wrong_signatures_and_follows_policy() {
    let f = fixture();
    let session = seed(&f, "game").await;
    let ops = operations("game", &session, "fresh");
    assert_eq!(ops.len(), 15);
    for (action, method, path, body, ok_status) in &ops {
        let c = call(method, path, body.clone());
        let (status, e) = send(
            &f.router,
            request(&f.admin, Signature::None, &c, T0, &nonce()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{action} without credentials"
        );
        assert_eq!(e["code"], "missing_credentials", "{action}");
        let (status, e) = send(
            &f.router,
            request(&f.admin, Signature::Wrong, &c, T0, &nonce()),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{action} with a wrong signature"
        );
        assert_eq!(e["code"], "invalid_credentials", "{action}");
        let (status, e) = as_(&f, &f.nobody, &c).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{action} for a principal with no policy"
        );
        assert_eq!(e["code"], "access_denied", "{action}");
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("appstream:{action}")),
            "{e}"
        );
        let (status, e) = as_(&f, &f.reader, &c).await;
        let read = action.starts_with("Get");
        assert_eq!(
            status == StatusCode::FORBIDDEN,
            !read,
            "{action} for read-only: {status} {e}"
        );
        if !read {
            let (status, e) = as_(&f, &f.admin, &c).await;
            assert_eq!(status, *ok_status, "{action} for admin: {e}");
        } else {
            assert_eq!(status, *ok_status, "{action} for read-only: {e}");
        }
    }
    // Every refusal is in the audit log, with who and why.
    let log = f.plane.store.audit_log(1000).unwrap();
    let count = |decision: &str| log.iter().filter(|e| e.decision == decision).count();
    assert_eq!(count("unauthenticated"), 30);
    assert_eq!(count("deny"), 15 + 6);
    assert!(log.iter().any(|e| e.decision == "deny"
        && e.principal.as_deref() == Some("nobody")
        && e.action.as_deref() == Some("appstream:CreateSession")
        && e.source_ip.as_deref() == Some("192.168.1.50")));
}

#[tokio::test]
async fn changed_body_stale_date_replay_and_deactivated_key_are_refused() {
    let f = fixture();
    let c = call("POST", "/api/applications", json!({"name": "a1"}));
    // Sign one body, send another.
    let mut tampered = request(&f.admin, Signature::Good, &c, T0, &nonce());
    *tampered.body_mut() = Body::from(json!({"name": "a2"}).to_string());
    let (status, e) = send(&f.router, tampered).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    // Outside ±5 minutes.
    for skew in [-301, 301] {
        let (status, e) = send(
            &f.router,
            request(&f.admin, Signature::Good, &c, T0 + skew, &nonce()),
        )
        .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("stale_request"))
        );
    }
    // Within the window it works once; the same request again is a replay.
    let n = nonce();
    let (status, _) = send(
        &f.router,
        request(&f.admin, Signature::Good, &c, T0 + 299, &n),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, e) = send(
        &f.router,
        request(&f.admin, Signature::Good, &c, T0 + 299, &n),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("replayed_request"))
    );
    // A deactivated key.
    f.plane
        .store
        .set_key_active(&f.admin.key_id, false)
        .unwrap();
    let (status, e) = as_(&f, &f.admin, &call("GET", "/api", Value::Null)).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    // An unknown key.
    let ghost = AccessKeyFile {
        key_id: "AKGHOST".into(),
        secret: "x".into(),
    };
    let (status, e) = as_(&f, &ghost, &call("GET", "/api", Value::Null)).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let log = f.plane.store.audit_log(100).unwrap();
    assert!(
        log.iter()
            .any(|e| e.reason.as_deref().is_some_and(|r| r.contains("replay")))
    );
}

#[tokio::test]
async fn bad_bodies_get_a_4xx_that_says_what_was_wrong() {
    let f = fixture();
    let cases = [
        (
            json!({"name": "ok", "colour": "red"}).to_string(),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            "colour",
        ),
        (
            "{not json".to_string(),
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "line 1",
        ),
        (
            json!({"name": "bad/name"}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "bad/name",
        ),
        (
            json!({"name": "x", "max_sessions": 0}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "max_sessions",
        ),
        (
            json!({"name": "x", "stream": {"width": 1, "height": 2, "fps": 60}}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "resolution",
        ),
        (
            "x".repeat(70_000),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "65536",
        ),
    ];
    for (body, status, code, mention) in cases {
        let c = Call {
            method: "POST",
            path: "/api/applications",
            body: body.into_bytes(),
        };
        let (got, e) = as_(&f, &f.admin, &c).await;
        assert_eq!(got, status, "{e}");
        assert_eq!(e["code"], code, "{e}");
        assert!(e["reason"].as_str().unwrap().contains(mention), "{e}");
    }
    let (status, e) = as_(
        &f,
        &f.admin,
        &call(
            "PUT",
            "/api/applications/none/state",
            json!({"state": "ENABLED"}),
        ),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    seed(&f, "game").await;
    let (status, e) = as_(
        &f,
        &f.admin,
        &call(
            "PUT",
            "/api/applications/game/state",
            json!({"state": "PAUSED"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn sessions_disabled_apps_limits_and_termination_of_a_live_stream() {
    let f = fixture();
    let session = seed(&f, "game").await;
    // A viewer is streaming this session.
    let mut ended = f.plane.live.register(&session);
    let path = format!("/api/applications/game/sessions/{session}/state");
    let (status, body) = as_(
        &f,
        &f.admin,
        &call("PUT", &path, json!({"state": "TERMINATED"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "TERMINATED");
    assert_eq!(body["reason"], "admin_terminated");
    ended.changed().await.unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::AdminTerminated));
    let (status, e) = as_(
        &f,
        &f.admin,
        &call("PUT", &path, json!({"state": "TERMINATED"})),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_ended"))
    );

    // Disabled applications refuse CreateSession.
    as_(
        &f,
        &f.admin,
        &call(
            "PUT",
            "/api/applications/game/state",
            json!({"state": "DISABLED"}),
        ),
    )
    .await;
    let (status, e) = as_(
        &f,
        &f.admin,
        &call(
            "POST",
            "/api/applications/game/sessions",
            json!({"user": "u"}),
        ),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("application_disabled"))
    );

    // Max sessions.
    as_(
        &f,
        &f.admin,
        &call(
            "POST",
            "/api/applications",
            json!({"name": "small", "max_sessions": 1}),
        ),
    )
    .await;
    let new = call(
        "POST",
        "/api/applications/small/sessions",
        json!({"user": "u", "expires_in_s": 5}),
    );
    assert_eq!(as_(&f, &f.admin, &new).await.0, StatusCode::CREATED);
    let (status, e) = as_(&f, &f.admin, &new).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::CONFLICT, Some("application_full"))
    );
    // An unredeemed session expires and frees its place.
    f.clock.advance(5);
    assert_eq!(f.plane.store.expire_pending(f.clock.now()).unwrap(), 1);
    let (status, created) = as_(&f, &f.admin, &new).await;
    assert_eq!(status, StatusCode::CREATED);
    let url = StreamUrl::parse(created["entitlement_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.fingerprint, [7; 32]);
    // Redeemed once, then never again.
    assert!(f.plane.redeem(&url.token).unwrap().is_ok());
    assert!(f.plane.redeem(&url.token).unwrap().is_err());
}

#[tokio::test]
async fn source_ip_and_time_conditions_apply() {
    let f = fixture();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "appstream:GetApiRoot",
            "Resource": "*",
            "Condition": {
                "IpAddress": {"aws:SourceIp": "192.168.1.0/24"},
                "DateLessThan": {"aws:CurrentTime": signing::format_date(T0 + 60)}
            }
        }]
    });
    f.plane
        .store
        .put_policy("lan-only", &policy.to_string(), T0)
        .unwrap();
    f.plane.store.attach_policy("nobody", "lan-only").unwrap();
    let root = call("GET", "/api", Value::Null);
    assert_eq!(as_(&f, &f.nobody, &root).await.0, StatusCode::OK);
    let mut elsewhere = request(&f.nobody, Signature::Good, &root, T0, &nonce());
    elsewhere
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 9], 1))));
    assert_eq!(send(&f.router, elsewhere).await.0, StatusCode::FORBIDDEN);
    f.clock.advance(61);
    assert_eq!(as_(&f, &f.nobody, &root).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn machine_role_credentials_rotate_hourly_and_expire_after_six_hours() {
    let f = fixture();
    let store = f.plane.store.clone();
    store
        .create_principal(
            host::control_plane::bootstrap::MACHINE_ROLE,
            PrincipalKind::Role,
            T0,
        )
        .unwrap();
    store
        .attach_policy(host::control_plane::bootstrap::MACHINE_ROLE, "read-only")
        .unwrap();
    let dir = std::env::temp_dir().join(format!("machine-role-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut role = host::control_plane::machine_role::MachineRole::new(dir.join("credentials"));
    let first = role
        .poll(store.as_ref(), T0)
        .unwrap()
        .expect("issued at start");
    assert!(role.poll(store.as_ref(), T0 + 3599).unwrap().is_none());
    let text = std::fs::read_to_string(role.file()).unwrap();
    assert!(text.starts_with("[appstream_machine_role]\n"), "{text}");
    assert!(text.contains(&first.key_id) && text.contains(&first.session_token));
    assert!(
        role.environment()
            .iter()
            .any(|(k, v)| k == "AWS_SHARED_CREDENTIALS_FILE" && v.ends_with("credentials"))
    );

    let key = |c: &host::control_plane::machine_role::TemporaryCredentials| AccessKeyFile {
        key_id: c.key_id.clone(),
        secret: c.secret.clone(),
    };
    let with_token = |c: &host::control_plane::machine_role::TemporaryCredentials,
                      call: &Call<'_>| {
        let mut r = request(&key(c), Signature::Good, call, f.clock.now(), &nonce());
        r.headers_mut()
            .insert("x-session-token", c.session_token.parse().unwrap());
        r
    };
    let read = call("GET", "/api/applications", Value::Null);
    let write = call("POST", "/api/applications", json!({"name": "x"}));
    assert_eq!(
        send(&f.router, with_token(&first, &read)).await.0,
        StatusCode::OK
    );
    // Only the role's policy: read-only.
    assert_eq!(
        send(&f.router, with_token(&first, &write)).await.0,
        StatusCode::FORBIDDEN
    );
    // Without the session token, refused.
    assert_eq!(
        send(
            &f.router,
            request(&key(&first), Signature::Good, &read, T0, &nonce())
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // An hour later a new set; the old one still works.
    f.clock.set(T0 + 3600);
    let second = role
        .poll(store.as_ref(), T0 + 3600)
        .unwrap()
        .expect("rotated after an hour");
    assert_ne!(second.key_id, first.key_id);
    assert_eq!(
        send(&f.router, with_token(&first, &read)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        send(&f.router, with_token(&second, &read)).await.0,
        StatusCode::OK
    );
    // Six hours after issue, the first set is refused; the second is not.
    f.clock.set(T0 + 6 * 3600);
    let (status, e) = send(&f.router, with_token(&first, &read)).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    assert_eq!(
        send(&f.router, with_token(&second, &read)).await.0,
        StatusCode::OK
    );
}
