//! What a session drives besides media, reached through here so the
//! stream side never touches a platform backend itself: the input sink
//! (with virtual pads when the host can make them), the shared clipboard,
//! and what the viewer is told of them.

use common::control::{ControlMessage, InputEvent, Rumble};
use tokio::sync::mpsc;

pub use crate::platform::InputSink;
use crate::platform::gamepad::GamepadSupport;
use crate::platform::uinput_pads::VirtualPads;
pub use crate::platform::x11::clipboard::X11Clipboard as Clipboard;

/// Makes the session's input sink, on the input thread.
pub type SinkFactory = Box<dyn FnOnce() -> anyhow::Result<Box<dyn InputSink>> + Send>;

/// A session's desk, ready to drive.
pub struct SessionDesk {
    pub input: SinkFactory,
    /// Rumble of the virtual pads, for the viewer.
    pub rumble: Option<mpsc::Receiver<Rumble>>,
    pub clipboard: Option<Clipboard>,
    /// `capabilities`, for the viewer.
    pub capabilities: ControlMessage,
}

/// Adds virtual pads to `input` when the host can make them, and starts
/// sharing the clipboard of `clipboard_display`.
pub fn session_desk(
    input: SinkFactory,
    clipboard_display: Option<&str>,
    gamepads: &GamepadSupport,
) -> SessionDesk {
    let (available, gamepads_note) = match gamepads {
        GamepadSupport::Available => (true, None),
        GamepadSupport::Unavailable(why) => (false, Some(why.clone())),
    };
    let clipboard = match clipboard_display.map(Clipboard::start) {
        Some(Ok(clipboard)) => Some(clipboard),
        Some(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "no clipboard sharing");
            None
        }
        None => None,
    };
    let capabilities = ControlMessage::Capabilities {
        gamepads: available,
        gamepads_note,
        clipboard: clipboard.is_some(),
    };
    let (input, rumble) = if available {
        let (rumble_tx, rumble) = mpsc::channel(32);
        let factory: SinkFactory = Box::new(move || {
            Ok(Box::new(WithGamepads {
                inner: input()?,
                pads: VirtualPads::new(rumble_tx),
            }))
        });
        (factory, Some(rumble))
    } else {
        (input, None)
    };
    SessionDesk {
        input,
        rumble,
        clipboard,
        capabilities,
    }
}

/// Routes gamepad events to the session's virtual pads, the rest to `inner`.
pub struct WithGamepads {
    pub inner: Box<dyn InputSink>,
    pub pads: VirtualPads,
}

impl InputSink for WithGamepads {
    fn apply(&mut self, seq: u64, event: &InputEvent) -> anyhow::Result<()> {
        match event {
            InputEvent::GamepadConnected { .. }
            | InputEvent::GamepadDisconnected { .. }
            | InputEvent::GamepadButton { .. }
            | InputEvent::GamepadAxis { .. } => self.pads.apply(event),
            _ => self.inner.apply(seq, event),
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.inner.flush()
    }
}
