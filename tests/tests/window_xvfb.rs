//! Under a private Xvfb: the viewer's window shows the host's test pattern.
//! The screenshot's colour bars are compared with what the host painted, and
//! the latency barcode is read back off the screen.

use std::time::Duration;

use e2e::pattern::wait_for_pattern;
use e2e::{HostProcess, Xvfb, scratch_dir};
use host::platform::synthetic::{BARS_RGB, bar_rect};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;

fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

/// Streams the test pattern into a window drawn by `renderer` and returns
/// the first screenshot whose colour bars match what the host painted.
fn pattern_on_screen(renderer: &str) -> image::RgbaImage {
    let dir = scratch_dir(&format!("window-{renderer}"));
    let xvfb = Xvfb::start(1280, 800).expect("Xvfb starts");
    let host = HostProcess::start(&dir.join("host"), WIDTH, HEIGHT, 30).expect("host starts");
    let url = host.entitle().expect("entitled");
    let args = [
        "stream",
        "--mute",
        "--no-overlay",
        "--renderer",
        renderer,
        "--duration",
        "20",
        &url,
    ];
    let mut viewer = xvfb.viewer(&dir, &args).expect("viewer starts");

    let path = dir.join(format!("stream-window-{renderer}.png"));
    let mut shown = wait_for_pattern(&xvfb, &path, (WIDTH, HEIGHT), Duration::from_secs(30));
    // The stream starts coarse (its first keyframe is planned as a busy
    // picture) and refines within a fraction of a second: compare pictures
    // that have settled.
    if shown.is_ok() {
        std::thread::sleep(Duration::from_secs(1));
        shown = wait_for_pattern(&xvfb, &path, (WIDTH, HEIGHT), Duration::from_secs(30));
    }
    let _ = viewer.kill();
    let _ = viewer.wait();
    eprintln!("screenshot ({renderer}): {}", path.display());
    let shot =
        shown.unwrap_or_else(|e| panic!("the {renderer} window never showed the pattern: {e}"));

    // The barcode on screen is a capture time the host painted moments ago.
    let luma = |x: u32, y: u32| {
        let p = shot.get_pixel(x, y).0;
        ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
    };
    let painted_us =
        common::barcode::read(WIDTH, HEIGHT, luma).expect("barcode readable on screen");
    let age_us = common::barcode::elapsed_us(painted_us, unix_now_us());
    assert!(age_us < 60_000_000, "barcode is {age_us} µs old");
    shot
}

/// The mean colour of a rectangle (x0, x1, y0, y1).
fn mean_rgb(shot: &image::RgbaImage, (x0, x1, y0, y1): (u32, u32, u32, u32)) -> [f64; 3] {
    let mut sum = [0f64; 3];
    for y in y0..y1 {
        for x in x0..x1 {
            let p = shot.get_pixel(x, y).0;
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
        }
    }
    let n = f64::from((x1 - x0) * (y1 - y0));
    sum.map(|s| s / n)
}

/// The largest difference of mean colour over the pattern's still parts
/// (each bar, inset, and the background above the box): compression noise
/// differs between any two moments, the colours must not.
fn largest_colour_difference(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    let inset = 8;
    let mut regions: Vec<_> = (0..BARS_RGB.len())
        .map(|i| {
            let (x0, x1, y0, y1) = bar_rect(i, WIDTH, HEIGHT);
            (x0 + inset, x1 - inset, y0 + inset, y1 - inset)
        })
        .collect();
    regions.push((inset, WIDTH - inset, HEIGHT / 6, HEIGHT / 3 - inset));
    regions
        .into_iter()
        .flat_map(|region| {
            let (p, q) = (mean_rgb(a, region), mean_rgb(b, region));
            (0..3).map(move |c| (p[c] - q[c]).abs())
        })
        .fold(0.0, f64::max)
}

/// The shader path (wgpu on lavapipe here) and the software presenter show
/// the same picture: neither can rot unnoticed.
#[test]
fn gpu_and_software_presenters_show_the_same_picture() {
    let gpu = pattern_on_screen("gpu");
    let software = pattern_on_screen("software");
    let difference = largest_colour_difference(&gpu, &software);
    eprintln!("largest colour difference gpu vs software: {difference:.2}");
    assert!(
        difference <= 4.0,
        "the presenters' colours differ by {difference:.2}"
    );
}
