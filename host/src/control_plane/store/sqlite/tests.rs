use std::sync::Arc;

use common::api::{ApplicationState, NewApplication, SessionState};

use super::*;
use crate::control_plane::store::*;

/// No per-user cap on pending entitlements (the tests of other limits).
const NO_CAP: u32 = u32::MAX;

fn app(name: &str, max_sessions: u32) -> NewApplication {
    let mut new: NewApplication = serde_json::from_str(&format!(r#"{{"name":"{name}"}}"#)).unwrap();
    new.max_sessions = max_sessions;
    new
}

#[test]
fn everything_survives_a_reopen_and_live_sessions_end_with_host_restart() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    {
        let store = SqliteStore::open_in(&dir).unwrap();
        store.create_application(&app("game", 2), 100).unwrap();
        store
            .create_principal("alice", PrincipalKind::User, 100)
            .unwrap();
        store.set_password_hash("alice", "hash").unwrap();
        store.entitle("alice", "game").unwrap();
        store.put_policy("p", "{}", 100).unwrap();
        store.attach_policy("alice", "p").unwrap();
        let s = store
            .create_session("game", "alice", "t1", 100, 160, NO_CAP)
            .unwrap();
        store.redeem("t1", 101).unwrap().unwrap();
        store
            .audit(&AuditEntry {
                at: 100,
                method: "GET".into(),
                path: "/api".into(),
                decision: "allow".into(),
                status: 200,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            store.session("game", &s.id).unwrap().state,
            SessionState::Active
        );
    }
    let store = SqliteStore::open_in(&dir).unwrap();
    assert_eq!(store.end_sessions_of_previous_run(200).unwrap(), 1);
    let sessions = store.sessions("game").unwrap();
    assert_eq!(sessions[0].state, SessionState::Terminated);
    assert_eq!(sessions[0].reason.as_deref(), Some("host_restart"));
    assert_eq!(store.entitlements("alice").unwrap(), vec!["game"]);
    assert_eq!(store.attached_policies("alice").unwrap().len(), 1);
    assert_eq!(store.audit_log(10).unwrap().len(), 1);
    assert!(store.credentials("alice").unwrap().password_hash.is_some());
    let mode = std::fs::metadata(dir.join(DATABASE_FILE)).unwrap();
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let _ = mode;
}

#[test]
fn entitlement_tokens_are_single_use_and_expire() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn disabled_applications_refuse_sessions_and_pending_ones_expire() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn concurrent_create_session_never_exceeds_max_sessions() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let store = Arc::new(SqliteStore::open_in(&dir).unwrap());
    store.create_application(&app("game", 5), 0).unwrap();
    // Another connection to the same file (another process would look the same).
    let other = Arc::new(SqliteStore::open_in(&dir).unwrap());
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 {
                store.clone()
            } else {
                other.clone()
            };
            std::thread::spawn(move || {
                (0..10)
                    .filter(|j| {
                        store
                            .create_session("game", "u", &format!("t{i}-{j}"), 1, 100, NO_CAP)
                            .is_ok()
                    })
                    .count()
            })
        })
        .collect();
    let created: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(created, 5);
    let status = store.application_status("game", 1).unwrap();
    assert_eq!(status.pending_sessions, 5);
    assert!(!status.accepting_sessions);
}

#[test]
fn deleting_an_application_with_live_sessions_is_refused() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn attaching_to_a_missing_principal_says_so() {
    let store = SqliteStore::in_memory().unwrap();
    store.put_policy("p", "{}", 0).unwrap();
    assert!(matches!(
        store.attach_policy("ghost", "p"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn refresh_tokens_are_single_use_expire_and_die_with_a_new_password() {
    let store = SqliteStore::in_memory().unwrap();
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
        Err(StoreError::Database(_))
    ));

    store.store_signin_token("s1", "alice", false, 100).unwrap();
    assert!(store.signin_token("s1", 0).unwrap().is_some());
    store.revoke_signin_token("s1").unwrap();
    store.revoke_signin_token("s1").unwrap();
    assert!(store.signin_token("s1", 0).unwrap().is_none());
}

#[test]
fn a_version_1_database_migrates_and_keeps_its_data() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    {
        let mut connection = rusqlite::Connection::open(dir.join(DATABASE_FILE)).unwrap();
        Migrations::new(vec![M::up(SCHEMA_V1)])
            .to_latest(&mut connection)
            .unwrap();
        connection
            .execute(
                "INSERT INTO principals (name, kind, created_at) VALUES ('alice', 'user', 0)",
                [],
            )
            .unwrap();
    }
    let store = SqliteStore::open_in(&dir).unwrap();
    assert!(store.principal("alice").is_ok());
    store
        .store_refresh_token("r", "alice", false, 100, "f")
        .unwrap();
    assert!(matches!(
        store.take_refresh_token("r", 0).unwrap(),
        RefreshUse::Live { .. }
    ));
}

#[test]
fn a_reused_refresh_token_revokes_its_whole_chain() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn a_totp_step_is_claimed_once_and_never_an_older_one() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .create_principal("alice", PrincipalKind::User, 0)
        .unwrap();
    assert!(store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 100).unwrap());
    assert!(!store.claim_totp_step("alice", 99).unwrap());
    assert!(store.claim_totp_step("alice", 101).unwrap());
}

#[test]
fn a_user_holds_at_most_the_cap_of_pending_entitlements() {
    let store = SqliteStore::in_memory().unwrap();
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

#[test]
fn audit_fields_are_bounded_and_retention_prunes() {
    let store = SqliteStore::in_memory().unwrap();
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
