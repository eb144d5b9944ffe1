//! What the host says in words rather than counters: why gamepads cannot
//! be used, the clipboard text it sent. The network side hands them on as
//! they come (unbounded: a few per session); the window and the headless
//! output keep the latest of each and show or print them.

use std::sync::mpsc::Receiver;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostNote {
    GamepadsUnavailable(String),
    Clipboard(String),
}

/// The latest of each note, as the JSON lines carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostNotes {
    pub gamepads_note: Option<String>,
    pub clipboard_received: Option<String>,
}

impl HostNotes {
    /// Takes every note waiting on `notes`.
    pub fn take_from(&mut self, notes: &Receiver<HostNote>) {
        while let Ok(note) = notes.try_recv() {
            match note {
                HostNote::GamepadsUnavailable(why) => self.gamepads_note = Some(why),
                HostNote::Clipboard(text) => self.clipboard_received = Some(text),
            }
        }
    }

    /// Adds the notes to a JSON object line.
    pub fn merge_into(&self, line: &mut serde_json::Value) {
        if let (Some(line), Ok(serde_json::Value::Object(notes))) =
            (line.as_object_mut(), serde_json::to_value(self))
        {
            line.extend(notes);
        }
    }
}
