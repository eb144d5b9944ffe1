//! Synthetic input for tests of reliable delivery: typed keys (A..Z press and
//! release), or a mixed pattern of keys, absolute and relative pointer
//! moves, clicks and wheel notches; and text for the host's clipboard.

use common::control::{InputEvent, MouseButton};

#[derive(Debug, Clone, Default)]
pub struct SyntheticInput {
    pub count: u64,
    pub mixed: bool,
    /// Sent once as clipboard text when media flows.
    pub clipboard: Option<String>,
}

/// HID usages of A..Z and 1..0.
const LETTER_A: u16 = 0x04;
const DIGIT_1: u16 = 0x1e;

/// The event with sequence number `seq`.
pub fn event(seq: u64, mixed: bool) -> InputEvent {
    if !mixed {
        return InputEvent::Key {
            usage: LETTER_A + ((seq / 2) % 26) as u16,
            pressed: seq.is_multiple_of(2),
        };
    }
    let round = seq / 10;
    let letter = LETTER_A + (round % 26) as u16;
    let digit = DIGIT_1 + (round % 10) as u16;
    match seq % 10 {
        0 => InputEvent::Key {
            usage: letter,
            pressed: true,
        },
        1 => InputEvent::MouseAbsolute {
            x: 0.1 + (round % 8) as f32 * 0.1,
            y: 0.2 + (round % 6) as f32 * 0.1,
        },
        2 | 3 => InputEvent::MouseButton {
            button: MouseButton::Left,
            pressed: seq % 10 == 2,
        },
        4 => InputEvent::Key {
            usage: letter,
            pressed: false,
        },
        5 => InputEvent::Wheel {
            dx: 0.0,
            dy: if round.is_multiple_of(2) { 1.0 } else { -1.0 },
        },
        6 => InputEvent::MouseAbsolute {
            x: 0.85 - (round % 7) as f32 * 0.1,
            y: 0.75 - (round % 5) as f32 * 0.1,
        },
        7 | 8 => InputEvent::Key {
            usage: digit,
            pressed: seq % 10 == 7,
        },
        _ => InputEvent::MouseRelative { dx: 5, dy: -3 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_press_has_its_release() {
        let mut held = std::collections::HashSet::new();
        for seq in 0..1000 {
            match event(seq, true) {
                InputEvent::Key { usage, pressed } => {
                    assert_eq!(held.insert(usage), pressed, "seq {seq}");
                    if !pressed {
                        held.remove(&usage);
                    }
                }
                InputEvent::MouseAbsolute { x, y } => {
                    assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
                }
                _ => {}
            }
        }
        assert!(held.is_empty());
    }
}
