//! The media pipeline of one session, on dedicated threads:
//! video (capture → convert → encode), audio (tone → Opus), and one sender
//! (packetize → seal → UDP) that owns the sequence counter.
//!
//! Channel policy: encoded units go to the sender through a bounded channel.
//! When it is full, a video unit is dropped, counted, and the next frame is
//! forced to be a keyframe (a decoder cannot skip a reference frame);
//! an audio packet is dropped and counted (the viewer conceals it).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use common::StreamKind;
use common::api::STREAM_BITRATE_KBPS;
use common::congestion::{PathReport, RateController};
use common::control::{ReceiverReport, VideoParams};
use common::fec::ParityController;
use common::seal::{MediaKey, Sealer};

use crate::clock::unix_now_us;
use crate::media::sender::{MediaOutput, MediaUnit, SendWork, SenderCounters, send_loop};
use crate::platform::{AudioEncoder, AudioSource, BgraFrame, Captured, VideoEncoder, VideoSource};

const MEDIA_QUEUE_UNITS: usize = 32;
/// FEC parity never drops below this share of a frame's data shards.
pub const PARITY_FLOOR_PCT: u32 = 10;
/// Congestion control never asks the encoder for less than this.
const MIN_BITRATE_KBPS: u32 = *STREAM_BITRATE_KBPS.start();
const PARITY_MAX_PCT: u32 = 60;
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

/// A running pipeline; dropping it (or `stop`) stops and joins its threads,
/// blocking: drop it off the async runtime.
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    force_keyframe: Arc<AtomicBool>,
    parity: Mutex<ParityController>,
    parity_pct: Arc<AtomicU32>,
    rate: Mutex<(RateController, Instant)>,
    /// The encoder's bitrate, set by congestion control, read per frame.
    bitrate_kbps: Arc<AtomicU32>,
    /// The user's bitrate: congestion control goes below it, never above.
    configured_kbps: u32,
    /// Into the sender's queue, for NACKed shards.
    retransmissions: SyncSender<SendWork>,
    pub counters: Arc<SenderCounters>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the threads and waits until source and encoders are built.
    pub fn start(
        parts: PipelineParts,
        output: MediaOutput,
        key: &MediaKey,
    ) -> anyhow::Result<Pipeline> {
        anyhow::ensure!(
            STREAM_BITRATE_KBPS.contains(&parts.video.bitrate_kbps),
            "a stream of {} kbps cannot be sent (this host streams {} to {} kbps)",
            parts.video.bitrate_kbps,
            STREAM_BITRATE_KBPS.start(),
            STREAM_BITRATE_KBPS.end()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let force_keyframe = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(SenderCounters::default());
        let (units_tx, units_rx) = sync_channel::<SendWork>(MEDIA_QUEUE_UNITS);
        let (ready_tx, ready_rx) = sync_channel::<anyhow::Result<()>>(2);
        let mut threads = Vec::new();

        let sealer = Sealer::new(key);
        let send_fps = parts.video.fps;
        let sender_counters = counters.clone();
        let parity_pct = Arc::new(AtomicU32::new(PARITY_FLOOR_PCT));
        let sender_parity = parity_pct.clone();
        threads.push(
            std::thread::Builder::new()
                .name("media-send".into())
                .spawn(move || {
                    send_loop(
                        units_rx,
                        output,
                        sealer,
                        &sender_counters,
                        &sender_parity,
                        send_fps,
                    )
                })?,
        );

        let retransmissions = units_tx.clone();
        let audio_ctx = ThreadCtx {
            stop: stop.clone(),
            force_keyframe: force_keyframe.clone(),
            counters: counters.clone(),
            units: units_tx,
            ready: ready_tx,
        };
        let ctx = audio_ctx.clone();
        let fps = parts.video.fps.max(1);
        let configured_kbps = parts.video.bitrate_kbps;
        let bitrate_kbps = Arc::new(AtomicU32::new(configured_kbps));
        let encoder_bitrate = bitrate_kbps.clone();
        let (make_source, make_encoder) = (parts.video_source, parts.video_encoder);
        threads.push(
            std::thread::Builder::new()
                .name("video".into())
                .spawn(move || {
                    let built = make_source().and_then(|s| Ok((s, make_encoder()?)));
                    if let Some((source, encoder)) = ctx.report_ready(built) {
                        video_loop(&ctx, source, encoder, fps, &encoder_bitrate);
                    }
                })?,
        );

        let ctx = audio_ctx;
        let (make_source, make_encoder) = (parts.audio_source, parts.audio_encoder);
        threads.push(
            std::thread::Builder::new()
                .name("audio".into())
                .spawn(move || {
                    let built = make_source().and_then(|s| Ok((s, make_encoder()?)));
                    if let Some((source, encoder)) = ctx.report_ready(built) {
                        audio_loop(&ctx, source, encoder);
                    }
                })?,
        );

        let pipeline = Pipeline {
            stop,
            force_keyframe,
            parity: Mutex::new(ParityController::new(PARITY_FLOOR_PCT, PARITY_MAX_PCT)),
            parity_pct,
            rate: Mutex::new((
                // The user's bitrate is the ceiling; the wire carries parity too.
                RateController::new(
                    configured_kbps * 5 / 4,
                    MIN_BITRATE_KBPS,
                    configured_kbps * 5 / 4,
                ),
                Instant::now(),
            )),
            bitrate_kbps,
            configured_kbps,
            retransmissions,
            counters,
            threads,
        };
        for _ in 0..2 {
            let result = ready_rx
                .recv()
                .context("a pipeline thread exited before it was ready");
            if let Err(e) = result.and_then(|r| r) {
                pipeline.stop();
                return Err(e);
            }
        }
        Ok(pipeline)
    }

    /// Adapts the FEC parity share and the encoder's bitrate (congestion
    /// control) to what the viewer reports.
    pub fn handle_receiver_report(&self, report: &ReceiverReport) {
        let mut parity = self.parity.lock().unwrap_or_else(|e| e.into_inner());
        parity.handle_loss(report.shard_loss);
        let parity_pct = parity.parity_pct();
        self.parity_pct.store(parity_pct, Ordering::Relaxed);
        let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        let (controller, last_report) = &mut *rate;
        let path = PathReport {
            delay_trend_ms: report.delay_trend_ms,
            loss: report.shard_loss,
            received_kbps: report.received_kbps,
            jitter_ms: report.jitter_ms,
        };
        let interval_us = last_report.elapsed().as_micros() as u64;
        *last_report = Instant::now();
        controller.handle_report(unix_now_us(), &path, interval_us);
        let encoder_kbps = controller
            .encoder_kbps(parity_pct)
            .min(self.configured_kbps);
        self.bitrate_kbps.store(encoder_kbps, Ordering::Relaxed);
        tracing::debug!(
            target_kbps = controller.target_kbps(),
            encoder_kbps,
            parity_pct,
            ?path,
            "rate"
        );
    }

    /// Re-sends shards the viewer is missing (if the frame is still recent);
    /// dropped when the sender's queue is full.
    pub fn retransmit(&self, frame_index: u32, shards: Vec<u16>) {
        let _ = self.retransmissions.try_send(SendWork::Retransmit {
            frame_index,
            shards,
        });
    }

    pub fn request_keyframe(&self) {
        self.force_keyframe.store(true, Ordering::Relaxed);
    }

    /// Stops the threads and waits for them; every unit queued is sent first.
    /// Stops and joins every thread (blocking; also what dropping does).
    pub fn stop(self) {
        drop(self);
    }
}

