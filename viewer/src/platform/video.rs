//! The video decoder thread: H.264 (or HEVC, AV1) with FFmpeg, the latency barcode read off
//! the decoded picture, and (with a window) conversion to RGBA for display.
//!
//! After a gap in frame indices (a lost frame) it decodes nothing until a
//! keyframe arrives, and asks for one: a broken reference chain would show
//! a corrupt picture.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, anyhow};
use common::control::VideoCodec;
use common::packetizer::Frame;
use ffmpeg_next::codec::{flag, threading};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{Packet, frame};
use tokio::sync::mpsc;

use crate::clock::SharedClock;
use crate::stats::StreamStats;

/// An RGBA picture ready to show.
#[derive(Debug, Clone)]
pub struct RgbaFrame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    pub capture_us: u64,
    /// When the frame's last shard arrived (our clock, µs).
    pub last_shard_us: u64,
    /// Capture at the host → last shard here.
    pub network_ms: f64,
    pub decode_ms: f64,
}

/// Newest picture wins: the window takes whatever is there when it draws.
#[derive(Debug, Default)]
pub struct FrameSlot {
    latest: Mutex<Option<RgbaFrame>>,
}

impl FrameSlot {
    pub fn put(&self, frame: RgbaFrame) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame);
    }
    pub fn take(&self) -> Option<RgbaFrame> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub struct VideoDecoder {
    decoder: ffmpeg_next::decoder::Video,
    decoded: frame::Video,
}

/// YUV → RGBA with swscale, rebuilt when the picture size changes.
#[derive(Default)]
pub struct RgbaConverter {
    rgba: Option<(scaling::Context, frame::Video)>,
}

/// FFmpeg's decoder for `codec`. For AV1 only dav1d: FFmpeg's own AV1
/// decoder needs a hardware accelerator.
fn find_decoder(codec: VideoCodec) -> Option<ffmpeg_next::Codec> {
    match codec {
        VideoCodec::H264 => ffmpeg_next::decoder::find(ffmpeg_next::codec::Id::H264),
        VideoCodec::Hevc => ffmpeg_next::decoder::find(ffmpeg_next::codec::Id::HEVC),
        VideoCodec::Av1 => ffmpeg_next::decoder::find_by_name("libdav1d"),
    }
}

/// Whether this viewer's FFmpeg can decode `codec` (asked before asking
/// the host for it).
pub fn can_decode(codec: VideoCodec) -> bool {
    ffmpeg_next::init().is_ok() && find_decoder(codec).is_some()
}

impl VideoDecoder {
    pub fn new(codec: VideoCodec) -> anyhow::Result<Self> {
        let codec =
            find_decoder(codec).ok_or_else(|| anyhow!("FFmpeg has no {codec:?} decoder"))?;
        let mut context = ffmpeg_next::codec::context::Context::new_with_codec(codec);
        // Slice threads add no delay; frame threads would add a frame per thread.
        context.set_threading(threading::Config {
            kind: threading::Type::Slice,
            count: 2,
            ..Default::default()
        });
        context.set_flags(flag::Flags::LOW_DELAY);
        let decoder = context
            .decoder()
            .video()
            .context("opening the video decoder")?;
        Ok(VideoDecoder {
            decoder,
            decoded: frame::Video::empty(),
        })
    }

    /// Decodes one access unit; calls `on_picture` for each picture out.
    pub fn decode(
        &mut self,
        data: &[u8],
        mut on_picture: impl FnMut(&frame::Video),
    ) -> Result<(), ffmpeg_next::Error> {
        self.decoder.send_packet(&Packet::copy(data))?;
        while self.decoder.receive_frame(&mut self.decoded).is_ok() {
            on_picture(&self.decoded);
        }
        Ok(())
    }
}

impl RgbaConverter {
    /// Converts a decoded picture to tightly packed RGBA.
    pub fn convert(&mut self, picture: &frame::Video) -> anyhow::Result<Vec<u8>> {
        let (w, h) = (picture.width(), picture.height());
        let rebuild = match &self.rgba {
            Some((_, out)) => out.width() != w || out.height() != h,
            None => true,
        };
        if rebuild {
            let scaler = scaling::Context::get(
                picture.format(),
                w,
                h,
                Pixel::RGBA,
                w,
                h,
                scaling::Flags::FAST_BILINEAR,
            )?;
            self.rgba = Some((scaler, frame::Video::new(Pixel::RGBA, w, h)));
        }
        let (scaler, out) = self.rgba.as_mut().expect("built above");
        scaler.run(picture, out)?;
        let stride = out.stride(0);
        let row = w as usize * 4;
        let mut data = Vec::with_capacity(row * h as usize);
        for y in 0..h as usize {
            data.extend_from_slice(&out.data(0)[y * stride..y * stride + row]);
        }
        Ok(data)
    }
}

