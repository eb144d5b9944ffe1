//! The two video threads: capture (paced at the stream's rate, converting
//! into a free I420 frame) and encode (the newest captured picture, as soon
//! as the encoder is free), with the slot between them.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::StreamKind;
use common::session::MediaUnit;
use common::stats::Percentiles;

use super::slot::{Captured as Picture, FrameSlot};
use super::{FRAME_TIMES_KEPT, ThreadCtx, sleep_until};
use crate::clock::unix_now_us;
use crate::platform::{Captured, Grab, VideoEncoder, VideoSource};

/// An unchanged picture is still encoded this often.
const UNCHANGED_REFRESH: Duration = Duration::from_secs(1);
/// How often the encode thread logs its stage times (debug level).
const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// What one video frame took on the host, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTimes {
    /// The frame's timestamp: the host clock at capture start.
    pub capture_us: u64,
    /// Capture, conversion to I420 included.
    pub capture_took_us: u64,
    /// From captured to taken by the encoder.
    pub waited_us: u64,
    pub encode_us: u64,
    /// Capture start → the unit handed to the driver.
    pub handed_us: u64,
    pub keyframe: bool,
}

pub(super) fn capture_loop(
    ctx: &ThreadCtx,
    slot: &FrameSlot,
    mut source: Box<dyn VideoSource>,
    fps: u32,
) {
    let controls = &ctx.controls;
    let interval = Duration::from_secs(1) / fps;
    let start = Instant::now();
    let mut index: u32 = 0;
    let mut capture_errors = 0u64;
    let mut last_published: Option<Instant> = None;
    let mut frame = None;
    while !ctx.stopped() {
        let deadline = start + interval * index;
        sleep_until(deadline);
        index += 1;
        if Instant::now() > deadline + interval {
            // Fell behind (a slow capture): skip ahead instead of bursting.
            index = (start.elapsed().as_nanos() / interval.as_nanos()) as u32 + 1;
        }
        // Three frames circulate: one here, one waiting, one encoding.
        let Some(mut buffer) = frame.take().or_else(|| slot.take_free()) else {
            tracing::error!("no free frame to capture into");
            break;
        };
        // Nothing drawn: skip the encode, but refresh now and then (and on
        // request) so a viewer that lost a frame recovers.
        let refresh = last_published.is_none_or(|at| at.elapsed() >= UNCHANGED_REFRESH)
            || controls.force_keyframe.load(Ordering::Relaxed);
        let grab = if refresh {
            Grab::Always
        } else {
            Grab::IfChanged
        };
        let capture_started = Instant::now();
        let capture_us = unix_now_us();
        match source.capture(capture_us, grab, &mut buffer) {
            Ok(Captured::New) => {
                last_published = Some(Instant::now());
                slot.publish(Picture {
                    frame: buffer,
                    capture_us,
                    capture_started,
                    capture_took_us: capture_started.elapsed().as_micros() as u64,
                });
            }
            Ok(Captured::Unchanged) => {
                controls.unchanged.fetch_add(1, Ordering::Relaxed);
                frame = Some(buffer);
            }
            Err(e) => {
                frame = Some(buffer);
                capture_errors += 1;
                if capture_errors == 1 {
                    tracing::warn!(error = %format!("{e:#}"), "capture failed");
                }
                // Do not spin on a source that is gone.
                std::thread::sleep(interval);
            }
        }
    }
}

pub(super) fn encode_loop(ctx: &ThreadCtx, slot: &FrameSlot, mut encoder: Box<dyn VideoEncoder>) {
    let controls = &ctx.controls;
    let mut current_kbps = controls.bitrate_kbps.load(Ordering::Relaxed);
    let mut encode_errors = 0u64;
    let mut summary = Summary::default();
    while let Some(picture) = slot.next() {
        let Picture {
            mut frame,
            capture_us,
            capture_started,
            capture_took_us,
        } = picture;
        let waited_us =
            (capture_started.elapsed().as_micros() as u64).saturating_sub(capture_took_us);
        // The session decides when a change is worth it (FFmpeg's HEVC
        // and AV1 encoders restart their rate control on each).
        let wanted_kbps = controls.bitrate_kbps.load(Ordering::Relaxed);
        if wanted_kbps != current_kbps {
            encoder.set_bitrate_kbps(wanted_kbps);
            current_kbps = wanted_kbps;
        }
        let force = controls.force_keyframe.swap(false, Ordering::Relaxed);
        let encoded = encoder.encode(&mut frame, force);
        slot.give_back(frame);
        let encoded = match encoded {
            Ok(Some(encoded)) => encoded,
            Ok(None) => continue,
            Err(e) => {
                encode_errors += 1;
                if encode_errors == 1 {
                    tracing::error!(error = %format!("{e:#}"), "video encode failed");
                }
                if force {
                    controls.force_keyframe.store(true, Ordering::Relaxed);
                }
                continue;
            }
        };
        let (keyframe, encode_us) = (encoded.keyframe, encoded.encode_us);
        let unit = MediaUnit {
            stream: StreamKind::Video,
            data: encoded.data,
            capture_us,
            keyframe,
        };
        if !ctx.send(unit) {
            break;
        }
        let times = FrameTimes {
            capture_us,
            capture_took_us,
            waited_us,
            encode_us,
            handed_us: capture_started.elapsed().as_micros() as u64,
            keyframe,
        };
        record(ctx, times);
        summary.add(&times, slot.replaced());
    }
}

fn record(ctx: &ThreadCtx, times: FrameTimes) {
    let mut kept = ctx
        .controls
        .frame_times
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if kept.len() == FRAME_TIMES_KEPT {
        kept.pop_front();
    }
    kept.push_back(times);
}

/// Stage times logged now and then, for reading a host's log.
#[derive(Default)]
struct Summary {
    since: Option<Instant>,
    capture_ms: Vec<f64>,
    encode_ms: Vec<f64>,
    handed_ms: Vec<f64>,
    replaced_before: u64,
}

impl Summary {
    fn add(&mut self, times: &FrameTimes, replaced: u64) {
        let since = *self.since.get_or_insert_with(Instant::now);
        self.capture_ms.push(times.capture_took_us as f64 / 1000.0);
        self.encode_ms.push(times.encode_us as f64 / 1000.0);
        self.handed_ms.push(times.handed_us as f64 / 1000.0);
        if since.elapsed() < SUMMARY_INTERVAL {
            return;
        }
        let p50 = |values: &[f64]| Percentiles::of(values).map_or(0.0, |p| p.p50);
        let p99 = |values: &[f64]| Percentiles::of(values).map_or(0.0, |p| p.p99);
        tracing::debug!(
            frames = self.handed_ms.len(),
            capture_p50_ms = p50(&self.capture_ms),
            encode_p50_ms = p50(&self.encode_ms),
            handed_p50_ms = p50(&self.handed_ms),
            handed_p99_ms = p99(&self.handed_ms),
            replaced = replaced - self.replaced_before,
            "video stages"
        );
        *self = Summary {
            replaced_before: replaced,
            ..Summary::default()
        };
    }
}
