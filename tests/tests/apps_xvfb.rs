//! Real applications under Xvfb: the demo game launched by the host, its
//! window captured (the barcode it paints read back by the viewer), 1,000
//! input events injected in order, its exit ending the session, and private
//! displays per session.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::control::InputEvent;
use e2e::{HostProcess, Xvfb, binary, run_headless_viewer_with, runtime_dir, scratch_dir};
use serde_json::Value;

/// Each test runs games on a software GPU: one at a time on 2 cores.
static HEAVY: Mutex<()> = Mutex::new(());

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

fn path_str(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}

/// What the game logs for a key: winit's name of the physical key.
fn key_name(usage: u16) -> String {
    match usage {
        0x04..=0x1d => format!("Key{}", char::from(b'A' + (usage - 0x04) as u8)),
        0x1e..=0x26 => format!("Digit{}", usage - 0x1d),
        0x27 => "Digit0".into(),
        other => panic!("usage {other:#x} is not in the synthetic pattern"),
    }
}

/// The game's log entry expected for a discrete event (keys, clicks, wheel).
fn expected_entry(event: &InputEvent) -> Option<Value> {
    match *event {
        InputEvent::Key { usage, pressed } => {
            Some(serde_json::json!({"kind": "key", "code": key_name(usage), "pressed": pressed}))
        }
        InputEvent::MouseButton { pressed, .. } => {
            Some(serde_json::json!({"kind": "mouse_button", "button": "Left", "pressed": pressed}))
        }
        InputEvent::Wheel { dy, .. } => Some(serde_json::json!({"kind": "wheel", "dy": dy})),
        _ => None,
    }
}

