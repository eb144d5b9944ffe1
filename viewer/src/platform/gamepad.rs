//! Local gamepads, through gilrs on their own thread: pads get the lowest
//! free slot `0..MAX_GAMEPADS` when they connect (pads present at start
//! count as connecting) and give it back when they go; their buttons and
//! axes become `InputEvent`s for the host, and the host's rumble plays on
//! the pad in that slot.
//!
//! Entry point: [`spawn`]. The pure part ([`PadSlots`], [`PadInput`],
//! [`map_button`], [`map_axis`]) is keyed by `usize::from(GamepadId)` so
//! tests drive it without devices. Without gamepad support (no udev, …) the
//! thread warns once and ends; the stream goes on without gamepads.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use common::control::{GamepadAxis, GamepadButton, InputEvent, MAX_GAMEPADS};
use gilrs::ff::{BaseEffect, BaseEffectType, Effect, EffectBuilder, Repeat, Replay, Ticks};
use gilrs::{Axis, Button, EventType, GamepadId, Gilrs};

use crate::input::InputSender;
use common::control::Rumble;

/// How long one wait for gilrs events lasts; rumble and quit are looked at
/// in between.
const POLL_TIMEOUT: Duration = Duration::from_millis(5);
/// Stick values closer to 0 than this are sent as 0.
pub const STICK_DEADZONE: f32 = 0.05;
/// Axis changes smaller than this are not sent (0 and the ends always are).
pub const AXIS_STEP: f32 = 1.0 / 256.0;

const SLOTS: usize = MAX_GAMEPADS as usize;
const AXES: [GamepadAxis; 6] = [
    GamepadAxis::LeftX,
    GamepadAxis::LeftY,
    GamepadAxis::RightX,
    GamepadAxis::RightY,
    GamepadAxis::LeftTrigger,
    GamepadAxis::RightTrigger,
];

/// One pad's event, in gilrs's terms but constructible in tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadInput {
    Connected,
    Disconnected,
    Pressed(Button),
    Released(Button),
    /// A button's analog value, 0.0..=1.0 (how analog triggers arrive).
    Changed(Button, f32),
    /// -1.0..=1.0; gilrs already has sticks' up positive.
    Axis(Axis, f32),
}

impl PadInput {
    /// The events we act on; the rest (repeats, dropped, force feedback
    /// completions) are `None`.
    pub fn from_gilrs(event: &EventType) -> Option<PadInput> {
        Some(match *event {
            EventType::Connected => PadInput::Connected,
            EventType::Disconnected => PadInput::Disconnected,
            EventType::ButtonPressed(button, _) => PadInput::Pressed(button),
            EventType::ButtonReleased(button, _) => PadInput::Released(button),
            EventType::ButtonChanged(button, value, _) => PadInput::Changed(button, value),
            EventType::AxisChanged(axis, value, _) => PadInput::Axis(axis, value),
            _ => return None,
        })
    }
}

/// Where a gilrs button goes in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonTarget {
    Button(GamepadButton),
    /// An analog trigger: its value becomes this axis, 0.0..=1.0.
    Trigger(GamepadAxis),
}

/// gilrs names bumpers `LeftTrigger`/`RightTrigger` and the analog
/// triggers `LeftTrigger2`/`RightTrigger2`. `C`, `Z` and unknown buttons
/// have no counterpart.
pub fn map_button(button: Button) -> Option<ButtonTarget> {
    use ButtonTarget::{Button as B, Trigger};
    Some(match button {
        Button::South => B(GamepadButton::South),
        Button::East => B(GamepadButton::East),
        Button::West => B(GamepadButton::West),
        Button::North => B(GamepadButton::North),
        Button::LeftTrigger => B(GamepadButton::LeftBumper),
        Button::RightTrigger => B(GamepadButton::RightBumper),
        Button::LeftTrigger2 => Trigger(GamepadAxis::LeftTrigger),
        Button::RightTrigger2 => Trigger(GamepadAxis::RightTrigger),
        Button::Select => B(GamepadButton::Select),
        Button::Start => B(GamepadButton::Start),
        Button::Mode => B(GamepadButton::Mode),
        Button::LeftThumb => B(GamepadButton::LeftThumb),
        Button::RightThumb => B(GamepadButton::RightThumb),
        Button::DPadUp => B(GamepadButton::DpadUp),
        Button::DPadDown => B(GamepadButton::DpadDown),
        Button::DPadLeft => B(GamepadButton::DpadLeft),
        Button::DPadRight => B(GamepadButton::DpadRight),
        Button::C | Button::Z | Button::Unknown => return None,
    })
}

