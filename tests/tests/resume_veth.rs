//! A dropped network resumes the session: the viewer's side of a veth LAN
//! goes down for 5 s mid-stream and comes back; the same session goes on
//! (no new sign-in), media flows again, and no typed key is lost or doubled.
//! Needs root (CI runs as root); without it the test says so and passes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e::lan::{Lan, LanHost};
use e2e::{binary, scratch_dir};

const OUTAGE: Duration = Duration::from_secs(5);
const CUT_AT_S: f64 = 4.0;
const KEYS: u64 = 200;

#[test]
fn a_5_s_network_outage_resumes_the_same_session() {
    let Some(lan) = Lan::create("rs") else {
        eprintln!("SKIPPED: network namespaces need root and iproute2");
        return;
    };
    let dir = scratch_dir("resume");
    let input_log = dir.join("input.jsonl");
    let data_dir = dir.join("host");
    let host = LanHost::start(
        &lan,
        &data_dir,
        &[
            "--mdns",
            "off",
            "--width",
            "640",
            "--height",
            "360",
            "--fps",
            "30",
            "--input-log",
            &input_log.to_string_lossy(),
        ],
    )
    .expect("host starts");
    let url = host.entitle_from(&lan, &data_dir).expect("signed in");

    let keys = KEYS.to_string();
    let mut viewer = Lan::command_in(&lan.viewer_ns, &binary("viewer"))
        .args(["stream", "--headless", "--mute", "--duration", "20"])
        .args(["--send-keys", &keys, &url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("viewer starts");
    let started = Instant::now();
    let mut cut: Option<Instant> = None;
    let mut restored_at_s = None;
    let mut lines: Vec<serde_json::Value> = Vec::new();
    for line in BufReader::new(viewer.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
        let t = started.elapsed().as_secs_f64();
        if cut.is_none() && t >= CUT_AT_S {
            assert!(lan.set_viewer_link(false), "pulling the link failed");
            cut = Some(Instant::now());
            eprintln!("network down at {t:.1} s");
        }
        lines.push(value);
        // Stats lines stop while the viewer is reconnecting: restore on time.
        if let Some(at) = cut
            && restored_at_s.is_none()
        {
            std::thread::sleep(OUTAGE.saturating_sub(at.elapsed()));
            assert!(lan.set_viewer_link(true), "restoring the link failed");
            restored_at_s = Some(started.elapsed().as_secs_f64());
            eprintln!("network up at {:.1} s", restored_at_s.unwrap_or(0.0));
        }
    }
    let status = viewer.wait().expect("viewer exits");
    let host_log = std::fs::read_to_string(data_dir.with_extension("log")).unwrap_or_default();
    drop(host);

    let summary = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "summary")
        .expect("a summary")
        .clone();
    eprintln!("summary: {summary}");
    assert!(status.success(), "the viewer failed: {summary}");
    assert_eq!(summary["end"], "user_quit", "the stream ran to its end");
    assert_eq!(summary["connection_drops"], 1);
    assert_eq!(summary["resumes"], 1, "resumed once, without a new sign-in");
    let resume_ms = summary["last_resume_ms"].as_u64().expect("resume time");
    eprintln!("resumed {resume_ms} ms after the drop was noticed");
    assert!(resume_ms < 30_000);
    assert!(
        host_log.contains("session resumed on a new connection"),
        "the host took the same session up again"
    );
    // Media flows again after the outage.
    let restored = restored_at_s.expect("restored");
    let decoded_at = |t: f64| {
        lines
            .iter()
            .filter(|l| l["type"] == "stats" && l["t_s"].as_f64().unwrap_or(0.0) <= t)
            .filter_map(|l| l["frames_decoded"].as_u64())
            .max()
            .unwrap_or(0)
    };
    let (at_restore, at_end) = (decoded_at(restored), decoded_at(f64::MAX));
    assert!(
        at_end >= at_restore + 60,
        "frames decoded after the outage: {at_restore} → {at_end}"
    );
    // Every key once, in order.
    let text = std::fs::read_to_string(&input_log).expect("input log");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(
        seqs,
        (0..KEYS).collect::<Vec<_>>(),
        "every key once, in order"
    );
}