/// Reads the barcode from the luma plane of a decoded picture.
pub fn read_barcode(picture: &frame::Video) -> Option<u64> {
    let stride = picture.stride(0);
    let luma = picture.data(0);
    common::barcode::read(picture.width(), picture.height(), |x, y| {
        luma[y as usize * stride + x as usize]
    })
}

/// How the decoder wakes the window when a picture is ready.
pub type Wake = Box<dyn Fn() + Send>;
/// Where pictures go for display, and how to wake the window.
pub type Display = (Arc<FrameSlot>, Wake);

pub struct VideoThread {
    pub frames: Receiver<Frame>,
    pub stats: Arc<StreamStats>,
    pub clock: Arc<SharedClock>,
    pub keyframe_requests: mpsc::Sender<u32>,
    /// Where pictures go for display; `None` in headless mode.
    pub display: Option<Display>,
    /// The codec the host chose, set from its welcome before any frame.
    pub codec: Arc<std::sync::OnceLock<VideoCodec>>,
}

impl VideoThread {
    pub fn run(self) -> anyhow::Result<()> {
        let mut decoder: Option<VideoDecoder> = None;
        let mut converter = RgbaConverter::default();
        let mut expected: Option<u32> = None;
        let mut waiting_for_keyframe = false;
        for frame in self.frames.iter() {
            // The session hands on whole reference chains; a gap here is a
            // frame the queue dropped. Until a keyframe, nothing decodes;
            // the session decides when to ask for one.
            let gap = expected.is_some_and(|e| e != frame.frame_index);
            expected = Some(frame.frame_index.wrapping_add(1));
            if gap || waiting_for_keyframe {
                if !frame.keyframe {
                    let _ = self.keyframe_requests.try_send(frame.frame_index);
                    waiting_for_keyframe = true;
                    continue;
                }
                waiting_for_keyframe = false;
            }
            let started = Instant::now();
            let mut pictures = 0u64;
            let mut shown: Option<anyhow::Result<RgbaFrame>> = None;
            if decoder.is_none() {
                let codec = self.codec.get().copied().unwrap_or(VideoCodec::H264);
                decoder = Some(VideoDecoder::new(codec)?);
            }
            let Some(decoder) = decoder.as_mut() else {
                continue;
            };
            let result = decoder.decode(&frame.data, |picture| {
                pictures += 1;
                match read_barcode(picture) {
                    Some(capture_us) => {
                        // A capture a little "after" now is an offset estimate
                        // a little off: zero, never a wrapped subtraction.
                        let elapsed_us =
                            common::barcode::elapsed_us(capture_us, self.clock.host_now_us())
                                .max(0);
                        self.stats.push_latency_ms(elapsed_us as f64 / 1000.0);
                    }
                    None => StreamStats::add(&self.stats.barcode_misses, 1),
                }
                if self.display.is_some() {
                    let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
                    let host_last_shard_us = frame
                        .last_shard_us
                        .saturating_add_signed(self.clock.offset_us());
                    let network_ms =
                        host_last_shard_us.saturating_sub(frame.capture_us) as f64 / 1000.0;
                    shown = Some(converter.convert(picture).map(|data| RgbaFrame {
                        width: picture.width(),
                        height: picture.height(),
                        data,
                        capture_us: frame.capture_us,
                        last_shard_us: frame.last_shard_us,
                        network_ms,
                        decode_ms,
                    }));
                }
            });
            if let Err(e) = result {
                if self.stats.decode_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(error = %e, frame = frame.frame_index, "decode error");
                }
                let _ = self.keyframe_requests.try_send(frame.frame_index);
                waiting_for_keyframe = true;
                continue;
            }
            StreamStats::add(&self.stats.frames_decoded, pictures);
            tracing::trace!(decode_us = started.elapsed().as_micros() as u64, "decoded");
            if let (Some((slot, wake)), Some(picture)) = (&self.display, shown) {
                slot.put(picture?);
                wake();
            }
        }
        Ok(())
    }
}
