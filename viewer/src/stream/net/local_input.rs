//! Input on its way to the machine: the window's and the gamepads' events
//! with queued pointer moves merged, and the synthetic input of tests.

use common::control::InputEvent;
use tokio::sync::mpsc;

use crate::input::InputReceiver;
use crate::stream::synthetic_input::{self, SyntheticInput};

/// Synthetic events go out this many at a time...
const SYNTHETIC_PER_TICK: u64 = 5;
/// ...this often.
const SYNTHETIC_TICK: std::time::Duration = std::time::Duration::from_millis(5);

/// The next local input event; never resolves without an input source.
/// Pointer moves queued back to back are merged (the last absolute position,
/// the sum of relative deltas); anything else keeps its place, in order.
pub(super) async fn next(
    input: &mut Option<InputReceiver>,
    held: &mut Option<InputEvent>,
) -> Option<InputEvent> {
    let Some(input) = input else {
        return std::future::pending().await;
    };
    let mut event = match held.take() {
        Some(event) => event,
        None => input.recv().await?,
    };
    while let Ok(next) = input.try_recv() {
        match merge(event, next) {
            Some(merged) => event = merged,
            None => {
                *held = Some(next);
                break;
            }
        }
    }
    Some(event)
}

/// Two pointer moves as one, when they can be.
fn merge(first: InputEvent, second: InputEvent) -> Option<InputEvent> {
    match (first, second) {
        (InputEvent::MouseAbsolute { .. }, InputEvent::MouseAbsolute { x, y }) => {
            Some(InputEvent::MouseAbsolute { x, y })
        }
        (InputEvent::MouseRelative { dx: a, dy: b }, InputEvent::MouseRelative { dx, dy }) => {
            Some(InputEvent::MouseRelative {
                dx: a.saturating_add(dx),
                dy: b.saturating_add(dy),
            })
        }
        _ => None,
    }
}

/// The next synthetic event; never resolves without any.
pub(super) async fn next_synthetic(
    events: &mut Option<mpsc::Receiver<InputEvent>>,
) -> Option<InputEvent> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// Starts feeding synthetic events (a test of reliable input), a few per tick.
pub(super) fn spawn_synthetic(synthetic: SyntheticInput) -> Option<mpsc::Receiver<InputEvent>> {
    if synthetic.count == 0 {
        return None;
    }
    let (sender, events) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SYNTHETIC_TICK);
        for seq in 0..synthetic.count {
            if seq % SYNTHETIC_PER_TICK == 0 {
                tick.tick().await;
            }
            if sender
                .send(synthetic_input::event(seq, synthetic.mixed))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Some(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_moves_merge_and_keys_keep_their_place() {
        let (sender, receiver) = crate::input::channel();
        let key = InputEvent::Key {
            usage: 4,
            pressed: true,
        };
        for event in [
            InputEvent::MouseAbsolute { x: 0.1, y: 0.1 },
            InputEvent::MouseAbsolute { x: 0.2, y: 0.3 },
            key,
            InputEvent::MouseRelative { dx: 1, dy: 2 },
            InputEvent::MouseRelative { dx: 3, dy: -1 },
        ] {
            sender.send(event);
        }
        let (mut input, mut held) = (Some(receiver), None);
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(next(&mut input, &mut held).await.expect("event"));
        }
        assert_eq!(
            out,
            vec![
                InputEvent::MouseAbsolute { x: 0.2, y: 0.3 },
                key,
                InputEvent::MouseRelative { dx: 4, dy: 1 },
            ]
        );
    }
}
