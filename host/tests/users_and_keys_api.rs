//! Users, policy attachments and access keys through `router(plane)`
//! without a socket: each route's IAM action and resource (as the audit
//! log records them and as the simulator matches them), its answers and
//! refusals in words, and what a read-only key and a key with no policy get.

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

mod support;

use axum::http::{Method, StatusCode};
use host::control_plane::api::routes::{RouteParams, action_and_resource, match_route};
use host::control_plane::passwords;
use host::control_plane::store::{AccessKey, PrincipalKind};
use serde_json::{Value, json};
use support::*;

/// The newest audit entry's action and resource.
fn last_audited(f: &Fixture) -> (String, String) {
    let entry = f.plane.store.audit_log(1).unwrap().remove(0);
    (entry.action.unwrap(), entry.resource.unwrap())
}

/// Every new operation: (action, method, path, body, resource, status for
/// the administrator), in an order where each succeeds.
fn operations(
    temporary_key: &str,
) -> Vec<(
    &'static str,
    &'static str,
    String,
    Value,
    &'static str,
    StatusCode,
)> {
    let s = |text: &str| text.to_string();
    vec![
        (
            "GetUsers",
            "GET",
            s("/api/users"),
            Value::Null,
            "user/*",
            StatusCode::OK,
        ),
        (
            "CreateUser",
            "POST",
            s("/api/users"),
            json!({"name": "ann"}),
            "user/ann",
            StatusCode::CREATED,
        ),
        (
            "GetUser",
            "GET",
            s("/api/users/ann"),
            Value::Null,
            "user/ann",
            StatusCode::OK,
        ),
        (
            "SetUserPassword",
            "PUT",
            s("/api/users/ann/password"),
            json!({"password": "a long enough password"}),
            "user/ann",
            StatusCode::OK,
        ),
        (
            "DisableUserTotp",
            "DELETE",
            s("/api/users/ann/totp"),
            Value::Null,
            "user/ann",
            StatusCode::OK,
        ),
        (
            "UpdateUserState",
            "PUT",
            s("/api/users/ann/state"),
            json!({"enabled": false}),
            "user/ann",
            StatusCode::OK,
        ),
        (
            "EntitleUser",
            "PUT",
            s("/api/users/ann/entitlements/game"),
            Value::Null,
            "user/ann",
            StatusCode::OK,
        ),
        (
            "RevokeEntitlement",
            "DELETE",
            s("/api/users/ann/entitlements/game"),
            Value::Null,
            "user/ann",
            StatusCode::OK,
        ),
        (
            "AttachPolicy",
            "PUT",
            s("/api/principals/ann/policies/read-only"),
            Value::Null,
            "principal/ann",
            StatusCode::OK,
        ),
        (
            "DetachPolicy",
            "DELETE",
            s("/api/principals/ann/policies/read-only"),
            Value::Null,
            "principal/ann",
            StatusCode::OK,
        ),
        (
            "GetAccessKeys",
            "GET",
            s("/api/keys"),
            Value::Null,
            "key/*",
            StatusCode::OK,
        ),
        (
            "CreateAccessKey",
            "POST",
            s("/api/keys"),
            json!({"principal": "ann"}),
            "principal/ann",
            StatusCode::CREATED,
        ),
        (
            "UpdateAccessKey",
            "PUT",
            format!("/api/keys/{temporary_key}/state"),
            json!({"active": false}),
            "key/TK-TEMP",
            StatusCode::OK,
        ),
        (
            "RotateAccessKey",
            "POST",
            format!("/api/keys/{temporary_key}/rotate"),
            Value::Null,
            "key/TK-TEMP",
            StatusCode::CONFLICT,
        ),
    ]
}

/// A call signed with the administrator's key.
async fn admin(f: &Fixture, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    as_(f, &f.admin, &call(method, path, body)).await
}

fn temporary_key(f: &Fixture) {
    f.plane
        .store
        .create_key(&AccessKey {
            key_id: "TK-TEMP".into(),
            principal: "reader".into(),
            secret: "temporary".into(),
            active: true,
            created_at: T0,
            expires_at: Some(T0 + 3600),
            session_token: Some("token".into()),
        })
        .unwrap();
}

