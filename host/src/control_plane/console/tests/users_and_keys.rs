//! The Users and Keys pages through the console's router: an administrator
//! adds a user, sets its password, entitles it, turns its authenticator on
//! (a wrong code first) and disables it (which signs it out); a read-only
//! user sees no buttons and its posts change nothing; a new key's secret
//! is shown once; a form without its CSRF token is refused.

use super::*;
use crate::control_plane::bootstrap::create_access_key;
use crate::control_plane::store::AccessKey;

/// The form fields as `post` takes them.
fn form<'a>(fields: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A 6-digit code that is none of the codes valid around `now`.
fn wrong_code(secret: &str, now: i64) -> String {
    let valid: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| passwords::totp_code(secret, *t).unwrap())
        .collect();
    (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

#[tokio::test]
async fn an_administrator_adds_a_user_and_changes_everything_about_it() {
    let h = harness();
    let (ada, _) = enrol(&h, "ada", true).await;
    let (response, page) = get(&h.router, "/console/users", &ada).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(
        page.contains("data-user=\"ada\"") && page.contains(">Add user<"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/console/users\""),
        "the nav link: {page}"
    );
    let csrf = field(&page, "csrf");

    // Added without a password; a second time is a conflict in words.
    let add = [("csrf", csrf.clone()), ("name", "bea".into())];
    let (response, _) = post(&h.router, "/console/users", &ada, &form(&add)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/users");
    let bea = h.store.principal("bea").unwrap();
    assert!(bea.enabled && !bea.has_password && !bea.has_totp);
    let (response, page) = post(&h.router, "/console/users", &ada, &form(&add)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already exists"), "{page}");

    // A short password is refused in words; a long one is set.
    let password = "/console/users/bea/password";
    let short = [("csrf", csrf.clone()), ("password", "short".into())];
    let (response, page) = post(&h.router, password, &ada, &form(&short)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("at least 12"), "{page}");
    let good = [
        ("csrf", csrf.clone()),
        ("password", "bea's long password".into()),
    ];
    let (response, _) = post(&h.router, password, &ada, &form(&good)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(h.store.principal("bea").unwrap().has_password);

    // Entitled to the demo; an unknown application is a 404 in words.
    let entitle = "/console/users/bea/entitlements";
    let demo = [("csrf", csrf.clone()), ("application", "demo".into())];
    let (response, _) = post(&h.router, entitle, &ada, &form(&demo)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.store.entitlements("bea").unwrap(), vec!["demo"]);
    let nope = [("csrf", csrf.clone()), ("application", "nope".into())];
    let (response, page) = post(&h.router, entitle, &ada, &form(&nope)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("does not exist"), "{page}");

    // A policy attached and detached.
    let attach = [
        ("csrf", csrf.clone()),
        ("policy", ADMINISTRATOR_POLICY.0.into()),
    ];
    let (response, _) = post(
        &h.router,
        "/console/users/bea/policies",
        &ada,
        &form(&attach),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.store.attached_policies("bea").unwrap().len(), 1);
    let (_, page) = get(&h.router, "/console/users", &ada).await;
    assert!(
        page.contains(">Detach<") && page.contains(">Revoke<"),
        "{page}"
    );
    let detach = format!(
        "/console/users/bea/policies/{}/detach",
        ADMINISTRATOR_POLICY.0
    );
    let (response, _) = post(&h.router, &detach, &ada, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(h.store.attached_policies("bea").unwrap().is_empty());

    // The authenticator: a wrong code keeps the page and its key.
    let (response, page) = get(&h.router, "/console/users/bea/totp", &ada).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(page.contains("<svg"), "a QR code: {page}");
    let secret = field(&page, "secret");
    let now = h.clock.now_unix_s();
    let wrong = [
        ("csrf", csrf.clone()),
        ("secret", secret.clone()),
        ("code", wrong_code(&secret, now)),
    ];
    let totp = "/console/users/bea/totp";
    let (response, page) = post(&h.router, totp, &ada, &form(&wrong)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("the code does not match"), "{page}");
    assert_eq!(field(&page, "secret"), secret, "the same key again");
    assert!(!h.store.principal("bea").unwrap().has_totp);
    let right = [
        ("csrf", csrf.clone()),
        ("secret", secret.clone()),
        ("code", passwords::totp_code(&secret, now).unwrap()),
    ];
    let (response, page) = post(&h.router, totp, &ada, &form(&right)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    assert!(h.store.principal("bea").unwrap().has_totp);
    let notice = cookie_pair(&set_cookie(&response, NOTICE_COOKIE).unwrap());
    let (_, page) = get(&h.router, "/console/users", &format!("{ada}; {notice}")).await;
    assert!(page.contains("The authenticator is on."), "{page}");

    // bea signs in; disabling bea signs it out, and it cannot sign in again.
    h.clock.advance(30);
    let code = passwords::totp_code(&secret, h.clock.now_unix_s()).unwrap();
    let (response, page) = sign_in(&h, "bea", "bea's long password", &code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{page}");
    let bea = cookie_pair(&set_cookie(&response, SESSION_COOKIE).unwrap());
    let (response, _) = get(&h.router, "/console", &bea).await;
    assert_eq!(response.status(), StatusCode::OK);
    let disable = [("csrf", csrf.clone()), ("enabled", "false".into())];
    let (response, _) = post(&h.router, "/console/users/bea/state", &ada, &form(&disable)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!h.store.principal("bea").unwrap().enabled);
    let (response, _) = get(&h.router, "/console", &bea).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/sign-in");
    h.clock.advance(30);
    let code = passwords::totp_code(&secret, h.clock.now_unix_s()).unwrap();
    let (response, _) = sign_in(&h, "bea", "bea's long password", &code).await;
    assert_ne!(response.status(), StatusCode::SEE_OTHER);

    // No Disable button for oneself, and the API refuses it anyway.
    let (_, page) = get(&h.router, "/console/users", &ada).await;
    let own_row = page.split("data-user=\"ada\"").nth(1).unwrap();
    let own_row = own_row.split("</tr>").next().unwrap();
    assert!(!own_row.contains(">Disable<"), "{own_row}");
    let (response, page) = post(&h.router, "/console/users/ada/state", &ada, &form(&disable)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{page}");
    assert!(h.store.principal("ada").unwrap().enabled);

    // Revoked and the authenticator turned off; all of it audited as ada.
    let revoke = "/console/users/bea/entitlements/demo/revoke";
    let (response, _) = post(&h.router, revoke, &ada, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(h.store.entitlements("bea").unwrap().is_empty());
    let off = "/console/users/bea/totp/disable";
    let (response, _) = post(&h.router, off, &ada, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!h.store.principal("bea").unwrap().has_totp);
    let audit = h.store.audit_log(200).unwrap();
    for action in [
        "CreateUser",
        "SetUserPassword",
        "EntitleUser",
        "AttachPolicy",
        "DetachPolicy",
        "EnableUserTotp",
        "UpdateUserState",
        "RevokeEntitlement",
        "DisableUserTotp",
    ] {
        let action = format!("appstream:{action}");
        assert!(
            audit.iter().any(|e| e.principal.as_deref() == Some("ada")
                && e.action.as_deref() == Some(action.as_str())
                && e.decision == "allow"),
            "{action} audited"
        );
    }
}

#[tokio::test]
async fn a_read_only_user_sees_users_and_keys_without_buttons_and_changes_nothing() {
    let h = harness();
    let (_, _) = enrol(&h, "ada", true).await;
    let rory = signed_in_read_only(&h).await;
    let (response, page) = get(&h.router, "/console/users", &rory).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(page.contains("data-user=\"ada\""), "{page}");
    for button in [
        ">Add user<",
        ">Set password<",
        ">Disable<",
        ">Entitle<",
        ">Attach<",
        ">Detach<",
        "Set up authenticator",
        "Turn off authenticator",
    ] {
        assert!(!page.contains(button), "no {button}: {page}");
    }
    let csrf = field(&page, "csrf");
    let before = h.store.credentials("ada").unwrap().password_hash;
    let fields = [
        ("csrf", csrf.clone()),
        ("password", "rory owns ada now".into()),
    ];
    let (response, page) = post(
        &h.router,
        "/console/users/ada/password",
        &rory,
        &form(&fields),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("may not perform appstream:SetUserPassword"),
        "{page}"
    );
    assert_eq!(h.store.credentials("ada").unwrap().password_hash, before);
    let add = [("csrf", csrf.clone()), ("name", "mallory".into())];
    let (response, _) = post(&h.router, "/console/users", &rory, &form(&add)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.principal("mallory").is_err());
    let attach = [
        ("csrf", csrf.clone()),
        ("policy", ADMINISTRATOR_POLICY.0.into()),
    ];
    let (response, _) = post(
        &h.router,
        "/console/users/rory/policies",
        &rory,
        &form(&attach),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.store.attached_policies("rory").unwrap().len(), 1);

    // Keys: listed, no buttons, the post refused.
    create_access_key(h.store.as_ref(), "ada", START).unwrap();
    let (response, page) = get(&h.router, "/console/keys", &rory).await;
    assert_eq!(response.status(), StatusCode::OK, "{page}");
    assert!(page.contains("data-key=\"AK"), "{page}");
    for button in [">Create key<", ">Rotate<", ">Deactivate<"] {
        assert!(!page.contains(button), "no {button}: {page}");
    }
    let create = [("csrf", csrf.clone()), ("principal", "rory".into())];
    let (response, page) = post(&h.router, "/console/keys", &rory, &form(&create)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
    assert!(h.store.keys(Some("rory")).unwrap().is_empty());
}

#[tokio::test]
async fn a_new_key_shows_its_secret_once_and_rotation_keeps_the_old_one() {
    let h = harness();
    let (ada, _) = enrol(&h, "ada", true).await;
    let (_, page) = get(&h.router, "/console/keys", &ada).await;
    assert!(page.contains(">Create key<"), "{page}");
    let csrf = field(&page, "csrf");
    let create = [("csrf", csrf.clone()), ("principal", "ada".into())];
    let (response, page) = post(&h.router, "/console/keys", &ada, &form(&create)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{page}");
    assert!(page.contains("it is not shown again"), "{page}");
    let keys = h.store.keys(Some("ada")).unwrap();
    assert_eq!(keys.len(), 1);
    let first = keys[0].clone();
    assert!(page.contains(&first.secret) && page.contains(&first.key_id));
    assert!(
        set_cookie(&response, NOTICE_COOKIE).is_none(),
        "not in a cookie"
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");

    let (_, page) = get(&h.router, "/console/keys", &ada).await;
    assert!(page.contains(&first.key_id), "{page}");
    assert!(!page.contains(&first.secret), "never again: {page}");

    let rotate = format!("/console/keys/{}/rotate", first.key_id);
    let (response, page) = post(&h.router, &rotate, &ada, &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{page}");
    let keys = h.store.keys(Some("ada")).unwrap();
    assert_eq!(keys.len(), 2);
    let second = keys.iter().find(|k| k.key_id != first.key_id).unwrap();
    assert!(page.contains(&second.secret) && !page.contains(&first.secret));
    assert!(keys.iter().all(|k| k.active), "the old key stays active");

    let state = format!("/console/keys/{}/state", first.key_id);
    let off = [("csrf", csrf.clone()), ("active", "false".into())];
    let (response, _) = post(&h.router, &state, &ada, &form(&off)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(!h.store.key(&first.key_id).unwrap().active);
    let (_, page) = get(&h.router, "/console/keys", &ada).await;
    assert!(page.contains(">Activate<"), "{page}");

    // A temporary key is listed without Rotate, and rotating it is refused.
    h.store
        .create_key(&AccessKey {
            key_id: "TK0001".into(),
            principal: "ada".into(),
            secret: "temporary secret".into(),
            active: true,
            created_at: START,
            expires_at: Some(START + 3600),
            session_token: Some("token".into()),
        })
        .unwrap();
    let (_, page) = get(&h.router, "/console/keys", &ada).await;
    let row = page.split("data-key=\"TK0001\"").nth(1).unwrap();
    let row = row.split("</tr>").next().unwrap();
    assert!(
        row.contains("Temporary") && !row.contains(">Rotate<"),
        "{row}"
    );
    let (response, page) = post(
        &h.router,
        "/console/keys/TK0001/rotate",
        &ada,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "{page}");
    assert_eq!(h.store.keys(Some("ada")).unwrap().len(), 3);
}

#[tokio::test]
async fn users_and_keys_forms_without_their_csrf_token_are_refused() {
    let h = harness();
    let (ada, _) = enrol(&h, "ada", true).await;
    let add = [("csrf", "forged".to_string()), ("name", "bea".into())];
    let (response, _) = post(&h.router, "/console/users", &ada, &form(&add)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.principal("bea").is_err());
    let (response, _) = post(&h.router, "/console/users", &ada, &[("name", "bea")]).await;
    assert!(response.status().is_client_error(), "no token at all");
    assert!(h.store.principal("bea").is_err());
    let create = [("csrf", String::new()), ("principal", "ada".into())];
    let (response, _) = post(&h.router, "/console/keys", &ada, &form(&create)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(h.store.keys(Some("ada")).unwrap().is_empty());
    // Signed out: to the sign-in page, nothing changed.
    let (response, _) = post(&h.router, "/console/keys", "", &form(&create)).await;
    assert_eq!(location(&response), "/console/sign-in");
}
