//! The stream window's keyboard and mouse, turned into protocol input:
//! keys by physical position (USB HID usage, so the host's layout decides
//! the character), the pointer mapped onto the letterboxed picture, or
//! relative motion while the pointer is captured (3D games), and the wheel.
//! Pure: the window feeds it winit events and sends what comes out.

use std::collections::BTreeSet;
use std::str::FromStr;

use clap::ValueEnum;
use common::control::{InputEvent, MouseButton};
use winit::event::MouseScrollDelta;
use winit::keyboard::KeyCode;

pub use crate::platform::present::PictureRect;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MouseMode {
    /// The pointer maps onto the picture (desktop apps, menus).
    Absolute,
    /// The pointer is captured and moves are sent as deltas (3D games).
    Relative,
}

/// The USB HID keyboard usage of a physical key.
pub fn hid_usage(code: KeyCode) -> Option<u16> {
    // winit names keys by the W3C `code` values, as does Chromium's table
    // behind the keycode crate, except for the Super/Meta keys.
    let name = match code {
        KeyCode::SuperLeft | KeyCode::Meta => "MetaLeft".to_string(),
        KeyCode::SuperRight => "MetaRight".to_string(),
        other => format!("{other:?}"),
    };
    let code = keycode::KeyMappingCode::from_str(&name).ok()?;
    let usb = keycode::KeyMap::from(code).usb;
    (usb != 0).then_some(usb)
}

pub fn mouse_button(button: winit::event::MouseButton) -> Option<MouseButton> {
    use winit::event::MouseButton as W;
    Some(match button {
        W::Left => MouseButton::Left,
        W::Right => MouseButton::Right,
        W::Middle => MouseButton::Middle,
        W::Back => MouseButton::Back,
        W::Forward => MouseButton::Forward,
        W::Other(_) => return None,
    })
}

/// Pixels of a touchpad scroll that make one wheel notch.
const PIXELS_PER_NOTCH: f64 = 120.0;

/// Keyboard and pointer state between events.
#[derive(Debug)]
pub struct LocalInput {
    pub mode: MouseMode,
    /// Relative mode: the pointer is captured and motion goes to the host.
    pub captured: bool,
    /// Keys the host has seen pressed, released when focus goes.
    pressed: BTreeSet<u16>,
    buttons: BTreeSet<MouseButton>,
    /// Sub-pixel relative motion not sent yet.
    residual: (f64, f64),
}

impl LocalInput {
    pub fn new(mode: MouseMode) -> Self {
        LocalInput {
            mode,
            captured: false,
            pressed: BTreeSet::new(),
            buttons: BTreeSet::new(),
            residual: (0.0, 0.0),
        }
    }

    pub fn key(&mut self, code: KeyCode, pressed: bool, repeat: bool) -> Option<InputEvent> {
        let usage = hid_usage(code)?;
        if repeat {
            // The host's own autorepeat handles held keys.
            return None;
        }
        let changed = if pressed {
            self.pressed.insert(usage)
        } else {
            self.pressed.remove(&usage)
        };
        changed.then_some(InputEvent::Key { usage, pressed })
    }

    /// The pointer moved to `position` (window pixels).
    pub fn cursor_moved(&self, rect: &PictureRect, x: f64, y: f64) -> Option<InputEvent> {
        if self.mode != MouseMode::Absolute {
            return None;
        }
        let (x, y) = rect.to_picture(x, y)?;
        Some(InputEvent::MouseAbsolute { x, y })
    }

    /// Raw device motion (relative mode, captured).
    pub fn motion(&mut self, dx: f64, dy: f64) -> Option<InputEvent> {
        if self.mode != MouseMode::Relative || !self.captured {
            return None;
        }
        self.residual.0 += dx;
        self.residual.1 += dy;
        let (whole_x, whole_y) = (self.residual.0.trunc(), self.residual.1.trunc());
        self.residual.0 -= whole_x;
        self.residual.1 -= whole_y;
        (whole_x != 0.0 || whole_y != 0.0).then_some(InputEvent::MouseRelative {
            dx: whole_x as i32,
            dy: whole_y as i32,
        })
    }

    pub fn button(&mut self, button: MouseButton, pressed: bool) -> Option<InputEvent> {
        if self.mode == MouseMode::Relative && !self.captured {
            return None;
        }
        let changed = if pressed {
            self.buttons.insert(button)
        } else {
            self.buttons.remove(&button)
        };
        changed.then_some(InputEvent::MouseButton { button, pressed })
    }

