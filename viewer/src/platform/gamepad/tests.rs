//! Gamepad slot allocation and mapping, with made-up pad ids (no devices).

use super::*;

fn connected(pad: u8) -> Option<InputEvent> {
    Some(InputEvent::GamepadConnected { pad })
}

/// A table with pads 10, 11, … connected in that order.
fn slots_with(pads: usize) -> PadSlots {
    let mut slots = PadSlots::default();
    for id in 10..10 + pads {
        slots.translate(id, PadInput::Connected);
    }
    slots
}

#[test]
fn hotplug_takes_the_lowest_free_slot() {
    let mut slots = PadSlots::default();
    for (id, pad) in (10..14).zip(0..) {
        assert_eq!(slots.translate(id, PadInput::Connected), connected(pad));
    }
    // A fifth pad is ignored, and so is what it does.
    assert_eq!(slots.translate(14, PadInput::Connected), None);
    assert_eq!(slots.translate(14, PadInput::Connected), None);
    assert_eq!(slots.translate(14, PadInput::Pressed(Button::South)), None);
    assert_eq!(slots.slot(14), None);
    // A pad seen twice keeps its slot.
    assert_eq!(slots.translate(12, PadInput::Connected), None);
    assert_eq!(slots.slot(12), Some(2));

    assert_eq!(
        slots.translate(11, PadInput::Disconnected),
        Some(InputEvent::GamepadDisconnected { pad: 1 })
    );
    assert_eq!(
        slots.translate(13, PadInput::Disconnected),
        Some(InputEvent::GamepadDisconnected { pad: 3 })
    );
    assert_eq!(slots.translate(11, PadInput::Disconnected), None);
    assert_eq!(slots.translate(11, PadInput::Pressed(Button::South)), None);
    // Reconnects reuse the lowest free slot first.
    assert_eq!(slots.translate(11, PadInput::Connected), connected(1));
    assert_eq!(slots.translate(15, PadInput::Connected), connected(3));
    // The refused pad gets a slot once one is free and it reconnects.
    assert_eq!(slots.translate(14, PadInput::Disconnected), None);
    assert!(slots.translate(10, PadInput::Disconnected).is_some());
    assert_eq!(slots.translate(14, PadInput::Connected), connected(0));
    assert_eq!(slots.id_of(0), Some(14));
    assert_eq!(slots.id_of(4), None);
    assert_eq!(slots.id_of(255), None);
}

#[test]
fn every_button_maps() {
    use GamepadButton as G;
    let expected = [
        (Button::South, G::South),
        (Button::East, G::East),
        (Button::West, G::West),
        (Button::North, G::North),
        (Button::LeftTrigger, G::LeftBumper),
        (Button::RightTrigger, G::RightBumper),
        (Button::Select, G::Select),
        (Button::Start, G::Start),
        (Button::Mode, G::Mode),
        (Button::LeftThumb, G::LeftThumb),
        (Button::RightThumb, G::RightThumb),
        (Button::DPadUp, G::DpadUp),
        (Button::DPadDown, G::DpadDown),
        (Button::DPadLeft, G::DpadLeft),
        (Button::DPadRight, G::DpadRight),
    ];
    let mut slots = slots_with(2);
    for (button, ours) in expected {
        for pressed in [true, false] {
            let input = if pressed {
                PadInput::Pressed(button)
            } else {
                PadInput::Released(button)
            };
            assert_eq!(
                slots.translate(11, input),
                Some(InputEvent::GamepadButton {
                    pad: 1,
                    button: ours,
                    pressed
                }),
                "{button:?}"
            );
        }
        // Digital buttons' values are not sent twice.
        assert_eq!(slots.translate(11, PadInput::Changed(button, 1.0)), None);
    }
    // Every protocol button is reachable.
    let reached: Vec<G> = expected.iter().map(|(_, ours)| *ours).collect();
    for ours in G::ALL {
        assert!(reached.contains(&ours), "{ours:?}");
    }
    for unmapped in [Button::C, Button::Z, Button::Unknown] {
        assert_eq!(map_button(unmapped), None);
        assert_eq!(slots.translate(10, PadInput::Pressed(unmapped)), None);
    }
}

