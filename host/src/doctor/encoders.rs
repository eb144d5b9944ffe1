//! FFmpeg's side of `host doctor`: the encoders the host uses (H.264's
//! opened for real, as a session would), every other H.264/HEVC/AV1 encoder this
//! FFmpeg was built with, which hardware ones have their device here, and
//! Opus.

use std::path::Path;

use common::control::VideoCodec;
use ffmpeg_next::codec::Id;

use super::report::Check;
use crate::media::pipeline::AUDIO_SAMPLE_RATE_HZ;
use crate::media::planner::video_params;
use crate::platform::ffmpeg_audio::OpusEncoder;
use crate::platform::ffmpeg_video::{EncoderSettings, can_encode, encoder_name};

/// A session's audio frames (the planner's Opus encoder uses 10 ms).
const OPUS_FRAME_MS: u32 = 10;

/// The video encoders this FFmpeg has, by codec, in FFmpeg's order.
#[allow(unsafe_code)]
fn ffmpeg_video_encoders() -> Vec<(VideoCodec, String)> {
    let mut encoders = Vec::new();
    let mut iteration_state = std::ptr::null_mut();
    loop {
        // SAFETY: av_codec_iterate walks FFmpeg's static codec table; the
        // state pointer is ours and starts null, as its documentation asks.
        // The codecs it returns live as long as the process.
        let codec = unsafe {
            let raw = ffmpeg_next::ffi::av_codec_iterate(&mut iteration_state);
            if raw.is_null() {
                break;
            }
            ffmpeg_next::Codec::wrap(raw)
        };
        let codec_kind = match codec.id() {
            Id::H264 => VideoCodec::H264,
            Id::HEVC => VideoCodec::Hevc,
            Id::AV1 => VideoCodec::Av1,
            _ => continue,
        };
        if codec.is_encoder() {
            encoders.push((codec_kind, codec.name().to_string()));
        }
    }
    encoders
}

/// The device node a hardware encoder needs, by FFmpeg's name suffix;
/// `None` for software encoders.
fn device_needed(encoder: &str) -> Option<HardwareDevice> {
    let suffix = encoder.rsplit_once('_').map(|(_, suffix)| suffix)?;
    Some(match suffix {
        "nvenc" => HardwareDevice::Nvidia,
        "vaapi" | "qsv" | "vulkan" | "amf" => HardwareDevice::DriRender,
        "v4l2m2m" => HardwareDevice::Video4Linux,
        "mf" | "videotoolbox" | "mediacodec" | "d3d12va" | "omx" | "rkmpp" => HardwareDevice::Other,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HardwareDevice {
    Nvidia,
    DriRender,
    Video4Linux,
    /// Another OS's or a board's API: not looked for here.
    Other,
}

impl HardwareDevice {
    fn node(self) -> &'static str {
        match self {
            HardwareDevice::Nvidia => "/dev/nvidia0",
            HardwareDevice::DriRender => "/dev/dri/renderD*",
            HardwareDevice::Video4Linux => "/dev/video*",
            HardwareDevice::Other => "hardware not looked for here",
        }
    }

    fn present(self) -> bool {
        match self {
            HardwareDevice::Nvidia => Path::new("/dev/nvidia0").exists(),
            HardwareDevice::DriRender => any_entry_starts_with(Path::new("/dev/dri"), "renderD"),
            HardwareDevice::Video4Linux => any_entry_starts_with(Path::new("/dev"), "video"),
            HardwareDevice::Other => false,
        }
    }
}

fn any_entry_starts_with(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
    })
}

/// The video and Opus checks.
pub fn checks() -> Vec<Check> {
    if let Err(e) = ffmpeg_next::init() {
        return vec![Check::fail(
            "FFmpeg",
            format!("FFmpeg does not initialise: {e}"),
            "reinstall the FFmpeg libraries the host was built against",
        )];
    }
    // The probes open encoders; their banners are not the report.
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    let available = ffmpeg_video_encoders();
    let mut checks: Vec<Check> = [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1]
        .into_iter()
        .map(|codec| {
            let others: Vec<&str> = available
                .iter()
                .filter(|(kind, name)| *kind == codec && name != encoder_name(codec))
                .map(|(_, name)| name.as_str())
                .collect();
            codec_check(codec, host_encoder(codec), &others)
        })
        .collect();
    checks.push(hardware_check(
        &available
            .iter()
            .map(|(_, name)| name.as_str())
            .collect::<Vec<_>>(),
        |device| device.present(),
    ));
    checks.push(
        match OpusEncoder::new(AUDIO_SAMPLE_RATE_HZ, OPUS_FRAME_MS) {
            Ok(_) => Check::ok(
                "Opus",
                format!("libopus opens ({} kHz stereo)", AUDIO_SAMPLE_RATE_HZ / 1000),
            ),
            Err(e) => Check::warn(
                "Opus",
                format!("{e:#}: sessions will have no audio"),
                "install an FFmpeg built with libopus",
            ),
        },
    );
    checks
}