/// The pipeline owns its threads: however the session ends (an error, a
/// panic unwinding past it), dropping it stops and joins them.
impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The sender ends once every handle on its queue is gone: swap ours
        // for one of a queue nobody reads.
        drop(std::mem::replace(
            &mut self.retransmissions,
            sync_channel(0).0,
        ));
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a pipeline thread panicked");
            }
        }
    }
}

#[derive(Clone)]
struct ThreadCtx {
    stop: Arc<AtomicBool>,
    force_keyframe: Arc<AtomicBool>,
    counters: Arc<SenderCounters>,
    units: SyncSender<SendWork>,
    ready: SyncSender<anyhow::Result<()>>,
}

impl ThreadCtx {
    fn report_ready<T>(&self, built: anyhow::Result<T>) -> Option<T> {
        match built {
            Ok(value) => {
                let _ = self.ready.send(Ok(()));
                Some(value)
            }
            Err(e) => {
                let _ = self.ready.send(Err(e));
                None
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Sleeps until `deadline`, waking early if the pipeline stops.
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
    bitrate_kbps: &AtomicU32,
) {
    let mut current_kbps = bitrate_kbps.load(Ordering::Relaxed);
    ctx.counters
        .encoder_kbps
        .store(u64::from(current_kbps), Ordering::Relaxed);
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
                    && !ctx.force_keyframe.load(Ordering::Relaxed) =>
            {
                ctx.counters
                    .frames_unchanged
                    .fetch_add(1, Ordering::Relaxed);
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
        let wanted_kbps = bitrate_kbps.load(Ordering::Relaxed);
        // Reconfigure only on a real change: x264 restarts rate control.
        if wanted_kbps.abs_diff(current_kbps) * 20 > current_kbps {
            encoder.set_bitrate_kbps(wanted_kbps);
            current_kbps = wanted_kbps;
            ctx.counters
                .encoder_kbps
                .store(u64::from(current_kbps), Ordering::Relaxed);
        }
        let force = ctx.force_keyframe.swap(false, Ordering::Relaxed);
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
        match ctx.units.try_send(SendWork::Unit(unit)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                ctx.counters.frames_dropped.fetch_add(1, Ordering::Relaxed);
                ctx.force_keyframe.store(true, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => break,
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
            if let Err(TrySendError::Full(_)) = ctx.units.try_send(SendWork::Unit(unit)) {
                ctx.counters
                    .audio_packets_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
