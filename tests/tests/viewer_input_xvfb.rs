//! Under a private Xvfb, what a person does in the stream window: keys typed
//! and pointer moves made with xdotool arrive at the host in order, and the
//! window shows the stream with its statistics overlay. The viewer is
//! started as a link would start it, `viewer appstream://…`.

use std::time::{Duration, Instant};

use e2e::{HostProcess, Xvfb, focus_window, scratch_dir, wait_for_window, window_size, xdotool};
use host::platform::synthetic::{BARS_RGB, bar_rect};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

/// The host's input log, as JSON values.
fn logged_events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn wait_for_events(
    path: &std::path::Path,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = logged_events(path);
        if done(&events) || Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn typed_keys_and_pointer_moves_reach_the_host_in_order_and_the_overlay_shows() {
    let dir = scratch_dir("viewer-input");
    let input_log = dir.join("input.jsonl");
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let host = HostProcess::start_with(
        &dir.join("host"),
        WIDTH,
        HEIGHT,
        30,
        &["--input-log", &input_log.to_string_lossy()],
    )
    .expect("host starts");
    // Started the way a link opens it: `viewer URL` (the launcher's
    // settings, here the defaults, become the stream's options).
    let url = host.entitle().expect("entitled");
    let mut viewer = xvfb.viewer(&dir, &[&url]).expect("viewer starts");
    let display = xvfb.display.as_str();
    let window = wait_for_window(display, "AppStream stream", Duration::from_secs(30))
        .expect("the stream window opens");
    // The window takes the stream's size (1:1 pixels) once the first frame is in.
    let deadline = Instant::now() + Duration::from_secs(30);
    while window_size(display, &window).expect("geometry") != (WIDTH, HEIGHT) {
        assert!(
            Instant::now() < deadline,
            "the window never took the stream's size"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    focus_window(display, &window).expect("focus");

    // The stream with the overlay, as a person sees it (after a couple of
    // seconds, so the overlay has rates to show).
    std::thread::sleep(Duration::from_millis(2500));
    let shot_path = dir.join("stream-overlay.png");
    let deadline = Instant::now() + Duration::from_secs(20);
    let overlay_shown = loop {
        let shot = xvfb.screenshot(&shot_path).expect("screenshot");
        // Bars right of the overlay are the host's; the overlay (egui's
        // dark panel) covers the top-left.
        let (x0, x1, y0, y1) = bar_rect(BARS_RGB.len() - 1, WIDTH, HEIGHT);
        let bar = shot.get_pixel((x0 + x1) / 2, (y0 + y1) / 2).0;
        let expected = BARS_RGB[BARS_RGB.len() - 1];
        let bar_ok = (0..3).all(|c| (i32::from(bar[c]) - i32::from(expected[c])).abs() <= 24);
        let panel = shot.get_pixel(40, 60).0;
        let panel_ok = panel[..3].iter().all(|v| (10..=70).contains(v));
        if bar_ok && panel_ok {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("screenshot: {}", shot_path.display());
    assert!(overlay_shown, "the stream with its overlay never showed");

    xdotool(display, &["type", "--delay", "30", "hello"]).expect("typing");
    // Pointer moves onto known points of the picture.
    let points = [(64, 36), (320, 180), (576, 324), (128, 288)];
    for (x, y) in points {
        let (x, y) = (x.to_string(), y.to_string());
        xdotool(display, &["mousemove", "--window", &window, &x, &y]).expect("move");
        std::thread::sleep(Duration::from_millis(100));
    }
    xdotool(display, &["click", "1"]).expect("click");

    let events = wait_for_events(&input_log, |events| {
        events
            .iter()
            .any(|e| e["event"]["kind"] == "mouse_button" && e["event"]["pressed"] == false)
    });
    let _ = viewer.kill();
    let _ = viewer.wait();

    // In sequence order, each once (the host may merge pointer moves, so
    // numbers of moves can be skipped; keys and buttons never are).
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "events in order: {seqs:?}"
    );
    let keys: Vec<(u64, bool)> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "key")
        .map(|e| {
            let usage = e["event"]["usage"].as_u64().expect("usage");
            (usage, e["event"]["pressed"].as_bool().expect("pressed"))
        })
        .collect();
    // h e l l o: HID 0x0b 0x08 0x0f 0x0f 0x12, each pressed then released.
    let expected: Vec<(u64, bool)> = [0x0b, 0x08, 0x0f, 0x0f, 0x12]
        .into_iter()
        .flat_map(|usage| [(usage, true), (usage, false)])
        .collect();
    assert_eq!(keys, expected, "typed keys, in order");

    // Each pointer target appears, in order, at its place on the picture.
    let moves: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "mouse_absolute")
        .map(|e| {
            let f = |k: &str| e["event"][k].as_f64().expect("coordinate");
            (f("x"), f("y"))
        })
        .collect();
    let mut next = 0;
    for (x, y) in &moves {
        if let Some(&(px, py)) = points.get(next) {
            let (ex, ey) = (
                f64::from(px) / f64::from(WIDTH),
                f64::from(py) / f64::from(HEIGHT),
            );
            if (x - ex).abs() < 0.01 && (y - ey).abs() < 0.01 {
                next += 1;
            }
        }
    }
    assert_eq!(
        next,
        points.len(),
        "every pointer target, in order: {moves:?}"
    );
    let clicks: Vec<_> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "mouse_button")
        .map(|e| (e["event"]["button"].clone(), e["event"]["pressed"].clone()))
        .collect();
    assert_eq!(
        clicks,
        vec![("left".into(), true.into()), ("left".into(), false.into())]
    );
}
