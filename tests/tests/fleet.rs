//! Hosts on one PostgreSQL database (a private cluster), as real
//! processes: both beat and are listed; a session streams from one; that
//! host is killed, and within ten seconds the other has declared it
//! UNAVAILABLE and ended its session `host_lost`; restarted, it is
//! AVAILABLE again.

use std::time::{Duration, Instant};

use common::api::{HostList, HostState, Session, SessionState};
use common::client::Method;
use e2e::{HostProcess, admin_command, run_headless_viewer, scratch_dir};
use host::control_plane::store::postgres::cluster::PrivateCluster;

/// The clients are async; each call runs on a private runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn start(dir: &std::path::Path, database: &str) -> HostProcess {
    HostProcess::start_with_env(
        dir,
        320,
        180,
        30,
        &["--capture", "synthetic"],
        &[("APPSTREAM_DATABASE", database)],
    )
    .expect("host starts")
}

fn state_of(hosts: &HostList, id: &str) -> Option<HostState> {
    hosts.hosts.iter().find(|h| h.id == id).map(|h| h.state)
}

#[test]
fn a_killed_host_is_lost_within_ten_seconds_with_its_session_and_comes_back() {
    let cluster = PrivateCluster::start(&[]).expect("a private PostgreSQL cluster");
    let database = cluster.new_database().expect("a database");
    let dir = scratch_dir("fleet");
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    let a = start(&dir_a, &database);
    let b = start(&dir_b, &database);
    let api_a = a.admin_api().expect("a's admin key");
    let id_b = std::fs::read_to_string(dir_b.join("host.id")).expect("b's id");
    let id_b = id_b.trim().to_string();

    // Both beat: each host's API lists both.
    let deadline = Instant::now() + Duration::from_secs(10);
    let hosts = loop {
        let hosts: HostList =
            block_on(api_a.call(Method::GET, "/api/hosts", None::<&()>)).expect("GetHosts");
        if hosts.hosts.len() == 2 || Instant::now() > deadline {
            break hosts;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(hosts.hosts.len(), 2, "{hosts:?}");
    assert!(hosts.hosts.iter().all(|h| h.state == HostState::Available));
    assert!(
        hosts
            .hosts
            .iter()
            .all(|h| h.applications.contains(&"demo".to_string()))
    );

    // A session minted at b's API streams from b; a sees it ACTIVE.
    let api_b = b.admin_api().expect("b's admin key");
    let created = block_on(api_b.create_session("demo", "demo", None)).expect("CreateSession");
    let url = created.entitlement_url.clone();
    let viewer = std::thread::spawn(move || run_headless_viewer(&url, 8.0));
    let session_path = format!("/api/applications/demo/sessions/{}", created.session.id);
    let session = |api: &common::client::ApiClient| -> Session {
        block_on(api.call(Method::GET, &session_path, None::<&()>)).expect("GetSession")
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while session(&api_a).state != SessionState::Active {
        assert!(Instant::now() < deadline, "the session never became ACTIVE");
        std::thread::sleep(Duration::from_millis(100));
    }

    // b dies without a word (SIGKILL).
    drop(b);
    let killed = Instant::now();
    let lost_after = loop {
        let hosts: HostList =
            block_on(api_a.call(Method::GET, "/api/hosts", None::<&()>)).expect("GetHosts");
        if state_of(&hosts, &id_b) == Some(HostState::Unavailable) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "b still AVAILABLE after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "b UNAVAILABLE {:.1} s after it was killed",
        lost_after.as_secs_f64()
    );
    let ended = session(&api_a);
    assert_eq!(ended.state, SessionState::Terminated);
    assert_eq!(ended.reason.as_deref(), Some("host_lost"));
    let listed = admin_command(&dir_a, &["--database", &database, "fleet", "list"], "")
        .expect("host fleet list");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id_b) && l.contains("UNAVAILABLE")),
        "{listed}"
    );

    // b comes back with the same id: AVAILABLE again.
    let b = start(&dir_b, &database);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hosts: HostList =
            block_on(api_a.call(Method::GET, "/api/hosts", None::<&()>)).expect("GetHosts");
        if state_of(&hosts, &id_b) == Some(HostState::Available) {
            break;
        }
        assert!(Instant::now() < deadline, "b did not come back: {hosts:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let run = viewer.join().expect("viewer thread").expect("viewer runs");
    eprintln!("viewer ended: {}", run.summary());
    drop((a, b));
}
