//! Local input on its way to the host: the window and the gamepad thread
//! send events here; the network task numbers them and puts them on the
//! reliable control channel. Unbounded on purpose: key and button events
//! are never dropped, and the window thread must never block; pointer moves
//! queued back to back are merged when the network task drains the queue.

use common::control::InputEvent;
use tokio::sync::mpsc;

/// The sending end, cheap to clone (window, gamepads).
#[derive(Debug, Clone)]
pub struct InputSender {
    events: mpsc::UnboundedSender<InputEvent>,
}

pub type InputReceiver = mpsc::UnboundedReceiver<InputEvent>;

pub fn channel() -> (InputSender, InputReceiver) {
    let (events, receiver) = mpsc::unbounded_channel();
    (InputSender { events }, receiver)
}

impl InputSender {
    /// Queues one event; false once the stream is gone.
    pub fn send(&self, event: InputEvent) -> bool {
        self.events.send(event).is_ok()
    }
}
