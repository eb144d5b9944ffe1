//! Whether virtual gamepads (`uinput_pads`) can be made here. They need
//! `/dev/uinput` (writable by the host's user); where it is missing the host
//! says so once, and the viewer is told gamepads are unavailable.

use std::path::Path;

const UINPUT: &str = "/dev/uinput";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GamepadSupport {
    Available,
    /// Why not, in words for the viewer.
    Unavailable(String),
}

/// Checks once whether virtual pads can be made here.
pub fn probe() -> GamepadSupport {
    probe_path(Path::new(UINPUT))
}

fn probe_path(path: &Path) -> GamepadSupport {
    if !path.exists() {
        return GamepadSupport::Unavailable(format!(
            "the host has no {} (load the uinput kernel module); gamepads are unavailable",
            path.display()
        ));
    }
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => GamepadSupport::Available,
        Err(e) => GamepadSupport::Unavailable(format!(
            "the host cannot open {} ({e}); add its user to the input group",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_reported_in_words() {
        match probe_path(Path::new("/nonexistent/uinput")) {
            GamepadSupport::Unavailable(why) => assert!(why.contains("no /nonexistent/uinput")),
            other => panic!("{other:?}"),
        }
    }
}
