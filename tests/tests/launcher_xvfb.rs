//! The launcher a person double-clicks, under a private Xvfb, driven with
//! xdotool like a person would: the sign-in screen, a wrong password said in
//! words, the application grid with the host's icon, a click that starts the
//! stream window, and the shortcut that ends it, back to the grid. Each
//! screen is a screenshot that the test checks (and that you can look at).

use std::process::Command;
use std::time::{Duration, Instant};

use e2e::launcher::{ICON_BLUE, Watched, count_pixels, near, screen_shows};
use e2e::{
    HostProcess, Xvfb, binary, focus_window, runtime_dir, scratch_dir, wait_for_window, xdotool,
};

/// egui's dark theme draws errors in pure red.
fn red_text(p: [u8; 3]) -> bool {
    p[0] > 180 && p[1] < 90 && p[2] < 90
}

/// Light text on the dark panel.
fn light_text(p: [u8; 3]) -> bool {
    p.iter().all(|v| *v > 170)
}

#[test]
fn sign_in_wrong_password_grid_and_a_stream_from_the_launcher() {
    let dir = scratch_dir("launcher");
    let config = dir.join("config");
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let display = xvfb.display.clone();
    let host = HostProcess::start(&dir.join("host"), 640, 360, 30).expect("host starts");
    let (launcher, window) = at_sign_in(&dir, &display, &config, &host, "demo");

    // 1. The sign-in screen: its labels, and no error yet.
    screen_shows(
        &xvfb,
        &dir.join("1-signin.png"),
        "the sign-in form",
        |shot| count_pixels(shot, light_text) > 500 && count_pixels(shot, red_text) == 0,
    );

    // 2. A wrong password, said in words.
    xdotool(&display, &["type", "--delay", "30", "not-the-password"]).expect("typing");
    xdotool(&display, &["key", "Return"]).expect("enter");
    let said = launcher.wait_for("error=");
    assert!(said.contains("Wrong user name or password"), "{said}");
    screen_shows(
        &xvfb,
        &dir.join("2-wrong-password.png"),
        "the error in red",
        |shot| count_pixels(shot, red_text) > 30,
    );

    // 3. The right password: the grid, with the host's icon for the demo.
    let password = host.demo_password().expect("demo password");
    xdotool(&display, &["key", "ctrl+a", "BackSpace"]).expect("clearing");
    xdotool(&display, &["type", "--delay", "30", &password]).expect("typing");
    xdotool(&display, &["key", "Return"]).expect("enter");
    launcher.wait_for("screen=\"apps\" apps=1");
    screen_shows(
        &xvfb,
        &dir.join("3-application-grid.png"),
        "the demo's icon",
        |shot| count_pixels(shot, |p| near(p, ICON_BLUE, 12)) > 1000,
    );

    // 4. Click the tile: the stream window opens and shows the stream.
    xdotool(
        &display,
        &["mousemove", "--window", &window, "98", "184", "click", "1"],
    )
    .expect("click");
    launcher.wait_for("screen=\"playing\"");
    let stream = wait_for_window(&display, "AppStream stream", Duration::from_secs(30))
        .expect("the stream window");
    std::thread::sleep(Duration::from_secs(3));
    xvfb.screenshot(&dir.join("4-playing.png"))
        .expect("screenshot");
    launcher.wait_for("connected");

    // 5. The quit shortcut ends it; the launcher says so and shows the grid.
    focus_window(&display, &stream).expect("focus");
    xdotool(&display, &["key", "ctrl+alt+shift+q"]).expect("shortcut");
    let said = launcher.wait_for("notice=");
    assert!(said.contains("You ended the session"), "{said}");
    let back = launcher
        .lines()
        .iter()
        .filter(|l| l.contains("screen=\"apps\""))
        .count();
    assert!(back >= 2, "back on the grid after the stream");

    // 6. Played again and ended by an administrator: the launcher says so.
    xdotool(
        &display,
        &["mousemove", "--window", &window, "98", "184", "click", "1"],
    )
    .expect("click");
    launcher.wait_for("app=demo");
    host.terminate_active_session("demo")
        .expect("UpdateSessionState TERMINATED");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !launcher
        .lines()
        .iter()
        .any(|l| l.contains("An administrator ended the session"))
    {
        assert!(
            Instant::now() < deadline,
            "the launcher never said an administrator ended it"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    xvfb.screenshot(&dir.join("5-ended-by-admin.png"))
        .expect("screenshot");
    drop(launcher);

    // 7. "Remember me" kept a refresh token, never the password: the next
    // start goes straight to the grid.
    let saved = config.join("viewer").join("credentials.json");
    let text = std::fs::read_to_string(&saved).expect("credentials saved");
    assert!(!text.contains(&password), "the password is never saved");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&saved)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "credentials are private");
    let launcher = start_launcher(&dir, &display, &config, &host_args(&host));
    launcher.wait_for("screen=\"apps\" apps=1");
    assert!(
        !launcher
            .lines()
            .iter()
            .any(|l| l.contains("screen=\"signin\"")),
        "no sign-in screen with a remembered sign-in"
    );
    eprintln!("screenshots in {}", dir.display());
}

