//! Stream statistics shared by the network task, the decoders and whoever
//! shows them (overlay or JSON lines). Counters are atomics; latency samples
//! sit behind a mutex (at most a few hundred pushes a second).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use common::stats::Percentiles;
use serde::Serialize;

#[derive(Debug, Default)]
pub struct StreamStats {
    pub frames_sent: AtomicU64,
    pub encoder_kbps: AtomicU64,
    pub frames_received: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub frames_lost: AtomicU64,
    pub frames_recovered: AtomicU64,
    pub frames_presented: AtomicU64,
    pub decode_errors: AtomicU64,
    pub barcode_misses: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub nacks_sent: AtomicU64,
    pub datagrams_received: AtomicU64,
    pub datagrams_dropped: AtomicU64,
    pub bytes_received: AtomicU64,
    pub audio_packets: AtomicU64,
    pub audio_decode_errors: AtomicU64,
    pub audio_concealed: AtomicU64,
    pub rtt_us: AtomicU64,
    /// Media rides the control WebSocket (UDP did not get through).
    pub via_websocket: std::sync::atomic::AtomicBool,
    /// How long after the UDP path went quiet the switch was asked for.
    pub fallback_after_ms: Mutex<Option<u64>>,
    latency_ms: Mutex<Vec<f64>>,
    audio_freq_hz: Mutex<Option<f64>>,
}

/// One point-in-time view, as printed in headless mode.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub frames_sent: u64,
    /// The host encoder's bitrate, as congestion control set it.
    pub encoder_kbps: u64,
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub frames_lost: u64,
    pub frames_recovered: u64,
    pub frames_presented: u64,
    pub decode_errors: u64,
    pub barcode_misses: u64,
    pub keyframe_requests: u64,
    pub nacks_sent: u64,
    pub datagrams_received: u64,
    pub datagrams_dropped: u64,
    pub bytes_received: u64,
    pub audio_packets: u64,
    pub audio_decode_errors: u64,
    pub audio_concealed: u64,
    pub rtt_ms: f64,
    /// "udp" or "websocket".
    pub transport: &'static str,
    pub fallback_after_ms: Option<u64>,
    pub latency_ms: Option<Percentiles>,
    pub audio_freq_hz: Option<f64>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl StreamStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn push_latency_ms(&self, ms: f64) {
        lock(&self.latency_ms).push(ms);
    }

    pub fn set_audio_freq_hz(&self, hz: f64) {
        *lock(&self.audio_freq_hz) = Some(hz);
    }

    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            frames_sent: load(&self.frames_sent),
            encoder_kbps: load(&self.encoder_kbps),
            frames_received: load(&self.frames_received),
            frames_decoded: load(&self.frames_decoded),
            frames_lost: load(&self.frames_lost),
            frames_recovered: load(&self.frames_recovered),
            frames_presented: load(&self.frames_presented),
            decode_errors: load(&self.decode_errors),
            barcode_misses: load(&self.barcode_misses),
            keyframe_requests: load(&self.keyframe_requests),
            nacks_sent: load(&self.nacks_sent),
            datagrams_received: load(&self.datagrams_received),
            datagrams_dropped: load(&self.datagrams_dropped),
            bytes_received: load(&self.bytes_received),
            audio_packets: load(&self.audio_packets),
            audio_decode_errors: load(&self.audio_decode_errors),
            audio_concealed: load(&self.audio_concealed),
            rtt_ms: load(&self.rtt_us) as f64 / 1000.0,
            transport: if self.via_websocket.load(Ordering::Relaxed) {
                "websocket"
            } else {
                "udp"
            },
            fallback_after_ms: *lock(&self.fallback_after_ms),
            latency_ms: Percentiles::of(&lock(&self.latency_ms)),
            audio_freq_hz: *lock(&self.audio_freq_hz),
        }
    }
}

/// Rates between two snapshots `seconds` apart, for the overlay and JSON lines.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rates {
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub loss_pct: f64,
}

impl Rates {
    pub fn between(earlier: &Snapshot, later: &Snapshot, seconds: f64) -> Rates {
        let seconds = seconds.max(1e-3);
        let decoded = later.frames_decoded.saturating_sub(earlier.frames_decoded) as f64;
        let received = later
            .frames_received
            .saturating_sub(earlier.frames_received) as f64;
        let lost = later.frames_lost.saturating_sub(earlier.frames_lost) as f64;
        let bytes = later.bytes_received.saturating_sub(earlier.bytes_received) as f64;
        Rates {
            fps: decoded / seconds,
            bitrate_kbps: bytes * 8.0 / 1000.0 / seconds,
            loss_pct: if received + lost > 0.0 {
                100.0 * lost / (received + lost)
            } else {
                0.0
            },
        }
    }
}
