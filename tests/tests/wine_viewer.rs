//! The Windows viewer (`scripts/build-windows`) under Wine against a Linux
//! host: a headless stream (nearly every frame decoded, none corrupt, the
//! demo's tone heard, sound played through WASAPI), the launcher on a
//! private Xvfb signed in to the application grid, the stream window drawn
//! by the software presenter (softbuffer's GDI path), the zip as a person
//! gets it (its script registers appstream:// links that then open a
//! stream), and LAN discovery across two network namespaces. They need the
//! cross-built exe and Wine, so they are ignored in `scripts/test`;
//! `scripts/test-windows` runs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::lan::{Lan, LanHost};
use e2e::launcher::{ICON_BLUE, Watched, count_pixels, near, screen_shows};
use e2e::pattern::wait_for_pattern;
use e2e::{
    HostProcess, Xvfb, focus_window, run_headless_viewer_via, scratch_dir, wait_for_window, xdotool,
};

/// Debian's Wine 8 keeps its 64-bit loader here (no `wine` on PATH).
const WINE64: &str = "/usr/lib/wine/wine64";
/// And the server that runs a prefix's processes.
const WINESERVER: &str = "/usr/lib/wine/wineserver";
/// The demo application's tone.
const TONE_HZ: f64 = 880.0;

/// A test's scratch directory. When the test ends, every process of its
/// Wine prefix (some started by Wine's shell, not by the test) is ended and
/// the prefix (a few hundred MB of a Windows tree) removed; screenshots
/// and logs stay.
struct WineScratch {
    dir: PathBuf,
}

impl WineScratch {
    fn new(label: &str) -> Self {
        WineScratch {
            dir: scratch_dir(label),
        }
    }
}

impl Drop for WineScratch {
    fn drop(&mut self) {
        let prefix = self.dir.join("wineprefix");
        let _ = Command::new(WINESERVER)
            .arg("-k")
            .env("WINEPREFIX", &prefix)
            .status();
        let _ = std::fs::remove_dir_all(prefix);
    }
}

/// The exe `scripts/build-windows` built (the shim DLL lies beside it).
fn built_exe() -> PathBuf {
    PathBuf::from(
        std::env::var("APPSTREAM_WINDOWS_VIEWER").expect("APPSTREAM_WINDOWS_VIEWER: viewer.exe"),
    )
}

/// `program` under Wine, in a Wine prefix of its own under `dir`.
fn wine(dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    wine_through(Command::new(WINE64), dir, program)
}

/// The same, through `wine64`, a command that runs Wine (in a network
/// namespace, say).
fn wine_through(mut wine64: Command, dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    wine64
        .arg(program)
        .env("WINEPREFIX", dir.join("wineprefix"))
        .env("WINEDEBUG", "-all");
    wine64
}

/// `viewer.exe` under Wine, in a Wine prefix of its own under `dir`.
fn windows_viewer(dir: &Path) -> Command {
    wine(dir, built_exe())
}

/// A Linux path as Wine's programs see it (drive Z: is the root).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// The size of the test pattern the window tests stream.
const PATTERN: (u32, u32) = (640, 360);

/// A private Xvfb, a host streaming its test pattern at `PATTERN`, and an
/// entitlement link to it.
fn pattern_stream(dir: &Path) -> (Xvfb, HostProcess, String) {
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let (width, height) = PATTERN;
    let host = HostProcess::start(&dir.join("host"), width, height, 30).expect("host starts");
    let url = host.entitle().expect("an entitlement URL");
    (xvfb, host, url)
}

