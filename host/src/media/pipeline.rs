//! The media pipeline of one session, on dedicated threads: video
//! (capture → convert → encode) and audio (source → Opus). Encoded units go
//! to the session's driver, whose `HostSession` packetizes, paces and seals
//! them; the driver sets the encoder's bitrate and asks for keyframes.
//!
//! Channel policy: units go to the driver through a bounded channel. When
//! it is full, a video unit is dropped, counted, and the next frame is a
//! keyframe (a decoder cannot skip a reference frame); an audio packet is
//! dropped and counted (the viewer conceals it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::StreamKind;
use common::api::STREAM_BITRATE_KBPS;
use common::control::VideoParams;
use common::session::MediaUnit;
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::clock::unix_now_us;
use crate::platform::{AudioEncoder, AudioSource, BgraFrame, Captured, VideoEncoder, VideoSource};

/// Units waiting for the driver (about half a second of video and audio).
pub const MEDIA_QUEUE_UNITS: usize = 64;
pub const AUDIO_SAMPLE_RATE_HZ: u32 = 48_000;
/// An unchanged picture is still encoded this often.
const UNCHANGED_REFRESH: Duration = Duration::from_secs(1);

/// What the pipeline is built from; factories run on the pipeline's threads
/// because FFmpeg contexts are made and used on one thread.
pub struct PipelineParts {
    pub video: VideoParams,
    pub video_source: Box<dyn FnOnce() -> anyhow::Result<Box<dyn VideoSource>> + Send>,
    pub video_encoder: Box<dyn FnOnce() -> anyhow::Result<Box<dyn VideoEncoder>> + Send>,
    pub audio_source: Box<dyn FnOnce() -> anyhow::Result<Box<dyn AudioSource>> + Send>,
    pub audio_encoder: Box<dyn FnOnce() -> anyhow::Result<Box<dyn AudioEncoder>> + Send>,
}

/// The driver's handles on the encoders, shared with their threads.
#[derive(Debug, Default)]
struct Controls {
    stop: AtomicBool,
    force_keyframe: AtomicBool,
    bitrate_kbps: AtomicU32,
    /// Units the driver's queue had no room for.
    dropped: AtomicU64,
    /// Captures skipped because nothing was drawn (XDamage).
    unchanged: AtomicU64,
}

/// A running pipeline; dropping it stops and joins its threads, blocking:
/// drop it off the async runtime.
pub struct Pipeline {
    controls: Arc<Controls>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the threads and waits until sources and encoders are built.
    pub fn start(parts: PipelineParts, units: Sender<MediaUnit>) -> anyhow::Result<Pipeline> {
        anyhow::ensure!(
            STREAM_BITRATE_KBPS.contains(&parts.video.bitrate_kbps),
            "a stream of {} kbps cannot be sent (this host streams {} to {} kbps)",
            parts.video.bitrate_kbps,
            STREAM_BITRATE_KBPS.start(),
            STREAM_BITRATE_KBPS.end()
        );
        let controls = Arc::new(Controls {
            bitrate_kbps: AtomicU32::new(parts.video.bitrate_kbps),
            ..Default::default()
        });
        let (ready_tx, ready_rx) = sync_channel::<anyhow::Result<()>>(2);
        let mut pipeline = Pipeline {
            controls: controls.clone(),
            threads: Vec::new(),
        };
        let fps = parts.video.fps.max(1);
        let video = ThreadCtx {
            controls: controls.clone(),
            units: units.clone(),
        };
        let (make_source, make_encoder) = (parts.video_source, parts.video_encoder);
        let ready = ready_tx.clone();
        pipeline
            .threads
            .push(
                std::thread::Builder::new()
                    .name("video".into())
                    .spawn(move || {
                        let built = make_source().and_then(|s| Ok((s, make_encoder()?)));
                        if let Some((source, encoder)) = report_ready(&ready, built) {
                            video_loop(&video, source, encoder, fps);
                        }
                    })?,
            );
        let audio = ThreadCtx { controls, units };
        let (make_source, make_encoder) = (parts.audio_source, parts.audio_encoder);
        pipeline
            .threads
            .push(
                std::thread::Builder::new()
                    .name("audio".into())
                    .spawn(move || {
                        let built = make_source().and_then(|s| Ok((s, make_encoder()?)));
                        if let Some((source, encoder)) = report_ready(&ready_tx, built) {
                            audio_loop(&audio, source, encoder);
                        }
                    })?,
            );
        for _ in 0..2 {
            ready_rx
                .recv()
                .context("a pipeline thread exited before it was ready")??;
        }
        Ok(pipeline)
    }

    /// The encoder's bitrate from now on (congestion control's choice).
    pub fn set_bitrate_kbps(&self, kbps: u32) {
        self.controls.bitrate_kbps.store(kbps, Ordering::Relaxed);
    }

    pub fn force_keyframe(&self) {
        self.controls.force_keyframe.store(true, Ordering::Relaxed);
    }

