//! Hosts of a fleet: heartbeats, lost hosts, placement, and hosts starting
//! together on an empty database.

use super::*;

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

pub(super) fn a_silent_host_is_lost_with_its_sessions_and_comes_back_with_a_beat(db: &Database) {
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
    let new = NewPending {
        application: "game",
        user: "u",
        token_hash: token,
        now,
        expires_at: now + 60,
        max_pending_per_user: NO_CAP,
    };
    let (session, placed) = store.create_placed_session(&new, now - 6).unwrap();
    (session.id, placed.map(|host| host.id))
}

pub(super) fn placement_fills_the_least_loaded_host_and_says_why_none_has_room(db: &Database) {
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

/// CreateSession on a fleet refuses what `create_session` refuses, each
/// in its own words, before it looks for a host.
pub(super) fn a_placed_session_is_refused_for_the_reasons_of_any_session(db: &Database) {
    let store = db.open();
    store.heartbeat(&beat("h-a", 0), 100).unwrap();
    for name in ["game", "solo", "off"] {
        store.create_application(&app(name, 1), 0).unwrap();
    }
    store
        .set_application_state("off", ApplicationState::Disabled, 0)
        .unwrap();
    let new = |application, user, token_hash| NewPending {
        application,
        user,
        token_hash,
        now: 100,
        expires_at: 160,
        max_pending_per_user: 1,
    };
    let place = |n: NewPending<'_>| store.create_placed_session(&n, 94);
    let (session, host) = place(new("game", "u", "k1")).unwrap();
    assert_eq!(host.unwrap().id, "h-a");
    assert_eq!(session.state, SessionState::Pending);
    assert!(matches!(
        place(new("game", "v", "k2")),
        Err(StoreError::ApplicationFull {
            max_sessions: 1,
            ..
        })
    ));
    assert!(matches!(
        place(new("solo", "u", "k3")),
        Err(StoreError::TooManyPending { max_pending: 1, .. })
    ));
    assert!(matches!(
        place(new("off", "v", "k4")),
        Err(StoreError::ApplicationDisabled(_))
    ));
    assert!(matches!(
        place(new("nothing", "v", "k5")),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.sessions("solo").unwrap().len(), 0, "nothing was kept");
}

/// Two hosts (connections), 32 clients each, placing at once on three
/// hosts of two seats: six placed, never a third on one host.
pub(super) fn hosts_racing_to_place_never_pass_a_hosts_max_sessions(db: &Database) {
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
