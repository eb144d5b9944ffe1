//! Virtual Xbox-style gamepads through uinput (the `evdev` crate): one
//! device per viewer pad, created when the viewer connects it, removed when
//! it goes. A game's force-feedback (rumble) effects are read back from the
//! device and sent to the viewer.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use common::control::{GamepadAxis, GamepadButton, InputEvent, MAX_GAMEPADS, Rumble};
use evdev::uinput::VirtualDevice;
use evdev::{
    AbsInfo, AbsoluteAxisCode, AttributeSet, BusType, EventSummary, EventType, FFEffectCode,
    FFEffectKind, InputId, KeyCode, UInputCode, UinputAbsSetup,
};
use tokio::sync::mpsc;

/// Effects a game may upload per pad.
const MAX_EFFECTS: i16 = 16;
const RUMBLE_POLL: Duration = Duration::from_millis(8);
/// Microsoft's Xbox 360 pad: games and SDL know its layout.
const XBOX_360: (u16, u16, u16) = (0x045e, 0x028e, 0x0110);

const BUTTONS: [(GamepadButton, KeyCode); 11] = [
    (GamepadButton::South, KeyCode::BTN_SOUTH),
    (GamepadButton::East, KeyCode::BTN_EAST),
    (GamepadButton::West, KeyCode::BTN_WEST),
    (GamepadButton::North, KeyCode::BTN_NORTH),
    (GamepadButton::LeftBumper, KeyCode::BTN_TL),
    (GamepadButton::RightBumper, KeyCode::BTN_TR),
    (GamepadButton::Select, KeyCode::BTN_SELECT),
    (GamepadButton::Start, KeyCode::BTN_START),
    (GamepadButton::Mode, KeyCode::BTN_MODE),
    (GamepadButton::LeftThumb, KeyCode::BTN_THUMBL),
    (GamepadButton::RightThumb, KeyCode::BTN_THUMBR),
];

/// One evdev event: a key, or an absolute axis at a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadEvent {
    Key(KeyCode, i32),
    Axis(AbsoluteAxisCode, i32),
}

/// The evdev event for a viewer's pad event (the d-pad is a hat, like the
/// Linux xpad driver's).
pub fn pad_event(event: &InputEvent) -> Option<PadEvent> {
    match *event {
        InputEvent::GamepadButton {
            button, pressed, ..
        } => {
            let value = i32::from(pressed);
            let hat = |axis, direction: i32| Some(PadEvent::Axis(axis, direction * value));
            match button {
                GamepadButton::DpadUp => hat(AbsoluteAxisCode::ABS_HAT0Y, -1),
                GamepadButton::DpadDown => hat(AbsoluteAxisCode::ABS_HAT0Y, 1),
                GamepadButton::DpadLeft => hat(AbsoluteAxisCode::ABS_HAT0X, -1),
                GamepadButton::DpadRight => hat(AbsoluteAxisCode::ABS_HAT0X, 1),
                other => BUTTONS
                    .iter()
                    .find(|(b, _)| *b == other)
                    .map(|(_, key)| PadEvent::Key(*key, value)),
            }
        }
        InputEvent::GamepadAxis { axis, value, .. } => Some(match axis {
            GamepadAxis::LeftTrigger => PadEvent::Axis(AbsoluteAxisCode::ABS_Z, trigger(value)),
            GamepadAxis::RightTrigger => PadEvent::Axis(AbsoluteAxisCode::ABS_RZ, trigger(value)),
            // evdev's Y grows downwards; the protocol's up is positive.
            GamepadAxis::LeftX => PadEvent::Axis(AbsoluteAxisCode::ABS_X, stick(value)),
            GamepadAxis::LeftY => PadEvent::Axis(AbsoluteAxisCode::ABS_Y, stick(-value)),
            GamepadAxis::RightX => PadEvent::Axis(AbsoluteAxisCode::ABS_RX, stick(value)),
            GamepadAxis::RightY => PadEvent::Axis(AbsoluteAxisCode::ABS_RY, stick(-value)),
        }),
        _ => None,
    }
}

fn stick(value: f32) -> i32 {
    let value = value.clamp(-1.0, 1.0);
    (value * if value < 0.0 { 32768.0 } else { 32767.0 }).round() as i32
}

