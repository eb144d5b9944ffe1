//! The control plane with real processes: sign-in → entitlement URL →
//! stream; expiry, reuse, throttling, TOTP, a disabled application, an
//! administrator ending a live stream, a restart, and the entitlement
//! service running on its own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::Method;
use e2e::{HostProcess, admin_command, binary, run_headless_viewer, scratch_dir};

/// The clients are async; each call runs on a private runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

#[test]
fn an_unredeemed_entitlement_expires_and_the_session_says_so() {
    let dir = scratch_dir("expiry");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let api = host.admin_api().expect("admin key");
    let created = block_on(api.create_session("demo", "demo", Some(1))).expect("CreateSession");
    std::thread::sleep(Duration::from_millis(2200));
    let run = run_headless_viewer(&created.entitlement_url, 1.0).expect("viewer runs");
    assert_eq!(run.exit_code, Some(2));
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    let session: common::api::Session = block_on(api.call(
        Method::GET,
        &format!("/api/applications/demo/sessions/{}", created.session.id),
        None::<&()>,
    ))
    .expect("GetSession");
    assert_eq!(session.state, common::api::SessionState::Terminated);
    assert_eq!(session.reason.as_deref(), Some("expired"));
}

#[test]
fn wrong_passwords_are_throttled_and_never_logged() {
    let dir = scratch_dir("throttle");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let mut client = host.entitlement_client().expect("client");
    let secret_guess = "hunter2-wrong-guess";
    for _ in 0..5 {
        let e = block_on(client.sign_in("demo", secret_guess, None)).unwrap_err();
        assert_eq!(e.code(), Some("wrong_password"), "{e}");
    }
    // Even the right password waits now.
    let password = host.demo_password().expect("password");
    let e = block_on(client.sign_in("demo", &password, None)).unwrap_err();
    assert_eq!(e.code(), Some("throttled"), "{e}");
    assert!(e.to_string().contains("try again in"), "{e}");
    let audit = host.admin(&["audit", "--limit", "50"], "").expect("audit");
    assert_eq!(audit.matches("signin_failed").count(), 5, "{audit}");
    assert!(audit.contains("signin_throttled"), "{audit}");
    for secret in [secret_guess, password.as_str()] {
        assert!(!host.log().contains(secret), "a password reached the log");
        assert!(!audit.contains(secret), "a password reached the audit log");
    }
}

#[test]
fn a_totp_user_needs_the_code() {
    let dir = scratch_dir("totp");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let secret = host
        .add_totp_user("bob", "correct horse battery", "demo")
        .expect("a user with an authenticator");
    let mut client = host.entitlement_client().expect("client");
    let e = block_on(client.sign_in("bob", "correct horse battery", None)).unwrap_err();
    assert_eq!(e.code(), Some("totp_required"), "{e}");
    let e = block_on(client.sign_in("bob", "correct horse battery", Some("000000"))).unwrap_err();
    assert_eq!(e.code(), Some("wrong_totp"), "{e}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let code = host::control_plane::entitlement::passwords::totp_code(&secret, now).expect("code");
    let signed_in =
        block_on(client.sign_in("bob", "correct horse battery", Some(&code))).expect("sign in");
    assert!(signed_in.mfa);
    let apps = block_on(client.applications()).expect("applications");
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].name, "demo");
}

#[test]
fn a_disabled_application_is_listed_as_such_and_refused() {
    let dir = scratch_dir("disabled");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    host.admin(&["apps", "disable", "demo"], "")
        .expect("disable");
    let mut client = host.entitlement_client().expect("client");
    block_on(client.sign_in("demo", &host.demo_password().unwrap(), None)).expect("sign in");
    let apps = block_on(client.applications()).expect("applications");
    assert_eq!(apps[0].state, common::api::ApplicationState::Disabled);
    let e = block_on(client.entitle("demo")).unwrap_err();
    assert_eq!(e.code(), Some("application_disabled"), "{e}");
    // Not entitled to something else.
    let e = block_on(client.entitle("other")).unwrap_err();
    assert_eq!(e.code(), Some("not_entitled"), "{e}");
}

