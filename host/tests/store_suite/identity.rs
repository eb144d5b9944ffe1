//! Principals, keys, policies, entitlements, sign-in and refresh tokens,
//! TOTP steps, and the guards a fleet shares (nonces, sign-in failures).

use super::*;

pub(super) fn keys_policies_and_entitlements_round_trip(db: &Database) {
    let store = db.open();
    store
        .create_principal("ops", PrincipalKind::Role, 0)
        .unwrap();
    store
        .create_principal("ann", PrincipalKind::User, 0)
        .unwrap();
    assert!(matches!(
        store.create_principal("ann", PrincipalKind::User, 0),
        Err(StoreError::Conflict(_))
    ));
    let key = |id: &str, expires_at: Option<i64>| AccessKey {
        key_id: id.into(),
        principal: "ops".into(),
        secret: format!("secret of {id}"),
        active: true,
        created_at: 5,
        expires_at,
        session_token: expires_at.map(|_| "session".into()),
    };
    store.create_key(&key("AKIA1", None)).unwrap();
    store.create_key(&key("ASIA2", Some(50))).unwrap();
    assert!(matches!(
        store.create_key(&AccessKey {
            principal: "ghost".into(),
            ..key("AKIA3", None)
        }),
        Err(StoreError::NotFound(_))
    ));
    store.set_key_active("AKIA1", false).unwrap();
    assert!(!store.key("AKIA1").unwrap().active);
    assert_eq!(store.keys(Some("ops")).unwrap().len(), 2);
    assert_eq!(store.keys(None).unwrap().len(), 2);
    assert_eq!(store.purge_expired_keys(50).unwrap(), 1);
    store.delete_key("AKIA1").unwrap();
    assert!(matches!(store.key("AKIA1"), Err(StoreError::NotFound(_))));

    store.put_policy("b", "{}", 0).unwrap();
    store.put_policy("a", "{\"v\":1}", 0).unwrap();
    store.put_policy("a", "{\"v\":2}", 1).unwrap();
    assert_eq!(store.policy("a").unwrap(), "{\"v\":2}");
    assert_eq!(store.policy_names().unwrap(), ["a", "b"]);
    store.attach_policy("ann", "a").unwrap();
    store.attach_policy("ann", "a").unwrap();
    store.attach_policy("ann", "b").unwrap();
    assert_eq!(store.attached_policies("ann").unwrap().len(), 2);
    store.detach_policy("ann", "b").unwrap();
    assert!(matches!(
        store.detach_policy("ann", "b"),
        Err(StoreError::NotFound(_))
    ));

    store.entitle("ann", "racer").unwrap();
    store.entitle("ann", "chess").unwrap();
    assert_eq!(store.entitlements("ann").unwrap(), ["chess", "racer"]);
    store.revoke_entitlement("ann", "chess").unwrap();
    assert!(matches!(
        store.entitle("ghost", "racer"),
        Err(StoreError::NotFound(_))
    ));

    store.store_enrolment_token("e", "ann", 600).unwrap();
    assert_eq!(
        store.enrolment_token("e", 10).unwrap().as_deref(),
        Some("ann")
    );
    assert_eq!(store.enrolment_token("e", 600).unwrap(), None);
    store.revoke_enrolment_token("e").unwrap();
    assert_eq!(store.enrolment_token("e", 10).unwrap(), None);

    store
        .set_totp_secret("ann", Some("JBSWY3DPEHPK3PXP"))
        .unwrap();
    assert!(store.principal("ann").unwrap().has_totp);
    assert!(matches!(
        store.set_password_hash("ops", "roles have none"),
        Err(StoreError::NotFound(_))
    ));
    store.delete_principal("ann").unwrap();
    assert!(store.entitlements("ann").unwrap().is_empty());
    assert_eq!(store.principals().unwrap().len(), 1);
}

pub(super) fn attaching_to_a_missing_principal_says_so(db: &Database) {
    let store = db.open();
    store.put_policy("p", "{}", 0).unwrap();
    assert!(matches!(
        store.attach_policy("ghost", "p"),
        Err(StoreError::NotFound(_))
    ));
}

pub(super) fn refresh_tokens_are_single_use_expire_and_die_with_a_new_password(db: &Database) {
    let store = db.open();
    store
        .create_principal("alice", PrincipalKind::User, 0)
        .unwrap();
    store
        .store_refresh_token("r1", "alice", true, 100, "f1")
        .unwrap();
    store
        .store_refresh_token("r2", "alice", false, 100, "f2")
        .unwrap();
    store
        .store_refresh_token("r3", "alice", false, 100, "f3")
        .unwrap();
    assert_eq!(
        store.take_refresh_token("r1", 99).unwrap(),
        RefreshUse::Live {
            user: "alice".into(),
            mfa: true,
            family: "f1".into()
        }
    );
    assert_eq!(
        store.take_refresh_token("r2", 100).unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.take_refresh_token("nope", 0).unwrap(),
        RefreshUse::Invalid
    );
    store.revoke_refresh_token("r3").unwrap();
    assert_eq!(
        store.take_refresh_token("r3", 0).unwrap(),
        RefreshUse::Invalid
    );
    store
        .store_refresh_token("r4", "alice", false, 100, "f4")
        .unwrap();
    store.set_password_hash("alice", "new hash").unwrap();
    assert_eq!(
        store.take_refresh_token("r4", 0).unwrap(),
        RefreshUse::Invalid
    );
    assert!(matches!(
        store.store_refresh_token("r5", "ghost", false, 100, "f5"),
        Err(StoreError::Database(_) | StoreError::Postgres(_))
    ));

    store.store_signin_token("s1", "alice", false, 100).unwrap();
    assert!(store.signin_token("s1", 0).unwrap().is_some());
    store.revoke_signin_token("s1").unwrap();
    store.revoke_signin_token("s1").unwrap();
    assert!(store.signin_token("s1", 0).unwrap().is_none());
}