/// Runs `command` to its end and returns its stdout; fails on a bad exit.
fn output_of(command: &mut Command) -> String {
    let output = command.output().expect("a Wine program runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
#[ignore = "needs viewer.exe and Wine: run by scripts/test-windows"]
fn the_windows_viewer_streams_from_a_linux_host_under_wine() {
    let scratch = WineScratch::new("wine-viewer");
    let dir = scratch.dir.clone();
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let url = host.entitle().expect("an entitlement URL");
    // Sound goes out through WASAPI: Wine's audio driver plays into an ALSA
    // null device (this machine has no sound card), set up for Wine alone.
    std::fs::write(dir.join(".asoundrc"), "pcm.!default { type null }\n").expect("an .asoundrc");
    let mut viewer = windows_viewer(&dir);
    viewer.env("HOME", &dir);
    let run = run_headless_viewer_via(viewer, &url, 5.0, &[]).expect("viewer.exe runs");
    let summary = run.summary();
    eprintln!("viewer.exe under Wine: {summary}");
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    let count = |key: &str| summary[key].as_u64().unwrap_or(0);
    let (sent, decoded) = (count("frames_sent"), count("frames_decoded"));
    assert!(
        sent > 100 && decoded * 100 >= sent * 98,
        "{decoded} of {sent} frames decoded"
    );
    assert_eq!(count("decode_errors"), 0);
    let tone = summary["audio_freq_hz"].as_f64().unwrap_or(0.0);
    assert!((tone - TONE_HZ).abs() < 5.0, "the tone: {tone} Hz");
    // A device opened: the jitter buffer feeding it has a target. (The null
    // device keeps no real-time clock, so underruns say nothing here.)
    let target_ms = summary["audio_target_ms"].as_f64().unwrap_or(0.0);
    assert!(target_ms > 0.0, "no audio device opened under Wine");
}

#[test]
#[ignore = "needs viewer.exe and Wine: run by scripts/test-windows"]
fn the_windows_launcher_signs_in_to_the_application_grid_under_wine() {
    let scratch = WineScratch::new("wine-launcher");
    let dir = scratch.dir.clone();
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let host = HostProcess::start(&dir.join("host"), 320, 180, 30).expect("host starts");
    let mut launcher = windows_viewer(&dir);
    launcher
        .args(["launcher", "--no-discovery", "--user", "demo", "--host"])
        .arg(host.base_url.trim_start_matches("https://"))
        .arg("--fingerprint")
        .arg(hex::encode(host.fingerprint))
        .env("DISPLAY", &xvfb.display)
        // Wine's Direct3D 12 cannot build wgpu's shaders here (its FXC
        // compiler is not implemented); Vulkan reaches Mesa's lavapipe
        // through winevulkan.
        .env("WGPU_BACKEND", "vulkan");
    let launcher = Watched::spawn(launcher);
    launcher.wait_for("screen=\"signin\"");
    let window = wait_for_window(&xvfb.display, "AppStream Viewer", Duration::from_secs(60))
        .expect("the launcher's window");
    focus_window(&xvfb.display, &window).expect("focus");
    let password = host.demo_password().expect("demo password");
    xdotool(&xvfb.display, &["type", "--delay", "30", &password]).expect("typing");
    xdotool(&xvfb.display, &["key", "Return"]).expect("enter");
    launcher.wait_for("screen=\"apps\" apps=1");
    let grid = dir.join("wine-application-grid.png");
    screen_shows(&xvfb, &grid, "the demo's icon", |shot| {
        count_pixels(shot, |p| near(p, ICON_BLUE, 12)) > 1000
    });
    eprintln!("the grid under Wine: {}", grid.display());
}

/// The stream window under Wine shows the host's test pattern with the
/// stats overlay. The default renderer (auto) finds that wgpu's adapter is
/// Mesa's llvmpipe (CPU) and presents through softbuffer's GDI path: the
/// path a Windows machine without a usable GPU takes.
#[test]
#[ignore = "needs viewer.exe and Wine: run by scripts/test-windows"]
fn the_windows_stream_window_shows_the_pattern_under_wine() {
    let scratch = WineScratch::new("wine-window");
    let dir = scratch.dir.clone();
    let (xvfb, _host, url) = pattern_stream(&dir);
    let (width, height) = PATTERN;
    let mut viewer = windows_viewer(&dir);
    viewer
        .args(["stream", "--mute", "--duration", "60", &url])
        .env("DISPLAY", &xvfb.display);
    let viewer = Watched::spawn(viewer);
    let chosen = viewer.wait_for("viewer: renderer:");
    assert!(chosen.contains("software (softbuffer"), "{chosen}");
    let path = dir.join("wine-stream-window.png");
    let first = wait_for_pattern(&xvfb, &path, (width, height), Duration::from_secs(60));
    first.unwrap_or_else(|e| panic!("the window never showed the pattern: {e}"));
    // Still streaming a moment later, with the overlay's first figures.
    std::thread::sleep(Duration::from_secs(3));
    let later = wait_for_pattern(&xvfb, &path, (width, height), Duration::from_secs(5));
    later.unwrap_or_else(|e| panic!("the pattern went away: {e}"));
    eprintln!("the stream window under Wine: {}", path.display());
}

/// The zip as a person gets it: unpacked, its script registers appstream://
/// for the user, and a link opened through the shell (Wine's `start`, which
/// calls ShellExecute as a browser does) starts viewer.exe from the zip's
/// folder, whose window shows the stream.
#[test]
#[ignore = "needs viewer.exe, its zip and Wine: run by scripts/test-windows"]
fn the_zip_registers_appstream_links_that_open_a_stream_under_wine() {
    let (width, height) = PATTERN;
    let scratch = WineScratch::new("wine-zip");
    let dir = scratch.dir.clone();
    let zip = std::env::var("APPSTREAM_WINDOWS_ZIP").expect("APPSTREAM_WINDOWS_ZIP: the zip");
    let status = Command::new("unzip")
        .args(["-q", &zip, "-d"])
        .arg(dir.join("unpacked"))
        .status()
        .expect("unzip runs");
    assert!(status.success(), "unzip {zip}");
    let folder = dir.join("unpacked").join("appstream-viewer");
    let shim = built_exe().with_file_name("bcryptprimitives.dll");
    std::fs::copy(&shim, folder.join("bcryptprimitives.dll")).expect("the Wine shim");

    // viewer.exe is a GUI program; its console twin answers in a terminal.
    let version = output_of(wine(&dir, folder.join("viewer-console.exe")).arg("--version"));
    assert!(version.starts_with("viewer "), "{version}");

    let script = windows_path(&folder.join("register-appstream-scheme.cmd"));
    let mut register = wine(&dir, "cmd");
    register.args(["/c", &script]);
    let said = output_of(&mut register);
    eprintln!("register-appstream-scheme.cmd said: {said}");
    assert!(said.contains("appstream:// links now open"), "{said}");
    let mut query = wine(&dir, "reg");
    query.args([
        "query",
        r"HKCU\Software\Classes\appstream\shell\open\command",
        "/ve",
    ]);
    let handler = output_of(&mut query);
    let exe = windows_path(&folder.join("viewer.exe"));
    assert!(
        handler.contains(&format!("\"{exe}\" \"%1\"")),
        "the handler: {handler}"
    );

    // Windows shows HKCU\Software\Classes through HKEY_CLASSES_ROOT, where
    // ShellExecute looks; Wine 8 shows only HKLM's classes there, so the
    // user's registration is copied across for Wine's sake.
    let mut copy = wine(&dir, "reg");
    copy.args([
        "copy",
        r"HKCU\Software\Classes\appstream",
        r"HKLM\Software\Classes\appstream",
        "/s",
        "/f",
    ]);
    output_of(&mut copy);

    let (xvfb, _host, url) = pattern_stream(&dir);
    assert!(url.starts_with("appstream://"), "{url}");
    // The viewer `start` opens would hold a piped stderr open: no pipes.
    let opened = wine(&dir, "start")
        .arg(&url)
        .env("DISPLAY", &xvfb.display)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("Wine's start runs");
    assert!(opened.success(), "start {url}: {opened}");
    let path = dir.join("wine-link-opened.png");
    let shown = wait_for_pattern(&xvfb, &path, (width, height), Duration::from_secs(60));
    eprintln!("the link opened under Wine: {}", path.display());
    let shot = shown.unwrap_or_else(|e| panic!("the link never showed the stream: {e}"));
    // Nothing else on the screen: a console-subsystem viewer.exe opened a
    // console window beside the stream (right of it and below it).
    let outside = count_pixels_in(&shot, |x, y| x >= width + 10 || y >= height + 30);
    assert_eq!(
        outside,
        0,
        "another window beside the stream: {}",
        path.display()
    );
}

/// Pixels that are not black at positions where `at(x, y)` holds.
fn count_pixels_in(shot: &image::RgbaImage, at: impl Fn(u32, u32) -> bool) -> usize {
    shot.enumerate_pixels()
        .filter(|(x, y, p)| at(*x, *y) && p.0[..3] != [0, 0, 0])
        .count()
}

/// LAN discovery as on Linux: in two network namespaces joined by a veth
/// pair, the launcher under Wine in one finds, through Wine's sockets, the
/// host advertising itself with mDNS in the other.
#[test]
#[ignore = "needs viewer.exe, Wine and root: run by scripts/test-windows"]
fn the_windows_launcher_finds_a_host_on_the_lan_under_wine() {
    let lan = Lan::create("wm").expect("network namespaces (root and iproute2)");
    let scratch = WineScratch::new("wine-mdns");
    let dir = scratch.dir.clone();
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let host =
        LanHost::start(&lan, &dir.join("host"), &["--mdns", &lan.host_dev]).expect("host starts");
    let mut launcher = wine_through(
        Lan::command_in(&lan.viewer_ns, Path::new(WINE64)),
        &dir,
        built_exe(),
    );
    launcher
        .arg("launcher")
        .env("DISPLAY", &xvfb.display)
        .env("WGPU_BACKEND", "vulkan");
    let launcher = Watched::spawn(launcher);
    let found = launcher.wait_for("discovered=");
    eprintln!("found under Wine: {found}");
    let authority = host.service.trim_start_matches("https://");
    assert!(found.contains(authority), "{found} is not {authority}");
}
