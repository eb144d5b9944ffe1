//! The encoder's low-latency settings, read back from what x264 says it
//! did: its options string, which it writes into the first keyframe as an
//! SEI message (user data unregistered).

use std::collections::HashMap;

use common::control::{VideoCodec, VideoParams};

use super::*;
use crate::platform::synthetic::TestPattern;
use crate::platform::{Grab, VideoSource};

/// The host's real settings for a 720p60 stream at its default rate.
fn settings() -> EncoderSettings {
    EncoderSettings::from_params(&VideoParams {
        codec: VideoCodec::H264,
        width: 1280,
        height: 720,
        fps: 60,
        bitrate_kbps: 10_000,
    })
}

/// The NAL units of an Annex B stream (start codes stripped).
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(stream.len(), |next| next - 3);
        // A four-byte start code leaves one zero behind the unit before it.
        while end > start && stream[end - 1] == 0 {
            end -= 1;
        }
        units.push(&stream[start..end]);
    }
    units
}

/// The payload of a NAL unit without its emulation prevention bytes.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// The text of every user-data-unregistered SEI message of an access unit.
fn sei_user_data(access_unit: &[u8]) -> Vec<String> {
    const SEI: u8 = 6;
    const USER_DATA_UNREGISTERED: usize = 5;
    const UUID_BYTES: usize = 16;
    let mut texts = Vec::new();
    for nal in nal_units(access_unit) {
        if nal.first().map(|header| header & 0x1f) != Some(SEI) {
            continue;
        }
        let rbsp = unescape(&nal[1..]);
        let mut at = 0;
        // Each message: type and size (0xFF bytes add 255), then the payload;
        // the RBSP trailing bits (0x80) end the list.
        while at < rbsp.len() && rbsp[at] != 0x80 {
            let mut read = || {
                let mut value = 0usize;
                while let Some(&byte) = rbsp.get(at) {
                    at += 1;
                    value += usize::from(byte);
                    if byte != 0xFF {
                        break;
                    }
                }
                value
            };
            let (kind, size) = (read(), read());
            let Some(payload) = rbsp.get(at..at + size) else {
                break;
            };
            if kind == USER_DATA_UNREGISTERED && size > UUID_BYTES {
                let text = &payload[UUID_BYTES..];
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                texts.push(String::from_utf8_lossy(&text[..end]).into_owned());
            }
            at += size;
        }
    }
    texts
}

/// Encodes a few frames of the test pattern; the access units.
fn encode_pattern(settings: &EncoderSettings, frames: usize) -> Vec<EncodedVideo> {
    ffmpeg_next::init().unwrap();
    let mut encoder = FfmpegVideoEncoder::new(settings).unwrap();
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

#[test]
fn x264_says_it_runs_with_zero_latency_settings() {
    let settings = settings();
    let units = encode_pattern(&settings, 5);
    assert_eq!(units.len(), 5, "one access unit per picture, right away");
    assert!(units[0].keyframe, "the first picture is a keyframe");
    let texts = sei_user_data(&units[0].data);
    let version = texts
        .iter()
        .find(|text| text.starts_with("x264 - core"))
        .unwrap_or_else(|| panic!("no x264 SEI in the first keyframe; SEI texts: {texts:?}"));
    let (_, options) = version
        .split_once("options: ")
        .unwrap_or_else(|| panic!("no options in {version:?}"));
    let options: HashMap<&str, &str> = options
        .split_whitespace()
        .filter_map(|option| option.split_once('='))
        .collect();
    let option = |key: &str| -> &str {
        options
            .get(key)
            .unwrap_or_else(|| panic!("x264 did not report {key}: {version}"))
    };
    let number = |key: &str| -> f64 {
        option(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key}={} is not a number", option(key)))
    };
    // No frame waits for a later one: no lookahead, no B-frames.
    if let Some(lookahead) = options.get("rc_lookahead") {
        assert_eq!(*lookahead, "0", "{version}");
    }
    assert_eq!(option("bframes"), "0", "{version}");
    // x264 leaves sync_lookahead out of its string; where it is said, it is 0.
    if let Some(sync) = options.get("sync_lookahead") {
        assert_eq!(*sync, "0", "{version}");
    }
    // Threads split each picture (slices), they do not hold pictures back.
    assert_eq!(number("threads") as usize, settings.threads, "{version}");
    let sliced = if settings.threads > 1 { "1" } else { "0" };
    assert_eq!(option("sliced_threads"), sliced, "{version}");
    // The VBV holds `VBV_FRAMES` frames at the stream's rate (x264 counts
    // kbit, rounded down).
    let frame_kbit = f64::from(settings.bitrate_kbps) / f64::from(settings.fps);
    let bufsize_kbit = number("vbv_bufsize");
    assert!(
        (bufsize_kbit - VBV_FRAMES as f64 * frame_kbit).abs() <= 1.0,
        "vbv_bufsize={bufsize_kbit} kbit, {VBV_FRAMES} frames are {:.1}: {version}",
        VBV_FRAMES as f64 * frame_kbit
    );
    assert_eq!(
        number("vbv_maxrate"),
        f64::from(settings.bitrate_kbps),
        "{version}"
    );
    eprintln!(
        "keyframe {} bytes, then {:?} bytes (one frame is {} bytes)",
        units[0].data.len(),
        units[1..].iter().map(|u| u.data.len()).collect::<Vec<_>>(),
        settings.bitrate_kbps * 1000 / 8 / settings.fps
    );
}

#[test]
fn a_picture_of_another_size_is_refused() {
    let settings = settings();
    ffmpeg_next::init().unwrap();
    let mut encoder = FfmpegVideoEncoder::new(&settings).unwrap();
    let mut frame = I420Frame::new(640, 360);
    let error = encoder.encode(&mut frame, false).unwrap_err().to_string();
    assert_eq!(error, "a 640x360 picture for a 1280x720 stream");
}

#[test]
fn sei_parsing_reads_escaped_payloads() {
    // Type 5, size 20: a UUID of zeros (escaped on the wire), then "ab=1".
    let mut payload = vec![0u8; 16];
    payload.extend_from_slice(b"ab=1");
    let mut escaped = vec![0x06, 5, 20];
    let mut zeros = 0;
    for byte in payload {
        if zeros == 2 && byte <= 3 {
            escaped.push(3);
            zeros = 0;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        escaped.push(byte);
    }
    escaped.push(0x80);
    let mut stream = vec![0, 0, 0, 1];
    stream.extend_from_slice(&escaped);
    assert_eq!(sei_user_data(&stream), vec!["ab=1".to_string()]);
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
