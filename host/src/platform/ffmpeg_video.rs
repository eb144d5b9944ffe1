//! H.264 (and, where FFmpeg has them, HEVC/AV1) encoding with FFmpeg:
//! BGRA → YUV 4:2:0 with swscale, then libx264 `ultrafast`/`zerolatency`,
//! no B-frames, no lookahead, sliced threads, SPS/PPS in-band on keyframes.

use std::time::Instant;

use anyhow::{Context, anyhow};
use common::control::{VideoCodec, VideoParams};
use ffmpeg_next::codec::threading;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{Dictionary, Packet, Rational, frame, picture};

use super::{BgraFrame, EncodedVideo, VideoEncoder};

#[derive(Debug, Clone)]
pub struct EncoderSettings {
    pub codec_name: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Encoder threads; libx264 stays single-threaded unless told.
    pub threads: usize,
    /// Frames between forced keyframes (viewers also ask for them on loss).
    pub keyframe_interval: u32,
}

/// The FFmpeg encoder used for each codec (software; low-latency tuned).
pub fn encoder_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::H264 => "libx264",
        VideoCodec::Hevc => "libx265",
        VideoCodec::Av1 => "libsvtav1",
    }
}

/// Whether this FFmpeg can encode `codec`.
pub fn can_encode(codec: VideoCodec) -> bool {
    ffmpeg_next::init().is_ok() && ffmpeg_next::encoder::find_by_name(encoder_name(codec)).is_some()
}

impl EncoderSettings {
    pub fn from_params(params: &VideoParams) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        EncoderSettings {
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
    scaler: scaling::Context,
    /// The stream's size; pictures of another size are scaled to it.
    output_size: (u32, u32),
    bgra: frame::Video,
    yuv: frame::Video,
    packet: Packet,
    next_pts: i64,
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
        let mut options = Dictionary::new();
        match settings.codec_name.as_str() {
            "libx264" => {
                options.set("preset", "ultrafast");
                options.set("tune", "zerolatency");
                options.set(
                    "x264-params",
                    "repeat-headers=1:rc-lookahead=0:sync-lookahead=0",
                );
            }
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
        // A VBV of two frames keeps keyframes from bursting far past the rate.
        // Set on the codec context (not x264-params): FFmpeg's libx264 wrapper
        // re-applies the context's VBV and bitrate on every frame.
        let vbv_bits = u64::from(settings.bitrate_kbps) * 1000 * 2 / u64::from(settings.fps.max(1));
        options.set("bufsize", &vbv_bits.to_string());
        let encoder = video
            .open_with(options)
            .with_context(|| format!("opening the {} encoder", settings.codec_name))?;
        let scaler = scaling::Context::get(
            Pixel::BGRA,
            settings.width,
            settings.height,
            Pixel::YUV420P,
            settings.width,
            settings.height,
            scaling::Flags::FAST_BILINEAR,
        )?;
        Ok(FfmpegVideoEncoder {
            encoder,
            scaler,
            output_size: (settings.width, settings.height),
            bgra: frame::Video::new(Pixel::BGRA, settings.width, settings.height),
            yuv: frame::Video::new(Pixel::YUV420P, settings.width, settings.height),
            packet: Packet::empty(),
            next_pts: 0,
        })
    }

    /// BGRA → YUV 4:2:0 into the encoder's input frame, scaling when the
    /// picture's size is not the stream's (a resized window).
    fn convert(&mut self, input: &BgraFrame) -> anyhow::Result<()> {
        if (self.bgra.width(), self.bgra.height()) != (input.width, input.height) {
            let (width, height) = self.output_size;
            self.scaler = scaling::Context::get(
                Pixel::BGRA,
                input.width,
                input.height,
                Pixel::YUV420P,
                width,
                height,
                scaling::Flags::BILINEAR,
            )?;
            self.bgra = frame::Video::new(Pixel::BGRA, input.width, input.height);
        }
        let stride = self.bgra.stride(0);
        let row_bytes = input.width as usize * 4;
        let plane = self.bgra.data_mut(0);
        for (y, row) in input.data.chunks_exact(input.stride).enumerate() {
            plane[y * stride..y * stride + row_bytes].copy_from_slice(&row[..row_bytes]);
        }
        self.scaler.run(&self.bgra, &mut self.yuv)?;
        Ok(())
    }
}

impl VideoEncoder for FfmpegVideoEncoder {
    fn set_bitrate_kbps(&mut self, bitrate_kbps: u32) {
        let bits_per_second = bitrate_kbps as usize * 1000;
        self.encoder.set_bit_rate(bits_per_second);
        self.encoder.set_max_bit_rate(bits_per_second);
    }

    fn encode(
        &mut self,
        frame: &BgraFrame,
        force_keyframe: bool,
    ) -> anyhow::Result<Option<EncodedVideo>> {
        let started = Instant::now();
        self.convert(frame)?;
        let converted = Instant::now();
        self.yuv.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.yuv.set_kind(if force_keyframe {
            picture::Type::I
        } else {
            picture::Type::None
        });
        self.encoder.send_frame(&self.yuv)?;
        let mut out: Option<EncodedVideo> = None;
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            let data = self.packet.data().unwrap_or_default();
            match &mut out {
                // Zero-latency x264 gives one packet per frame; join any extra.
                Some(unit) => unit.data.extend_from_slice(data),
                None => {
                    out = Some(EncodedVideo {
                        data: data.to_vec(),
                        keyframe: self.packet.is_key(),
                        convert_us: 0,
                        encode_us: 0,
                    });
                }
            }
        }
        let done = Instant::now();
        Ok(out.map(|mut unit| {
            unit.convert_us = (converted - started).as_micros() as u64;
            unit.encode_us = (done - converted).as_micros() as u64;
            unit
        }))
    }
}