fn trigger(value: f32) -> i32 {
    (value.clamp(0.0, 1.0) * 255.0).round() as i32
}

fn create_pad(pad: u8) -> anyhow::Result<VirtualDevice> {
    let keys: AttributeSet<KeyCode> = BUTTONS.iter().map(|(_, key)| *key).collect();
    let stick_info = AbsInfo::new(0, -32768, 32767, 16, 128, 0);
    let trigger_info = AbsInfo::new(0, 0, 255, 0, 0, 0);
    let hat_info = AbsInfo::new(0, -1, 1, 0, 0, 0);
    let (vendor, product, version) = XBOX_360;
    let name = format!("appstream virtual pad {}", pad + 1);
    let mut builder = VirtualDevice::builder()
        .context("opening /dev/uinput")?
        .name(&name)
        .input_id(InputId::new(BusType::BUS_USB, vendor, product, version))
        .with_keys(&keys)?;
    for (axis, info) in [
        (AbsoluteAxisCode::ABS_X, stick_info),
        (AbsoluteAxisCode::ABS_Y, stick_info),
        (AbsoluteAxisCode::ABS_RX, stick_info),
        (AbsoluteAxisCode::ABS_RY, stick_info),
        (AbsoluteAxisCode::ABS_Z, trigger_info),
        (AbsoluteAxisCode::ABS_RZ, trigger_info),
        (AbsoluteAxisCode::ABS_HAT0X, hat_info),
        (AbsoluteAxisCode::ABS_HAT0Y, hat_info),
    ] {
        builder = builder.with_absolute_axis(&UinputAbsSetup::new(axis, info))?;
    }
    let device = builder
        .with_ff(&AttributeSet::from_iter([FFEffectCode::FF_RUMBLE]))?
        .with_ff_effects_max(MAX_EFFECTS as u32)
        .build()
        .context("creating a virtual gamepad")?;
    // Rumble is polled: reads must not block the pad's emitter.
    nix::fcntl::fcntl(
        &device,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    Ok(device)
}

/// The session's virtual pads.
pub struct VirtualPads {
    pads: HashMap<u8, Arc<Mutex<VirtualDevice>>>,
    rumble: mpsc::Sender<Rumble>,
}

impl VirtualPads {
    pub fn new(rumble: mpsc::Sender<Rumble>) -> Self {
        VirtualPads {
            pads: HashMap::new(),
            rumble,
        }
    }

    /// Applies a gamepad event; other events are not ours.
    pub fn apply(&mut self, event: &InputEvent) -> anyhow::Result<()> {
        match *event {
            InputEvent::GamepadConnected { pad }
                if pad < MAX_GAMEPADS && !self.pads.contains_key(&pad) =>
            {
                let device = Arc::new(Mutex::new(create_pad(pad)?));
                spawn_rumble_reader(pad, Arc::downgrade(&device), self.rumble.clone())?;
                self.pads.insert(pad, device);
                tracing::info!(pad, "virtual gamepad connected");
            }
            // Dropping the device removes it; its rumble reader ends.
            InputEvent::GamepadDisconnected { pad } if self.pads.remove(&pad).is_some() => {
                tracing::info!(pad, "virtual gamepad disconnected");
            }
            InputEvent::GamepadButton { pad, .. } | InputEvent::GamepadAxis { pad, .. } => {
                let (Some(device), Some(pad_event)) = (self.pads.get(&pad), pad_event(event))
                else {
                    return Ok(());
                };
                let raw = match pad_event {
                    PadEvent::Key(key, value) => {
                        evdev::InputEvent::new(EventType::KEY.0, key.0, value)
                    }
                    PadEvent::Axis(axis, value) => {
                        evdev::InputEvent::new(EventType::ABSOLUTE.0, axis.0, value)
                    }
                };
                device
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .emit(&[raw])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Reads a pad's force-feedback uploads and plays, and tells the viewer.
fn spawn_rumble_reader(
    pad: u8,
    device: std::sync::Weak<Mutex<VirtualDevice>>,
    rumble: mpsc::Sender<Rumble>,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("pad-rumble".into())
        .spawn(move || {
            // Effect id → (strong, weak, length ms).
            let mut effects: HashMap<i16, (u16, u16, u16)> = HashMap::new();
            loop {
                std::thread::sleep(RUMBLE_POLL);
                let Some(device) = device.upgrade() else {
                    return;
                };
                let mut device = device.lock().unwrap_or_else(|e| e.into_inner());
                let events: Vec<evdev::InputEvent> = match device.fetch_events() {
                    Ok(events) => events.collect(),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        tracing::warn!(pad, error = %e, "gamepad rumble stopped");
                        return;
                    }
                };
                for event in events {
                    match event.destructure() {
                        EventSummary::UInput(event, UInputCode::UI_FF_UPLOAD, ..) => {
                            let Ok(mut upload) = device.process_ff_upload(event) else {
                                continue;
                            };
                            let effect = upload.effect();
                            let id = Some(upload.effect_id())
                                .filter(|id| *id >= 0)
                                .or_else(|| (0..MAX_EFFECTS).find(|id| !effects.contains_key(id)));
                            match (effect.kind, id) {
                                (
                                    FFEffectKind::Rumble {
                                        strong_magnitude,
                                        weak_magnitude,
                                    },
                                    Some(id),
                                ) => {
                                    effects.insert(
                                        id,
                                        (strong_magnitude, weak_magnitude, effect.replay.length),
                                    );
                                    upload.set_effect_id(id);
                                    upload.set_retval(0);
                                }
                                _ => upload.set_retval(-1),
                            }
                        }
                        EventSummary::UInput(event, UInputCode::UI_FF_ERASE, ..) => {
                            if let Ok(erase) = device.process_ff_erase(event) {
                                effects.remove(&(erase.effect_id() as i16));
                            }
                        }
                        EventSummary::ForceFeedback(_, FFEffectCode(id), value) => {
                            let (strong, weak, length) = match effects.get(&(id as i16)) {
                                Some(&effect) if value > 0 => effect,
                                _ => (0, 0, 0),
                            };
                            let _ = rumble.try_send(Rumble {
                                pad,
                                strong,
                                weak,
                                duration_ms: u32::from(length),
                            });
                        }
                        _ => {}
                    }
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_and_axes_map_like_an_xbox_pad() {
        let button = |button, pressed| InputEvent::GamepadButton {
            pad: 0,
            button,
            pressed,
        };
        let axis = |axis, value| InputEvent::GamepadAxis {
            pad: 0,
            axis,
            value,
        };
        assert_eq!(
            pad_event(&button(GamepadButton::South, true)),
            Some(PadEvent::Key(KeyCode::BTN_SOUTH, 1))
        );
        assert_eq!(
            pad_event(&button(GamepadButton::Start, false)),
            Some(PadEvent::Key(KeyCode::BTN_START, 0))
        );
        assert_eq!(
            pad_event(&button(GamepadButton::DpadUp, true)),
            Some(PadEvent::Axis(AbsoluteAxisCode::ABS_HAT0Y, -1))
        );
        assert_eq!(
            pad_event(&button(GamepadButton::DpadUp, false)),
            Some(PadEvent::Axis(AbsoluteAxisCode::ABS_HAT0Y, 0))
        );
        assert_eq!(
            pad_event(&axis(GamepadAxis::LeftY, 1.0)),
            Some(PadEvent::Axis(AbsoluteAxisCode::ABS_Y, -32768))
        );
        assert_eq!(
            pad_event(&axis(GamepadAxis::RightX, 2.0)),
            Some(PadEvent::Axis(AbsoluteAxisCode::ABS_RX, 32767))
        );
        assert_eq!(
            pad_event(&axis(GamepadAxis::RightTrigger, 0.5)),
            Some(PadEvent::Axis(AbsoluteAxisCode::ABS_RZ, 128))
        );
        assert_eq!(
            pad_event(&InputEvent::Key {
                usage: 4,
                pressed: true
            }),
            None
        );
    }

    #[test]
    fn every_button_of_the_protocol_has_a_mapping() {
        for button in GamepadButton::ALL {
            let event = InputEvent::GamepadButton {
                pad: 3,
                button,
                pressed: true,
            };
            assert!(pad_event(&event).is_some(), "{button:?}");
        }
    }
}
