//! The stream window's shortcuts: a modifier chord (Moonlight's
//! Ctrl+Alt+Shift by default) plus a letter. They are never sent to the host.

use winit::keyboard::{KeyCode, ModifiersState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    Quit,
    ToggleOverlay,
    ToggleFullscreen,
    /// Let go of the pointer (relative mode), or take it again.
    ToggleCapture,
    /// Switch between absolute and relative mouse.
    ToggleMouseMode,
}

/// The modifiers that, held together, make a letter a shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

impl Default for Chord {
    fn default() -> Self {
        Chord {
            ctrl: true,
            alt: true,
            shift: true,
        }
    }
}

impl std::fmt::Display for Chord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [
            (self.ctrl, "Ctrl"),
            (self.alt, "Alt"),
            (self.shift, "Shift"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        write!(f, "{}", names.join("+"))
    }
}

/// `ctrl+alt+shift`, `ctrl+alt`, … (at least two, so typing never trips one).
pub fn parse_chord(text: &str) -> Result<Chord, String> {
    let mut chord = Chord {
        ctrl: false,
        alt: false,
        shift: false,
    };
    for part in text.split('+') {
        match part.trim().to_ascii_lowercase().as_str() {
            "ctrl" | "control" => chord.ctrl = true,
            "alt" => chord.alt = true,
            "shift" => chord.shift = true,
            other => return Err(format!("{other:?} is not one of ctrl, alt, shift")),
        }
    }
    if [chord.ctrl, chord.alt, chord.shift]
        .iter()
        .filter(|on| **on)
        .count()
        < 2
    {
        return Err(format!(
            "{text:?}: a shortcut chord needs at least two modifiers"
        ));
    }
    Ok(chord)
}

impl Chord {
    fn held(&self, modifiers: ModifiersState) -> bool {
        modifiers.control_key() == self.ctrl
            && modifiers.alt_key() == self.alt
            && modifiers.shift_key() == self.shift
    }

    /// The shortcut this key press makes, if any. F11 alone toggles
    /// fullscreen, as in most players.
    pub fn shortcut(&self, modifiers: ModifiersState, code: KeyCode) -> Option<Shortcut> {
        if code == KeyCode::F11 && !modifiers.control_key() && !modifiers.alt_key() {
            return Some(Shortcut::ToggleFullscreen);
        }
        if !self.held(modifiers) {
            return None;
        }
        Some(match code {
            KeyCode::KeyQ => Shortcut::Quit,
            KeyCode::KeyS => Shortcut::ToggleOverlay,
            KeyCode::KeyX => Shortcut::ToggleFullscreen,
            KeyCode::KeyZ => Shortcut::ToggleCapture,
            KeyCode::KeyM => Shortcut::ToggleMouseMode,
            _ => return None,
        })
    }

    /// One line of help for the overlay.
    pub fn help(&self) -> String {
        format!(
            "{self}+Q quit · +S overlay · +X or F11 fullscreen · +Z release/capture mouse · +M mouse mode"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chords_parse_and_need_two_modifiers() {
        assert_eq!(parse_chord("ctrl+alt+shift"), Ok(Chord::default()));
        assert_eq!(
            parse_chord("Ctrl+Alt"),
            Ok(Chord {
                ctrl: true,
                alt: true,
                shift: false
            })
        );
        assert!(parse_chord("shift").is_err());
        assert!(parse_chord("ctrl+hyper").is_err());
    }

    #[test]
    fn shortcuts_fire_only_with_the_whole_chord() {
        let chord = Chord::default();
        let all = ModifiersState::CONTROL | ModifiersState::ALT | ModifiersState::SHIFT;
        assert_eq!(chord.shortcut(all, KeyCode::KeyQ), Some(Shortcut::Quit));
        assert_eq!(
            chord.shortcut(all, KeyCode::KeyZ),
            Some(Shortcut::ToggleCapture)
        );
        assert_eq!(chord.shortcut(ModifiersState::CONTROL, KeyCode::KeyQ), None);
        assert_eq!(chord.shortcut(all, KeyCode::KeyA), None);
        assert_eq!(
            chord.shortcut(ModifiersState::empty(), KeyCode::F11),
            Some(Shortcut::ToggleFullscreen)
        );
        assert_eq!(chord.help().split(' ').next(), Some("Ctrl+Alt+Shift+Q"));
    }
}
