//! The H.264 encoder's low-latency settings, read back from what x264 says
//! it did (its options string, which it writes into the first keyframe as
//! an SEI message, user data unregistered), and its rate control driven by
//! x264 itself on the moving test pattern.

use std::collections::HashMap;

use common::control::{VideoCodec, VideoParams};

use super::*;
use crate::platform::synthetic::TestPattern;
use crate::platform::{Grab, VideoSource};
use crate::rate_control::MAX_PICTURE_BUDGETS;

/// The host's real settings for a stream at `bitrate_kbps`.
fn settings(width: u32, height: u32, bitrate_kbps: u32) -> EncoderSettings {
    EncoderSettings::from_params(&VideoParams {
        codec: VideoCodec::H264,
        width,
        height,
        fps: 60,
        bitrate_kbps,
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

/// Encodes `frames` pictures of the moving test pattern, keyframes where
/// `keyframe(index)` says; the access units.
fn encode_pattern(
    encoder: &mut X264Encoder,
    settings: &EncoderSettings,
    frames: std::ops::Range<usize>,
    keyframe: impl Fn(usize) -> bool,
) -> Vec<EncodedVideo> {
    let mut pattern = TestPattern::new(settings.width, settings.height, settings.fps);
    let mut frame = I420Frame::new(settings.width, settings.height);
    let mut units = Vec::new();
    for index in frames {
        pattern
            .capture(index as u64 * 16_667, Grab::Always, &mut frame)
            .unwrap();
        if let Some(unit) = encoder.encode(&mut frame, keyframe(index)).unwrap() {
            units.push(unit);
        }
    }
    units
}

#[test]
fn x264_says_it_runs_with_zero_latency_settings() {
    let settings = settings(1280, 720, 10_000);
    let mut encoder = X264Encoder::new(&settings).unwrap();
    let units = encode_pattern(&mut encoder, &settings, 0..5, |_| false);
    assert_eq!(units.len(), 5, "one access unit per picture, right away");
    assert!(units[0].keyframe, "the first picture is a keyframe");
    assert!(units[1..].iter().all(|unit| !unit.keyframe));
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
    // No picture waits for a later one: no lookahead, no B-frames.
    if let Some(lookahead) = options.get("rc_lookahead") {
        assert_eq!(*lookahead, "0", "{version}");
    }
    assert_eq!(option("bframes"), "0", "{version}");
    // x264 leaves sync_lookahead out of its string; where it is said, it is 0.
    if let Some(sync) = options.get("sync_lookahead") {
        assert_eq!(*sync, "0", "{version}");
    }
    // Threads split each picture (slices), they do not hold pictures back.
    assert_eq!(option("threads"), settings.threads.to_string(), "{version}");
    let sliced = if settings.threads > 1 { "1" } else { "0" };
    assert_eq!(option("sliced_threads"), sliced, "{version}");
    // A constant quantizer, given per picture: no analysis pass before the
    // encode, and the host places keyframes (x264 never does on its own).
    assert_eq!(option("rc"), "cqp", "{version}");
    assert_eq!(option("scenecut"), "0", "{version}");
    assert_eq!(option("keyint"), "infinite", "{version}");
}

#[test]
fn the_stream_keeps_to_its_bitrate_and_follows_a_change() {
    let settings = settings(1280, 720, 4_000);
    let mut encoder = X264Encoder::new(&settings).unwrap();
    let budget_bytes = |kbps: u32| f64::from(kbps) * 1000.0 / 8.0 / 60.0;
    let mean = |units: &[EncodedVideo]| {
        units.iter().map(|u| u.data.len()).sum::<usize>() as f64 / units.len() as f64
    };
    let first = encode_pattern(&mut encoder, &settings, 0..120, |index| index == 0);
    let settled = mean(&first[60..]);
    assert!(
        (settled / budget_bytes(4_000) - 1.0).abs() < 0.15,
        "4 Mbit/s: {settled:.0} bytes a picture for {:.0}",
        budget_bytes(4_000)
    );
    encoder.set_bitrate_kbps(1_500);
    let lower = encode_pattern(&mut encoder, &settings, 120..240, |_| false);
    let settled = mean(&lower[30..]);
    assert!(
        (settled / budget_bytes(1_500) - 1.0).abs() < 0.15,
        "1.5 Mbit/s: {settled:.0} bytes a picture for {:.0}",
        budget_bytes(1_500)
    );
    // No picture after the first few goes far over its share.
    let largest = lower[5..].iter().map(|u| u.data.len()).max().unwrap();
    assert!(
        (largest as f64) < 2.0 * budget_bytes(1_500),
        "a picture of {largest} bytes at 1.5 Mbit/s"
    );
}

#[test]
fn a_requested_keyframe_keeps_to_two_pictures_budget() {
    let settings = settings(1280, 720, 4_000);
    let mut encoder = X264Encoder::new(&settings).unwrap();
    let units = encode_pattern(&mut encoder, &settings, 0..121, |index| {
        index == 0 || index == 60 || index == 120
    });
    let budget = 4_000.0 * 1000.0 / 8.0 / 60.0;
    for index in [60, 120] {
        let unit = &units[index];
        assert!(unit.keyframe, "picture {index} was asked to be a keyframe");
        assert!(
            (unit.data.len() as f64) < MAX_PICTURE_BUDGETS * budget * 1.25,
            "keyframe {index}: {} bytes for {:.0}",
            unit.data.len(),
            MAX_PICTURE_BUDGETS * budget
        );
    }
    // The host places the periodic ones too.
    assert!(units.iter().filter(|unit| unit.keyframe).count() == 3);
}

#[test]
fn keyframes_come_every_interval_without_being_asked() {
    let mut settings = settings(320, 240, 1_000);
    settings.keyframe_interval = 10;
    let mut encoder = X264Encoder::new(&settings).unwrap();
    let units = encode_pattern(&mut encoder, &settings, 0..25, |_| false);
    let keyframes: Vec<usize> = (0..units.len()).filter(|&i| units[i].keyframe).collect();
    assert_eq!(keyframes, vec![0, 10, 20]);
}

#[test]
fn a_picture_of_another_size_is_refused() {
    let settings = settings(1280, 720, 10_000);
    let mut encoder = X264Encoder::new(&settings).unwrap();
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