#[tokio::test]
async fn every_route_is_its_action_on_its_resource_and_follows_policy() {
    let f = fixture();
    seed(&f, "game").await;
    temporary_key(&f);
    let ops = operations("TK-TEMP");
    for (action, method, path, body, resource, ok_status) in &ops {
        let c = call(method, path, body.clone());
        let expected = (format!("appstream:{action}"), resource.to_string());
        let (status, e) = as_(&f, &f.nobody, &c).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action} for nobody: {e}");
        assert!(e["reason"].as_str().unwrap().contains(&expected.0), "{e}");
        assert_eq!(last_audited(&f), expected, "{action} audited");
        let (status, e) = as_(&f, &f.reader, &c).await;
        let read = action.starts_with("Get");
        assert_eq!(
            status == StatusCode::FORBIDDEN,
            !read,
            "{action} for read-only: {status} {e}"
        );
        let (status, e) = if read {
            (status, e)
        } else {
            as_(&f, &f.admin, &c).await
        };
        assert_eq!(status, *ok_status, "{action}: {e}");
        assert_eq!(last_audited(&f), expected, "{action} audited");

        // The simulator's matching says the same.
        let (template, captures) = match_route(path).unwrap();
        let params =
            RouteParams::from_captures(captures.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (matched_action, matched_resource) =
            action_and_resource(&method, template, &params, &body);
        assert_eq!(
            (matched_action.to_string(), matched_resource),
            expected,
            "{path}"
        );
    }
    // Percent-encoded captures name the decoded resource; a bodiless create is `*`.
    let (template, captures) = match_route("/api/principals/%61nn/policies/read-only").unwrap();
    let params =
        RouteParams::from_captures(captures.iter().map(|(n, v)| (*n, v.as_str()))).unwrap();
    assert_eq!(
        action_and_resource(&Method::PUT, template, &params, b"").1,
        "principal/ann"
    );
    let (template, _) = match_route("/api/users").unwrap();
    assert_eq!(
        action_and_resource(&Method::POST, template, &RouteParams::default(), b"{}"),
        ("appstream:CreateUser", "user/*".to_string())
    );
    assert!(RouteParams::from_captures([("user", "a/b")]).is_err());
}

