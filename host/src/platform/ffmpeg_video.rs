//! HEVC and AV1 encoding with FFmpeg (where it has libx265, libsvtav1) of
//! the I420 frames the capture thread made: fastest presets, no B-frames,
//! no lookahead, slice threads, a VBV of two frames (`VBV_FRAMES`), headers
//! in-band on keyframes, BT.601 limited range signalled. H.264 goes through
//! libx264 itself (`super::x264_video`); the settings are shared.

use std::time::Instant;

use anyhow::{Context, anyhow};
use common::control::{VideoCodec, VideoParams};
use ffmpeg_next::codec::threading;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::util::color;
use ffmpeg_next::{Dictionary, Packet, Rational, picture};

use super::{EncodedVideo, I420Frame, VideoEncoder};

#[derive(Debug, Clone)]
pub struct EncoderSettings {
    pub codec: VideoCodec,
    /// The library that encodes `codec` (FFmpeg's name for it).
    pub codec_name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Encoder threads (slices); libx264 stays single-threaded unless told.
    pub threads: usize,
    /// Frames between forced keyframes (viewers also ask for them on loss).
    pub keyframe_interval: u32,
}

/// The encoder used for each codec (software; low-latency tuned).
pub fn encoder_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "libx264",
        VideoCodec::Hevc => "libx265",
        VideoCodec::Av1 => "libsvtav1",
    }
}

/// Whether the host can encode `codec`: libx264 is linked in; the others
/// are there when this FFmpeg has them.
pub fn can_encode(codec: VideoCodec) -> bool {
    codec == VideoCodec::H264
        || (ffmpeg_next::init().is_ok()
            && ffmpeg_next::encoder::find_by_name(encoder_name(codec)).is_some())
}

impl EncoderSettings {
    pub fn from_params(params: &VideoParams) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        EncoderSettings {
            codec: params.codec,
            codec_name: encoder_name(params.codec).into(),
            width: params.width,
            height: params.height,
            fps: params.fps,
            bitrate_kbps: params.bitrate_kbps,
            threads: cores.clamp(1, 8),
            keyframe_interval: params.fps * 10,
        }
    }
}

pub struct FfmpegVideoEncoder {
    encoder: ffmpeg_next::encoder::Video,
    /// The stream's size; every picture is this size.
    size: (u32, u32),
    fps: u32,
    packet: Packet,
    next_pts: i64,
}

/// Frames of the stream's rate the VBV holds (H.264's rate control keeps
/// the same bound, `rate_control::MAX_PICTURE_BUDGETS`). Two, not one:
/// with one, x264 (CBR, no lookahead; H.264 before the host's own rate
/// control) kept every frame near a third of the buffer,
/// so the stream carries about a third of its rate (3.5 of 10 Mbit/s on
/// the 720p test pattern, QP 30 where two frames give 5.5 Mbit/s at QP 29)
/// and a forced keyframe shrinks to 3.8 KB; the congestion test on a
/// 5 Mbit/s link then never meets its cap. With two, frames still stayed
/// under one frame's budget (the largest 0.77 of it).
pub const VBV_FRAMES: u64 = 2;

/// The VBV at `bitrate_kbps` and `fps`, in bits: `VBV_FRAMES` frames' worth,
/// so no frame, a keyframe included, takes much longer than that to send.
pub fn vbv_bits(bitrate_kbps: u32, fps: u32) -> u64 {
    VBV_FRAMES * u64::from(bitrate_kbps) * 1000 / u64::from(fps.max(1))
}