/// `--host ADDR:PORT --fingerprint HEX` for `host`.
fn host_args(host: &HostProcess) -> Vec<String> {
    let address = host.base_url.trim_start_matches("https://").to_string();
    vec![
        "--host".into(),
        address,
        "--fingerprint".into(),
        hex::encode(host.fingerprint),
    ]
}

/// The launcher opened on `host` with `user` filled in, at the sign-in
/// screen, its window focused (the password field has the keyboard).
fn at_sign_in(
    dir: &std::path::Path,
    display: &str,
    config: &std::path::Path,
    host: &HostProcess,
    user: &str,
) -> (Watched, String) {
    let mut args = host_args(host);
    args.extend(["--user".to_string(), user.to_string()]);
    let launcher = start_launcher(dir, display, config, &args);
    launcher.wait_for("screen=\"signin\"");
    let window = wait_for_window(display, "AppStream Viewer", Duration::from_secs(30))
        .expect("the launcher's window");
    focus_window(display, &window).expect("focus");
    (launcher, window)
}

fn start_launcher(
    dir: &std::path::Path,
    display: &str,
    config: &std::path::Path,
    args: &[String],
) -> Watched {
    let mut command = Command::new(binary("viewer"));
    // Never browse the machine's real network from a test.
    command
        .args(["launcher", "--no-discovery"])
        .args(args)
        .env("DISPLAY", display)
        .env("XDG_RUNTIME_DIR", runtime_dir(dir))
        .env("XDG_CONFIG_HOME", config);
    Watched::spawn(command)
}

/// A user with an authenticator is asked for the code in words, signs in
/// with it, and finds a disabled application greyed and inert.
#[test]
fn a_code_is_asked_for_and_a_disabled_application_is_greyed() {
    let dir = scratch_dir("launcher-totp");
    let config = dir.join("config");
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let display = xvfb.display.clone();
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let secret = host
        .add_totp_user("bob", "correct horse battery", "demo")
        .expect("a user with an authenticator");
    host.admin(&["apps", "disable", "demo"], "")
        .expect("disable");
    let (launcher, window) = at_sign_in(&dir, &display, &config, &host, "bob");
    std::thread::sleep(Duration::from_millis(500));
    xdotool(
        &display,
        &["type", "--delay", "30", "correct horse battery"],
    )
    .expect("typing");
    xdotool(&display, &["key", "Return"]).expect("enter");
    let said = launcher.wait_for("error=");
    assert!(said.contains("6-digit code"), "{said}");
    screen_shows(
        &xvfb,
        &dir.join("1-code-needed.png"),
        "the request in red",
        |shot| count_pixels(shot, red_text) > 30,
    );

    // The code field has the focus now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let code = host::control_plane::entitlement::passwords::totp_code(&secret, now).expect("code");
    xdotool(&display, &["type", "--delay", "30", &code]).expect("typing");
    xdotool(&display, &["key", "Return"]).expect("enter");
    launcher.wait_for("screen=\"apps\" apps=1");
    // The icon is drawn dimmed (bluish but dark), never at its own colour.
    screen_shows(
        &xvfb,
        &dir.join("2-disabled-greyed.png"),
        "a greyed icon",
        |shot| {
            let dim = count_pixels(shot, |p| {
                i32::from(p[2]) > i32::from(p[0]) + 25 && p[2] < 140
            });
            let bright = count_pixels(shot, |p| near(p, ICON_BLUE, 12));
            dim > 1000 && bright < 50
        },
    );
    // A click on it starts nothing.
    xdotool(
        &display,
        &["mousemove", "--window", &window, "98", "184", "click", "1"],
    )
    .expect("click");
    std::thread::sleep(Duration::from_secs(2));
    let started = launcher
        .lines()
        .iter()
        .any(|l| l.contains("screen=\"connecting\""));
    assert!(!started, "a disabled application does not start");
    eprintln!("screenshots in {}", dir.display());
}
