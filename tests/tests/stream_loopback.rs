//! Host and headless viewer as real processes on loopback: 720p60 for 6 s.

use e2e::{HostProcess, run_headless_viewer, scratch_dir};

const TONE_HZ: f64 = 880.0;

#[test]
fn stream_720p60_decodes_with_latency_and_tone() {
    let dir = scratch_dir("loopback");
    let host = HostProcess::start(&dir.join("host"), 1280, 720, 60).expect("host starts");
    let run = run_headless_viewer(&host.entitle().expect("entitled"), 6.0).expect("viewer runs");
    assert_eq!(run.exit_code, Some(0), "viewer failed: {}", run.stderr);
    assert!(run.lines.len() >= 5, "expected a stats line per second");
    let summary = run.summary();
    eprintln!("summary: {summary}");
    assert_eq!(summary["type"], "summary");
    let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("no {key}"));
    let (sent, decoded) = (count("frames_sent"), count("frames_decoded"));
    assert!(sent >= 300, "only {sent} frames sent in 6 s at 60 fps");
    assert!(
        decoded as f64 >= 0.98 * sent as f64,
        "decoded {decoded} of {sent} frames"
    );
    assert!(count("frames_received") >= decoded);
    assert_eq!(count("decode_errors"), 0);
    let latency = &summary["latency_ms"];
    let (p50, p99) = (
        latency["p50"].as_f64().unwrap(),
        latency["p99"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50, "latency p50 {p50} p99 {p99}");
    assert!(
        latency["count"].as_u64().unwrap() as f64 >= 0.95 * decoded as f64,
        "the barcode was read from most decoded frames"
    );
    assert!(count("audio_packets") >= 400, "10 ms Opus packets for 6 s");
    let freq = summary["audio_freq_hz"].as_f64().expect("a tone was found");
    assert!(
        (freq - TONE_HZ).abs() <= TONE_HZ * 0.02,
        "tone found at {freq} Hz, expected {TONE_HZ}"
    );
}

/// The viewer's codec setting: HEVC and AV1 are encoded by the host and
/// decoded by the viewer, the picture's barcode readable on every frame.
#[test]
fn hevc_and_av1_are_streamed_when_asked_for() {
    for codec in ["hevc", "av1"] {
        let dir = scratch_dir(&format!("codec-{codec}"));
        let host = HostProcess::start(&dir.join("host"), 640, 360, 30).expect("host starts");
        let url = host.entitle().expect("entitled");
        let args = ["--codec", codec, "--resolution", "640x360", "--fps", "30"];
        let run = e2e::run_headless_viewer_with(&url, 4.0, &args).expect("viewer runs");
        assert_eq!(run.exit_code, Some(0), "viewer failed: {}", run.stderr);
        let summary = run.summary();
        eprintln!("{codec}: {summary}");
        let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("no {key}"));
        assert!(count("frames_decoded") >= 60, "{codec}: frames decoded");
        assert_eq!(count("decode_errors"), 0, "{codec}");
        assert_eq!(count("barcode_misses"), 0, "{codec}: pictures intact");
        assert!(
            host.log().contains(&format!("codec={}", codec_name(codec))),
            "{codec}: the host encoded what was asked for"
        );
    }
}

fn codec_name(codec: &str) -> &'static str {
    match codec {
        "hevc" => "Hevc",
        _ => "Av1",
    }
}
