//! The X side of `host doctor`: the display in DISPLAY (shared mode), a
//! private Xvfb (virtual mode), and on each the extensions capture and
//! input use. Probing opens the host's own capture and XTest injector, so
//! "ok" means the code `serve` runs worked, not just that a name answered.

use x11rb::connection::RequestConnection;
use x11rb::protocol::xproto::ConnectionExt as _;

use super::report::Check;
use crate::platform::x11::capture::{Target, X11Capture};
use crate::platform::x11::inject::XTestInjector;
use crate::platform::x11::{self, Rect};
use crate::platform::xvfb::Xvfb;

/// What one reachable display offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayFacts {
    pub display: String,
    pub size: (u16, u16),
    /// The capture opened; `true` when it shares memory with the server.
    pub capture_shm: Result<bool, String>,
    pub xtest: Result<(), String>,
    pub xdamage: bool,
}

/// Where each session's applications could be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Displays {
    /// DISPLAY's value and what it gave; `None` when DISPLAY is unset.
    pub shared: Option<(String, Result<DisplayFacts, String>)>,
    /// A private Xvfb started for the check (or why it did not start).
    pub virtual_display: Result<DisplayFacts, String>,
}

/// Looks at DISPLAY and starts (and stops) one Xvfb.
pub fn probe() -> Displays {
    let shared = std::env::var("DISPLAY")
        .ok()
        .filter(|d| !d.is_empty())
        .map(|display| {
            let facts = probe_display(&display);
            (display, facts)
        });
    let virtual_display = match Xvfb::start(640, 480) {
        Ok(xvfb) => probe_display(&xvfb.display),
        Err(e) => Err(format!("{e:#}")),
    };
    Displays {
        shared,
        virtual_display,
    }
}

fn probe_display(display: &str) -> Result<DisplayFacts, String> {
    let (conn, root) = x11::connect(display).map_err(|e| format!("{e:#}"))?;
    let geometry = conn
        .get_geometry(root)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| e.to_string())?;
    let xdamage = conn
        .extension_information(x11rb::protocol::damage::X11_EXTENSION_NAME)
        .is_ok_and(|info| info.is_some());
    // A corner of the screen is enough to open what a session opens.
    let corner = Target::Screen(Rect {
        x: 0,
        y: 0,
        width: 16,
        height: 16,
    });
    let capture_shm = X11Capture::open(display, corner, (16, 16))
        .map(|capture| capture.uses_shm())
        .map_err(|e| format!("{e:#}"));
    let xtest = XTestInjector::open(display, corner)
        .map(drop)
        .map_err(|e| format!("{e:#}"));
    Ok(DisplayFacts {
        display: display.to_string(),
        size: (geometry.width, geometry.height),
        capture_shm,
        xtest,
        xdamage,
    })
}

/// The checks for what `probe` found: the display choice first, then each
/// reachable display's extensions.
pub fn checks(displays: &Displays) -> Vec<Check> {
    let virtual_works = displays.virtual_display.is_ok();
    let mut checks = vec![display_choice(&displays.shared, virtual_works)];
    checks.push(match &displays.virtual_display {
        Ok(facts) => Check::ok(
            "Xvfb",
            format!(
                "a private display ({}) started: --display virtual works",
                facts.display
            ),
        ),
        Err(e) => Check::warn(
            "Xvfb",
            e.clone(),
            "install Xvfb (the xvfb package) so each session can get a private display",
        ),
    });
    if let Some((_, Ok(facts))) = &displays.shared {
        checks.extend(extension_checks(facts));
    }
    if let Ok(facts) = &displays.virtual_display {
        checks.extend(extension_checks(facts));
    }
    checks
}

/// DISPLAY unset is fine while Xvfb works: sessions get virtual displays.
fn display_choice(
    shared: &Option<(String, Result<DisplayFacts, String>)>,
    virtual_works: bool,
) -> Check {
    match shared {
        Some((display, Ok(facts))) => Check::ok(
            format!("X display {display}"),
            format!(
                "reachable, {}x{}: applications are shown there (--display shared)",
                facts.size.0, facts.size.1
            ),
        ),
        Some((display, Err(e))) => {
            let found = format!("DISPLAY={display} cannot be reached: {e}");
            if virtual_works {
                Check::warn(
                    format!("X display {display}"),
                    found,
                    "fix DISPLAY (and XAUTHORITY) for the host's user, or run `host serve --display virtual` (a private Xvfb per session)",
                )
            } else {
                Check::fail(
                    format!("X display {display}"),
                    found,
                    "fix DISPLAY (and XAUTHORITY) for the host's user, or install Xvfb for virtual displays",
                )
            }
        }
        None if virtual_works => Check::ok(
            "X display",
            "DISPLAY is unset: each session gets a private Xvfb (--capture desktop needs DISPLAY)",
        ),
        None => Check::fail(
            "X display",
            "DISPLAY is unset and Xvfb cannot start: there is nowhere to show applications",
            "install Xvfb (the xvfb package), or set DISPLAY to your X display",
        ),
    }
}

