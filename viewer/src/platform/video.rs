//! The video decoder thread: H.264 (or HEVC, AV1) with FFmpeg, the latency barcode read off
//! the decoded picture, and (with a window) its planes handed to the presenter as they are:
//! colour conversion happens where it is cheapest (`present`).
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

/// A decoded picture's planes (I420, tightly packed) and its timings, for
/// a presenter to convert where it is cheapest (a shader, or SIMD on the CPU).
#[derive(Debug, Clone, Default)]
pub struct YuvPicture {
    pub width: u32,
    pub height: u32,
    /// Luma, `width` bytes per row.
    pub y: Vec<u8>,
    /// Chroma, `chroma_size().0` bytes per row.
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// JPEG-style full range (0–255) instead of video range (16–235).
    pub full_range: bool,
    pub capture_us: u64,
    /// When the frame's last shard arrived (our clock, µs).
    pub last_shard_us: u64,
    /// Capture at the host → last shard here.
    pub network_ms: f64,
    pub decode_ms: f64,
}

impl YuvPicture {
    pub fn chroma_size(&self) -> (u32, u32) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// Borrowed planes in the form the SIMD converter takes.
    pub fn planar(&self) -> yuvutils_rs::YuvPlanarImage<'_, u8> {
        let (chroma_width, _) = self.chroma_size();
        yuvutils_rs::YuvPlanarImage {
            y_plane: &self.y,
            y_stride: self.width,
            u_plane: &self.u,
            u_stride: chroma_width,
            v_plane: &self.v,
            v_stride: chroma_width,
            width: self.width,
            height: self.height,
        }
    }
}

/// Copies a decoded picture's planes into a `YuvPicture`; pictures that
/// are not 8-bit 4:2:0 are first converted to it with swscale.
#[derive(Default)]
pub struct PlaneCopier {
    to_i420: Option<(scaling::Context, frame::Video)>,
}

impl PlaneCopier {
    pub fn copy(&mut self, picture: &frame::Video, out: &mut YuvPicture) -> anyhow::Result<()> {
        let (width, height) = (picture.width(), picture.height());
        let source = match picture.format() {
            Pixel::YUV420P | Pixel::YUVJ420P => picture,
            format => {
                let stale = self
                    .to_i420
                    .as_ref()
                    .is_none_or(|(_, out)| (out.width(), out.height()) != (width, height));
                if stale {
                    let scaler = scaling::Context::get(
                        format,
                        width,
                        height,
                        Pixel::YUV420P,
                        width,
                        height,
                        scaling::Flags::FAST_BILINEAR,
                    )?;
                    self.to_i420 = Some((scaler, frame::Video::new(Pixel::YUV420P, width, height)));
                }
                let (scaler, converted) = self.to_i420.as_mut().expect("built above");
                scaler.run(picture, converted)?;
                converted
            }
        };
        out.width = width;
        out.height = height;
        out.full_range = source.format() == Pixel::YUVJ420P;
        let (chroma_width, chroma_height) = out.chroma_size();
        copy_plane(source, 0, width, height, &mut out.y);
        copy_plane(source, 1, chroma_width, chroma_height, &mut out.u);
        copy_plane(source, 2, chroma_width, chroma_height, &mut out.v);
        Ok(())
    }
}

fn copy_plane(picture: &frame::Video, index: usize, width: u32, height: u32, out: &mut Vec<u8>) {
    let (width, height) = (width as usize, height as usize);
    let stride = picture.stride(index);
    let data = picture.data(index);
    out.clear();
    out.reserve(width * height);
    for row in data.chunks(stride).take(height) {
        out.extend_from_slice(&row[..width]);
    }
}

/// Newest picture wins: the window takes whatever is there when it draws.
/// The picture it replaces (or the window is done with) is kept as the
/// next one's buffers, so the decoder does not allocate per frame.
#[derive(Debug, Default)]
pub struct FrameSlot {
    latest: Mutex<Option<YuvPicture>>,
    spare: Mutex<Option<YuvPicture>>,
}

impl FrameSlot {
    pub fn put(&self, picture: YuvPicture) {
        let old = lock(&self.latest).replace(picture);
        if let Some(old) = old {
            self.recycle(old);
        }
    }

    pub fn take(&self) -> Option<YuvPicture> {
        lock(&self.latest).take()
    }

    /// Hands a shown picture's buffers back to the decoder.
    pub fn recycle(&self, picture: YuvPicture) {
        *lock(&self.spare) = Some(picture);
    }

    /// Buffers to decode into (a recycled picture, or new).
    pub fn spare(&self) -> YuvPicture {
        lock(&self.spare).take().unwrap_or_default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct VideoDecoder {
    decoder: ffmpeg_next::decoder::Video,
    decoded: frame::Video,
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
        let mut copier = PlaneCopier::default();
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
            let mut shown: Option<anyhow::Result<YuvPicture>> = None;
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
                if let Some((slot, _)) = &self.display {
                    let decode_ms = started.elapsed().as_secs_f64() * 1000.0;
                    let host_last_shard_us = frame
                        .last_shard_us
                        .saturating_add_signed(self.clock.offset_us());
                    let network_ms =
                        host_last_shard_us.saturating_sub(frame.capture_us) as f64 / 1000.0;
                    let mut out = slot.spare();
                    shown = Some(copier.copy(picture, &mut out).map(|()| YuvPicture {
                        capture_us: frame.capture_us,
                        last_shard_us: frame.last_shard_us,
                        network_ms,
                        decode_ms,
                        ..out
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