/// A gilrs axis and its value in the protocol's terms: sticks -1..=1 (up
/// positive, as gilrs gives them) with a deadzone around 0; `LeftZ`/`RightZ`
/// (triggers seen as plain axes, -1..=1) become triggers 0..=1. The d-pad
/// axes are `None`: gilrs's default filter turns them into d-pad buttons.
pub fn map_axis(axis: Axis, value: f32) -> Option<(GamepadAxis, f32)> {
    let stick = |value: f32| {
        let value = if value.is_finite() {
            value.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        if value.abs() < STICK_DEADZONE {
            0.0
        } else {
            value
        }
    };
    let trigger = |value: f32| trigger_value((value + 1.0) / 2.0);
    Some(match axis {
        Axis::LeftStickX => (GamepadAxis::LeftX, stick(value)),
        Axis::LeftStickY => (GamepadAxis::LeftY, stick(value)),
        Axis::RightStickX => (GamepadAxis::RightX, stick(value)),
        Axis::RightStickY => (GamepadAxis::RightY, stick(value)),
        Axis::LeftZ => (GamepadAxis::LeftTrigger, trigger(value)),
        Axis::RightZ => (GamepadAxis::RightTrigger, trigger(value)),
        Axis::DPadX | Axis::DPadY | Axis::Unknown => return None,
    })
}

fn trigger_value(value: f32) -> f32 {
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The outcome of a pad connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    Slotted(u8),
    AlreadySlotted(u8),
    /// Every slot is taken; the pad is ignored until it reconnects.
    Full,
}

/// Slot table and event translation for up to [`MAX_GAMEPADS`] pads,
/// keyed by gilrs's pad index.
#[derive(Debug, Default)]
pub struct PadSlots {
    slots: [Option<usize>; SLOTS],
    /// Pads refused for want of a slot (each warned about once).
    refused: Vec<usize>,
    /// The last value sent per slot and axis (in `AXES` order).
    sent_axes: [[Option<f32>; AXES.len()]; SLOTS],
}

impl PadSlots {
    pub fn connect(&mut self, id: usize) -> Connect {
        if let Some(slot) = self.slot(id) {
            return Connect::AlreadySlotted(slot);
        }
        match self.slots.iter().position(Option::is_none) {
            Some(free) => {
                self.slots[free] = Some(id);
                self.sent_axes[free] = Default::default();
                Connect::Slotted(free as u8)
            }
            None => Connect::Full,
        }
    }

    /// Frees the pad's slot, if it had one.
    pub fn disconnect(&mut self, id: usize) -> Option<u8> {
        self.refused.retain(|&refused| refused != id);
        let slot = self.slot(id)?;
        self.slots[usize::from(slot)] = None;
        Some(slot)
    }

    pub fn slot(&self, id: usize) -> Option<u8> {
        self.slots
            .iter()
            .position(|&slotted| slotted == Some(id))
            .map(|slot| slot as u8)
    }

    /// The pad in `slot`; `None` for an empty or out-of-range slot.
    pub fn id_of(&self, slot: u8) -> Option<usize> {
        *self.slots.get(usize::from(slot))?
    }

    /// What the host should hear of `input` from pad `id`, if anything:
    /// connects take a slot (a pad beyond the last slot is ignored, with one
    /// warning), events of unslotted pads are ignored, small axis changes
    /// are held back.
    pub fn translate(&mut self, id: usize, input: PadInput) -> Option<InputEvent> {
        if let PadInput::Connected = input {
            return match self.connect(id) {
                Connect::Slotted(pad) => Some(InputEvent::GamepadConnected { pad }),
                Connect::AlreadySlotted(_) => None,
                Connect::Full => {
                    if !self.refused.contains(&id) {
                        self.refused.push(id);
                        tracing::warn!(
                            gamepad = id,
                            max = MAX_GAMEPADS,
                            "too many gamepads; this one is ignored"
                        );
                    }
                    None
                }
            };
        }
        if let PadInput::Disconnected = input {
            let pad = self.disconnect(id)?;
            return Some(InputEvent::GamepadDisconnected { pad });
        }
        let pad = self.slot(id)?;
        let button = |button: GamepadButton, pressed| InputEvent::GamepadButton {
            pad,
            button,
            pressed,
        };
        match input {
            PadInput::Pressed(b) | PadInput::Released(b) => match map_button(b)? {
                ButtonTarget::Button(gb) => Some(button(gb, matches!(input, PadInput::Pressed(_)))),
                // The trigger's value arrives as `Changed` alongside.
                ButtonTarget::Trigger(_) => None,
            },
            PadInput::Changed(b, value) => match map_button(b)? {
                ButtonTarget::Trigger(axis) => self.axis(pad, axis, trigger_value(value)),
                // Digital buttons are sent on `Pressed`/`Released`.
                ButtonTarget::Button(_) => None,
            },
            PadInput::Axis(a, value) => {
                let (axis, value) = map_axis(a, value)?;
                self.axis(pad, axis, value)
            }
            PadInput::Connected | PadInput::Disconnected => None,
        }
    }

    /// An axis event unless it repeats the last one sent within `AXIS_STEP`
    /// (reaching 0 or an end always goes through).
    fn axis(&mut self, pad: u8, axis: GamepadAxis, value: f32) -> Option<InputEvent> {
        let index = AXES.iter().position(|&a| a == axis)?;
        let last = &mut self.sent_axes[usize::from(pad)][index];
        let rests = value == 0.0 || value.abs() == 1.0;
        let changed = match *last {
            None => true,
            Some(previous) => (value - previous).abs() >= AXIS_STEP || (rests && value != previous),
        };
        if !changed {
            return None;
        }
        *last = Some(value);
        Some(InputEvent::GamepadAxis { pad, axis, value })
    }
}

/// Starts the gamepad thread. It forwards pad events to `input`, plays
/// `rumble` from the host, and ends when `quit` is set, when `input` is
/// closed, or at once (after one warning) without gamepad support.
pub fn spawn(
    input: InputSender,
    rumble: Receiver<Rumble>,
    quit: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("gamepads".into())
        .spawn(move || {
            let gilrs = match Gilrs::new() {
                Ok(gilrs) => gilrs,
                Err(e) => {
                    tracing::warn!(error = %e, "no gamepad support; continuing without gamepads");
                    return;
                }
            };
            GamepadThread {
                gilrs,
                slots: PadSlots::default(),
                input,
                effects: HashMap::new(),
                no_ff_noted: Vec::new(),
            }
            .run(&rumble, &quit);
        })
}

/// The thread's state: gilrs itself, the slots, and the rumble effects
/// playing (an effect stops when its handle drops).
struct GamepadThread {
    gilrs: Gilrs,
    slots: PadSlots,
    input: InputSender,
    effects: HashMap<u8, Effect>,
    /// Pads without force feedback, noted once each.
    no_ff_noted: Vec<usize>,
}

impl GamepadThread {
    fn run(mut self, rumble: &Receiver<Rumble>, quit: &AtomicBool) {
        let present: Vec<usize> = self
            .gilrs
            .gamepads()
            .map(|(id, _)| usize::from(id))
            .collect();
        for id in present {
            if !self.forward(id, PadInput::Connected) {
                return;
            }
        }
        let mut rumble_open = true;
        while !quit.load(Ordering::Relaxed) {
            let mut next = self.gilrs.next_event_blocking(Some(POLL_TIMEOUT));
            while let Some(event) = next {
                let id = usize::from(event.id);
                if let Some(input) = PadInput::from_gilrs(&event.event)
                    && !self.forward(id, input)
                {
                    return;
                }
                next = self.gilrs.next_event();
            }
            while rumble_open {
                match rumble.try_recv() {
                    Ok(request) => self.rumble(request),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => rumble_open = false,
                }
            }
        }
    }

    /// False once the stream is gone.
    fn forward(&mut self, id: usize, input: PadInput) -> bool {
        let Some(event) = self.slots.translate(id, input) else {
            return true;
        };
        match event {
            InputEvent::GamepadConnected { pad } => {
                let name = self
                    .gamepad_id(id)
                    .map(|gid| self.gilrs.gamepad(gid).name().to_owned());
                tracing::info!(
                    pad,
                    name = name.as_deref().unwrap_or("?"),
                    "gamepad connected"
                );
            }
            InputEvent::GamepadDisconnected { pad } => {
                self.effects.remove(&pad);
                self.no_ff_noted.retain(|&noted| noted != id);
                tracing::info!(pad, "gamepad disconnected");
            }
            _ => {}
        }
        self.input.send(event)
    }

    fn gamepad_id(&self, id: usize) -> Option<GamepadId> {
        self.gilrs
            .gamepads()
            .map(|(gid, _)| gid)
            .find(|&gid| usize::from(gid) == id)
    }

    /// Plays `request` on its slot's pad, replacing what played there.
    fn rumble(&mut self, request: Rumble) {
        let Some(id) = self.slots.id_of(request.pad) else {
            tracing::debug!(pad = request.pad, "rumble for an empty slot");
            return;
        };
        let Some(gid) = self.gamepad_id(id) else {
            return;
        };
        if !self.gilrs.gamepad(gid).is_ff_supported() {
            if !self.no_ff_noted.contains(&id) {
                self.no_ff_noted.push(id);
                tracing::debug!(
                    pad = request.pad,
                    "gamepad has no force feedback; rumble ignored"
                );
            }
            return;
        }
        self.effects.remove(&request.pad);
        if request.duration_ms == 0 || (request.strong == 0 && request.weak == 0) {
            return;
        }
        let duration = Ticks::from_ms(request.duration_ms);
        let scheduling = Replay {
            play_for: duration,
            ..Default::default()
        };
        let effect = EffectBuilder::new()
            .add_effect(BaseEffect {
                kind: BaseEffectType::Strong {
                    magnitude: request.strong,
                },
                scheduling,
                ..Default::default()
            })
            .add_effect(BaseEffect {
                kind: BaseEffectType::Weak {
                    magnitude: request.weak,
                },
                scheduling,
                ..Default::default()
            })
            .repeat(Repeat::For(duration))
            .gamepads(&[gid])
            .finish(&mut self.gilrs);
        match effect.and_then(|effect| effect.play().map(|()| effect)) {
            Ok(effect) => {
                self.effects.insert(request.pad, effect);
            }
            Err(e) => tracing::debug!(pad = request.pad, error = %e, "rumble failed"),
        }
    }
}

#[cfg(test)]
mod tests;
