//! The store suite: both backends behave the same. Each case runs on SQLite
//! (a file in a temporary directory) and on PostgreSQL (a fresh database in
//! a private cluster started once per run; `scripts/setup` installs the
//! server).

#![allow(clippy::unwrap_used)] // test helpers, not only #[test] functions

use std::sync::{Arc, OnceLock};

use common::api::{ApplicationState, NewApplication, SessionState};
use host::control_plane::store::postgres::cluster::PrivateCluster;
use host::control_plane::store::*;

/// No per-user cap on pending entitlements (the tests of other limits).
const NO_CAP: u32 = u32::MAX;

/// One database of one backend; `open` connects to it again, as another
/// host (or another process) would.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Database {
    fn sqlite() -> Self {
        Database::Sqlite(tempfile::tempdir().expect("a temporary directory"))
    }

    fn postgres() -> Self {
        static CLUSTER: OnceLock<PrivateCluster> = OnceLock::new();
        let cluster =
            CLUSTER.get_or_init(|| PrivateCluster::start(&[]).expect("a private cluster"));
        Database::Postgres(cluster.new_database().expect("a database"))
    }

    fn open(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(dir) => Arc::new(SqliteStore::open_in(dir.path()).expect("open")),
            Database::Postgres(url) => Arc::new(
                PostgresStore::connect(
                    url,
                    host::control_plane::store::postgres::DEFAULT_CONNECTIONS,
                )
                .expect("connect"),
            ),
        }
    }
}

/// Each case once per backend: `on_sqlite::case` and `on_postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $case() {
                super::$case(&super::Database::sqlite());
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $case() {
                super::$case(&super::Database::postgres());
            })*
        }
    };
}

on_both_backends!(
    entitlement_tokens_are_single_use_and_expire,
    disabled_applications_refuse_sessions_and_pending_ones_expire,
    two_hosts_racing_create_session_never_exceed_max_sessions,
    a_token_redeemed_at_two_hosts_at_once_is_redeemed_once,
    deleting_an_application_with_live_sessions_is_refused,
    attaching_to_a_missing_principal_says_so,
    refresh_tokens_are_single_use_expire_and_die_with_a_new_password,
    a_reused_refresh_token_revokes_its_whole_chain,
    a_totp_step_is_claimed_once_and_never_an_older_one,
    a_user_holds_at_most_the_cap_of_pending_entitlements,
    audit_fields_are_bounded_and_retention_prunes,
    a_disabled_principal_keeps_its_data_and_its_sign_ins_stop,
    applications_round_trip_with_their_errors,
    keys_policies_and_entitlements_round_trip,
    the_audit_search_filters_and_pages,
    a_nonce_is_claimed_once_across_hosts_until_it_ages_out,
    sign_in_failures_are_seen_by_every_host_and_cleared_by_a_success,
    a_silent_host_is_lost_with_its_sessions_and_comes_back_with_a_beat,
    placement_fills_the_least_loaded_host_and_says_why_none_has_room,
    hosts_racing_to_place_never_pass_a_hosts_max_sessions,
);

fn app(name: &str, max_sessions: u32) -> NewApplication {
    let mut new: NewApplication = serde_json::from_str(&format!(r#"{{"name":"{name}"}}"#)).unwrap();
    new.max_sessions = max_sessions;
    new
}

/// Two hosts (two connections to one database), 32 clients each, all
/// minting entitlements to one application at once.
fn two_hosts_racing_create_session_never_exceed_max_sessions(db: &Database) {
    let hosts = [db.open(), db.open()];
    hosts[0].create_application(&app("game", 5), 0).unwrap();
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let store = hosts[i % 2].clone();
            std::thread::spawn(move || {
                (0..4)
                    .filter(|j| {
                        store
                            .create_session("game", "u", &format!("t{i}-{j}"), 1, 100, NO_CAP)
                            .is_ok()
                    })
                    .count()
            })
        })
        .collect();
    let created: usize = clients.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(created, 5);
    let status = hosts[1].application_status("game", 1).unwrap();
    assert_eq!(status.pending_sessions, 5);
    assert!(!status.accepting_sessions);
}