/// Whether the host's encoder for `codec` is there; H.264's is opened at
/// `serve`'s default size, as a session does. The others are only looked
/// up, as a session's offer is: libsvtav1 (1.4) hangs when an encoder that
/// never saw the end of its stream is dropped.
fn host_encoder(codec: VideoCodec) -> Result<(), String> {
    if !can_encode(codec) {
        return Err(format!("FFmpeg has no {}", encoder_name(codec)));
    }
    if codec != VideoCodec::H264 {
        return Ok(());
    }
    let settings = EncoderSettings::from_params(&video_params(1280, 720, 60, None));
    crate::platform::open_video_encoder(&settings)
        .map(drop)
        .map_err(|e| format!("{} does not open: {e:#}", encoder_name(codec)))
}

/// H.264 is what every viewer can take: without it nothing streams. HEVC
/// and AV1 are offers a session falls back from.
fn codec_check(codec: VideoCodec, opened: Result<(), String>, others: &[&str]) -> Check {
    let label = codec.label();
    let name = format!("{label} encoder");
    let also = if others.is_empty() {
        String::new()
    } else {
        format!(
            "; FFmpeg also has {} (the host does not use them)",
            others.join(", ")
        )
    };
    match (opened, codec) {
        (Ok(()), _) => Check::ok(
            name,
            format!(
                "{} {} (the host encodes {label} with it){also}",
                encoder_name(codec),
                if codec == VideoCodec::H264 {
                    "opens"
                } else {
                    "present"
                }
            ),
        ),
        (Err(e), VideoCodec::H264) => Check::fail(
            name,
            format!("{e}{also}"),
            "install libx264 (Debian/Ubuntu: libx264-164)",
        ),
        (Err(e), _) => Check::warn(
            name,
            format!("{e}: viewers asking for {label} get H.264{also}"),
            format!(
                "for {label}, install an FFmpeg built with {}",
                encoder_name(codec)
            ),
        ),
    }
}

/// Informational: "could run here" means compiled in and its device node
/// exists (whether the driver accepts it is only known by encoding).
fn hardware_check(encoders: &[&str], present: impl Fn(HardwareDevice) -> bool) -> Check {
    let mut could_run = Vec::new();
    let mut without_device = Vec::new();
    for &encoder in encoders {
        let Some(device) = device_needed(encoder) else {
            continue;
        };
        if present(device) {
            could_run.push(format!("{encoder} ({})", device.node()));
        } else {
            let missing = match device {
                HardwareDevice::Other => device.node().to_string(),
                _ => format!("no {}", device.node()),
            };
            without_device.push(format!("{encoder} ({missing})"));
        }
    }
    let found = match (could_run.is_empty(), without_device.is_empty()) {
        (true, true) => "FFmpeg has none".to_string(),
        (false, _) => format!(
            "could run here: {}{}",
            could_run.join(", "),
            if without_device.is_empty() {
                String::new()
            } else {
                format!(
                    "; compiled in without their device: {}",
                    without_device.join(", ")
                )
            }
        ),
        (true, false) => format!(
            "none could run here; compiled in without their device: {}",
            without_device.join(", ")
        ),
    };
    Check::ok(
        "hardware encoders",
        format!("{found} (the host encodes in software)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    #[test]
    fn hardware_encoders_are_known_by_suffix() {
        assert_eq!(device_needed("libx264"), None);
        assert_eq!(device_needed("libsvtav1"), None);
        assert_eq!(device_needed("libaom-av1"), None);
        assert_eq!(device_needed("h264_nvenc"), Some(HardwareDevice::Nvidia));
        assert_eq!(device_needed("hevc_vaapi"), Some(HardwareDevice::DriRender));
        assert_eq!(device_needed("av1_qsv"), Some(HardwareDevice::DriRender));
        assert_eq!(
            device_needed("h264_v4l2m2m"),
            Some(HardwareDevice::Video4Linux)
        );
    }

    #[test]
    fn a_hardware_encoder_could_run_only_with_its_device() {
        let encoders = ["libx264", "h264_nvenc", "h264_vaapi"];
        let check = hardware_check(&encoders, |device| device == HardwareDevice::DriRender);
        assert_eq!(check.status, Status::Ok);
        assert!(
            check.found.contains("could run here: h264_vaapi")
                && check.found.contains("h264_nvenc (no /dev/nvidia0)"),
            "{}",
            check.found
        );
        let none = hardware_check(&["libx264"], |_| true);
        assert!(none.found.starts_with("FFmpeg has none"));
    }

    #[test]
    fn only_a_missing_h264_encoder_fails() {
        let missing = || Err("FFmpeg has no encoder".to_string());
        assert_eq!(
            codec_check(VideoCodec::H264, missing(), &[]).status,
            Status::Fail
        );
        assert_eq!(
            codec_check(VideoCodec::Hevc, missing(), &[]).status,
            Status::Warn
        );
        let ok = codec_check(VideoCodec::H264, Ok(()), &["h264_vaapi"]);
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.found.contains("libx264") && ok.found.contains("h264_vaapi"));
    }
}
