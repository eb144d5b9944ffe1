//! Issue 14, items 5 and 8: a session refused or ended leaves no thread
//! behind (one owner tears every session resource down), a bitrate the rate
//! controller cannot run is refused before anything starts, and one user
//! cannot fill an application with unredeemed entitlements.

use std::process::{Command, Stdio};
use std::time::Duration;

use common::client::{ClientError, Method};
use e2e::hostile::{block_on, thread_count, thread_names, wait_until};
use e2e::{HostProcess, binary, run_headless_viewer_with, scratch_dir};

/// Threads of an idle host come and go (tokio's blocking pool keeps an idle
/// thread 10 s): this long is enough for them all to be gone.
const THREADS_SETTLE: Duration = Duration::from_secs(30);

/// The host's thread count once it stopped changing for a second.
fn settled_threads(pid: u32) -> usize {
    let mut last = thread_count(pid).expect("threads");
    let mut stable_for = 0;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let now = thread_count(pid).expect("threads");
        if now == last {
            stable_for += 1;
            if stable_for >= 10 {
                break;
            }
        } else {
            (last, stable_for) = (now, 0);
        }
    }
    last
}

fn assert_threads_back_to(pid: u32, baseline: usize, baseline_names: &[String], what: &str) {
    let back = wait_until(THREADS_SETTLE, || {
        thread_count(pid).is_ok_and(|n| n <= baseline)
    });
    assert!(
        back,
        "{what}: the host has {} threads {} s later, {baseline} before;\nbefore: {baseline_names:?}\nnow: {:?}",
        thread_count(pid).unwrap_or(0),
        THREADS_SETTLE.as_secs(),
        thread_names(pid)
    );
}

/// Assumption: the baseline is the thread count of the host before the
/// entitlement was made (what the sign-in's argon2 thread adds is gone
/// within 30 s).
#[test]
fn a_bitrate_the_rate_controller_cannot_run_is_refused_and_leaves_no_thread() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-low-bitrate");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let pid = host.pid();
    let baseline = settled_threads(pid);
    let baseline_names = thread_names(pid);
    for _ in 0..2 {
        // Twice: the slot a refused session held is free again.
        let url = host.entitle().expect("entitled");
        let run = run_headless_viewer_with(&url, 3.0, &["--bitrate-kbps", "150"]).expect("viewer");
        assert_eq!(
            run.exit_code,
            Some(2),
            "the viewer was refused: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("150"),
            "the refusal names the bitrate: {}",
            run.stderr
        );
    }
    assert_threads_back_to(pid, baseline, &baseline_names, "after two refused sessions");
}

#[test]
fn a_session_ended_by_the_administrator_leaves_no_thread() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-terminate-threads");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let pid = host.pid();
    let baseline = settled_threads(pid);
    let baseline_names = thread_names(pid);
    let url = host.entitle().expect("entitled");
    let viewer = Command::new(binary("viewer"))
        .args(["stream", "--headless", "--mute", "--duration", "30", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("viewer starts");
    host.terminate_active_session("demo")
        .expect("UpdateSessionState TERMINATED");
    let output = viewer.wait_with_output().expect("the viewer ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("JSON");
    assert_eq!(summary["end"], "admin_terminated", "{summary}");
    assert_threads_back_to(pid, baseline, &baseline_names, "after an ended session");
}

fn api_status(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::Api { status, .. } => Some(*status),
        _ => None,
    }
}

#[test]
fn one_user_holds_at_most_two_pending_entitlements() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-pending-cap");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let mut demo = host.entitlement_client().expect("client");
    block_on(demo.sign_in("demo", &host.demo_password().expect("password"), None))
        .expect("sign in");
    let first = block_on(demo.entitle("demo")).expect("first entitlement");
    block_on(demo.entitle("demo")).expect("second entitlement");
    let third = block_on(demo.entitle("demo")).expect_err("a third is refused");
    assert_eq!(third.code(), Some("too_many_pending"), "{third}");
    assert_eq!(api_status(&third), Some(409), "{third}");
    // Through the API as well.
    let api = host.admin_api().expect("admin key");
    let direct = block_on(api.create_session("demo", "demo", None)).expect_err("refused");
    assert_eq!(direct.code(), Some("too_many_pending"), "{direct}");
    assert_eq!(api_status(&direct), Some(409), "{direct}");

    // The cap is per user: someone else still gets in.
    host.admin(
        &["users", "add", "alice", "--password-stdin"],
        "alice's password\n",
    )
    .expect("users add");
    host.admin(&["users", "entitle", "alice", "demo"], "")
        .expect("entitle");
    host.entitle_as("alice", "alice's password", "demo")
        .expect("alice is entitled");

    // Redeeming one frees a place.
    let run = run_headless_viewer_with(&first.url, 1.0, &[]).expect("viewer");
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    block_on(demo.entitle("demo")).expect("a pending place was freed");
    let sessions: common::api::SessionList = host
        .admin_call(Method::GET, "/api/applications/demo/sessions", None)
        .expect("GetSessions");
    let pending_for_demo = sessions
        .sessions
        .iter()
        .filter(|s| s.state == common::api::SessionState::Pending && s.user == "demo")
        .count();
    assert_eq!(pending_for_demo, 2, "{:?}", sessions.sessions);
}

#[test]
fn the_pending_cap_is_configurable() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-pending-cap-3");
    let host = HostProcess::start_with(
        &dir.join("host"),
        320,
        180,
        30,
        &["--max-pending-per-user", "3"],
    )
    .expect("host starts");
    let api = host.admin_api().expect("admin key");
    for i in 0..3 {
        block_on(api.create_session("demo", "demo", None))
            .unwrap_or_else(|e| panic!("entitlement {i}: {e}"));
    }
    let fourth = block_on(api.create_session("demo", "demo", None)).expect_err("refused");
    assert_eq!(fourth.code(), Some("too_many_pending"), "{fourth}");
}
