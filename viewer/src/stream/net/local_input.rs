//! Input on its way to the host: numbered in order, kept until the host
//! says it applied it (so a resume can send it again), and the synthetic
//! input of tests.

use common::control::{ControlMessage, InputEvent};

use super::{Session, Step};
use crate::clock::unix_now_us;
use crate::input::InputReceiver;
use crate::stream::synthetic_input;

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

impl Session {
    pub(super) async fn send_input(&mut self, event: InputEvent) -> Step {
        let seq = self.input_seq;
        self.input_seq += 1;
        self.stats.input_sent(seq, unix_now_us());
        if !matches!(
            event,
            InputEvent::MouseAbsolute { .. } | InputEvent::MouseRelative { .. }
        ) {
            self.unacked.push_back((seq, event));
        }
        self.send(&ControlMessage::Input { seq, event }).await
    }

    /// After a resume: what the host never received goes again, in order.
    pub(super) async fn resend_unacked(&mut self, host_received: Option<u64>) -> Step {
        let pending: Vec<_> = self
            .unacked
            .iter()
            .filter(|(seq, _)| host_received.is_none_or(|last| *seq > last))
            .cloned()
            .collect();
        if !pending.is_empty() {
            tracing::info!(
                events = pending.len(),
                "sending input again after the resume"
            );
        }
        for (seq, event) in pending {
            if let Step::End(end) = self.send(&ControlMessage::Input { seq, event }).await {
                return Step::End(end);
            }
        }
        Step::Continue
    }

    /// Sends a few synthetic input events per tick once media flows, on the
    /// reliable control channel, noting when each left.
    pub(super) async fn send_synthetic_input(&mut self) -> Step {
        const PER_TICK: u64 = 5;
        if !self.media_flowing {
            return Step::Continue;
        }
        if let Some(text) = self.synthetic.clipboard.take()
            && let Step::End(end) = self.send(&ControlMessage::Clipboard { text }).await
        {
            return Step::End(end);
        }
        for _ in 0..PER_TICK.min(self.synthetic.count) {
            let event = synthetic_input::event(self.input_seq, self.synthetic.mixed);
            self.synthetic.count -= 1;
            if let Step::End(end) = self.send_input(event).await {
                return Step::End(end);
            }
        }
        Step::Continue
    }
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
