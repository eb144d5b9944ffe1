//! What the stats overlay shows: rates, loss, round trip, transport, the
//! per-stage latency of recent frames, the renderer, the mouse mode, and
//! the shortcuts. Lines of text, drawn by whichever presenter is in use.

use common::stats::Percentiles;

use super::OverlayStats;
use super::input::{LocalInput, MouseMode};
use super::shortcuts::Chord;
use crate::platform::present::RendererKind;

fn stage(label: &str, p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!("{label} {:.1} / {:.1} ms", p.p50, p.p99),
        None => format!("{label} —"),
    }
}

pub(super) fn lines(
    stats: &OverlayStats,
    local: &LocalInput,
    chord: &Chord,
    renderer: Option<RendererKind>,
) -> Vec<String> {
    let s = &stats.last;
    let mut lines = vec![
        format!(
            "{:.0} fps   {:.1} Mbit/s",
            stats.rates.fps,
            stats.rates.bitrate_kbps / 1000.0
        ),
        format!(
            "loss {:.2} %   lost frames {}",
            stats.rates.loss_pct, s.frames_lost
        ),
        format!("round trip {:.1} ms   transport {}", s.rtt_ms, s.transport),
        "latency p50 / p99:".to_string(),
        stage("  host + network", s.stages.network_ms),
        stage("  decode", s.stages.decode_ms),
        stage("  last shard to shown", s.stages.shard_to_present_ms),
    ];
    if let Some(latency) = s.latency_ms {
        lines.push(format!(
            "  capture to decoded {:.1} / {:.1} ms",
            latency.p50, latency.p99
        ));
    }
    lines.push(format!(
        "decoded {}   decode errors {}",
        s.frames_decoded, s.decode_errors
    ));
    if let Some(renderer) = renderer {
        lines.push(format!("renderer {}", renderer.describe()));
    }
    if s.resumes > 0 {
        lines.push(format!(
            "resumed {} time(s), last after {:.1} s",
            s.resumes,
            s.last_resume_ms as f64 / 1000.0
        ));
    }
    let mouse = match (local.mode, local.captured) {
        (MouseMode::Absolute, _) => "mouse absolute",
        (MouseMode::Relative, true) => "mouse relative (captured)",
        (MouseMode::Relative, false) => "mouse relative (released: click to capture)",
    };
    lines.push(mouse.to_string());
    if let Some(note) = &stats.notes.gamepads_note {
        lines.push(format!("gamepads: {note}"));
    }
    lines.push(chord.help());
    lines
}
