//! The bench's figures: one round's, the medians over rounds, and the
//! Markdown table (for BENCHMARKS.md) or JSON they are printed as.

use serde::Serialize;
use serde_json::{Value, json};

use super::sampler::Rejections;
use super::systems::System;

/// One system's round.
#[derive(Debug, Clone, Serialize)]
pub struct RoundResult {
    pub round: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub frames_shown_per_s: f64,
    /// The system's processes, % of one core.
    pub cpu_pct: f64,
    /// The X server meanwhile (drawing for everyone, the game included).
    pub xvfb_cpu_pct: f64,
    pub wire_kbps: Option<f64>,
    pub samples_used: usize,
    pub rejected: Rejections,
    /// Ours: the viewer's own `summary` line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub viewer_summary: Option<Value>,
}

/// Nearest-rank percentile (`q` in 0..=1) of unsorted values.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let values: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
    percentile(&values, 0.5)
}

/// A system's rounds and their medians.
#[derive(Debug, Serialize)]
pub struct SystemReport {
    pub system: System,
    pub rounds: Vec<RoundResult>,
}

impl SystemReport {
    fn median_of(&self, field: impl Fn(&RoundResult) -> f64) -> f64 {
        median(self.rounds.iter().map(field))
    }

    fn wire_kbps(&self) -> Option<f64> {
        let values: Vec<f64> = self.rounds.iter().filter_map(|r| r.wire_kbps).collect();
        (!values.is_empty()).then(|| median(values))
    }

    /// The viewer's stage percentiles (ours), median over rounds:
    /// (stage, p50, p99).
    fn viewer_stages(&self) -> Vec<(String, f64, f64)> {
        let summaries: Vec<&Value> = self
            .rounds
            .iter()
            .filter_map(|r| r.viewer_summary.as_ref())
            .collect();
        let Some(first) = summaries.first() else {
            return Vec::new();
        };
        // Its `latency_ms` is left out: it reads the synthetic source's
        // barcode, which this picture does not carry.
        let names: Vec<String> = first["stages"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names
            .into_iter()
            .filter_map(|name| {
                let at = |s: &Value, p: &str| s["stages"][&name][p].as_f64();
                let p50 = median(summaries.iter().filter_map(|s| at(s, "p50")));
                let p99 = median(summaries.iter().filter_map(|s| at(s, "p99")));
                (!p50.is_nan()).then_some((name.clone(), p50, p99))
            })
            .collect()
    }

    fn medians_json(&self) -> Value {
        let stages: Vec<Value> = self
            .viewer_stages()
            .into_iter()
            .map(|(stage, p50, p99)| json!({"stage": stage, "p50_ms": p50, "p99_ms": p99}))
            .collect();
        json!({
            "p50_ms": self.median_of(|r| r.p50_ms),
            "p90_ms": self.median_of(|r| r.p90_ms),
            "p99_ms": self.median_of(|r| r.p99_ms),
            "frames_shown_per_s": self.median_of(|r| r.frames_shown_per_s),
            "cpu_pct": self.median_of(|r| r.cpu_pct),
            "xvfb_cpu_pct": self.median_of(|r| r.xvfb_cpu_pct),
            "wire_kbps": self.wire_kbps(),
            "samples_used": self.rounds.iter().map(|r| r.samples_used).sum::<usize>(),
            "samples_rejected": self.rounds.iter().map(|r| r.rejected.total()).sum::<u64>(),
            "viewer_stages": stages,
        })
    }
}

/// The run's settings, printed above the table.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub width: u16,
    pub height: u16,
    pub rounds: usize,
    pub seconds: f64,
    pub load: bool,
    /// Ours at this bitrate, not its default.
    pub ours_bitrate_kbps: Option<u32>,
    /// Systems asked for but not run, and why.
    pub skipped: Vec<String>,
}

fn ratios(reports: &[SystemReport]) -> Option<Value> {
    let find = |s| reports.iter().find(|r| r.system == s);
    let (ours, reference) = (find(System::Ours)?, find(System::Gstreamer)?);
    let ratio = |f: &dyn Fn(&RoundResult) -> f64| ours.median_of(f) / reference.median_of(f);
    Some(json!({
        "p50": ratio(&|r| r.p50_ms),
        "p99": ratio(&|r| r.p99_ms),
        "cpu": ratio(&|r| r.cpu_pct),
    }))
}

pub fn to_json(settings: &Settings, reports: &[SystemReport]) -> Value {
    let systems: Vec<Value> = reports
        .iter()
        .map(|r| json!({"system": r.system, "median": r.medians_json(), "rounds": r.rounds}))
        .collect();
    json!({"settings": settings, "systems": systems, "ours_over_gstreamer": ratios(reports)})
}

pub fn to_markdown(settings: &Settings, reports: &[SystemReport]) -> String {
    let load = if settings.load {
        "one core kept busy"
    } else {
        "no extra load"
    };
    let bitrate = match settings.ours_bitrate_kbps {
        Some(kbps) => format!("ours at {kbps} kbit/s"),
        None => "ours at its default bitrate".to_string(),
    };
    let mut out = format!(
        "Glass-to-glass latency (g2g_bench): {}×{} at 60 fps capture, {} interleaved rounds × {} s per system, {load}, {bitrate}; medians over rounds.\n\n",
        settings.width, settings.height, settings.rounds, settings.seconds
    );
    out += "| system | p50 | p90 | p99 | frames shown/s | CPU (% of a core) | Xvfb CPU | wire kbps | samples used / rejected |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for report in reports {
        let m = report.medians_json();
        let kbps = m["wire_kbps"]
            .as_f64()
            .map_or("–".to_string(), |k| format!("{k:.0}"));
        out += &format!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} | {:.0} % | {:.0} % | {kbps} | {} / {} |\n",
            report.system.label(),
            m["p50_ms"].as_f64().unwrap_or(f64::NAN),
            m["p90_ms"].as_f64().unwrap_or(f64::NAN),
            m["p99_ms"].as_f64().unwrap_or(f64::NAN),
            m["frames_shown_per_s"].as_f64().unwrap_or(f64::NAN),
            m["cpu_pct"].as_f64().unwrap_or(f64::NAN),
            m["xvfb_cpu_pct"].as_f64().unwrap_or(f64::NAN),
            m["samples_used"],
            m["samples_rejected"],
        );
    }
    if let Some(r) = ratios(reports) {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        out += &format!(
            "\nOurs / GStreamer: p50 ×{:.2}, p99 ×{:.2}, CPU ×{:.2}.\n",
            f("p50"),
            f("p99"),
            f("cpu")
        );
    }
    for skipped in &settings.skipped {
        out += &format!("\nNot run: {skipped}.\n");
    }
    if let Some(ours) = reports.iter().find(|r| r.system == System::Ours) {
        let stages = ours.viewer_stages();
        if !stages.is_empty() {
            out += "\nThe viewer's own figures (ours, its whole run, median over rounds): ";
            let parts: Vec<String> = stages
                .iter()
                .map(|(name, p50, p99)| format!("{name} p50 {p50:.1} / p99 {p99:.1}"))
                .collect();
            out += &parts.join("; ");
            out += ". The host prints no pipeline figures of its own.\n";
        }
    }
    out
}