    pub fn wheel(&self, delta: MouseScrollDelta) -> Option<InputEvent> {
        if self.mode == MouseMode::Relative && !self.captured {
            return None;
        }
        let (dx, dy) = match delta {
            MouseScrollDelta::LineDelta(x, y) => (f64::from(x), f64::from(y)),
            MouseScrollDelta::PixelDelta(p) => (p.x / PIXELS_PER_NOTCH, p.y / PIXELS_PER_NOTCH),
        };
        (dx != 0.0 || dy != 0.0).then_some(InputEvent::Wheel {
            dx: dx as f32,
            dy: dy as f32,
        })
    }

    /// Everything held goes up (focus lost, a shortcut fired): no key stays
    /// stuck on the host.
    pub fn release_all(&mut self) -> Vec<InputEvent> {
        let keys = std::mem::take(&mut self.pressed)
            .into_iter()
            .map(|usage| InputEvent::Key {
                usage,
                pressed: false,
            });
        let buttons =
            std::mem::take(&mut self.buttons)
                .into_iter()
                .map(|button| InputEvent::MouseButton {
                    button,
                    pressed: false,
                });
        keys.chain(buttons).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_keys_map_to_hid_usages() {
        assert_eq!(hid_usage(KeyCode::KeyA), Some(0x04));
        assert_eq!(hid_usage(KeyCode::Digit1), Some(0x1e));
        assert_eq!(hid_usage(KeyCode::Enter), Some(0x28));
        assert_eq!(hid_usage(KeyCode::Escape), Some(0x29));
        assert_eq!(hid_usage(KeyCode::ArrowRight), Some(0x4f));
        assert_eq!(hid_usage(KeyCode::ShiftLeft), Some(0xe1));
        assert_eq!(hid_usage(KeyCode::SuperLeft), Some(0xe3));
        assert_eq!(hid_usage(KeyCode::F11), Some(0x44));
    }

    #[test]
    fn the_picture_is_letterboxed_and_bars_take_no_clicks() {
        // A 16:9 picture in a 4:3 window: bars above and below.
        let rect = PictureRect::fit((1024, 768), (1280, 720));
        assert_eq!(rect.width, 1024.0);
        assert_eq!(rect.height, 576.0);
        assert_eq!(rect.y, 96.0);
        assert_eq!(rect.to_picture(512.0, 384.0), Some((0.5, 0.5)));
        assert_eq!(rect.to_picture(512.0, 50.0), None);
        assert_eq!(rect.to_picture(0.0, 96.0), Some((0.0, 0.0)));
        // A tall window: bars left and right.
        let rect = PictureRect::fit((800, 1000), (1600, 900));
        assert_eq!((rect.x, rect.width), (0.0, 800.0));
        let wide = PictureRect::fit((2000, 900), (1600, 900));
        assert_eq!((wide.x, wide.width), (200.0, 1600.0));
    }

    #[test]
    fn relative_motion_needs_capture_and_keeps_fractions() {
        let mut input = LocalInput::new(MouseMode::Relative);
        assert_eq!(input.motion(3.0, 1.0), None, "not captured yet");
        input.captured = true;
        assert_eq!(
            input.motion(0.6, -0.4),
            None,
            "below one pixel: kept for later"
        );
        assert_eq!(
            input.motion(0.6, -0.8),
            Some(InputEvent::MouseRelative { dx: 1, dy: -1 })
        );
        let rect = PictureRect::fit((100, 100), (100, 100));
        assert_eq!(input.cursor_moved(&rect, 10.0, 10.0), None);
    }

    #[test]
    fn repeats_are_not_sent_and_held_keys_are_released() {
        let mut input = LocalInput::new(MouseMode::Absolute);
        assert!(input.key(KeyCode::KeyW, true, false).is_some());
        assert_eq!(input.key(KeyCode::KeyW, true, true), None);
        assert!(input.button(MouseButton::Left, true).is_some());
        let released = input.release_all();
        assert_eq!(
            released,
            vec![
                InputEvent::Key {
                    usage: 0x1a,
                    pressed: false
                },
                InputEvent::MouseButton {
                    button: MouseButton::Left,
                    pressed: false
                }
            ]
        );
        assert_eq!(input.key(KeyCode::KeyW, false, false), None);
    }
}