impl FfmpegVideoEncoder {
    pub fn new(settings: &EncoderSettings) -> anyhow::Result<Self> {
        let codec = ffmpeg_next::encoder::find_by_name(&settings.codec_name)
            .ok_or_else(|| anyhow!("FFmpeg has no encoder named {}", settings.codec_name))?;
        let mut context = ffmpeg_next::codec::context::Context::new_with_codec(codec);
        context.set_threading(threading::Config {
            kind: threading::Type::Slice,
            count: settings.threads,
            ..Default::default()
        });
        let mut video = context.encoder().video()?;
        video.set_width(settings.width);
        video.set_height(settings.height);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(Rational(1, settings.fps as i32));
        video.set_frame_rate(Some(Rational(settings.fps as i32, 1)));
        video.set_bit_rate(settings.bitrate_kbps as usize * 1000);
        // SVT-AV1 refuses a cap equal to the target (it caps on its own).
        if settings.codec_name != "libsvtav1" {
            video.set_max_bit_rate(settings.bitrate_kbps as usize * 1000);
        }
        video.set_max_b_frames(0);
        video.set_gop(settings.keyframe_interval);
        // What the converter makes and what swscale (the viewer) assumes.
        video.set_colorspace(color::Space::SMPTE170M);
        video.set_color_range(color::Range::MPEG);
        let mut options = Dictionary::new();
        match settings.codec_name.as_str() {
            "libx265" => {
                options.set("preset", "ultrafast");
                options.set("tune", "zerolatency");
                options.set(
                    "x265-params",
                    "repeat-headers=1:bframes=0:rc-lookahead=0:log-level=error",
                );
            }
            "libsvtav1" => {
                // The fastest preset; low-delay prediction (no reordering).
                options.set("preset", "12");
                options.set("svtav1-params", "pred-struct=1:lookahead=0");
            }
            _ => {}
        }
        // A VBV of `VBV_FRAMES` keeps keyframes from bursting past a few
        // frames' time on the wire. Set on the codec context, which FFmpeg's
        // wrappers read again when the bitrate changes.
        let vbv = vbv_bits(settings.bitrate_kbps, settings.fps);
        options.set("bufsize", &vbv.to_string());
        let encoder = video
            .open_with(options)
            .with_context(|| format!("opening the {} encoder", settings.codec_name))?;
        Ok(FfmpegVideoEncoder {
            encoder,
            size: (settings.width, settings.height),
            fps: settings.fps,
            packet: Packet::empty(),
            next_pts: 0,
        })
    }

    /// The VBV follows the bitrate, staying `VBV_FRAMES` frames: FFmpeg hands
    /// the context's buffer size to the encoder on the next frame
    /// (ffmpeg-next has no setter for it).
    #[allow(unsafe_code)]
    fn set_vbv_bits(&mut self, bits: u64) {
        let bits = i32::try_from(bits).unwrap_or(i32::MAX);
        // SAFETY: the context is open and ours alone; rc_buffer_size is a
        // plain int FFmpeg reads at the next encode, on this thread.
        unsafe {
            (*self.encoder.as_mut_ptr()).rc_buffer_size = bits;
        }
    }
}

impl VideoEncoder for FfmpegVideoEncoder {
    fn set_bitrate_kbps(&mut self, bitrate_kbps: u32) {
        let bits_per_second = bitrate_kbps as usize * 1000;
        self.encoder.set_bit_rate(bits_per_second);
        self.encoder.set_max_bit_rate(bits_per_second);
        self.set_vbv_bits(vbv_bits(bitrate_kbps, self.fps));
    }

    fn encode(
        &mut self,
        frame: &mut I420Frame,
        force_keyframe: bool,
    ) -> anyhow::Result<Option<EncodedVideo>> {
        frame.ensure_size(self.size)?;
        let started = Instant::now();
        let yuv = frame.as_ffmpeg_mut();
        yuv.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        yuv.set_kind(if force_keyframe {
            picture::Type::I
        } else {
            picture::Type::None
        });
        // The encoders copy the picture in before send_frame returns: the
        // frame is free for the next capture once this call is done.
        self.encoder.send_frame(yuv)?;
        let mut out: Option<EncodedVideo> = None;
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            let data = self.packet.data().unwrap_or_default();
            match &mut out {
                // Zero-latency encoders give one packet per frame; join any extra.
                Some(unit) => unit.data.extend_from_slice(data),
                None => {
                    out = Some(EncodedVideo {
                        data: data.to_vec(),
                        keyframe: self.packet.is_key(),
                        encode_us: 0,
                    });
                }
            }
        }
        let encode_us = started.elapsed().as_micros() as u64;
        Ok(out.map(|unit| EncodedVideo { encode_us, ..unit }))
    }
}

impl Drop for FfmpegVideoEncoder {
    /// The stream is ended before the encoder closes: SVT-AV1's teardown
    /// otherwise waits for ever for an end it was never sent, and its end
    /// of stream waits for ever when no picture came first (so one is sent).
    fn drop(&mut self) {
        if self.next_pts == 0 {
            let (width, height) = self.size;
            let mut blank = ffmpeg_next::frame::Video::new(Pixel::YUV420P, width, height);
            blank.set_pts(Some(0));
            let _ = self.encoder.send_frame(&blank);
        }
        if self.encoder.send_eof().is_ok() {
            while self.encoder.receive_packet(&mut self.packet).is_ok() {}
        }
    }
}

#[cfg(test)]
mod tests;
