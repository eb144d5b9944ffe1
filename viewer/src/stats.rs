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
    /// Audio waiting in the jitter buffer, and what it aims for (0 without playback).
    pub audio_delay_us: AtomicU64,
    pub audio_target_us: AtomicU64,
    /// Times the jitter buffer ran dry while playing (each concealed).
    pub audio_underruns: AtomicU64,
    pub rtt_us: AtomicU64,
    /// Media rides the control WebSocket (UDP did not get through).
    pub via_websocket: std::sync::atomic::AtomicBool,
    /// How long after the UDP path went quiet the switch was asked for.
    pub fallback_after_ms: Mutex<Option<u64>>,
    /// The newest `LATENCY_WINDOW` samples: percentiles are taken often
    /// (every report), so this must not grow with the session.
    latency_ms: Mutex<std::collections::VecDeque<f64>>,
    audio_freq_hz: Mutex<Option<f64>>,
    /// Input sent and not yet reported injected: (seq, sent at, our µs).
    input_in_flight: Mutex<std::collections::VecDeque<(u64, u64)>>,
    input_latency_ms: Mutex<std::collections::VecDeque<f64>>,
    pub inputs_applied: AtomicU64,
    /// Control connections lost, and sessions resumed after one.
    pub connection_drops: AtomicU64,
    pub resumes: AtomicU64,
    pub last_resume_ms: AtomicU64,
    /// Per-stage times of recent frames (window mode).
    pub stages: Mutex<StageTimes>,
}

/// Recent per-frame stage times, in ms; the newest `STAGE_WINDOW` kept.
#[derive(Debug, Default)]
pub struct StageTimes {
    /// Capture at the host → last shard here (host, encode and network).
    pub network: std::collections::VecDeque<f64>,
    pub decode: std::collections::VecDeque<f64>,
    /// Last shard received → frame presented (the viewer's whole pipeline).
    pub shard_to_present: std::collections::VecDeque<f64>,
}

const STAGE_WINDOW: usize = 1200;

impl StageTimes {
    pub fn push(&mut self, network_ms: f64, decode_ms: f64, shard_to_present_ms: f64) {
        for (times, ms) in [
            (&mut self.network, network_ms),
            (&mut self.decode, decode_ms),
            (&mut self.shard_to_present, shard_to_present_ms),
        ] {
            if times.len() == STAGE_WINDOW {
                times.pop_front();
            }
            times.push_back(ms);
        }
    }
}

/// Median and 99th percentile of each stage, for the overlay and JSON lines.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StagePercentiles {
    pub network_ms: Option<Percentiles>,
    pub decode_ms: Option<Percentiles>,
    pub shard_to_present_ms: Option<Percentiles>,
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
    pub audio_delay_ms: f64,
    pub audio_target_ms: f64,
    pub audio_underruns: u64,
    pub rtt_ms: f64,
    /// "udp" or "websocket".
    pub transport: &'static str,
    pub fallback_after_ms: Option<u64>,
    pub latency_ms: Option<Percentiles>,
    pub audio_freq_hz: Option<f64>,
    pub inputs_applied: u64,
    /// Input event sent → injected at the host.
    pub input_latency_ms: Option<Percentiles>,
    pub connection_drops: u64,
    pub resumes: u64,
    pub last_resume_ms: u64,
    pub stages: StagePercentiles,
}

/// Samples kept for latency percentiles (minutes of video at 60 fps).
const LATENCY_WINDOW: usize = 10_000;

fn push_bounded(samples: &mut std::collections::VecDeque<f64>, value: f64) {
    if samples.len() == LATENCY_WINDOW {
        samples.pop_front();
    }
    samples.push_back(value);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl StreamStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn push_latency_ms(&self, ms: f64) {
        push_bounded(&mut lock(&self.latency_ms), ms);
    }

    pub fn input_sent(&self, seq: u64, sent_us: u64) {
        lock(&self.input_in_flight).push_back((seq, sent_us));
    }

    /// Everything up to `seq` was injected at `applied_us` (our clock).
    pub fn input_applied(&self, seq: u64, applied_us: u64) {
        let mut in_flight = lock(&self.input_in_flight);
        let mut latencies = lock(&self.input_latency_ms);
        while let Some(&(sent_seq, sent_us)) = in_flight.front() {
            if sent_seq > seq {
                break;
            }
            in_flight.pop_front();
            push_bounded(
                &mut latencies,
                applied_us.saturating_sub(sent_us) as f64 / 1000.0,
            );
            self.inputs_applied.fetch_add(1, Ordering::Relaxed);
        }
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
            audio_delay_ms: load(&self.audio_delay_us) as f64 / 1000.0,
            audio_target_ms: load(&self.audio_target_us) as f64 / 1000.0,
            audio_underruns: load(&self.audio_underruns),
            rtt_ms: load(&self.rtt_us) as f64 / 1000.0,
            transport: if self.via_websocket.load(Ordering::Relaxed) {
                "websocket"
            } else {
                "udp"
            },
            fallback_after_ms: *lock(&self.fallback_after_ms),
            latency_ms: Percentiles::of(lock(&self.latency_ms).make_contiguous()),
            audio_freq_hz: *lock(&self.audio_freq_hz),
            inputs_applied: load(&self.inputs_applied),
            input_latency_ms: Percentiles::of(lock(&self.input_latency_ms).make_contiguous()),
            connection_drops: load(&self.connection_drops),
            resumes: load(&self.resumes),
            last_resume_ms: load(&self.last_resume_ms),
            stages: {
                let stages = lock(&self.stages);
                let of = |times: &std::collections::VecDeque<f64>| {
                    Percentiles::of(&times.iter().copied().collect::<Vec<_>>())
                };
                StagePercentiles {
                    network_ms: of(&stages.network),
                    decode_ms: of(&stages.decode),
                    shard_to_present_ms: of(&stages.shard_to_present),
                }
            },
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