fn a_token_redeemed_at_two_hosts_at_once_is_redeemed_once(db: &Database) {
    let hosts = [db.open(), db.open()];
    hosts[0].create_application(&app("game", 64), 0).unwrap();
    for round in 0..16 {
        let token = format!("token-{round}");
        hosts[0]
            .create_session("game", "u", &token, 1, 100, NO_CAP)
            .unwrap();
        let racers: Vec<_> = hosts
            .iter()
            .map(|store| {
                let (store, token) = (store.clone(), token.clone());
                std::thread::spawn(move || store.redeem(&token, 2).unwrap().is_ok())
            })
            .collect();
        let redeemed = racers
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|won| *won)
            .count();
        assert_eq!(redeemed, 1, "round {round}");
    }
}

fn applications_round_trip_with_their_errors(db: &Database) {
    let store = db.open();
    let mut new = app("racer", 3);
    new.description = "A racing game".into();
    new.args = vec!["--fast".into(), "two words".into()];
    new.stream.bitrate_kbps = Some(8_000);
    let created = store.create_application(&new, 100).unwrap();
    assert_eq!(created.args, new.args);
    assert_eq!(created.stream.bitrate_kbps, Some(8_000));
    assert!(matches!(
        store.create_application(&new, 101),
        Err(StoreError::Conflict(_))
    ));
    let patch = common::api::ApplicationPatch {
        description: Some("Faster".into()),
        max_sessions: Some(7),
        ..Default::default()
    };
    let updated = store.update_application("racer", &patch, 200).unwrap();
    assert_eq!(
        (updated.description.as_str(), updated.max_sessions),
        ("Faster", 7)
    );
    assert_eq!(updated.args, new.args);
    let disabled = store
        .set_application_state("racer", ApplicationState::Disabled, 300)
        .unwrap();
    assert_eq!(disabled.state, ApplicationState::Disabled);
    assert_eq!(store.applications().unwrap().len(), 1);
    let error = NewApplicationError {
        application: "racer".into(),
        kind: "exit".into(),
        message: "exited with 3".into(),
        exit_status: Some(3),
        stderr_tail: Some("boom".into()),
        ..Default::default()
    };
    let id = store.record_application_error(&error, 400).unwrap();
    let errors = store.application_errors("racer").unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(store.application_error("racer", id).unwrap(), errors[0]);
    assert_eq!(errors[0].exit_status, Some(3));
    assert_eq!(
        store.application_status("racer", 400).unwrap().error_count,
        1
    );
    assert!(matches!(
        store.application_error("racer", id + 1),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.update_application("ghost", &patch, 1),
        Err(StoreError::NotFound(_))
    ));
}

