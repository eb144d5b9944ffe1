//! Input on its way to the host: numbered in order, kept until the host
//! says it applied it (so a resume can send it again), and the synthetic
//! input of tests.

use common::control::{ControlMessage, InputEvent};

use super::{Session, Step, unix_now_us};
use crate::input::InputReceiver;
use crate::synthetic_input;

/// The next local input event; never resolves without an input source.
pub(super) async fn next(input: &mut Option<InputReceiver>) -> Option<InputEvent> {
    match input {
        Some(input) => input.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    pub(super) async fn send_input(&mut self, event: InputEvent) -> Step {
        let seq = self.input_seq;
        self.input_seq += 1;
        self.stats.input_sent(seq, unix_now_us());
        self.unacked.push_back((seq, event));
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
