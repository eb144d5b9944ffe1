//! H.264 with libx264 called directly (x264-sys), not through FFmpeg:
//! FFmpeg's wrapper cannot give a picture its own quantizer, and x264's
//! bitrate modes cost more than the encode (see `crate::rate_control`).
//! x264 runs `ultrafast`/`zerolatency` (no lookahead, no B-frames, sliced
//! threads) at a constant quantizer, each picture's chosen by the host's
//! rate control; the host places keyframes itself, so it budgets them.
//! SPS/PPS in-band on keyframes, BT.601 limited range signalled.

use std::time::Instant;

use anyhow::{anyhow, bail, ensure};

use super::ffmpeg_video::EncoderSettings;
use super::{EncodedVideo, I420Frame, VideoEncoder};
use crate::rate_control::{MAX_QP, MIN_QP, RateControl};
use x264_sys as x264;

/// x264's code for BT.601 (SMPTE 170M) in the VUI: what the converter
/// makes and what the viewer assumes.
const COLOUR_MATRIX_BT601: i32 = 6;

pub struct X264Encoder {
    /// Owned: opened in `new`, closed in `drop`, used by no one else.
    handle: *mut x264::x264_t,
    size: (u32, u32),
    fps: u32,
    keyframe_interval: u64,
    rate: RateControl,
    next_pts: i64,
}

impl X264Encoder {
    #[allow(unsafe_code)]
    pub fn new(settings: &EncoderSettings) -> anyhow::Result<Self> {
        ensure!(
            settings.width > 0 && settings.height > 0 && settings.fps > 0,
            "an H.264 stream of {}x{} at {} fps",
            settings.width,
            settings.height,
            settings.fps
        );
        // SAFETY: x264_param_t is plain data that x264_param_default_preset
        // fills in whole before anything reads it.
        let mut param: x264::x264_param_t = unsafe { std::mem::zeroed() };
        // SAFETY: `param` is a valid x264_param_t; the names are C strings.
        let status = unsafe {
            x264::x264_param_default_preset(
                &mut param,
                c"ultrafast".as_ptr(),
                c"zerolatency".as_ptr(),
            )
        };
        ensure!(status == 0, "x264 has no ultrafast/zerolatency preset");
        param.i_csp = x264::X264_CSP_I420 as i32;
        param.i_width = settings.width as i32;
        param.i_height = settings.height as i32;
        param.i_fps_num = settings.fps;
        param.i_fps_den = 1;
        param.i_timebase_num = 1;
        param.i_timebase_den = settings.fps;
        param.i_threads = settings.threads as i32;
        param.b_sliced_threads = 1;
        param.i_keyint_max = x264::X264_KEYINT_MAX_INFINITE as i32;
        param.b_repeat_headers = 1;
        param.b_annexb = 1;
        param.i_log_level = x264::X264_LOG_ERROR as i32;
        param.vui.i_colmatrix = COLOUR_MATRIX_BT601;
        param.vui.b_fullrange = 0;
        // Constant quantizer; x264 clamps a picture's own to the range its
        // I, P and B quantizers span, so the ratios stretch that range
        // over every quantizer the rate control may pick.
        let middle = (MIN_QP + MAX_QP) / 2;
        param.rc.i_rc_method = x264::X264_RC_CQP as i32;
        param.rc.i_qp_constant = i32::from(middle);
        param.rc.f_ip_factor = (f32::from(middle - MIN_QP) / 6.0).exp2();
        param.rc.f_pb_factor = (f32::from(MAX_QP - middle) / 6.0).exp2();
        // SAFETY: `param` is filled in; x264 copies what it keeps.
        let handle = unsafe { x264::x264_encoder_open(&mut param) };
        if handle.is_null() {
            bail!(
                "x264 does not open a {}x{} stream at {} fps",
                settings.width,
                settings.height,
                settings.fps
            );
        }
        Ok(X264Encoder {
            handle,
            size: (settings.width, settings.height),
            fps: settings.fps,
            keyframe_interval: u64::from(settings.keyframe_interval.max(1)),
            rate: RateControl::new(
                settings.bitrate_kbps,
                settings.fps,
                settings.width * settings.height,
            ),
            next_pts: 0,
        })
    }
}

impl VideoEncoder for X264Encoder {
    fn set_bitrate_kbps(&mut self, bitrate_kbps: u32) {
        self.rate.set_bitrate(bitrate_kbps, self.fps);
    }

    #[allow(unsafe_code)]
    fn encode(
        &mut self,
        frame: &mut I420Frame,
        force_keyframe: bool,
    ) -> anyhow::Result<Option<EncodedVideo>> {
        frame.ensure_size(self.size)?;
        let started = Instant::now();
        let keyframe =
            force_keyframe || (self.next_pts as u64).is_multiple_of(self.keyframe_interval);
        let qp = self.rate.plan(keyframe);
        let planes = frame.planes_mut();
        // SAFETY: x264_picture_t is plain data; x264_picture_init sets it.
        let mut picture: x264::x264_picture_t = unsafe { std::mem::zeroed() };
        // SAFETY: `picture` is a valid x264_picture_t.
        unsafe { x264::x264_picture_init(&mut picture) };
        picture.img.i_csp = x264::X264_CSP_I420 as i32;
        picture.img.i_plane = 3;
        for (index, plane) in [planes.y, planes.u, planes.v].into_iter().enumerate() {
            picture.img.plane[index] = plane.as_mut_ptr();
            picture.img.i_stride[index] = planes.strides[index] as i32;
        }
        picture.i_pts = self.next_pts;
        picture.i_type = if keyframe {
            x264::X264_TYPE_IDR
        } else {
            x264::X264_TYPE_AUTO
        } as i32;
        picture.i_qpplus1 = i32::from(qp) + 1;
        self.next_pts += 1;
        let mut nals: *mut x264::x264_nal_t = std::ptr::null_mut();
        let mut nal_count = 0;
        // SAFETY: zeroed is a valid x264_picture_t for x264 to fill.
        let mut out: x264::x264_picture_t = unsafe { std::mem::zeroed() };
        // SAFETY: the handle is open; the planes are the frame's own, of the
        // stream's size (checked above) with their strides, borrowed for
        // this call, in which x264 copies them in.
        let bytes = unsafe {
            x264::x264_encoder_encode(
                self.handle,
                &mut nals,
                &mut nal_count,
                &mut picture,
                &mut out,
            )
        };
        if bytes < 0 {
            return Err(anyhow!("x264 failed to encode picture {}", picture.i_pts));
        }
        if bytes == 0 || nals.is_null() {
            return Ok(None);
        }
        // SAFETY: x264 lays the payloads of one call's NAL units one after
        // the other from the first's, `bytes` in all; they stay valid
        // until the next call on this handle, and are copied out here.
        let data =
            unsafe { std::slice::from_raw_parts((*nals).p_payload, bytes as usize) }.to_vec();
        let keyframe = out.b_keyframe != 0;
        self.rate.record(qp, data.len() as u64 * 8, keyframe);
        Ok(Some(EncodedVideo {
            data,
            keyframe,
            encode_us: started.elapsed().as_micros() as u64,
        }))
    }
}

impl Drop for X264Encoder {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: opened in `new`, closed only here. Zero latency keeps no
        // picture inside, so nothing is lost by not flushing.
        unsafe { x264::x264_encoder_close(self.handle) };
    }
}

#[cfg(test)]
mod tests;
