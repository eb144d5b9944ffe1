//! Whether the system clock is synchronised, where the system says:
//! systemd's `timedatectl` first, else the kernel's own flag (adjtimex).
//! Signed requests and one-time codes are checked against the clock, so a
//! drifting host refuses good viewers; it is a warning, never a failure.

use std::process::Command;

use super::report::Check;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Synchronised {
    Yes(&'static str),
    No(&'static str),
    Unknown,
}

pub fn check() -> Check {
    let state = from_timedatectl().unwrap_or_else(from_adjtimex);
    clock_check(state)
}

/// `None` when timedatectl is missing or cannot answer (no systemd).
fn from_timedatectl() -> Option<Synchronised> {
    let output = Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_timedatectl(&String::from_utf8_lossy(&output.stdout))
}

fn parse_timedatectl(value: &str) -> Option<Synchronised> {
    match value.trim() {
        "yes" => Some(Synchronised::Yes("timedatectl")),
        "no" => Some(Synchronised::No("timedatectl")),
        _ => None,
    }
}

/// The kernel's view: a clock nobody disciplines is `TIME_ERROR` with
/// `STA_UNSYNC` set.
#[allow(unsafe_code)]
fn from_adjtimex() -> Synchronised {
    use nix::libc;
    // SAFETY: timex is plain integers, for which zero is valid; modes = 0
    // asks adjtimex to read only, into memory we own.
    let (state, status) = unsafe {
        let mut timex: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut timex);
        (state, timex.status)
    };
    match state {
        -1 => Synchronised::Unknown,
        libc::TIME_ERROR => Synchronised::No("the kernel (adjtimex)"),
        _ if status & libc::STA_UNSYNC != 0 => Synchronised::No("the kernel (adjtimex)"),
        _ => Synchronised::Yes("the kernel (adjtimex)"),
    }
}

fn clock_check(state: Synchronised) -> Check {
    const WHAT_TO_DO: &str = "run an NTP client (`timedatectl set-ntp true`, chrony or ntpd): signed requests and one-time codes need host and viewers to agree on the time";
    match state {
        Synchronised::Yes(source) => Check::ok("clock", format!("synchronised, says {source}")),
        Synchronised::No(source) => Check::warn(
            "clock",
            format!("not synchronised, says {source}"),
            WHAT_TO_DO,
        ),
        Synchronised::Unknown => Check::warn(
            "clock",
            "unknown: neither timedatectl nor the kernel answered",
            WHAT_TO_DO,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn timedatectl_answers_are_read_and_anything_else_falls_through() {
        assert_eq!(
            parse_timedatectl("yes\n"),
            Some(Synchronised::Yes("timedatectl"))
        );
        assert_eq!(
            parse_timedatectl("no\n"),
            Some(Synchronised::No("timedatectl"))
        );
        assert_eq!(parse_timedatectl(""), None);
    }

    #[test]
    fn an_unsynchronised_or_unknown_clock_is_only_a_warning() {
        assert_eq!(clock_check(Synchronised::Yes("x")).status, Status::Ok);
        assert_eq!(clock_check(Synchronised::No("x")).status, Status::Warn);
        assert_eq!(clock_check(Synchronised::Unknown).status, Status::Warn);
    }
}
