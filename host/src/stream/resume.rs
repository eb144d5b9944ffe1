//! Sessions a viewer may come back to. A session whose control connection
//! drops waits for its viewer (the machine's resume window); a `resume`
//! message with the session's token on a new connection hands that
//! connection over.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use hyper_util::rt::TokioIo;
use rand::RngCore;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;

/// The control connection as the server upgrades it.
pub type ControlWs = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A new connection for a waiting session.
pub struct Takeover {
    pub ws: ControlWs,
    pub peer: SocketAddr,
}

struct Waiting {
    token_digest: ring::digest::Digest,
    handoff: mpsc::Sender<Takeover>,
}

#[derive(Default)]
pub struct ResumeDesk {
    sessions: Mutex<HashMap<String, Waiting>>,
}

impl ResumeDesk {
    /// Makes a session resumable: its token for the viewer, and where new
    /// connections for it arrive.
    pub fn register(&self, session_id: &str) -> (String, mpsc::Receiver<Takeover>) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        // Room for a few retries; the session takes the newest.
        let (handoff, receiver) = mpsc::channel(4);
        let waiting = Waiting {
            token_digest: digest(&token),
            handoff,
        };
        self.lock().insert(session_id.to_string(), waiting);
        (token, receiver)
    }

    pub fn unregister(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    /// Gives `takeover` to the session, or hands it back with the reason.
    pub fn hand_over(
        &self,
        session_id: &str,
        token: &str,
        takeover: Takeover,
    ) -> Result<(), (&'static str, Box<Takeover>)> {
        let handoff = {
            let sessions = self.lock();
            let Some(waiting) = sessions.get(session_id) else {
                return Err((
                    "no such session is running on this host",
                    Box::new(takeover),
                ));
            };
            // Digests are compared, so timing reveals nothing of the token.
            if waiting.token_digest.as_ref() != digest(token).as_ref() {
                return Err(("the resume token is wrong", Box::new(takeover)));
            }
            waiting.handoff.clone()
        };
        handoff.try_send(takeover).map_err(|e| {
            (
                "the session is ending or already resuming",
                Box::new(e.into_inner()),
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn digest(token: &str) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
}

/// The newest of the connections waiting (a viewer retrying may have
/// queued several; the older ones are dropped).
pub(crate) fn newest(mut takeover: Takeover, takeovers: &mut mpsc::Receiver<Takeover>) -> Takeover {
    while let Ok(newer) = takeovers.try_recv() {
        takeover = newer;
    }
    takeover
}