/// Capture falls back to copying through the socket without MIT-SHM, so
/// its absence slows streaming but does not stop it; without XTest there
/// is no input.
fn extension_checks(facts: &DisplayFacts) -> Vec<Check> {
    let display = &facts.display;
    let mit_shm = match &facts.capture_shm {
        Ok(true) => Check::ok(
            format!("MIT-SHM on {display}"),
            "present: capture shares memory with the X server",
        ),
        Ok(false) => Check::warn(
            format!("MIT-SHM on {display}"),
            "absent or unusable: capture copies every frame through the X socket (slower)",
            "use a local X server with MIT-SHM (a remote or forwarded display has none)",
        ),
        Err(e) => Check::fail(
            format!("capture on {display}"),
            format!("the capture cannot open: {e}"),
            "check that the host's user may use this display (xhost/XAUTHORITY)",
        ),
    };
    let xtest = match &facts.xtest {
        Ok(()) => Check::ok(
            format!("XTest on {display}"),
            "present: the viewer's keys and mouse reach applications",
        ),
        Err(e) => Check::fail(
            format!("XTest on {display}"),
            format!("{e}: no input can reach applications"),
            "enable the XTEST extension in the X server (Xorg has it unless disabled in xorg.conf)",
        ),
    };
    let xdamage = if facts.xdamage {
        Check::ok(
            format!("XDamage on {display}"),
            "present: unchanged pictures are not captured again",
        )
    } else {
        Check::warn(
            format!("XDamage on {display}"),
            "absent: every frame is captured and encoded, drawn or not",
            "use an X server with the DAMAGE extension (Xorg and Xvfb have it)",
        )
    };
    vec![mit_shm, xtest, xdamage]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    fn facts(display: &str) -> DisplayFacts {
        DisplayFacts {
            display: display.into(),
            size: (1280, 720),
            capture_shm: Ok(true),
            xtest: Ok(()),
            xdamage: true,
        }
    }

    fn statuses(checks: &[Check]) -> Vec<Status> {
        checks.iter().map(|c| c.status).collect()
    }

    #[test]
    fn no_display_is_fine_while_xvfb_works() {
        let checks = checks(&Displays {
            shared: None,
            virtual_display: Ok(facts(":7")),
        });
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:?}");
        assert!(checks[0].found.contains("private Xvfb"));
    }

    #[test]
    fn no_display_and_no_xvfb_fails() {
        let checks = checks(&Displays {
            shared: None,
            virtual_display: Err("starting Xvfb: No such file or directory".into()),
        });
        assert_eq!(statuses(&checks), vec![Status::Fail, Status::Warn]);
        assert!(
            checks[0]
                .what_to_do
                .as_deref()
                .is_some_and(|t| t.contains("install Xvfb"))
        );
    }

    #[test]
    fn an_unreachable_display_fails_only_without_xvfb() {
        let unreachable = Some((":3".to_string(), Err("connection refused".to_string())));
        let with_xvfb = checks(&Displays {
            shared: unreachable.clone(),
            virtual_display: Ok(facts(":7")),
        });
        assert_eq!(with_xvfb[0].status, Status::Warn);
        let without = checks(&Displays {
            shared: unreachable,
            virtual_display: Err("no Xvfb".into()),
        });
        assert_eq!(without[0].status, Status::Fail);
    }

    #[test]
    fn missing_xtest_fails_and_missing_shm_or_damage_warns() {
        let mut lacking = facts(":0");
        lacking.capture_shm = Ok(false);
        lacking.xdamage = false;
        assert_eq!(
            statuses(&extension_checks(&lacking)),
            vec![Status::Warn, Status::Ok, Status::Warn]
        );
        lacking.xtest = Err("the X server has no XTEST extension".into());
        assert_eq!(extension_checks(&lacking)[1].status, Status::Fail);
    }
}