    /// Units dropped since the last call (the driver's queue was full).
    pub fn take_dropped(&self) -> u64 {
        self.controls.dropped.swap(0, Ordering::Relaxed)
    }
}

/// The pipeline owns its threads: however the session ends (an error, a
/// panic unwinding past it), dropping it stops and joins them.
impl Drop for Pipeline {
    fn drop(&mut self) {
        self.controls.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a pipeline thread panicked");
            }
        }
    }
}

struct ThreadCtx {
    controls: Arc<Controls>,
    units: Sender<MediaUnit>,
}

impl ThreadCtx {
    fn stopped(&self) -> bool {
        self.controls.stop.load(Ordering::Relaxed)
    }

    /// Hands a unit on; `false` once the driver is gone.
    fn send(&self, unit: MediaUnit) -> bool {
        match self.units.try_send(unit) {
            Ok(()) => true,
            Err(TrySendError::Full(unit)) => {
                self.controls.dropped.fetch_add(1, Ordering::Relaxed);
                if unit.stream == StreamKind::Video {
                    self.controls.force_keyframe.store(true, Ordering::Relaxed);
                }
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

fn report_ready<T>(
    ready: &std::sync::mpsc::SyncSender<anyhow::Result<()>>,
    built: anyhow::Result<T>,
) -> Option<T> {
    match built {
        Ok(value) => {
            let _ = ready.send(Ok(()));
            Some(value)
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            None
        }
    }
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

fn video_loop(
    ctx: &ThreadCtx,
    mut source: Box<dyn VideoSource>,
    mut encoder: Box<dyn VideoEncoder>,
    fps: u32,
) {
    let controls = &ctx.controls;
    let mut current_kbps = controls.bitrate_kbps.load(Ordering::Relaxed);
    let (width, height) = source.size();
    let mut frame = BgraFrame::new(width, height);
    let interval = Duration::from_secs(1) / fps;
    let start = Instant::now();
    let mut index: u32 = 0;
    let mut encode_errors = 0u64;
    let mut capture_errors = 0u64;
    let mut last_encode = Instant::now();
    while !ctx.stopped() {
        let deadline = start + interval * index;
        sleep_until(deadline);
        index += 1;
        if Instant::now() > deadline + interval {
            // Fell behind (a slow encode): skip ahead instead of bursting.
            index = (start.elapsed().as_nanos() / interval.as_nanos()) as u32 + 1;
        }
        let capture_us = unix_now_us();
        match source.capture(capture_us, &mut frame) {
            Ok(Captured::New) => {}
            // Nothing drawn: skip the encode, but refresh now and then (and
            // on request) so a viewer that lost a frame recovers.
            Ok(Captured::Unchanged)
                if last_encode.elapsed() < UNCHANGED_REFRESH
                    && !controls.force_keyframe.load(Ordering::Relaxed) =>
            {
                controls.unchanged.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Ok(Captured::Unchanged) => {}
            Err(e) => {
                capture_errors += 1;
                if capture_errors == 1 {
                    tracing::warn!(error = %format!("{e:#}"), "capture failed");
                }
                // Do not spin on a source that is gone.
                std::thread::sleep(interval);
                continue;
            }
        }
        last_encode = Instant::now();
        // The session decides when a change is worth it (x264 restarts
        // its rate control on each).
        let wanted_kbps = controls.bitrate_kbps.load(Ordering::Relaxed);
        if wanted_kbps != current_kbps {
            encoder.set_bitrate_kbps(wanted_kbps);
            current_kbps = wanted_kbps;
        }
        let force = controls.force_keyframe.swap(false, Ordering::Relaxed);
        let encoded = match encoder.encode(&frame, force) {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(e) => {
                encode_errors += 1;
                if encode_errors == 1 {
                    tracing::error!(error = %e, "video encode failed");
                }
                continue;
            }
        };
        let unit = MediaUnit {
            stream: StreamKind::Video,
            data: encoded.data,
            capture_us,
            keyframe: encoded.keyframe,
        };
        if !ctx.send(unit) {
            break;
        }
    }
}

fn audio_loop(
    ctx: &ThreadCtx,
    mut source: Box<dyn AudioSource>,
    mut encoder: Box<dyn AudioEncoder>,
) {
    let samples = encoder.frame_samples();
    let mut buffer = vec![0f32; samples * 2];
    let interval =
        Duration::from_micros(samples as u64 * 1_000_000 / u64::from(AUDIO_SAMPLE_RATE_HZ));
    let start = Instant::now();
    let mut index: u32 = 0;
    while !ctx.stopped() {
        sleep_until(start + interval * index);
        index += 1;
        source.read(&mut buffer);
        let capture_us = unix_now_us();
        let packets = match encoder.encode(&buffer) {
            Ok(packets) => packets,
            Err(e) => {
                tracing::error!(error = %e, "audio encode failed");
                break;
            }
        };
        for data in packets {
            let unit = MediaUnit {
                stream: StreamKind::Audio,
                data,
                capture_us,
                keyframe: false,
            };
            if !ctx.send(unit) {
                return;
            }
        }
    }
}