#[test]
fn an_administrator_ends_a_live_stream_and_the_viewer_is_told_why() {
    let dir = scratch_dir("terminate");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let url = host.entitle().expect("entitled");
    let viewer = Command::new(binary("viewer"))
        .args(["stream", "--headless", "--mute", "--duration", "20", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("viewer starts");
    let api = host.admin_api().expect("admin key");
    let active = loop {
        let list: common::api::SessionList =
            block_on(api.call(Method::GET, "/api/applications/demo/sessions", None::<&()>))
                .expect("GetSessions");
        if let Some(s) = list
            .sessions
            .into_iter()
            .find(|s| s.state == common::api::SessionState::Active)
        {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(1));
    let ended_at = Instant::now();
    let _: common::api::Session = block_on(api.call(
        Method::PUT,
        &format!("/api/applications/demo/sessions/{}/state", active.id),
        Some(&serde_json::json!({"state": "TERMINATED"})),
    ))
    .expect("UpdateSessionState");
    let output = viewer.wait_with_output().expect("viewer ends");
    let took = ended_at.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("JSON");
    assert_eq!(summary["end"], "admin_terminated", "{summary}");
    assert!(
        took < Duration::from_secs(10),
        "the viewer ran on for {took:?}"
    );
    println!(
        "viewer ended {} ms after UpdateSessionState",
        took.as_millis()
    );
    let status: common::api::SessionStatus = block_on(api.call(
        Method::GET,
        &format!("/api/applications/demo/sessions/{}/status", active.id),
        None::<&()>,
    ))
    .expect("GetSessionStatus");
    assert_eq!(status.reason.as_deref(), Some("admin_terminated"));
}

#[test]
fn a_restart_keeps_everything_and_ends_live_sessions() {
    let dir = scratch_dir("restart");
    let data = dir.join("host");
    let host = HostProcess::start(&data, 320, 180, 30).expect("host starts");
    let api = host.admin_api().expect("admin key");
    let _: common::api::Application = block_on(api.call(
        Method::POST,
        "/api/applications",
        Some(&serde_json::json!({"name": "chess", "description": "a board", "max_sessions": 2})),
    ))
    .expect("CreateApplication");
    host.admin(
        &["users", "add", "alice", "--password-stdin"],
        "alice's password\n",
    )
    .expect("users add");
    host.admin(&["users", "entitle", "alice", "chess"], "")
        .expect("entitle");
    let pending = block_on(api.create_session("chess", "alice", Some(600))).expect("CreateSession");
    let key_before = host.admin(&["keys", "list"], "").expect("keys");
    host.stop().expect("host stops");

    let host = HostProcess::start(&data, 320, 180, 30).expect("host restarts");
    let api = host.admin_api().expect("admin key");
    let chess = block_on(api.application("chess")).expect("chess survived");
    assert_eq!(chess.description, "a board");
    let session: common::api::Session = block_on(api.call(
        Method::GET,
        &format!("/api/applications/chess/sessions/{}", pending.session.id),
        None::<&()>,
    ))
    .expect("GetSession");
    assert_eq!(session.reason.as_deref(), Some("host_restart"));
    // Every key survives; a start also issues a fresh machine-role set (the
    // previous one stays valid until it expires).
    let keys_after = host.admin(&["keys", "list"], "").expect("keys");
    for line in key_before.lines() {
        assert!(keys_after.contains(line), "{line} survived the restart");
    }
    let without_machine_role = |list: &str| {
        list.lines()
            .filter(|l| !l.contains("\tmachine-role\t"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_machine_role(&keys_after),
        without_machine_role(&key_before)
    );
    let url = host
        .entitle_as("alice", "alice's password", "chess")
        .expect("alice signs in");
    let run = run_headless_viewer(&url, 1.0).expect("viewer runs");
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    // The old entitlement URL died with the restart.
    let run = run_headless_viewer(&pending.entitlement_url, 1.0).expect("viewer runs");
    assert_eq!(run.exit_code, Some(2));
}

#[test]
fn the_entitlement_service_runs_on_its_own_against_the_hosts_api() {
    let dir = scratch_dir("standalone");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let ent_dir = dir.join("entitlement");
    admin_command(
        &ent_dir,
        &["users", "add", "carol", "--password-stdin"],
        "carol's password\n",
    )
    .expect("users add");
    admin_command(&ent_dir, &["users", "entitle", "carol", "demo"], "").expect("entitle");
    let mut service = Command::new(binary("host"))
        .arg("--data-dir")
        .arg(&ent_dir)
        .args([
            "entitlement",
            "--listen",
            "127.0.0.1:0",
            "--api",
            &host.base_url,
        ])
        .args([
            "--api-fingerprint",
            &hex::encode(host.fingerprint),
            "--key-file",
        ])
        .arg(host.data_dir.join("entitlement.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("entitlement service starts");
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(service.stdout.take().unwrap()).lines();
    let fingerprint = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            l.strip_prefix("certificate fingerprint (SHA-256): ")
                .map(str::to_string)
        })
        .expect("fingerprint line");
    let address = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| {
            l.strip_prefix("entitlement service: ")
                .and_then(|r| r.split("/entitlement").next())
                .map(str::to_string)
        })
        .expect("address line");
    let signin = Command::new(binary("viewer"))
        .args([
            "signin",
            "--service",
            &address,
            "--fingerprint",
            &fingerprint,
        ])
        .args(["--user", "carol", "--password-file", "/dev/stdin", "demo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("signin");
    use std::io::Write;
    signin
        .stdin
        .as_ref()
        .unwrap()
        .write_all(b"carol's password\n")
        .unwrap();
    let output = signin.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let run = run_headless_viewer(&url, 1.5).expect("viewer runs");
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    assert!(run.summary()["frames_decoded"].as_u64().unwrap() > 0);
    // The host's audit log shows the service's role calling CreateSession.
    let audit = host.admin(&["audit", "--limit", "100"], "").expect("audit");
    assert!(
        audit.contains("entitlement-service") && audit.contains("appstream:CreateSession"),
        "{audit}"
    );
    let _ = service.kill();
    let _ = service.wait();
}
