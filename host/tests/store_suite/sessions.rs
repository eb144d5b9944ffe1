//! Applications and sessions: round trips, single-use tokens, limits under
//! racing hosts, the per-user pending cap.

use super::*;

/// Two hosts (two connections to one database), 32 clients each, all
/// minting entitlements to one application at once.
pub(super) fn two_hosts_racing_create_session_never_exceed_max_sessions(db: &Database) {
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

pub(super) fn a_token_redeemed_at_two_hosts_at_once_is_redeemed_once(db: &Database) {
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

pub(super) fn applications_round_trip_with_their_errors(db: &Database) {
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

pub(super) fn entitlement_tokens_are_single_use_and_expire(db: &Database) {
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

pub(super) fn disabled_applications_refuse_sessions_and_pending_ones_expire(db: &Database) {
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

pub(super) fn deleting_an_application_with_live_sessions_is_refused(db: &Database) {
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

pub(super) fn a_user_holds_at_most_the_cap_of_pending_entitlements(db: &Database) {
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