#[test]
fn sticks_keep_up_positive_with_a_deadzone() {
    let mut slots = slots_with(1);
    let axis = |axis, value| {
        Some(InputEvent::GamepadAxis {
            pad: 0,
            axis,
            value,
        })
    };
    // gilrs reports up as positive, as the protocol (and the host, which
    // flips it for evdev) expects.
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::LeftStickY, 1.0)),
        axis(GamepadAxis::LeftY, 1.0)
    );
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::RightStickY, -0.5)),
        axis(GamepadAxis::RightY, -0.5)
    );
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::LeftStickX, 2.0)),
        axis(GamepadAxis::LeftX, 1.0)
    );
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::RightStickX, 0.03)),
        axis(GamepadAxis::RightX, 0.0)
    );
    assert_eq!(
        map_axis(Axis::LeftStickX, -0.04),
        Some((GamepadAxis::LeftX, 0.0))
    );
    assert_eq!(
        map_axis(Axis::LeftStickX, f32::NAN),
        Some((GamepadAxis::LeftX, 0.0))
    );
    assert_eq!(map_axis(Axis::DPadX, 1.0), None);
    assert_eq!(map_axis(Axis::Unknown, 1.0), None);
}

#[test]
fn triggers_become_axes_from_zero_to_one() {
    let mut slots = slots_with(1);
    let trigger = |axis, value| {
        Some(InputEvent::GamepadAxis {
            pad: 0,
            axis,
            value,
        })
    };
    // Analog triggers arrive as buttons with a value…
    assert_eq!(
        slots.translate(10, PadInput::Changed(Button::LeftTrigger2, 0.25)),
        trigger(GamepadAxis::LeftTrigger, 0.25)
    );
    assert_eq!(
        slots.translate(10, PadInput::Changed(Button::RightTrigger2, 1.5)),
        trigger(GamepadAxis::RightTrigger, 1.0)
    );
    // …whose press and release are not buttons of ours.
    assert_eq!(
        slots.translate(10, PadInput::Pressed(Button::LeftTrigger2)),
        None
    );
    assert_eq!(
        slots.translate(10, PadInput::Released(Button::RightTrigger2)),
        None
    );
    // Triggers seen as plain axes run -1..1.
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::LeftZ, 0.0)),
        trigger(GamepadAxis::LeftTrigger, 0.5)
    );
    assert_eq!(
        slots.translate(10, PadInput::Axis(Axis::RightZ, -1.0)),
        trigger(GamepadAxis::RightTrigger, 0.0)
    );
}

#[test]
fn small_axis_changes_are_held_back() {
    let mut slots = slots_with(2);
    let left_x = |slots: &mut PadSlots, id, value| {
        slots.translate(id, PadInput::Axis(Axis::LeftStickX, value))
    };
    assert!(left_x(&mut slots, 10, 0.5).is_some());
    assert_eq!(left_x(&mut slots, 10, 0.5), None);
    assert_eq!(left_x(&mut slots, 10, 0.5 + AXIS_STEP / 2.0), None);
    assert!(left_x(&mut slots, 10, 0.5 + AXIS_STEP * 1.5).is_some());
    // Each pad and axis has its own memory.
    assert!(left_x(&mut slots, 11, 0.5).is_some());
    assert!(
        slots
            .translate(10, PadInput::Axis(Axis::LeftStickY, 0.5))
            .is_some()
    );
    // The ends always go through, even by a hair.
    assert!(left_x(&mut slots, 10, 0.999).is_some());
    assert!(left_x(&mut slots, 10, 1.0).is_some());
    assert_eq!(left_x(&mut slots, 10, 1.0), None);
    assert!(left_x(&mut slots, 10, 0.06).is_some());
    assert!(
        left_x(&mut slots, 10, 0.04).is_some(),
        "back to rest (deadzone)"
    );
    assert_eq!(left_x(&mut slots, 10, 0.0), None);
    // A reconnected pad starts afresh.
    slots.translate(10, PadInput::Disconnected);
    slots.translate(10, PadInput::Connected);
    assert!(left_x(&mut slots, 10, 0.0).is_some());
}

#[test]
fn gilrs_events_translate() {
    assert_eq!(
        PadInput::from_gilrs(&EventType::Connected),
        Some(PadInput::Connected)
    );
    assert_eq!(
        PadInput::from_gilrs(&EventType::Disconnected),
        Some(PadInput::Disconnected)
    );
    assert_eq!(PadInput::from_gilrs(&EventType::Dropped), None);
    assert_eq!(
        PadInput::from_gilrs(&EventType::ForceFeedbackEffectCompleted),
        None
    );
}

/// Starting the thread where there are no pads (or no gamepad support at
/// all) is harmless: it sends nothing, and ends when asked.
#[test]
fn the_thread_starts_and_stops_without_pads() {
    let (input, mut events) = crate::input::channel();
    let (_rumble_tx, rumble) = std::sync::mpsc::channel();
    let quit = Arc::new(AtomicBool::new(true));
    let thread = spawn(input, rumble, quit).expect("thread starts");
    thread.join().expect("thread ends cleanly");
    // Pads plugged into this machine would announce themselves; nothing else.
    while let Ok(event) = events.try_recv() {
        assert!(
            matches!(event, InputEvent::GamepadConnected { .. }),
            "{event:?}"
        );
    }
}