pub(super) fn a_reused_refresh_token_revokes_its_whole_chain(db: &Database) {
    let store = db.open();
    store
        .create_principal("alice", PrincipalKind::User, 0)
        .unwrap();
    store
        .store_refresh_token("first", "alice", false, 100, "chain")
        .unwrap();
    assert!(matches!(
        store.take_refresh_token("first", 1).unwrap(),
        RefreshUse::Live { .. }
    ));
    // The refresh issued the next token of the chain.
    store
        .store_refresh_token("second", "alice", false, 100, "chain")
        .unwrap();
    assert_eq!(
        store.take_refresh_token("first", 2).unwrap(),
        RefreshUse::Reused {
            user: "alice".into()
        }
    );
    assert_eq!(
        store.take_refresh_token("second", 3).unwrap(),
        RefreshUse::Invalid,
        "the chain is revoked"
    );
}

pub(super) fn a_totp_step_is_claimed_once_and_never_an_older_one(db: &Database) {
    let store = db.open();
    store
        .create_principal("alice", PrincipalKind::User, 0)
        .unwrap();
    assert!(store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 99).unwrap());
    assert!(store.claim_totp_step("alice", 101).unwrap());
}

pub(super) fn a_disabled_principal_keeps_its_data_and_its_sign_ins_stop(db: &Database) {
    let store = db.open();
    store
        .create_principal("ann", PrincipalKind::User, 100)
        .unwrap();
    store.set_password_hash("ann", "hash").unwrap();
    store.store_signin_token("t", "ann", true, 1_000).unwrap();
    assert!(store.principal("ann").unwrap().enabled);

    store.set_principal_enabled("ann", false).unwrap();
    let ann = store.principal("ann").unwrap();
    assert!(!ann.enabled && ann.has_password);
    assert!(!store.credentials("ann").unwrap().enabled);
    assert_eq!(store.signin_token("t", 200).unwrap(), None);

    store.set_principal_enabled("ann", true).unwrap();
    assert!(store.principal("ann").unwrap().enabled);
    assert_eq!(
        store.signin_token("t", 200).unwrap(),
        Some(("ann".to_string(), true))
    );
    assert!(matches!(
        store.set_principal_enabled("nobody", false),
        Err(StoreError::NotFound(_))
    ));
}

pub(super) fn a_nonce_is_claimed_once_across_hosts_until_it_ages_out(db: &Database) {
    let hosts = [db.open(), db.open()];
    let claims: Vec<_> = (0..8)
        .map(|i| {
            let store = hosts[i % 2].clone();
            std::thread::spawn(move || store.claim_nonce("abc", 100, 0).unwrap())
        })
        .collect();
    let won = claims
        .into_iter()
        .map(|t| t.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(won, 1, "one of eight claims of one nonce");
    assert!(hosts[1].claim_nonce("def", 100, 0).unwrap());
    assert!(
        !hosts[0].claim_nonce("abc", 300, 100).unwrap(),
        "still in the window"
    );
    assert!(hosts[0].claim_nonce("abc", 400, 301).unwrap(), "aged out");
    assert_eq!(hosts[1].forget_nonces(350).unwrap(), 1, "def, from 100");
    assert!(hosts[0].claim_nonce("def", 360, 0).unwrap(), "forgotten");
    assert!(!hosts[1].claim_nonce("abc", 360, 0).unwrap(), "kept");
}

pub(super) fn sign_in_failures_are_seen_by_every_host_and_cleared_by_a_success(db: &Database) {
    let hosts = [db.open(), db.open()];
    let subjects = |user: &str| vec![format!("user:{user}"), "address:10.0.0.9".to_string()];
    hosts[0]
        .record_signin_failure(&subjects("ann"), 10, 0)
        .unwrap();
    hosts[1]
        .record_signin_failure(&subjects("bob"), 20, 0)
        .unwrap();
    let seen = hosts[1].signin_failures(&subjects("ann"), 0).unwrap();
    let at = |subject: &str| -> Vec<i64> {
        seen.iter()
            .filter(|(s, _)| s == subject)
            .map(|(_, at)| *at)
            .collect()
    };
    assert_eq!(at("user:ann"), [10]);
    assert_eq!(at("address:10.0.0.9"), [10, 20], "both hosts' failures");
    assert_eq!(seen.len(), 3);
    assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "oldest first");
    assert_eq!(
        hosts[0]
            .signin_failures(&subjects("ann"), 15)
            .unwrap()
            .len(),
        1
    );
    hosts[0].clear_signin_failures("user:ann").unwrap();
    assert_eq!(
        hosts[1].signin_failures(&subjects("ann"), 0).unwrap().len(),
        2
    );
    hosts[0]
        .record_signin_failure(&subjects("cy"), 1_000, 500)
        .unwrap();
    assert_eq!(
        hosts[1].signin_failures(&subjects("bob"), 0).unwrap(),
        [("address:10.0.0.9".to_string(), 1_000)],
        "failures older than the window went"
    );
}
