//! What the session machine reports, published where the rest of the
//! viewer reads it: the statistics, the shared clock, the audio decoder's
//! queue, the gamepads' rumble.

use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;

use common::control::Rumble;
use common::session::{ViewerEvent, ViewerStats};

use super::MediaSinks;
use crate::clock::SharedClock;
use crate::stats::StreamStats;
use crate::stream::notes::HostNote;

/// Hands on one event (video frames and the session's end are the driver's).
pub(super) fn event(
    event: ViewerEvent,
    stats: &StreamStats,
    clock: &SharedClock,
    sinks: &MediaSinks,
    rumble: &Option<std::sync::mpsc::Sender<Rumble>>,
    notes: &std::sync::mpsc::Sender<HostNote>,
) {
    match event {
        ViewerEvent::Audio(packet) => {
            // An empty packet asks the audio thread to conceal one.
            if let Err(TrySendError::Full(_)) = sinks.audio.try_send(packet.unwrap_or_default()) {
                tracing::debug!("audio queue full; packet dropped");
            }
        }
        ViewerEvent::Clock { offset_us, rtt_us } => {
            clock.offset_us.store(offset_us, Ordering::Relaxed);
            stats.rtt_us.store(rtt_us, Ordering::Relaxed);
        }
        ViewerEvent::SenderReport(report) => {
            stats
                .frames_sent
                .store(report.frames_sent, Ordering::Relaxed);
            stats
                .encoder_kbps
                .store(report.encoder_kbps, Ordering::Relaxed);
        }
        ViewerEvent::InputApplied { seq, host_us } => {
            // On our clock: the host's time minus the estimated offset.
            stats.input_applied(seq, host_us.saturating_add_signed(-clock.offset_us()));
        }
        ViewerEvent::Rumble(request) => {
            if let Some(rumble) = rumble {
                let _ = rumble.send(request);
            }
        }
        ViewerEvent::Clipboard(text) => {
            let _ = notes.send(HostNote::Clipboard(text));
        }
        ViewerEvent::GamepadsUnavailable(why) => {
            tracing::warn!("the host cannot take gamepads: {why}");
            let _ = notes.send(HostNote::GamepadsUnavailable(why));
        }
        ViewerEvent::FellBack { silent_us } => {
            tracing::warn!(
                silent_ms = silent_us / 1000,
                "no UDP media: switching to the WebSocket"
            );
            *stats
                .fallback_after_ms
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(silent_us / 1000);
        }
        ViewerEvent::Video(_) | ViewerEvent::Reconnect(_) | ViewerEvent::Ended(_) => {}
    }
}

/// Copies the machine's counters; `dropped` frames never reached the decoder.
pub(super) fn stats(session: &ViewerStats, dropped: u64, stats: &StreamStats) {
    let r = &session.receiver;
    for (counter, value) in [
        (&stats.frames_received, r.frames_received),
        (&stats.frames_lost, r.frames_lost.saturating_add(dropped)),
        (&stats.frames_recovered, r.frames_recovered),
        (&stats.keyframe_requests, r.keyframe_requests),
        (&stats.nacks_sent, r.nacks_sent),
        (&stats.datagrams_received, r.datagrams_received),
        (&stats.datagrams_dropped, r.datagrams_dropped),
        (&stats.bytes_received, r.bytes_received),
        (&stats.audio_packets, r.audio_packets),
        (&stats.connection_drops, session.connection_drops),
        (&stats.resumes, session.resumes),
    ] {
        counter.store(value, Ordering::Relaxed);
    }
    stats
        .via_websocket
        .store(session.via_websocket, Ordering::Relaxed);
}