fn keys_policies_and_entitlements_round_trip(db: &Database) {
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

fn the_audit_search_filters_and_pages(db: &Database) {
    let store = db.open();
    for at in 0..20 {
        store
            .audit(&AuditEntry {
                at,
                principal: Some(if at % 2 == 0 { "ann" } else { "bob" }.into()),
                method: "GET".into(),
                path: "/api".into(),
                action: Some("appstream:GetApplications".into()),
                decision: if at % 5 == 0 { "deny" } else { "allow" }.into(),
                status: 200,
                ..Default::default()
            })
            .unwrap();
    }
    let query = |q: AuditQuery| store.audit_search(&AuditQuery { limit: 100, ..q }).unwrap();
    let ann = query(AuditQuery {
        principal: Some("ann".into()),
        ..Default::default()
    });
    assert_eq!(ann.len(), 10);
    assert!(ann.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
    let denied = query(AuditQuery {
        decision: Some("deny".into()),
        since: Some(5),
        until: Some(15),
        ..Default::default()
    });
    assert_eq!(
        denied.iter().map(|(_, e)| e.at).collect::<Vec<_>>(),
        [15, 10, 5]
    );
    let page = store
        .audit_search(&AuditQuery {
            limit: 5,
            ..Default::default()
        })
        .unwrap();
    let older = query(AuditQuery {
        before: Some(page[4].0),
        ..Default::default()
    });
    assert_eq!(older.len(), 15);
    assert_eq!(older[0].1.at, 14);
}

fn entitlement_tokens_are_single_use_and_expire(db: &Database) {
    let store = db.open();
    store.create_application(&app("game", 4), 0).unwrap();
    store
        .create_session("game", "u", "a", 0, 60, NO_CAP)
        .unwrap();
    store
        .create_session("game", "u", "b", 0, 60, NO_CAP)
        .unwrap();
    assert!(store.redeem("a", 10).unwrap().is_ok());
    assert_eq!(
        store.redeem("a", 11).unwrap().unwrap_err(),
        RedeemError::AlreadyUsed
    );
    assert_eq!(
        store.redeem("b", 60).unwrap().unwrap_err(),
        RedeemError::Expired
    );
    assert_eq!(
        store.redeem("b", 61).unwrap().unwrap_err(),
        RedeemError::Expired
    );
    store
        .create_session("game", "u", "c", 0, 60, NO_CAP)
        .unwrap();
    store.expire_pending(60).unwrap();
    assert_eq!(
        store.redeem("c", 61).unwrap().unwrap_err(),
        RedeemError::Expired
    );
    assert_eq!(
        store.redeem("zzz", 10).unwrap().unwrap_err(),
        RedeemError::Unknown
    );
}

fn disabled_applications_refuse_sessions_and_pending_ones_expire(db: &Database) {
    let store = db.open();
    store.create_application(&app("game", 4), 0).unwrap();
    store
        .create_session("game", "u", "a", 0, 60, NO_CAP)
        .unwrap();
    assert_eq!(store.expire_pending(59).unwrap(), 0);
    assert_eq!(store.expire_pending(60).unwrap(), 1);
    store
        .set_application_state("game", ApplicationState::Disabled, 1)
        .unwrap();
    assert!(matches!(
        store.create_session("game", "u", "b", 61, 120, NO_CAP),
        Err(StoreError::ApplicationDisabled(_))
    ));
}

fn deleting_an_application_with_live_sessions_is_refused(db: &Database) {
    let store = db.open();
    store.create_application(&app("game", 4), 0).unwrap();
    let s = store
        .create_session("game", "u", "a", 0, 60, NO_CAP)
        .unwrap();
    assert!(matches!(
        store.delete_application("game"),
        Err(StoreError::Conflict(_))
    ));
    store
        .terminate_session(&s.id, "admin_terminated", 1)
        .unwrap()
        .unwrap();
    assert!(
        store
            .terminate_session(&s.id, "again", 2)
            .unwrap()
            .is_none()
    );
    store.delete_application("game").unwrap();
    assert!(matches!(
        store.application("game"),
        Err(StoreError::NotFound(_))
    ));
}

fn attaching_to_a_missing_principal_says_so(db: &Database) {
    let store = db.open();
    store.put_policy("p", "{}", 0).unwrap();
    assert!(matches!(
        store.attach_policy("ghost", "p"),
        Err(StoreError::NotFound(_))
    ));
}

fn refresh_tokens_are_single_use_expire_and_die_with_a_new_password(db: &Database) {
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

fn a_reused_refresh_token_revokes_its_whole_chain(db: &Database) {
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

fn a_totp_step_is_claimed_once_and_never_an_older_one(db: &Database) {
    let store = db.open();
    store
        .create_principal("alice", PrincipalKind::User, 0)
        .unwrap();
    assert!(store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 99).unwrap());
    assert!(store.claim_totp_step("alice", 101).unwrap());
}

fn a_user_holds_at_most_the_cap_of_pending_entitlements(db: &Database) {
    let store = db.open();
    store.create_application(&app("game", 10), 0).unwrap();
    store.create_application(&app("chess", 10), 0).unwrap();
    store.create_session("game", "u", "a", 0, 60, 2).unwrap();
    store.create_session("chess", "u", "b", 0, 60, 2).unwrap();
    assert!(matches!(
        store.create_session("game", "u", "c", 0, 60, 2),
        Err(StoreError::TooManyPending { max_pending: 2, .. })
    ));
    store
        .create_session("game", "other", "d", 0, 60, 2)
        .unwrap();
    // Expired ones do not count.
    store.create_session("game", "u", "e", 61, 120, 2).unwrap();
}

fn audit_fields_are_bounded_and_retention_prunes(db: &Database) {
    let store = db.open();
    for at in 0..10 {
        store
            .audit(&AuditEntry {
                at,
                principal: Some("x".repeat(2 << 20)),
                method: "POST".into(),
                path: "/entitlement/signin".into(),
                decision: "signin_failed".into(),
                status: 401,
                ..Default::default()
            })
            .unwrap();
    }
    let newest = store.audit_log(1).unwrap().remove(0);
    let principal = newest.principal.unwrap();
    assert!(principal.len() <= 64 + 24, "{}", principal.len());
    assert!(principal.contains("…#"));
    assert_eq!(store.prune_audit(5, 2).unwrap(), 2 + 3);
    assert_eq!(store.audit_rows().unwrap(), 5);
}

fn a_disabled_principal_keeps_its_data_and_its_sign_ins_stop(db: &Database) {
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

fn a_nonce_is_claimed_once_across_hosts_until_it_ages_out(db: &Database) {
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
}

fn sign_in_failures_are_seen_by_every_host_and_cleared_by_a_success(db: &Database) {
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

fn beat(id: &str, live_sessions: u32) -> Heartbeat {
    Heartbeat {
        id: id.into(),
        address: format!("{id}.lan:47990"),
        fingerprint: "ab".repeat(32),
        max_sessions: 2,
        live_sessions,
        cpu_pct: 12.5,
        applications: vec!["game".into()],
    }
}

fn a_silent_host_is_lost_with_its_sessions_and_comes_back_with_a_beat(db: &Database) {
    let hosts = [db.open(), db.open()];
    hosts[0].create_application(&app("game", 8), 0).unwrap();
    hosts[0].heartbeat(&beat("h-a", 0), 100).unwrap();
    hosts[1].heartbeat(&beat("h-b", 0), 100).unwrap();
    // One session streams from each host; one more is only minted.
    let mut sessions = Vec::new();
    for (token, host) in [("ta", Some("h-a")), ("tb", Some("h-b")), ("tc", None)] {
        let session = hosts[0]
            .create_session("game", "u", token, 100, 160, NO_CAP)
            .unwrap();
        if let Some(host) = host {
            hosts[0].redeem(token, 101).unwrap().unwrap();
            hosts[0].set_session_host(&session.id, host).unwrap();
        }
        sessions.push(session.id);
    }
    hosts[1].heartbeat(&beat("h-b", 1), 104).unwrap();
    assert!(
        hosts[1].mark_lost_hosts(100, 104).unwrap().is_empty(),
        "heard at 100"
    );
    // h-a last beat at 100: silent since before 103, it is lost.
    assert_eq!(hosts[1].mark_lost_hosts(103, 106).unwrap(), ["h-a"]);
    assert!(
        hosts[0].mark_lost_hosts(103, 106).unwrap().is_empty(),
        "once"
    );
    let listed = hosts[0].hosts().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].state),
        ("h-a", common::api::HostState::Unavailable)
    );
    assert_eq!(listed[1].live_sessions, 1);
    assert_eq!(listed[1].applications, ["game"]);
    assert_eq!(listed[1].address, "h-b.lan:47990");
    let state = |id: &str| {
        let s = hosts[0].session("game", id).unwrap();
        (s.state, s.reason)
    };
    assert_eq!(
        state(&sessions[0]),
        (SessionState::Terminated, Some("host_lost".into()))
    );
    assert_eq!(state(&sessions[1]).0, SessionState::Active);
    assert_eq!(
        state(&sessions[2]).0,
        SessionState::Pending,
        "not placed yet"
    );
    assert_eq!(
        hosts[1].ended_among(&sessions).unwrap(),
        [(sessions[0].clone(), Some("host_lost".to_string()))],
        "what a host still streaming learns at its resync"
    );
    // It beats again: available; a restart ends what it streamed before.
    hosts[0].heartbeat(&beat("h-a", 0), 110).unwrap();
    assert_eq!(
        hosts[1].hosts().unwrap()[0].state,
        common::api::HostState::Available
    );
    assert_eq!(
        hosts[1]
            .end_sessions_on_host("h-b", "host_restart", 111)
            .unwrap(),
        1
    );
    assert_eq!(
        state(&sessions[1]),
        (SessionState::Terminated, Some("host_restart".into()))
    );
}

/// Mints a session for `game` and places it, as CreateSession does: the
/// host placed on.
fn mint_and_place(store: &dyn Store, token: &str, now: i64) -> Result<String, Unplaced> {
    mint_and_place_session(store, token, now).1
}

/// The same, with the session's id.
fn mint_and_place_session(
    store: &dyn Store,
    token: &str,
    now: i64,
) -> (String, Result<String, Unplaced>) {
    let session = store
        .create_session("game", "u", token, now, now + 60, NO_CAP)
        .unwrap();
    let placed = store
        .place_session(&session.id, "game", now - 6, now)
        .unwrap()
        .map(|host| host.id);
    (session.id, placed)
}

fn placement_fills_the_least_loaded_host_and_says_why_none_has_room(db: &Database) {
    let store = db.open();
    store.create_application(&app("game", 100), 0).unwrap();
    assert_eq!(
        mint_and_place(store.as_ref(), "t0", 100),
        Err(Unplaced { running_it: 0 }),
        "no host yet"
    );
    for id in ["h-a", "h-b", "h-c"] {
        store.heartbeat(&beat(id, 0), 100).unwrap();
    }
    // h-d runs something else; h-e has not been heard for long.
    store
        .heartbeat(
            &Heartbeat {
                applications: vec!["chess".into()],
                ..beat("h-d", 0)
            },
            100,
        )
        .unwrap();
    store.heartbeat(&beat("h-e", 0), 50).unwrap();
    let (first, _) = mint_and_place_session(store.as_ref(), "t1", 100);
    let placed: Vec<_> = (2..=6)
        .map(|i| mint_and_place(store.as_ref(), &format!("t{i}"), 100).unwrap())
        .collect();
    assert_eq!(store.placed_host("t1").unwrap().as_deref(), Some("h-a"));
    assert_eq!(
        placed,
        ["h-b", "h-c", "h-a", "h-b", "h-c"],
        "least loaded first"
    );
    assert_eq!(
        mint_and_place(store.as_ref(), "t7", 100),
        Err(Unplaced { running_it: 3 })
    );
    assert_eq!(
        Unplaced { running_it: 3 }.to_string(),
        "the 3 available host(s) that run the application are at their --max-sessions"
    );
    let refused = store
        .sessions("game")
        .unwrap()
        .into_iter()
        .filter(|s| s.reason.as_deref() == Some("no_capacity"))
        .count();
    assert_eq!(refused, 2, "a refused session ends and does not count");
    assert_eq!(store.placed_host("t4").unwrap().as_deref(), Some("h-a"));
    assert_eq!(store.placed_host("t0").unwrap(), None);
    // An ended session frees its host's seat.
    store.terminate_session(&first, "user_quit", 101).unwrap();
    assert_eq!(
        mint_and_place(store.as_ref(), "t8", 101).as_deref(),
        Ok("h-a")
    );
}

/// Two hosts (connections), 32 clients each, placing at once on three
/// hosts of two seats: six placed, never a third on one host.
fn hosts_racing_to_place_never_pass_a_hosts_max_sessions(db: &Database) {
    let hosts = [db.open(), db.open()];
    hosts[0].create_application(&app("game", 1_000), 0).unwrap();
    for id in ["h-a", "h-b", "h-c"] {
        hosts[0].heartbeat(&beat(id, 0), 100).unwrap();
    }
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let store = hosts[i % 2].clone();
            std::thread::spawn(move || mint_and_place(store.as_ref(), &format!("r{i}"), 100).ok())
        })
        .collect();
    let mut placed: Vec<String> = clients
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    placed.sort();
    assert_eq!(placed, ["h-a", "h-a", "h-b", "h-b", "h-c", "h-c"]);
}