#[tokio::test]
async fn users_are_listed_changed_and_refused_in_words() {
    let f = fixture();
    seed(&f, "game").await;
    f.plane
        .store
        .create_principal("robot", PrincipalKind::Role, T0)
        .unwrap();
    let (status, list) = admin(&f, "GET", "/api/users", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "nobody", "reader"], "users, not roles");
    assert_eq!(list["users"][0]["policies"], json!(["full-access"]));

    let (status, ann) = admin(
        &f,
        "POST",
        "/api/users",
        json!({"name": "ann", "password": "twelve chars"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ann}");
    assert_eq!(ann["has_password"], true);
    assert_eq!(ann["has_totp"], false);
    let (status, e) = admin(&f, "POST", "/api/users", json!({"name": "ann"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        e["reason"].as_str().unwrap().contains("already exists"),
        "{e}"
    );
    let (status, e) = admin(&f, "POST", "/api/users", json!({"name": "robot"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (status, e) = admin(&f, "POST", "/api/users", json!({"name": "bad name"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, e) = admin(
        &f,
        "POST",
        "/api/users",
        json!({"name": "bob", "colour": 1}),
    )
    .await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_field"))
    );
    let (status, e) = admin(
        &f,
        "POST",
        "/api/users",
        json!({"name": "bob", "password": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["reason"].as_str().unwrap().contains("at least 12"), "{e}");
    assert!(f.plane.store.principal("bob").is_err(), "not half made");

    let (status, e) = admin(&f, "GET", "/api/users/nemo", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("user nemo does not exist"),
        "{e}"
    );
    let (status, e) = admin(&f, "GET", "/api/users/robot", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a role is not a user: {e}");
    let (status, _) = admin(
        &f,
        "PUT",
        "/api/users/nemo/password",
        json!({"password": "long enough password"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = admin(
        &f,
        "PUT",
        "/api/users/ann/password",
        json!({"password": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(e["reason"].as_str().unwrap().contains("empty"), "{e}");
    let (status, _) = admin(&f, "PUT", "/api/users/ann/password", Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no body");

    // TOTP: only with a code that matches the key; the code cannot sign in later.
    let secret = passwords::new_totp_secret();
    let now = f.clock.now();
    let right = passwords::totp_code(&secret, now).unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let c = call(
        "PUT",
        "/api/users/ann/totp",
        json!({"secret": secret, "code": wrong}),
    );
    let (status, e) = as_(&f, &f.admin, &c).await;
    if passwords::totp_step(&secret, wrong, now).is_none() {
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains("the code does not match"),
            "{e}"
        );
        assert!(!f.plane.store.principal("ann").unwrap().has_totp);
    }
    let c = call(
        "PUT",
        "/api/users/ann/totp",
        json!({"secret": "not base32!", "code": right}),
    );
    let (status, e) = as_(&f, &f.admin, &c).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let c = call(
        "PUT",
        "/api/users/ann/totp",
        json!({"secret": secret, "code": right}),
    );
    let (status, ann) = as_(&f, &f.admin, &c).await;
    assert_eq!(status, StatusCode::OK, "{ann}");
    assert_eq!(ann["has_totp"], true);
    let step = passwords::totp_step(&secret, &right, now).unwrap();
    assert!(
        !f.plane.store.claim_totp_step("ann", step).unwrap(),
        "the confirmation code is used"
    );

    // Entitlements and attachments name what is missing.
    let (status, e) = admin(&f, "PUT", "/api/users/ann/entitlements/nope", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(e["reason"].as_str().unwrap().contains("nope"), "{e}");
    let (status, ann) = admin(&f, "PUT", "/api/users/ann/entitlements/game", Value::Null).await;
    assert_eq!(
        (status, &ann["entitlements"]),
        (StatusCode::OK, &json!(["game"]))
    );
    let (status, _) = admin(
        &f,
        "DELETE",
        "/api/users/ann/entitlements/demo",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not entitled");
    let (status, e) = admin(&f, "PUT", "/api/principals/ann/policies/nope", Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("policy nope does not exist"),
        "{e}"
    );
    let (status, e) = admin(
        &f,
        "PUT",
        "/api/principals/nemo/policies/read-only",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let (status, attached) = admin(
        &f,
        "PUT",
        "/api/principals/robot/policies/read-only",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "roles too");
    assert_eq!(
        attached,
        json!({"principal": "robot", "policies": ["read-only"]})
    );
    let (status, _) = admin(
        &f,
        "DELETE",
        "/api/principals/ann/policies/read-only",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not attached");

    // A disabled user's keys stop working; nobody disables itself.
    let (status, e) = admin(
        &f,
        "PUT",
        "/api/users/admin/state",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (status, reader) = admin(
        &f,
        "PUT",
        "/api/users/reader/state",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        (status, &reader["enabled"]),
        (StatusCode::OK, &json!(false))
    );
    let (status, e) = as_(&f, &f.reader, &call("GET", "/api/users", Value::Null)).await;
    assert_eq!(
        (status, e["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("principal_disabled"))
    );
    let (status, e) = admin(
        &f,
        "PUT",
        "/api/users/reader/state",
        json!({"enabled": "no"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn keys_never_show_a_secret_but_once_and_temporary_ones_do_not_rotate() {
    let f = fixture();
    temporary_key(&f);
    let (status, list) = as_(&f, &f.reader, &call("GET", "/api/keys", Value::Null)).await;
    assert_eq!(status, StatusCode::OK);
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    assert!(!list.to_string().contains(&f.admin.secret) && !list.to_string().contains("secret"));
    let temp = keys.iter().find(|k| k["key_id"] == "TK-TEMP").unwrap();
    assert_eq!(temp["temporary"], true);
    assert!(
        temp["expires_at"].as_str().unwrap().starts_with("20"),
        "{temp}"
    );

    let c = call("POST", "/api/keys", json!({"principal": "nobody"}));
    let (status, created) = as_(&f, &f.admin, &c).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key_id = created["key_id"].as_str().unwrap().to_string();
    let stored = f.plane.store.key(&key_id).unwrap();
    assert_eq!(created["secret"].as_str().unwrap(), stored.secret);
    assert_eq!(stored.principal, "nobody");
    let (status, e) = as_(
        &f,
        &f.admin,
        &call("POST", "/api/keys", json!({"principal": "nemo"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    let (status, _) = as_(&f, &f.admin, &call("POST", "/api/keys", json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let path = format!("/api/keys/{key_id}/rotate");
    let (status, rotated) = as_(&f, &f.admin, &call("POST", &path, Value::Null)).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    assert_eq!(rotated["principal"], "nobody");
    assert_ne!(rotated["key_id"].as_str().unwrap(), key_id);
    assert!(
        f.plane.store.key(&key_id).unwrap().active,
        "the old key stays active"
    );
    let (status, e) = as_(
        &f,
        &f.admin,
        &call("POST", "/api/keys/TK-TEMP/rotate", Value::Null),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(e["reason"].as_str().unwrap().contains("temporary"), "{e}");

    let path = format!("/api/keys/{key_id}/state");
    let (status, key) = as_(&f, &f.admin, &call("PUT", &path, json!({"active": false}))).await;
    assert_eq!((status, &key["active"]), (StatusCode::OK, &json!(false)));
    assert!(key.get("secret").is_none());
    let (status, _) = as_(
        &f,
        &f.admin,
        &call("PUT", "/api/keys/AKNONE/state", json!({"active": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = as_(
        &f,
        &f.admin,
        &call("POST", "/api/keys/AKNONE/rotate", Value::Null),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
