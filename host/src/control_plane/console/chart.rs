//! A session's bitrate and latency over its last two minutes as a small
//! inline SVG: drawn on the server, so the page needs no script (the CSP
//! allows none); the Now page reloads itself to keep it live.

use common::api::StreamSample;
use maud::{Markup, html};

const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 64.0;
/// The latency axis never shows less than this, so a quiet 3 ms line stays
/// low instead of filling the chart.
const MIN_LATENCY_SCALE_MS: f64 = 40.0;

/// `points` for a polyline of `values` (None leaves a gap closed over)
/// placed at `times` across the width, scaled so `top` is the top edge.
fn points(times: &[u64], values: &[Option<f64>], top: f64) -> String {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return String::new();
    };
    let span = (last - first).max(1) as f64;
    let top = top.max(f64::MIN_POSITIVE);
    times
        .iter()
        .zip(values)
        .filter_map(|(&t, v)| {
            let v = (*v)?;
            let x = (t - first) as f64 / span * WIDTH;
            let y = HEIGHT - (v / top).clamp(0.0, 1.0) * HEIGHT;
            Some(format!("{x:.1},{y:.1}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chart, or a line saying there is nothing to draw yet.
pub fn bitrate_and_latency(samples: &[StreamSample], configured_kbps: u32) -> Markup {
    if samples.len() < 2 {
        return html! { p.chart-empty { "Waiting for the viewer's reports…" } };
    }
    let times: Vec<u64> = samples.iter().map(|s| s.at_ms).collect();
    let kbps: Vec<Option<f64>> = samples.iter().map(|s| Some(s.received_kbps)).collect();
    let latency: Vec<Option<f64>> = samples.iter().map(|s| s.latency_p50_ms).collect();
    let kbps_top = kbps
        .iter()
        .flatten()
        .copied()
        .fold(f64::from(configured_kbps), f64::max);
    let latency_top = latency
        .iter()
        .flatten()
        .copied()
        .fold(MIN_LATENCY_SCALE_MS, f64::max);
    let seconds = (times[times.len() - 1] - times[0]) / 1000;
    let label = format!(
        "Received bitrate (scale to {kbps_top:.0} kbit/s) and latency p50 (scale to {latency_top:.0} ms) over the last {seconds} s"
    );
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) preserveAspectRatio="none" {
                polyline.bitrate points=(points(&times, &kbps, kbps_top)) fill="none";
                polyline.latency points=(points(&times, &latency, latency_top)) fill="none";
            }
            figcaption {
                span.bitrate-key { "kbit/s (0–" (format!("{kbps_top:.0}")) ")" }
                " "
                span.latency-key { "latency ms (0–" (format!("{latency_top:.0}")) ")" }
                " · last " (seconds) " s"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, kbps: f64, latency: Option<f64>) -> StreamSample {
        StreamSample {
            at_ms,
            received_kbps: kbps,
            encoder_kbps: 0,
            latency_p50_ms: latency,
            loss: 0.0,
            jitter_ms: 0.0,
        }
    }

    #[test]
    fn points_span_the_width_and_scale_to_the_top() {
        let times = [1000, 2000, 3000];
        let values = [Some(0.0), None, Some(50.0)];
        assert_eq!(points(&times, &values, 100.0), "0.0,64.0 240.0,32.0");
    }

    #[test]
    fn the_chart_draws_both_lines_once_there_are_two_reports() {
        let one = bitrate_and_latency(&[sample(0, 900.0, Some(8.0))], 1000).into_string();
        assert!(one.contains("Waiting"), "{one}");
        let samples = [sample(0, 900.0, None), sample(5000, 1200.0, Some(8.0))];
        let chart = bitrate_and_latency(&samples, 1000).into_string();
        assert!(chart.contains("<svg"), "{chart}");
        assert!(
            chart.contains(r#"class="bitrate" points="0.0,16.0 240.0,0.0""#),
            "{chart}"
        );
        assert!(
            chart.contains(r#"class="latency" points="240.0,51.2""#),
            "{chart}"
        );
        assert!(chart.contains("last 5 s"), "{chart}");
    }
}
