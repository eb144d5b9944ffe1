//! Input injection through XTest: keys by physical scancode (USB HID usage →
//! X keycode, so the host's layout decides the character), mouse buttons,
//! absolute moves (0..1 of the captured area), relative moves and the wheel.

use anyhow::Context;
use common::control::{InputEvent, MouseButton};
use x11rb::protocol::xproto::{
    BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, ConnectionExt as _, KEY_PRESS_EVENT,
    KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT,
};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::Rect;
use super::capture::Target;
use crate::platform::InputSink;

/// HID usage page of keyboards.
const KEYBOARD_PAGE: u16 = 0x07;

pub struct XTestInjector {
    conn: RustConnection,
    root: u32,
    target: Target,
    unmapped_keys: u64,
}

impl XTestInjector {
    pub fn open(display: &str, target: Target) -> anyhow::Result<Self> {
        let (conn, root) = super::connect(display)?;
        conn.xtest_get_version(2, 2)?
            .reply()
            .context("the X server has no XTEST extension")?;
        Ok(XTestInjector {
            conn,
            root,
            target,
            unmapped_keys: 0,
        })
    }

    /// The captured area in root coordinates, now (windows move and resize).
    fn area(&self) -> anyhow::Result<Rect> {
        match self.target {
            Target::Screen(rect) => Ok(rect),
            Target::Window(window) => {
                let geometry = self.conn.get_geometry(window)?.reply()?;
                let origin = self
                    .conn
                    .translate_coordinates(window, self.root, 0, 0)?
                    .reply()?;
                Ok(Rect {
                    x: origin.dst_x,
                    y: origin.dst_y,
                    width: geometry.width,
                    height: geometry.height,
                })
            }
        }
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> anyhow::Result<()> {
        self.conn
            .xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0)?;
        Ok(())
    }

    fn button(&self, button: u8, pressed: bool) -> anyhow::Result<()> {
        let kind = if pressed {
            BUTTON_PRESS_EVENT
        } else {
            BUTTON_RELEASE_EVENT
        };
        self.fake(kind, button, 0, 0)
    }
}

/// The X keycode of a USB HID keyboard usage (evdev + 8 under XKB).
pub fn x_keycode(usage: u16) -> Option<u8> {
    let map = keycode::KeyMap::from_usb_code(KEYBOARD_PAGE, usage).ok()?;
    u8::try_from(map.xkb).ok().filter(|&code| code >= 8)
}

fn x_button(button: MouseButton) -> u8 {
    match button {
        MouseButton::Left => 1,
        MouseButton::Middle => 2,
        MouseButton::Right => 3,
        MouseButton::Back => 8,
        MouseButton::Forward => 9,
    }
}

/// Wheel notches as X buttons 4/5 (vertical) and 6/7 (horizontal).
fn wheel_clicks(dx: f32, dy: f32) -> Vec<u8> {
    let notches = |v: f32| (v.abs().round() as usize).max(usize::from(v != 0.0));
    let mut clicks = Vec::new();
    clicks.extend(std::iter::repeat_n(
        if dy > 0.0 { 4 } else { 5 },
        notches(dy),
    ));
    clicks.extend(std::iter::repeat_n(
        if dx > 0.0 { 7 } else { 6 },
        notches(dx),
    ));
    clicks
}

impl InputSink for XTestInjector {
    fn apply(&mut self, _seq: u64, event: &InputEvent) -> anyhow::Result<()> {
        match *event {
            InputEvent::Key { usage, pressed } => match x_keycode(usage) {
                Some(code) => {
                    let kind = if pressed {
                        KEY_PRESS_EVENT
                    } else {
                        KEY_RELEASE_EVENT
                    };
                    self.fake(kind, code, 0, 0)?;
                }
                None => {
                    self.unmapped_keys += 1;
                    if self.unmapped_keys == 1 {
                        tracing::warn!(usage, "no X keycode for this HID usage; ignored");
                    }
                }
            },
            InputEvent::MouseButton { button, pressed } => {
                self.button(x_button(button), pressed)?
            }
            InputEvent::MouseAbsolute { x, y } => {
                let area = self.area()?;
                let to = |origin: i16, size: u16, v: f32| {
                    let offset = (v.clamp(0.0, 1.0) * f32::from(size.saturating_sub(1))).round();
                    origin.saturating_add(offset as i16)
                };
                self.fake(
                    MOTION_NOTIFY_EVENT,
                    0,
                    to(area.x, area.width, x),
                    to(area.y, area.height, y),
                )?;
            }
            InputEvent::MouseRelative { dx, dy } => {
                let clamp = |v: i32| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                self.fake(MOTION_NOTIFY_EVENT, 1, clamp(dx), clamp(dy))?;
            }
            InputEvent::Wheel { dx, dy } => {
                for button in wheel_clicks(dx, dy) {
                    self.button(button, true)?;
                    self.button(button, false)?;
                }
            }
            // Gamepads go to uinput, not X.
            InputEvent::GamepadConnected { .. }
            | InputEvent::GamepadDisconnected { .. }
            | InputEvent::GamepadButton { .. }
            | InputEvent::GamepadAxis { .. } => {}
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        // A round trip: every fake event before it has been processed.
        self.conn.get_input_focus()?.reply()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hid_usages_map_to_x_keycodes() {
        assert_eq!(x_keycode(0x04), Some(38)); // A
        assert_eq!(x_keycode(0x29), Some(9)); // Escape
        assert_eq!(x_keycode(0x4f), Some(114)); // Right arrow
        assert_eq!(x_keycode(0xe1), Some(50)); // Left shift
        assert_eq!(x_keycode(0x00), None);
    }

    #[test]
    fn wheel_notches_become_button_clicks() {
        assert_eq!(wheel_clicks(0.0, 1.0), vec![4]);
        assert_eq!(wheel_clicks(0.0, -2.0), vec![5, 5]);
        assert_eq!(wheel_clicks(0.3, 0.0), vec![7]);
        assert!(wheel_clicks(0.0, 0.0).is_empty());
    }
}
