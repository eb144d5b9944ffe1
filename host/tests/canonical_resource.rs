//! Authorization decides on exactly what the handler acts on: for every
//! route, a path whose segments are percent-encoded (any subset of their
//! characters) decides as the plain path does, under a policy that allows
//! everything but denies one application; HEAD is its GET.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

mod support;

use axum::http::StatusCode;
use host::control_plane::bootstrap::create_access_key;
use host::control_plane::store::PrincipalKind;
use proptest::prelude::*;
use serde_json::Value;
use support::*;

const ALLOW_BUT_DENY_SECRET: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"appstream:*","Resource":"*"},
  {"Effect":"Deny","Action":"appstream:*","Resource":"application/secret*"}]}"#;

const DENY_GETS: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":"appstream:*","Resource":"*"},
  {"Effect":"Deny","Action":"appstream:Get*","Resource":"*"}]}"#;

/// `%XX`-encodes the characters of `text` whose bit is set in `mask`.
fn encode_some(text: &str, mask: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                format!("%{:02X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A principal with one policy and a key.
fn principal(f: &Fixture, name: &str, document: &str) -> common::client::AccessKeyFile {
    let store = &f.plane.store;
    store
        .create_principal(name, PrincipalKind::User, T0)
        .unwrap();
    store.put_policy(name, document, T0).unwrap();
    store.attach_policy(name, name).unwrap();
    create_access_key(store.as_ref(), name, T0).unwrap()
}

/// The denied principal's status for each operation on `secret`, with the
/// application and session segments encoded by `mask`.
async fn statuses(
    f: &Fixture,
    key: &common::client::AccessKeyFile,
    session: &str,
    mask: u64,
) -> Vec<StatusCode> {
    let app = encode_some("secret", mask);
    let session = encode_some(session, mask.rotate_left(7));
    let mut out = Vec::new();
    for (_, method, path, body, _) in operations(&app, &session, "fresh") {
        // CreateApplication names its resource in the body, DeleteApplication
        // acts on the fresh one: both are about other applications.
        if path == "/api/applications" || path.ends_with("/fresh") || path == "/api" {
            continue;
        }
        let (status, _) = as_(f, key, &call(method, &path, body)).await;
        out.push(status);
    }
    out
}

#[test]
fn encoded_and_plain_paths_decide_the_same_on_every_route() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = fixture();
    let session = runtime.block_on(seed(&f, "secret"));
    let key = principal(&f, "mallory", ALLOW_BUT_DENY_SECRET);
    let plain = runtime.block_on(statuses(&f, &key, &session, 0));
    assert!(!plain.is_empty());
    assert!(
        plain.iter().all(|s| *s == StatusCode::FORBIDDEN),
        "{plain:?}"
    );
    proptest!(ProptestConfig::with_cases(24), |(mask in any::<u64>())| {
        let encoded = runtime.block_on(statuses(&f, &key, &session, mask));
        prop_assert_eq!(&encoded, &plain);
    });
    // The admin reaches the same application through an encoded path.
    let (status, app) = runtime.block_on(as_(
        &f,
        &f.admin,
        &call("GET", "/api/applications/%73ecret", Value::Null),
    ));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["name"], "secret");
}

#[test]
fn a_decoded_separator_is_no_resource_and_head_is_its_get() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let f = fixture();
    runtime.block_on(seed(&f, "game"));
    // `%2F` would spell application/game/session/x: refused as no name.
    let (status, body) = runtime.block_on(as_(
        &f,
        &f.admin,
        &call("GET", "/api/applications/game%2Fsession%2Fx", Value::Null),
    ));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let key = principal(&f, "reader-denied", DENY_GETS);
    for path in [
        "/api/applications",
        "/api/applications/game",
        "/api/applications/game/sessions",
    ] {
        for method in ["GET", "HEAD"] {
            let (status, _) = runtime.block_on(as_(&f, &key, &call(method, path, Value::Null)));
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
}

#[test]
fn the_simulator_matches_routes_as_the_router_does() {
    use host::control_plane::api::routes::{RouteParams, action_and_resource, match_route};
    let (template, captures) = match_route("/api/applications/%64emo/sessions/s-1/state").unwrap();
    let params =
        RouteParams::from_captures(captures.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
    let (action, resource) = action_and_resource(&axum::http::Method::PUT, template, &params, b"");
    assert_eq!(action, "appstream:UpdateSessionState");
    assert_eq!(resource, "application/demo/session/s-1");
    let (template, captures) = match_route("/api/applications/demo").unwrap();
    let params =
        RouteParams::from_captures(captures.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
    assert_eq!(
        action_and_resource(&axum::http::Method::HEAD, template, &params, b"").0,
        "appstream:GetApplication"
    );
    assert!(match_route("/api/nothing").is_none());
}