fn read_log(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[test]
fn host_run_streams_the_games_pixels_and_injects_1000_events_in_order() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("apps-run");
    let xvfb = Xvfb::start(WIDTH, 800).expect("Xvfb starts");
    // The game runs sandboxed: its log goes where the owner lets it write
    // (and, under root, where its unprivileged user may).
    let out = dir.join("game-out");
    std::fs::create_dir_all(&out).expect("game output dir");
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("writable by the game's user");
    let log = out.join("game.jsonl");
    let runtime = path_str(&runtime_dir(&dir));
    let host = HostProcess::start_run(
        &dir.join("host"),
        &[
            "--width",
            "1280",
            "--height",
            "720",
            "--fps",
            "30",
            "--app-writable",
            &path_str(&out),
        ],
        &[
            &path_str(&binary("demo-game")),
            "--input-log",
            &path_str(&log),
        ],
        &[("DISPLAY", &xvfb.display), ("XDG_RUNTIME_DIR", &runtime)],
    )
    .expect("host runs the game");
    let url = host
        .entitle_as(
            "demo",
            &host.demo_password().expect("password"),
            "demo-game",
        )
        .expect("entitled to the game");
    let run = run_headless_viewer_with(&url, 20.0, &["--send-input", "1000"]).expect("viewer");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("no {key}"));

    // The pictures are the game's: the barcode it painted (with its CRC)
    // reads back off the decoded frames.
    let decoded = count("frames_decoded");
    assert!(decoded >= 30, "only {decoded} frames decoded");
    assert!(
        count("barcode_misses") * 10 <= decoded,
        "the game's barcode was unreadable in {} of {decoded} frames",
        count("barcode_misses")
    );
    assert!(summary["latency_ms"]["count"].as_u64() > Some(0));

    // Every event was injected, and the game saw them complete and in order.
    assert_eq!(count("inputs_applied"), 1000);
    eprintln!("event → injection: {}", summary["input_latency_ms"]);
    let entries = read_log(&log);
    let discrete: Vec<Value> = entries
        .iter()
        .filter(|e| matches!(e["kind"].as_str(), Some("key" | "mouse_button" | "wheel")))
        .map(|e| {
            let mut e = e.clone();
            let object = e.as_object_mut().expect("object");
            object.remove("t_us");
            object.remove("dx");
            e
        })
        .collect::<Vec<Value>>();
    // One XTest wheel click reaches winit twice (the button, and the X
    // server's emulated smooth-scroll motion): count a run of equal notches once.
    let mut discrete = discrete;
    discrete.dedup_by(|later, earlier| later["kind"] == "wheel" && later == earlier);
    let events: Vec<InputEvent> = (0..1000)
        .map(|seq| viewer::stream::synthetic_input::event(seq, true))
        .collect();
    let expected: Vec<Value> = events.iter().filter_map(expected_entry).collect();
    assert_eq!(
        discrete.len(),
        expected.len(),
        "every key, click and notch arrived once"
    );
    for (i, (got, want)) in discrete.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "entry {i} out of order or wrong");
    }
    // Absolute moves land where they were aimed, in order.
    let moves: Vec<(f64, f64)> = entries
        .iter()
        .filter(|e| e["kind"] == "mouse_move")
        .map(|e| {
            (
                e["x"].as_f64().unwrap_or(-1.0),
                e["y"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    let mut next = 0;
    for event in &events {
        if let InputEvent::MouseAbsolute { x, y } = *event {
            let aim = (
                (f64::from(x) * f64::from(WIDTH - 1)).round(),
                (f64::from(y) * f64::from(HEIGHT - 1)).round(),
            );
            match moves[next..].iter().position(|&m| m == aim) {
                Some(at) => next += at + 1,
                None => panic!("the move to {aim:?} is missing or out of order"),
            }
        }
    }
    // No /dev/uinput here: the viewer was told gamepads are unavailable, and why.
    if !std::path::Path::new("/dev/uinput").exists() {
        let note = summary["gamepads_note"].as_str().unwrap_or_default();
        assert!(note.contains("/dev/uinput"), "{summary}");
    }
    // The game heard about the session through the SDK.
    assert!(entries.iter().any(|e| e["kind"] == "sdk"
        && e["message"]["type"] == "session_connected"
        && e["message"]["user"] == "demo"));
    host.stop().expect("host stops");
}

/// A host that launches the catalog's `game` (the demo game) per session on
/// a private Xvfb.
fn host_with_game(label: &str, title: &str) -> (HostProcess, std::path::PathBuf) {
    let dir = scratch_dir(label);
    let runtime = path_str(&runtime_dir(&dir));
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        640,
        360,
        30,
        &["--display", "virtual"],
        &[("XDG_RUNTIME_DIR", &runtime), ("RUST_LOG", "info")],
    )
    .expect("host starts");
    let game = path_str(&binary("demo-game"));
    host.admin(
        &[
            "apps",
            "add",
            "game",
            "--command",
            &game,
            "--arg=--title",
            "--arg",
            title,
            "--width",
            "640",
            "--height",
            "360",
            "--fps",
            "30",
        ],
        "",
    )
    .expect("app added");
    host.admin(&["users", "entitle", "demo", "game"], "")
        .expect("entitled");
    (host, dir)
}

fn entitle_game(host: &HostProcess) -> String {
    host.entitle_as("demo", &host.demo_password().expect("password"), "game")
        .expect("entitled")
}

#[test]
fn killing_the_app_ends_the_session_with_app_exited_and_an_error_the_api_returns() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let title = format!("kill-me-{}", std::process::id());
    let (host, _dir) = host_with_game("apps-exit", &title);
    let url = entitle_game(&host);
    let viewer = std::thread::spawn(move || run_headless_viewer_with(&url, 60.0, &[]));
    // Wait for the game to stream, then kill it.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !host.log().contains("media path open") {
        assert!(Instant::now() < deadline, "the stream never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &title])
        .status()
        .expect("pkill runs");
    assert!(killed.success(), "the game was running");
    let run = viewer.join().expect("viewer thread").expect("viewer ran");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    assert_eq!(summary["end"], "app_exited", "{summary}");
    assert!(summary["frames_decoded"].as_u64() > Some(10));

    let list: common::api::ApplicationErrorList = host
        .admin_call(
            common::client::Method::GET,
            "/api/applications/game/errors",
            None,
        )
        .expect("GetApplicationErrors");
    let error = list
        .errors
        .iter()
        .find(|e| e.kind == "app_exited")
        .unwrap_or_else(|| panic!("no app_exited error in {list:?}"));
    assert_eq!(error.exit_status, Some(128 + 9));
    assert!(error.message.contains("signal 9"), "{}", error.message);
    assert!(error.session.is_some());
    assert!(error.stderr_tail.is_some());
    host.stop().expect("host stops");
}

/// Windows mapped at the top of `display`.
fn top_level_windows(display: &str) -> Vec<u32> {
    use x11rb::connection::Connection as _;
    use x11rb::protocol::xproto::{ConnectionExt as _, MapState};
    let (conn, screen) = x11rb::connect(Some(display)).expect("display reachable");
    let root = conn.setup().roots[screen].root;
    let children = conn
        .query_tree(root)
        .expect("query")
        .reply()
        .expect("tree")
        .children;
    children
        .into_iter()
        .filter(|&w| {
            conn.get_window_attributes(w)
                .ok()
                .and_then(|c| c.reply().ok())
                .is_some_and(|a| a.map_state == MapState::VIEWABLE)
        })
        .collect()
}

/// Gives `window` the keyboard focus, as a window manager would on a click.
fn focus(display: &str, window: u32) {
    use x11rb::protocol::xproto::{ConnectionExt as _, InputFocus};
    let (conn, _) = x11rb::connect(Some(display)).expect("display reachable");
    conn.set_input_focus(InputFocus::POINTER_ROOT, window, x11rb::CURRENT_TIME)
        .expect("focus request");
    conn.get_input_focus()
        .expect("round trip")
        .reply()
        .expect("focus set");
}

#[test]
fn two_virtual_display_sessions_each_show_only_their_own_app() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let (host, _dir) = host_with_game("apps-virtual", "isolated");
    let (first, second) = (entitle_game(&host), entitle_game(&host));
    let viewers: Vec<_> = [first, second]
        .into_iter()
        .map(|url| std::thread::spawn(move || run_headless_viewer_with(&url, 25.0, &[])))
        .collect();
    // Both games are up: each on its own display, alone there.
    let deadline = Instant::now() + Duration::from_secs(40);
    let displays = loop {
        let log = host.log();
        let displays: std::collections::BTreeSet<String> = log
            .lines()
            .filter(|l| l.contains("application window mapped"))
            .filter_map(|l| l.split("x_display=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect();
        if displays.len() == 2 {
            break displays;
        }
        assert!(Instant::now() < deadline, "two games did not start: {log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for display in &displays {
        assert_eq!(
            top_level_windows(display).len(),
            1,
            "{display} shows one window"
        );
    }
    for viewer in viewers {
        let run = viewer.join().expect("viewer thread").expect("viewer ran");
        let summary = run.summary();
        eprintln!("summary: {summary}");
        let decoded = summary["frames_decoded"].as_u64().unwrap_or(0);
        assert!(decoded >= 10, "{summary}");
        assert!(summary["barcode_misses"].as_u64().unwrap_or(u64::MAX) * 10 <= decoded);
    }
    host.stop().expect("host stops");
}

#[test]
fn desktop_mode_streams_a_rectangle_of_the_display_and_drives_it() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir("apps-desktop");
    let xvfb = Xvfb::start(WIDTH, 800).expect("Xvfb starts");
    let runtime = path_str(&runtime_dir(&dir));
    let log = dir.join("game.jsonl");
    // A game the host did not launch, in the top-left corner of the display.
    let mut game = std::process::Command::new(binary("demo-game"))
        .args([
            "--width",
            "640",
            "--height",
            "360",
            "--input-log",
            &path_str(&log),
        ])
        .env("DISPLAY", &xvfb.display)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("game starts");
    // No window manager on Xvfb: give the game the focus, as a desktop's would.
    let deadline = Instant::now() + Duration::from_secs(30);
    let window = loop {
        if let Some(&window) = top_level_windows(&xvfb.display).first() {
            break window;
        }
        assert!(Instant::now() < deadline, "the game showed no window");
        std::thread::sleep(Duration::from_millis(100));
    };
    focus(&xvfb.display, window);
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        640,
        360,
        30,
        &["--capture", "desktop:0,0,640x360"],
        &[("DISPLAY", &xvfb.display), ("XDG_RUNTIME_DIR", &runtime)],
    )
    .expect("host starts");
    let run = run_headless_viewer_with(
        &host.entitle().expect("entitled"),
        10.0,
        &["--send-input", "100"],
    )
    .expect("viewer");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    let decoded = summary["frames_decoded"].as_u64().unwrap_or(0);
    assert!(decoded >= 10, "{summary}");
    assert!(
        summary["barcode_misses"].as_u64().unwrap_or(u64::MAX) * 10 <= decoded,
        "the game's barcode reads back from the desktop stream: {summary}"
    );
    assert_eq!(summary["inputs_applied"], 100);
    let entries = read_log(&log);
    assert!(
        entries.iter().any(|e| e["kind"] == "key"),
        "keys reached the game"
    );
    assert!(entries.iter().any(|e| e["kind"] == "mouse_button"));
    let _ = game.kill();
    let _ = game.wait();
    host.stop().expect("host stops");
}

fn xclip_output(display: &str) -> String {
    std::process::Command::new("xclip")
        .args(["-o", "-selection", "clipboard", "-display", display])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn clipboard_text_travels_both_ways() {
    let dir = scratch_dir("apps-clipboard");
    let xvfb = Xvfb::start(640, 360).expect("Xvfb starts");
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        640,
        360,
        30,
        &["--capture", "desktop"],
        &[("DISPLAY", &xvfb.display)],
    )
    .expect("host starts");
    let url = host.entitle().expect("entitled");
    let viewer = std::thread::spawn(move || {
        run_headless_viewer_with(&url, 10.0, &["--clipboard", "héllo from the viewer"])
    });
    // Viewer → host: a program on the host's display pastes the viewer's text.
    let deadline = Instant::now() + Duration::from_secs(8);
    while xclip_output(&xvfb.display) != "héllo from the viewer" {
        assert!(
            Instant::now() < deadline,
            "the viewer's text never reached the host's clipboard"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Host → viewer: a program on the host copies; the viewer receives it.
    let mut copy = std::process::Command::new("xclip")
        .args([
            "-i",
            "-selection",
            "clipboard",
            "-loops",
            "1",
            "-display",
            &xvfb.display,
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("xclip runs");
    {
        use std::io::Write;
        let mut stdin = copy.stdin.take().expect("stdin");
        stdin
            .write_all("copied on the host ✓".as_bytes())
            .expect("written");
    }
    let run = viewer.join().expect("viewer thread").expect("viewer ran");
    let _ = copy.kill();
    let _ = copy.wait();
    let summary = run.summary();
    eprintln!("summary: {summary}");
    assert_eq!(summary["clipboard_received"], "copied on the host ✓");
    host.stop().expect("host stops");
}

#[test]
fn an_app_that_cannot_start_refuses_the_viewer_and_records_why() {
    let dir = scratch_dir("apps-launch-failed");
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        320,
        180,
        30,
        &["--display", "virtual"],
        &[],
    )
    .expect("host starts");
    host.admin(
        &[
            "apps",
            "add",
            "broken",
            "--command",
            "sh",
            "--arg=-c",
            "--arg",
            "echo missing assets >&2; exit 3",
        ],
        "",
    )
    .expect("app added");
    host.admin(&["users", "entitle", "demo", "broken"], "")
        .expect("entitled");
    let url = host
        .entitle_as("demo", &host.demo_password().expect("password"), "broken")
        .expect("entitled");
    let run = run_headless_viewer_with(&url, 10.0, &[]).expect("viewer");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("LaunchFailed") && error.contains("status 3"),
        "{summary}"
    );

    let list: common::api::ApplicationErrorList = host
        .admin_call(
            common::client::Method::GET,
            "/api/applications/broken/errors",
            None,
        )
        .expect("GetApplicationErrors");
    let recorded = list.errors.first().expect("an error was recorded");
    assert_eq!(recorded.kind, "launch_failed");
    assert_eq!(recorded.exit_status, Some(3));
    assert_eq!(recorded.stderr_tail.as_deref(), Some("missing assets\n"));
    host.stop().expect("host stops");
}

#[test]
fn audio_is_captured_from_the_chosen_cpal_device() {
    // ALSA's `null` device: the only capture device a machine without a
    // sound card has (it gives silence, as fast as it is read).
    let dir = scratch_dir("apps-audio");
    let xvfb = Xvfb::start(320, 180).expect("Xvfb starts");
    let host = HostProcess::start_with_env(
        &dir.join("host"),
        320,
        180,
        30,
        &["--capture", "desktop", "--audio", "null"],
        &[("DISPLAY", &xvfb.display)],
    )
    .expect("host starts");
    let run =
        run_headless_viewer_with(&host.entitle().expect("entitled"), 4.0, &[]).expect("viewer");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    assert!(summary["audio_packets"].as_u64() >= Some(200), "{summary}");
    assert_eq!(summary["audio_decode_errors"], 0);
    let log = host.log();
    assert!(
        !log.contains("no audio capture"),
        "the device opened: {log}"
    );
    host.stop().expect("host stops");
}
