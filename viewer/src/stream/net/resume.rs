//! Resuming a session after the connection dropped: new connections with
//! the session's resume token until the host takes one or the window
//! closes. Media state (decoders, UDP socket, keys) is kept.

use std::time::Duration;

use common::control::{ControlMessage, EndReason, RESUME_WINDOW_S, Transport};
use tokio::sync::watch;

use super::{Session, Step, StreamEnd};
use crate::stats::StreamStats;
use crate::stream::connect::{self, ConnectError};

/// No message from the host for this long means the connection is dead
/// (the host answers pings twice a second).
pub(super) const CONTROL_SILENCE: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

impl Session {
    /// Reconnects and resumes; the stream's end when that cannot be done.
    pub(super) async fn resume(
        &mut self,
        why: String,
        quit: &mut watch::Receiver<bool>,
    ) -> Result<(), StreamEnd> {
        let Some(token) = self.resume_token.clone() else {
            return Err(StreamEnd::ConnectionLost(why));
        };
        tracing::warn!(%why, "connection lost; resuming the session");
        StreamStats::add(&self.stats.connection_drops, 1);
        let started = tokio::time::Instant::now();
        // A little inside the host's window, so the last try can still land.
        let deadline = started + Duration::from_secs(RESUME_WINDOW_S - 2);
        loop {
            if *quit.borrow() {
                return Err(StreamEnd::Ended(EndReason::UserQuit));
            }
            let attempt = connect::resume(&self.url, &self.session_id, &token);
            match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
                Ok(Ok((ws, host_received))) => {
                    self.ws = ws;
                    let took_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(took_ms, "session resumed");
                    StreamStats::add(&self.stats.resumes, 1);
                    self.stats
                        .last_resume_ms
                        .store(took_ms, std::sync::atomic::Ordering::Relaxed);
                    match self.after_resume(host_received).await {
                        Ok(()) => return Ok(()),
                        // Dropped again at once: keep trying.
                        Err(StreamEnd::ConnectionLost(again)) => {
                            tracing::debug!(%again, "lost again right after resuming");
                        }
                        Err(end) => return Err(end),
                    }
                }
                Ok(Err(ConnectError::Refused { message, .. })) => {
                    return Err(StreamEnd::ConnectionLost(format!(
                        "{why}; the host would not resume the session: {message}"
                    )));
                }
                Ok(Err(ConnectError::Ended(reason))) => return Err(StreamEnd::Ended(reason)),
                Ok(Err(e)) => tracing::debug!(error = %e, "resume attempt failed"),
                Err(_) => tracing::debug!("resume attempt timed out"),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StreamEnd::ConnectionLost(format!(
                    "{why}; no way back to the host within {RESUME_WINDOW_S} s"
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY_INTERVAL) => {}
                changed = quit.changed() => {
                    // The window is gone (or asked to quit): stop trying.
                    if changed.is_err() || *quit.borrow() {
                        return Err(StreamEnd::Ended(EndReason::UserQuit));
                    }
                }
            }
        }
    }

    /// Picks the stream up again: unapplied input, the media path, a keyframe.
    async fn after_resume(&mut self, host_received: Option<u64>) -> Result<(), StreamEnd> {
        let now = tokio::time::Instant::now();
        self.last_control = now;
        self.last_udp_media = now;
        if self.transport == Transport::Udp {
            // Probe again, in case our address changed on the way.
            self.media_flowing = false;
        }
        if let Step::End(end) = self.resend_unacked(host_received).await {
            return Err(end);
        }
        let keyframe = ControlMessage::KeyframeRequest { frame_index: 0 };
        match self.send(&keyframe).await {
            Step::End(end) => Err(end),
            Step::Continue => Ok(()),
        }
    }
}
