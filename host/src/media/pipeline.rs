//! The media pipeline of one session, on dedicated threads: video capture
//! (with the conversion to I420, straight from the capture buffer), video
//! encode, and audio (source → Opus). The capture thread hands the newest
//! picture to the encode thread through a slot (`slot`), so capturing the
//! next picture overlaps encoding this one. Encoded units go to the
//! session's driver, whose `HostSession` packetizes, paces and seals them;
//! the driver sets the encoder's bitrate and asks for keyframes.
//!
//! Queue policy: a captured picture the encoder has not taken yet is
//! replaced by a newer one (counted), never queued. Units go to the driver
//! through a bounded channel. When it is full, a video unit is dropped,
//! counted, and the next frame is a keyframe (a decoder cannot skip a
//! reference frame); an audio packet is dropped and counted (the viewer
//! conceals it).

mod slot;
mod video;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
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
use crate::platform::{AudioEncoder, AudioSource, VideoEncoder, VideoSource};
use slot::FrameSlot;
pub use video::FrameTimes;

/// Units waiting for the driver (about half a second of video and audio).
pub const MEDIA_QUEUE_UNITS: usize = 64;
pub const AUDIO_SAMPLE_RATE_HZ: u32 = 48_000;
/// Frame times kept for `Pipeline::take_frame_times` (the oldest go).
const FRAME_TIMES_KEPT: usize = 1024;

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
    frame_times: Mutex<VecDeque<FrameTimes>>,
}

/// A running pipeline; dropping it stops and joins its threads, blocking:
/// drop it off the async runtime.
pub struct Pipeline {
    controls: Arc<Controls>,
    slot: Arc<FrameSlot>,
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
        let (ready_tx, ready_rx) = sync_channel::<anyhow::Result<()>>(3);
        let (width, height) = (parts.video.width, parts.video.height);
        anyhow::ensure!(
            width > 0 && height > 0,
            "a {width}x{height} stream has no pictures"
        );
        let slot = Arc::new(FrameSlot::new(width, height));
        let mut pipeline = Pipeline {
            controls: controls.clone(),
            slot: slot.clone(),
            threads: Vec::new(),
        };
        let fps = parts.video.fps.max(1);
        let ctx = || ThreadCtx {
            controls: controls.clone(),
            units: units.clone(),
        };
        let (capture, make_source) = (ctx(), parts.video_source);
        let (ready, capture_slot) = (ready_tx.clone(), slot.clone());
        pipeline
            .threads
            .push(
                std::thread::Builder::new()
                    .name("capture".into())
                    .spawn(move || {
                        raise_priority("capture");
                        let built = make_source().and_then(|source| {
                        anyhow::ensure!(
                            source.size() == (width, height),
                            "the video source makes {:?} pictures for a {width}x{height} stream",
                            source.size()
                        );
                        Ok(source)
                    });
                        if let Some(source) = report_ready(&ready, built) {
                            video::capture_loop(&capture, &capture_slot, source, fps);
                        }
                        capture_slot.close();
                    })?,
            );
        let (encode, make_encoder) = (ctx(), parts.video_encoder);
        let ready = ready_tx.clone();
        pipeline
            .threads
            .push(
                std::thread::Builder::new()
                    .name("encode".into())
                    .spawn(move || {
                        // Before the encoder exists: x264's slice threads inherit it.
                        raise_priority("encode");
                        if let Some(encoder) = report_ready(&ready, make_encoder()) {
                            video::encode_loop(&encode, &slot, encoder);
                        }
                        // The capture thread has nobody to hand pictures to.
                        encode.controls.stop.store(true, Ordering::Relaxed);
                        slot.close();
                    })?,
            );
        let audio = ctx();
        let (make_source, make_encoder) = (parts.audio_source, parts.audio_encoder);
        pipeline
            .threads
            .push(
                std::thread::Builder::new()
                    .name("audio".into())
                    .spawn(move || {
                        raise_priority("audio");
                        let built = make_source().and_then(|s| Ok((s, make_encoder()?)));
                        if let Some((source, encoder)) = report_ready(&ready_tx, built) {
                            audio_loop(&audio, source, encoder);
                        }
                    })?,
            );
        for _ in 0..3 {
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

    /// Captured pictures replaced by a newer one before the encoder took
    /// them, since the start.
    pub fn replaced(&self) -> u64 {
        self.slot.replaced()
    }

    /// The times of the video frames handed over since the last call (at
    /// most the last `FRAME_TIMES_KEPT`).
    pub fn take_frame_times(&self) -> Vec<FrameTimes> {
        let mut kept = self
            .controls
            .frame_times
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.drain(..).collect()
    }
}

/// The pipeline owns its threads: however the session ends (an error, a
/// panic unwinding past it), dropping it stops and joins them.
impl Drop for Pipeline {
    fn drop(&mut self) {
        self.controls.stop.store(true, Ordering::Relaxed);
        self.slot.close();
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

/// The threads a frame passes through ask to run ahead of the rest of the
/// machine, the game included (see `common::thread_priority`).
fn raise_priority(thread: &str) {
    if let Err(why) = common::thread_priority::raise_for_media() {
        tracing::info!(thread, why = %why, "normal thread priority");
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

#[cfg(test)]
mod tests;