/// Three hosts starting at once on an empty database: each connects,
/// migrates and seeds it (bootstrap), and the database holds one of each.
#[test]
fn three_hosts_starting_at_once_migrate_and_seed_once() {
    let Database::Postgres(url) = Database::postgres() else {
        unreachable!()
    };
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let data_dir = tempfile::tempdir().unwrap();
                let store = PostgresStore::connect(&url, 2).unwrap();
                let stream = common::api::StreamDefaults {
                    width: 320,
                    height: 180,
                    fps: 30,
                    bitrate_kbps: None,
                };
                host::control_plane::bootstrap::ensure(&store, data_dir.path(), &stream, 100)
                    .unwrap();
                let admin_key = data_dir
                    .path()
                    .join(host::control_plane::bootstrap::ADMIN_KEY_FILE);
                assert!(admin_key.exists(), "each host has its own admin key file");
                store
            })
        })
        .collect();
    let stores: Vec<_> = starts.into_iter().map(|s| s.join().unwrap()).collect();
    let store = &stores[0];
    assert_eq!(
        store.applications().unwrap().len(),
        1,
        "one demo application"
    );
    let names: Vec<_> = store
        .principals()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["admin", "demo", "entitlement-service", "machine-role"],
        "each principal once"
    );
    assert_eq!(
        store.keys(Some("admin")).unwrap().len(),
        3,
        "a key per host"
    );
}
