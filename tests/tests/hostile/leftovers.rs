//! Issue 14, item 11 (the rest): an icon that is a FIFO is refused at once
//! and hangs nothing; `host run` stopped by SIGTERM while it waits for the
//! application's window leaves no private Xvfb behind; the stream process
//! reads its entitlement URL from stdin, never from its command line.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::Method;
use e2e::hostile::{block_on, children_named, cmdline, is_alive, wait_until};
use e2e::{HostProcess, binary, scratch_dir};

use super::{code_of, text_of};

/// Bounds each icon request: an icon that hangs the host fails here, not at
/// the client's 30 s timeout.
const ICON_DEADLINE: Duration = Duration::from_secs(10);

#[test]
fn an_icon_that_is_a_fifo_is_refused_at_once_and_the_host_keeps_answering() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-icon-fifo");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let icon = host.data_dir.join("icons").join("demo.png");
    std::fs::remove_file(&icon).expect("the demo icon exists");
    let made = Command::new("mkfifo")
        .arg(&icon)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");

    let api = host.admin_api().expect("admin key");
    for attempt in 0..3 {
        let answer = block_on(async {
            tokio::time::timeout(
                ICON_DEADLINE,
                api.send_raw(Method::GET, "/api/applications/demo/icon", Vec::new()),
            )
            .await
        })
        .unwrap_or_else(|_| panic!("attempt {attempt}: no answer within {ICON_DEADLINE:?}"))
        .expect("sent");
        assert_eq!(answer.status, 404, "{}", text_of(&answer));
        let code = code_of(&answer);
        assert!(
            code == "icon_refused" || code == "icon_missing",
            "{code}: {}",
            text_of(&answer)
        );
    }
    // The launcher's route says the same.
    let mut client = host.entitlement_client().expect("client");
    block_on(client.sign_in("demo", &host.demo_password().expect("password"), None))
        .expect("sign in");
    let icon = block_on(async { tokio::time::timeout(ICON_DEADLINE, client.icon("demo")).await })
        .expect("the entitlement service's icon answers in time")
        .expect("answered");
    assert!(icon.is_none(), "a FIFO was served as an icon");
    // And the next call works.
    let _: common::api::ApplicationList = host
        .admin_call(Method::GET, "/api/applications", None)
        .expect("GetApplications");
}

#[test]
fn host_run_stopped_while_waiting_for_the_window_leaves_no_xvfb() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-run-sigterm");
    let log = std::fs::File::create(dir.join("host.log")).expect("log file");
    let mut host = Command::new(binary("host"))
        .args(["run", "--display", "virtual", "--listen", "127.0.0.1:0"])
        .args(["--mdns", "off", "--data-dir"])
        .arg(dir.join("host"))
        .args(["--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("host run starts");
    let pid = host.id();
    let mut xvfbs = Vec::new();
    let started = wait_until(Duration::from_secs(30), || {
        xvfbs = children_named(pid, "Xvfb");
        !xvfbs.is_empty()
    });
    if !started {
        let _ = host.kill();
        let _ = host.wait();
        panic!(
            "host run started no Xvfb: {}",
            std::fs::read_to_string(dir.join("host.log")).unwrap_or_default()
        );
    }
    // Until the application has been launched too (it never shows a window).
    let mut apps = Vec::new();
    wait_until(Duration::from_secs(10), || {
        apps = children_named(pid, "sleep");
        !apps.is_empty()
    });
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = host.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let xvfb_gone = wait_until(Duration::from_secs(10), || {
        xvfbs.iter().all(|xvfb| !is_alive(*xvfb))
    });
    let app_gone = apps.iter().all(|app| !is_alive(*app));
    // Leave nothing of ours behind, whatever the outcome.
    for leftover in xvfbs.iter().chain(&apps).filter(|p| is_alive(**p)) {
        let _ = Command::new("kill")
            .args(["-KILL", &leftover.to_string()])
            .status();
    }
    if status.is_none() {
        let _ = host.kill();
        let _ = host.wait();
    }
    eprintln!("host run after SIGTERM: exit {status:?}; its application gone: {app_gone}");
    assert!(
        status.is_some(),
        "host run did not stop within 15 s of SIGTERM"
    );
    assert!(xvfb_gone, "host run left its Xvfb ({xvfbs:?}) behind");
}

#[test]
fn the_stream_process_takes_its_entitlement_url_on_stdin() {
    let _suite = super::shared();
    let dir = scratch_dir("hostile-url-stdin");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let url = host.entitle().expect("entitled");
    let mut viewer = Command::new(binary("viewer"))
        .args([
            "stream",
            "--url-stdin",
            "--headless",
            "--mute",
            "--duration",
            "2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("viewer starts");
    let command_line = cmdline(viewer.id()).expect("its command line");
    {
        let mut stdin = viewer.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{url}\n").as_bytes())
            .expect("URL written");
    }
    let output = viewer.wait_with_output().expect("the viewer ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !command_line.contains("token="),
        "the URL is on the command line: {command_line}"
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("JSON");
    assert!(
        summary["frames_decoded"].as_u64() > Some(0),
        "nothing was streamed: {summary}"
    );
}
