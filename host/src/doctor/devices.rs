//! The optional parts of `host doctor`: audio capture devices, virtual
//! gamepads (/dev/uinput) and the Landlock sandbox. Each is a warning when
//! missing: sessions still stream without them.

use super::report::Check;
use crate::platform::cpal_audio::input_devices;
use crate::platform::gamepad::{GamepadSupport, probe};
use crate::platform::sandbox::landlock_available;

/// How many device names the line lists before "and N more".
const DEVICES_LISTED: usize = 4;

pub fn audio_capture() -> Check {
    audio_check(&input_devices())
}

fn audio_check(devices: &[String]) -> Check {
    // ALSA's `null` device only ever captures silence.
    let devices: Vec<&String> = devices.iter().filter(|d| !d.starts_with("null ")).collect();
    if devices.is_empty() {
        return Check::warn(
            "audio capture device",
            "none (ALSA's null device aside): sessions can stream the test tone (--audio tone, the default) but no application's sound",
            "run PulseAudio or PipeWire (or give the host an ALSA capture device) and pick the monitor of the application's output with --audio NAME",
        );
    }
    let mut listed = devices
        .iter()
        .take(DEVICES_LISTED)
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if devices.len() > DEVICES_LISTED {
        listed.push_str(&format!(" and {} more", devices.len() - DEVICES_LISTED));
    }
    Check::ok(
        "audio capture device",
        format!("{} for --audio: {listed}", devices.len()),
    )
}

pub fn uinput() -> Check {
    match probe() {
        GamepadSupport::Available => Check::ok(
            "/dev/uinput",
            "writable: viewers' gamepads become virtual pads here",
        ),
        GamepadSupport::Unavailable(why) => Check::warn(
            "/dev/uinput",
            why,
            "for gamepads: `modprobe uinput` and let the host's user write /dev/uinput (the input group or a udev rule)",
        ),
    }
}

pub fn landlock() -> Check {
    if landlock_available() {
        Check::ok(
            "Landlock",
            "enforced by this kernel: launched applications cannot read the data directory",
        )
    } else {
        Check::warn(
            "Landlock",
            "this kernel has no Landlock (or it is off): launched applications are not confined by a ruleset",
            "use Linux 5.13+ with landlock in the lsm= boot list; or run the host as root, so applications run as --app-user",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn no_audio_device_is_a_warning_and_long_lists_are_cut() {
        assert_eq!(audio_check(&[]).status, Status::Warn);
        let only_null = ["null (Discard all samples)".to_string()];
        assert_eq!(audio_check(&only_null).status, Status::Warn);
        let devices: Vec<String> = (0..6).map(|i| format!("hw:{i}")).collect();
        let check = audio_check(&devices);
        assert_eq!(check.status, Status::Ok);
        assert!(check.found.ends_with("hw:3 and 2 more"), "{}", check.found);
    }
}
