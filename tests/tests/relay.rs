//! Real processes through the impairment relay: a lossy UDP path, and a
//! blocked one (media falls back to the WebSocket).

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};

use e2e::{HostProcess, binary, run_headless_viewer_with, scratch_dir};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

struct Relay(Child);

impl Relay {
    fn start(listen: u16, to: u16, impairments: &[&str]) -> Relay {
        let child = Command::new(binary("impair"))
            .args(["--listen", &format!("127.0.0.1:{listen}")])
            .args(["--to", &format!("127.0.0.1:{to}")])
            .args(impairments)
            .stdout(Stdio::null())
            .spawn()
            .expect("impair starts");
        Relay(child)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn viewer_via(url: &str, relay_port: u16, seconds: u32, keys: u32) -> serde_json::Value {
    let relay = format!("127.0.0.1:{relay_port}");
    let keys = keys.to_string();
    let extra = ["--media-via", relay.as_str(), "--send-keys", keys.as_str()];
    let run = run_headless_viewer_with(url, f64::from(seconds), &extra).expect("viewer runs");
    assert_eq!(run.exit_code, Some(0), "viewer failed: {}", run.stderr);
    run.summary().clone()
}

fn host_with_media_port(label: &str) -> (HostProcess, u16) {
    let media_port = free_udp_port();
    let dir = scratch_dir(label);
    let input_log = dir.join("input.jsonl");
    let host = HostProcess::start_with(
        &dir.join("host"),
        1280,
        720,
        60,
        &[
            "--media-port",
            &media_port.to_string(),
            "--input-log",
            &input_log.to_string_lossy(),
        ],
    )
    .expect("host starts");
    (host, media_port)
}

#[test]
fn five_percent_loss_for_30_s_decodes_nearly_everything() {
    let (host, media_port) = host_with_media_port("relay-loss");
    let relay_port = free_udp_port();
    let _relay = Relay::start(relay_port, media_port, &["--loss", "5", "--seed", "7"]);
    let summary = viewer_via(&host.entitle().expect("entitled"), relay_port, 30, KEYS);
    eprintln!("summary: {summary}");
    let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("no {key}"));
    let (sent, decoded) = (count("frames_sent"), count("frames_decoded"));
    assert_eq!(summary["transport"], "udp");
    assert!(sent >= 1500, "{sent} frames sent in 30 s");
    assert!(
        decoded as f64 >= 0.99 * sent as f64,
        "decoded {decoded} of {sent}"
    );
    assert_eq!(count("decode_errors"), 0);
    assert!(count("frames_recovered") > 0, "FEC rebuilt frames");
    // Audio goes on: lost packets concealed, the tone still there.
    assert!(
        count("audio_concealed") > 0,
        "lost audio packets were concealed"
    );
    let freq = summary["audio_freq_hz"].as_f64().expect("a tone");
    assert!((freq - 880.0).abs() <= 880.0 * 0.02, "tone at {freq} Hz");
    assert_keys_arrived_in_order(&host.data_dir.with_file_name("input.jsonl"));
}

const KEYS: u32 = 1000;

/// The host's input log holds every key the viewer typed, once, in order.
fn assert_keys_arrived_in_order(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).expect("input log");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(events.len(), KEYS as usize, "every key event arrived once");
    for (i, event) in events.iter().enumerate() {
        let i = i as u64;
        assert_eq!(event["seq"], i, "in order");
        assert_eq!(event["event"]["kind"], "key");
        assert_eq!(event["event"]["usage"], 4 + (i / 2) % 26);
        assert_eq!(event["event"]["pressed"], i.is_multiple_of(2));
    }
}

#[test]
fn blocked_udp_falls_back_to_the_websocket_within_2_s() {
    let (host, media_port) = host_with_media_port("relay-block");
    let relay_port = free_udp_port();
    let _relay = Relay::start(relay_port, media_port, &["--block"]);
    let summary = viewer_via(&host.entitle().expect("entitled"), relay_port, 6, 0);
    eprintln!("summary: {summary}");
    assert_eq!(summary["transport"], "websocket");
    let fallback_ms = summary["fallback_after_ms"]
        .as_u64()
        .expect("a fallback time");
    assert!(fallback_ms <= 2000, "switched after {fallback_ms} ms");
    let count = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("no {key}"));
    let (sent, decoded) = (count("frames_sent"), count("frames_decoded"));
    assert!(sent >= 200, "the stream went on: {sent} frames sent");
    assert!(
        decoded as f64 >= 0.98 * sent as f64,
        "decoded {decoded} of {sent}"
    );
    assert_eq!(count("decode_errors"), 0);
}
