//! Streams running right now, by session id, so the API can end one
//! (UpdateSessionState TERMINATED) and its control loop tells the viewer why.

use std::collections::HashMap;
use std::sync::Mutex;

use common::control::EndReason;
use tokio::sync::watch;

#[derive(Debug, Default)]
pub struct LiveSessions {
    running: Mutex<HashMap<String, watch::Sender<Option<EndReason>>>>,
}

impl LiveSessions {
    /// Registers a stream; the receiver turns `Some(reason)` when it must end.
    pub fn register(&self, session_id: &str) -> watch::Receiver<Option<EndReason>> {
        let (sender, receiver) = watch::channel(None);
        self.lock().insert(session_id.to_string(), sender);
        receiver
    }

    pub fn unregister(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    /// Asks a running stream to end; false when none runs under that id.
    pub fn end(&self, session_id: &str, reason: EndReason) -> bool {
        match self.lock().get(session_id) {
            Some(sender) => sender.send(Some(reason)).is_ok(),
            None => false,
        }
    }

    /// Ends every running stream (host shutdown).
    pub fn end_all(&self, reason: EndReason) {
        for sender in self.lock().values() {
            let _ = sender.send(Some(reason));
        }
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Option<EndReason>>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}
