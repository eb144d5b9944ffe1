//! The host's test pattern seen on a screen: its colour bars compared with
//! what the host painted, waited for in repeated screenshots.

use std::path::Path;
use std::time::Duration;

use host::platform::synthetic::{BARS_RGB, bar_rect};

use crate::Xvfb;

/// Checks the middle of each colour bar of a `width`×`height` pattern shown
/// at the screen's top-left corner.
pub fn bars_match(shot: &image::RgbaImage, width: u32, height: u32) -> Result<(), String> {
    for (i, expected) in BARS_RGB.iter().enumerate() {
        let (x0, x1, y0, y1) = bar_rect(i, width, height);
        let (x, y) = ((x0 + x1) / 2, (y0 + y1) / 2);
        let got = shot.get_pixel(x, y).0;
        let close = (0..3).all(|c| (i32::from(got[c]) - i32::from(expected[c])).abs() <= 24);
        if !close {
            return Err(format!(
                "bar {i} at ({x},{y}): got {got:?}, host painted {expected:?}"
            ));
        }
    }
    Ok(())
}

/// Screenshots `xvfb` into `path` until the pattern's bars show, and
/// returns that screenshot, or the last mismatch.
pub fn wait_for_pattern(
    xvfb: &Xvfb,
    path: &Path,
    (width, height): (u32, u32),
    timeout: Duration,
) -> Result<image::RgbaImage, String> {
    xvfb.screenshot_until(path, timeout, |shot| bars_match(shot, width, height))
}
