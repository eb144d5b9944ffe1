//! The FFmpeg encoders (HEVC, AV1) and every encoder the host opens.

use common::control::{VideoCodec, VideoParams};

use super::*;
use crate::platform::synthetic::TestPattern;
use crate::platform::{Grab, VideoSource, open_video_encoder};

/// Encodes a few frames of the test pattern with the host's encoder for
/// `settings`; the access units.
fn encode_pattern(settings: &EncoderSettings, frames: usize) -> Vec<EncodedVideo> {
    ffmpeg_next::init().unwrap();
    let mut encoder = open_video_encoder(settings).unwrap();
    let mut pattern = TestPattern::new(settings.width, settings.height, settings.fps);
    let mut frame = I420Frame::new(settings.width, settings.height);
    let mut units = Vec::new();
    for index in 0..frames {
        pattern
            .capture(index as u64 * 16_667, Grab::Always, &mut frame)
            .unwrap();
        if let Some(unit) = encoder.encode(&mut frame, index == 0).unwrap() {
            units.push(unit);
        }
    }
    units
}

/// Every encoder the host uses can be dropped, after frames or before any:
/// SVT-AV1's teardown waits for ever unless told the stream ended.
#[test]
fn each_encoder_drops_without_hanging() {
    for codec in [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1] {
        if !can_encode(codec) {
            continue;
        }
        for frames in [3, 0] {
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let settings = EncoderSettings::from_params(&VideoParams {
                    codec,
                    width: 320,
                    height: 240,
                    fps: 30,
                    bitrate_kbps: 1_000,
                });
                drop(encode_pattern(&settings, frames));
                let _ = done.send(());
            });
            let waited = finished.recv_timeout(std::time::Duration::from_secs(20));
            assert!(
                waited.is_ok(),
                "{codec:?} after {frames} frames: dropping hangs"
            );
        }
    }
}
