//! The input log: one JSON object per line, flushed per event, so a test can
//! read what the game received while it runs.

use std::io::Write;

use serde_json::Value;

use crate::clock::unix_now_us;

pub struct EventLog {
    file: Option<std::fs::File>,
}

impl EventLog {
    pub fn open(path: Option<&std::path::Path>) -> anyhow::Result<EventLog> {
        let file = match path {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        anyhow::anyhow!("opening the input log {}: {e}", path.display())
                    })?,
            ),
            None => None,
        };
        Ok(EventLog { file })
    }

    /// Writes `event` with the time it was received (`t_us`, Unix µs).
    pub fn write(&mut self, mut event: Value) {
        if let (Some(file), Some(object)) = (&mut self.file, event.as_object_mut()) {
            object.insert("t_us".into(), unix_now_us().into());
            if writeln!(file, "{event}").is_err() {
                eprintln!("demo-game: cannot write the input log; logging stops");
                self.file = None;
            }
        }
    }
}
