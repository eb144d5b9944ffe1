//! Driving the launcher as a person would, for the tests that do: its log
//! line by line, and screenshots checked by their pixels.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Xvfb;

/// The demo application's icon (assets/icons/desktop.png) is this blue.
pub const ICON_BLUE: [u8; 3] = [42, 111, 224];

/// A running launcher (or stream window) and its stderr, line by line, as
/// it comes; killed on drop.
pub struct Watched {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    /// Starts `command` with its stderr collected.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the viewer starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Watched { child, lines }
    }

    /// What it has logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// The first line that contains `needle`, waiting up to a minute.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the viewer never logged {needle:?}; it said:\n{}",
                self.lines.lock().expect("lines").join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes screenshots into `path` until `check` holds of one (the launcher
/// draws a moment after it logs); fails after 20 s, saying `what`.
pub fn screen_shows(
    xvfb: &Xvfb,
    path: &std::path::Path,
    what: &str,
    check: impl Fn(&image::RgbaImage) -> bool,
) {
    let shown = xvfb.screenshot_until(path, Duration::from_secs(20), |shot| {
        if check(shot) {
            Ok(())
        } else {
            Err(format!("never on screen: {what}"))
        }
    });
    if let Err(e) = shown {
        panic!("{e} (see {})", path.display());
    }
}

pub fn count_pixels(shot: &image::RgbaImage, matches: impl Fn([u8; 3]) -> bool) -> usize {
    shot.pixels()
        .filter(|p| matches([p.0[0], p.0[1], p.0[2]]))
        .count()
}

pub fn near(p: [u8; 3], q: [u8; 3], tolerance: i32) -> bool {
    (0..3).all(|c| (i32::from(p[c]) - i32::from(q[c])).abs() <= tolerance)
}
