//! What the stats overlay shows: rates, loss, round trip, transport, the
//! per-stage latency of recent frames, the mouse mode, and the shortcuts.

use common::stats::Percentiles;

use super::OverlayStats;
use super::input::{LocalInput, MouseMode};
use super::shortcuts::Chord;

fn stage(label: &str, p: Option<Percentiles>) -> String {
    match p {
        Some(p) => format!("{label} {:.1} / {:.1} ms", p.p50, p.p99),
        None => format!("{label} —"),
    }
}

pub(super) fn stats_ui(ui: &mut egui::Ui, stats: &OverlayStats, local: &LocalInput, chord: &Chord) {
    // Below the latency barcode band, so the picture's timestamp stays readable.
    egui::Window::new("Stream")
        .fixed_pos([8.0, 32.0])
        .resizable(false)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            let s = &stats.last;
            ui.label(format!(
                "{:.0} fps   {:.1} Mbit/s",
                stats.rates.fps,
                stats.rates.bitrate_kbps / 1000.0
            ));
            ui.label(format!(
                "loss {:.2} %   lost frames {}",
                stats.rates.loss_pct, s.frames_lost
            ));
            ui.label(format!(
                "round trip {:.1} ms   transport {}",
                s.rtt_ms, s.transport
            ));
            ui.label("latency p50 / p99:");
            ui.label(stage("  host + network", s.stages.network_ms));
            ui.label(stage("  decode", s.stages.decode_ms));
            ui.label(stage("  last shard to shown", s.stages.shard_to_present_ms));
            if let Some(latency) = s.latency_ms {
                ui.label(format!(
                    "  capture to decoded {:.1} / {:.1} ms",
                    latency.p50, latency.p99
                ));
            }
            ui.label(format!(
                "decoded {}   decode errors {}",
                s.frames_decoded, s.decode_errors
            ));
            if s.resumes > 0 {
                ui.label(format!(
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
            ui.label(mouse);
            if let Some(note) = &stats.notes.gamepads_note {
                ui.small(format!("gamepads: {note}"));
            }
            ui.small(chord.help());
        });
}
