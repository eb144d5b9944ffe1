//! Hosts on one PostgreSQL database (a private cluster), as real
//! processes. Two hosts: a stream from one, terminated through the other's
//! API, ends with `admin_terminated` at once (the streaming host hears it).
//! Three hosts of four seats: 30 entitlements land 4/4/4, the rest are
//! refused `no_capacity`, each URL streams from the host it names and no
//! other; one host is killed while streaming, and within ten seconds it is
//! UNAVAILABLE with its session ended `host_lost` while the others stream
//! on; new sessions go to the other two; restarted, it takes the next.

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

/// Waits until the session is ACTIVE, as `api` sees it.
fn wait_active(api: &common::client::ApiClient, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let session: Session =
            block_on(api.call(Method::GET, path, None::<&()>)).expect("GetSession");
        if session.state == SessionState::Active {
            return;
        }
        assert!(Instant::now() < deadline, "the session never became ACTIVE");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Which of `hosts` streams the session of `url`.
fn streaming_host(hosts: &[HostProcess], url: &str) -> usize {
    hosts
        .iter()
        .position(|h| port_of_host(h) == port_of(url))
        .expect("the URL names one of the hosts")
}

#[test]
fn a_stream_terminated_through_another_hosts_api_ends_at_once() {
    let cluster = PrivateCluster::start(&[]).expect("a private PostgreSQL cluster");
    let database = cluster.new_database().expect("a database");
    let dir = scratch_dir("fleet");
    let hosts = [
        start(&dir.join("a"), &database),
        start(&dir.join("b"), &database),
    ];
    let apis: Vec<_> = hosts
        .iter()
        .map(|h| h.admin_api().expect("admin key"))
        .collect();
    wait_for_fleet(&apis[0], 2, "demo");

    // A stream from one host, ended through the other's API: the streaming
    // host hears of it (LISTEN/NOTIFY), ends it, and the viewer is told why.
    let created = block_on(apis[0].create_session("demo", "demo", None)).expect("CreateSession");
    let streaming = streaming_host(&hosts, &created.entitlement_url);
    let other = 1 - streaming;
    let url = created.entitlement_url.clone();
    let viewer = std::thread::spawn(move || run_headless_viewer(&url, 20.0));
    let path = format!("/api/applications/demo/sessions/{}", created.session.id);
    wait_active(&apis[other], &path);
    let asked = Instant::now();
    let _: Session = block_on(apis[other].call(
        Method::PUT,
        &format!("{path}/state"),
        Some(&serde_json::json!({ "state": "TERMINATED" })),
    ))
    .expect("UpdateSessionState at the other host");
    let run = viewer.join().expect("viewer thread").expect("viewer runs");
    let ended_after = asked.elapsed();
    eprintln!(
        "the viewer ended {:.2} s after the other host's API terminated its stream",
        ended_after.as_secs_f64()
    );
    assert_eq!(
        run.summary()["end"],
        "admin_terminated",
        "{}",
        run.summary()
    );
    // The resync alone would take up to RESYNC_EVERY_SWEEPS seconds.
    assert!(ended_after < Duration::from_secs(3), "the stream went on");
}

/// The port a URL's session streams from (every host is on 127.0.0.1).
fn port_of(entitlement_url: &str) -> u16 {
    common::stream_url::StreamUrl::parse(entitlement_url)
        .expect("an entitlement URL")
        .port
}

fn port_of_host(host: &HostProcess) -> u16 {
    host.base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the host's port")
}

/// Waits until `count` hosts are AVAILABLE and run `application`.
fn wait_for_fleet(api: &common::client::ApiClient, count: usize, application: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hosts: HostList =
            block_on(api.call(Method::GET, "/api/hosts", None::<&()>)).expect("GetHosts");
        let ready = hosts
            .hosts
            .iter()
            .filter(|h| h.state == HostState::Available)
            .filter(|h| h.applications.iter().any(|a| a == application))
            .count();
        if ready == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the fleet never had {count} hosts: {hosts:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_hosts_of_four_seats_place_twelve_refuse_the_rest_and_outlive_a_killed_host() {
    let cluster = PrivateCluster::start(&[]).expect("a private PostgreSQL cluster");
    let database = cluster.new_database().expect("a database");
    let dir = scratch_dir("fleet-placement");
    let start_seated = |name: &str| {
        HostProcess::start_with_env(
            &dir.join(name),
            320,
            180,
            30,
            &["--capture", "synthetic", "--max-sessions", "4"],
            &[("APPSTREAM_DATABASE", database.as_str())],
        )
        .expect("host starts")
    };
    let mut hosts = [start_seated("a"), start_seated("b"), start_seated("c")];
    let api = hosts[0].admin_api().expect("a's admin key");
    admin_command(
        &dir.join("a"),
        &[
            "--database",
            &database,
            "apps",
            "add",
            "fleet-demo",
            "--max-sessions",
            "30",
            "--width",
            "320",
            "--height",
            "180",
            "--fps",
            "30",
        ],
        "",
    )
    .expect("apps add");
    wait_for_fleet(&api, 3, "fleet-demo");

    // 30 entitlements through one host's API: four land on each host.
    let mut placed = Vec::new();
    let mut refused = Vec::new();
    // One user each: a user may hold only a few unused entitlements.
    for player in 0..30 {
        let user = format!("player{player}");
        match block_on(api.create_session("fleet-demo", &user, None)) {
            Ok(created) => placed.push(created.entitlement_url),
            Err(e) => refused.push(e.to_string()),
        }
    }
    let per_host: Vec<usize> = hosts
        .iter()
        .map(|h| {
            placed
                .iter()
                .filter(|u| port_of(u) == port_of_host(h))
                .count()
        })
        .collect();
    eprintln!(
        "placed per host {per_host:?}; refused {}: {}",
        refused.len(),
        refused[0]
    );
    assert_eq!(per_host, [4, 4, 4]);
    assert_eq!(refused.len(), 18);
    assert!(
        refused
            .iter()
            .all(|e| e.contains("no_capacity") && e.contains("--max-sessions")),
        "{refused:?}"
    );

    // Each URL streams from the host it names; at another host it is refused.
    // Placement may put the first session on any host: take one it is not on.
    let right_url = placed[0].clone();
    let wrong_host = hosts
        .iter()
        .find(|host| port_of_host(host) != port_of(&right_url))
        .expect("another host");
    let mut elsewhere = common::stream_url::StreamUrl::parse(&right_url).expect("URL");
    elsewhere.port = port_of_host(wrong_host);
    elsewhere.fingerprint = wrong_host.fingerprint;
    let refused_there = run_headless_viewer(&elsewhere.to_string(), 2.0).expect("viewer runs");
    assert_ne!(refused_there.exit_code, Some(0));
    assert!(
        refused_there.stderr.contains("another host"),
        "{}",
        refused_there.stderr
    );
    let viewers: Vec<_> = placed
        .iter()
        .cloned()
        .map(|url| std::thread::spawn(move || run_headless_viewer(&url, 4.0)))
        .collect();
    let frames: Vec<u64> = viewers
        .into_iter()
        .map(|v| {
            let run = v.join().expect("viewer thread").expect("viewer runs");
            run.summary()["frames_decoded"].as_u64().unwrap_or(0)
        })
        .collect();
    eprintln!("frames decoded by the 12 viewers in 4 s: {frames:?}");
    assert!(frames.iter().all(|f| *f > 30), "{frames:?}");

    // The seats are free again once the viewers have left: new sessions
    // spread over the hosts again, one each.
    let streams: Vec<_> = (0..3)
        .map(|player| {
            block_on(api.create_session("fleet-demo", &format!("player{player}"), None))
                .expect("CreateSession")
        })
        .collect();
    let mut ports: Vec<u16> = streams
        .iter()
        .map(|c| port_of(&c.entitlement_url))
        .collect();
    let mut expected: Vec<u16> = hosts.iter().map(port_of_host).collect();
    ports.sort_unstable();
    expected.sort_unstable();
    assert_eq!(ports, expected, "one on each host");

    // c dies without a word while it streams one of them.
    let doomed = 2;
    let doomed_id = std::fs::read_to_string(dir.join("c").join("host.id")).expect("c's id");
    let doomed_id = doomed_id.trim().to_string();
    let viewers: Vec<_> = streams
        .iter()
        .map(|c| {
            let url = c.entitlement_url.clone();
            std::thread::spawn(move || run_headless_viewer(&url, 12.0))
        })
        .collect();
    let paths: Vec<String> = streams
        .iter()
        .map(|c| format!("/api/applications/fleet-demo/sessions/{}", c.session.id))
        .collect();
    for path in &paths {
        wait_active(&api, path);
    }
    let on_doomed = streams
        .iter()
        .position(|c| port_of(&c.entitlement_url) == port_of_host(&hosts[doomed]))
        .expect("a stream from c");
    hosts[doomed].kill();
    let killed = Instant::now();
    let lost_after = loop {
        let listed: HostList =
            block_on(api.call(Method::GET, "/api/hosts", None::<&()>)).expect("GetHosts");
        if state_of(&listed, &doomed_id) == Some(HostState::Unavailable) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "still AVAILABLE after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "c UNAVAILABLE {:.1} s after it was killed",
        lost_after.as_secs_f64()
    );
    for (index, path) in paths.iter().enumerate() {
        let session: Session =
            block_on(api.call(Method::GET, path, None::<&()>)).expect("GetSession");
        if index == on_doomed {
            assert_eq!(session.state, SessionState::Terminated);
            assert_eq!(session.reason.as_deref(), Some("host_lost"));
        } else {
            assert_eq!(session.state, SessionState::Active, "{path} streams on");
        }
    }
    let listed = admin_command(
        &dir.join("a"),
        &["--database", &database, "fleet", "list"],
        "",
    )
    .expect("host fleet list");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&doomed_id) && l.contains("UNAVAILABLE")),
        "{listed}"
    );
    // New sessions go to the other two.
    let survivors = [port_of_host(&hosts[0]), port_of_host(&hosts[1])];
    for player in 3..7 {
        let next = block_on(api.create_session("fleet-demo", &format!("player{player}"), None))
            .expect("CreateSession");
        assert!(survivors.contains(&port_of(&next.entitlement_url)));
    }

    // c comes back with the same id and, the least loaded, takes the next.
    hosts[doomed] = start_seated("c");
    wait_for_fleet(&api, 3, "fleet-demo");
    let back = block_on(api.create_session("fleet-demo", "player7", None)).expect("CreateSession");
    assert_eq!(port_of(&back.entitlement_url), port_of_host(&hosts[doomed]));
    let run = run_headless_viewer(&back.entitlement_url, 2.0).expect("viewer runs");
    assert!(
        run.summary()["frames_decoded"].as_u64().unwrap_or(0) > 10,
        "{}",
        run.summary()
    );
    for (index, viewer) in viewers.into_iter().enumerate() {
        let run = viewer.join().expect("viewer thread").expect("viewer runs");
        let frames = run.summary()["frames_decoded"].as_u64().unwrap_or(0);
        eprintln!("viewer {index}: {frames} frames, {}", run.summary()["end"]);
        if index != on_doomed {
            assert!(frames > 200, "a survivor's stream: {}", run.summary());
        }
    }
}
