//! The session drivers only drive (DESIGN.md section 4, issue 13): each is
//! one file of at most 300 lines; it reads the clock only in its one
//! adapter (`fn now_us`, `fn instant_at`), defines no timing constant, and
//! never branches on a control message's type: every message goes to the
//! machine in `common::session`, which makes every protocol decision.

use std::path::{Path, PathBuf};

const DRIVERS: [&str; 2] = ["host/src/stream/driver.rs", "viewer/src/stream/net/mod.rs"];
const MAX_LINES: usize = 300;
const ADAPTER: [&str; 2] = ["fn now_us(", "fn instant_at("];

fn source(relative: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file without the adapter's functions and without comments.
fn outside_adapter(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut depth_in_adapter: Option<i32> = None;
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        if depth_in_adapter.is_none() && ADAPTER.iter().any(|f| code.contains(f)) {
            depth_in_adapter = Some(0);
        }
        if let Some(depth) = depth_in_adapter.as_mut() {
            *depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
            if *depth <= 0 && code.contains('}') {
                depth_in_adapter = None;
            }
            continue;
        }
        lines.push((number + 1, code.to_string()));
    }
    lines
}

#[test]
fn each_driver_is_one_short_file() {
    for driver in DRIVERS {
        let lines = source(driver).lines().count();
        assert!(
            lines <= MAX_LINES,
            "{driver} has {lines} lines (at most {MAX_LINES})"
        );
    }
}

#[test]
fn drivers_read_the_clock_only_in_their_adapter() {
    for driver in DRIVERS {
        let text = source(driver);
        for adapter in ADAPTER {
            assert!(text.contains(adapter), "{driver} has no `{adapter}`");
        }
        for (number, code) in outside_adapter(&text) {
            for clock in ["Instant::now", "SystemTime", "unix_now_us", "elapsed()"] {
                assert!(
                    !code.contains(clock),
                    "{driver}:{number} reads the clock: {code}"
                );
            }
        }
    }
}

#[test]
fn drivers_define_no_timing_constant() {
    for driver in DRIVERS {
        for (number, code) in outside_adapter(&source(driver)) {
            assert!(
                !code.trim_start().starts_with("const "),
                "{driver}:{number}: {code}"
            );
            for literal in ["from_millis(", "from_secs(", "from_nanos("] {
                assert!(
                    !code.contains(literal),
                    "{driver}:{number} times something: {code}"
                );
            }
            // Durations come from the session's config, in µs.
            if code.contains("from_micros(") {
                assert!(
                    code.contains("config"),
                    "{driver}:{number} times something: {code}"
                );
            }
        }
    }
}

#[test]
fn drivers_never_branch_on_a_message_type() {
    for driver in DRIVERS {
        for (number, code) in outside_adapter(&source(driver)) {
            let branches =
                code.contains("=>") || code.contains("if let") || code.contains("matches!");
            // Parsing a message to hand it on is not deciding on it.
            let named = code.replace("ControlMessage::from_json", "");
            assert!(
                !(branches && named.contains("ControlMessage::")),
                "{driver}:{number} decides on a message itself: {code}"
            );
        }
    }
}
