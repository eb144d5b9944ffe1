use common::api::{NewApplication, SessionState};

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
