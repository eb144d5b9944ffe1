//! The transport's LAN cases, defined once and run two ways: with the real
//! host and a headless viewer across `RoutedLan` (the router's settings
//! change on the case's schedule), and in the simulator
//! (`common::testing::simulate`, the same session machines in virtual
//! time). Each run gives the same figures, printed side by side.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::testing::{Impairments, SimConfig, simulate};
use serde_json::Value;

use crate::lan::{Lan, LanHost};
use crate::routed_lan::RoutedLan;
use crate::{binary, scratch_dir};

/// What the router does from a moment on: the simulator's link
/// impairments, on UDP only (the control channel is TCP's business) or on
/// all traffic. Serialised, it is `lan_router`'s settings line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Impair {
    pub link: Impairments,
    pub udp_only: bool,
}

impl Impair {
    fn router_settings(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

pub struct Case {
    pub name: &'static str,
    /// `(at_s, impairment)`, in order; the first at 0.
    pub schedule: Vec<(f64, Impair)>,
    /// Two busy threads pinned beside the host (real runs only).
    pub busy_cpu: bool,
}

fn udp(link: Impairments) -> Impair {
    Impair {
        link,
        udp_only: true,
    }
}

fn all(link: Impairments) -> Impair {
    Impair {
        link,
        udp_only: false,
    }
}

/// Every case of the issue, for a run of `duration_s`.
pub fn cases(duration_s: f64) -> Vec<Case> {
    let at = |share: f64| (duration_s * share).round();
    let case = |name, schedule| Case {
        name,
        schedule,
        busy_cpu: false,
    };
    let none = Impairments::default;
    let loss5 = udp(Impairments {
        loss_pct: 5.0,
        ..none()
    });
    let one = |impair: Impair| vec![(0.0, impair)];
    let blocked = Impairments {
        block: true,
        ..none()
    };
    vec![
        case("clean", one(Impair::default())),
        case("5% random loss", one(loss5.clone())),
        case(
            "20% random loss",
            one(udp(Impairments {
                loss_pct: 20.0,
                ..none()
            })),
        ),
        case(
            "5% bursty loss (8 ms)",
            one(udp(Impairments {
                burst_loss_pct: 5.0,
                burst_ms: 8.0,
                ..none()
            })),
        ),
        case(
            "15±5 ms jitter, reordering",
            one(udp(Impairments {
                delay_ms: 10.0,
                jitter_ms: 10.0,
                reorder_pct: 5.0,
                ..none()
            })),
        ),
        case(
            "15±5 ms jitter, in order",
            one(udp(Impairments {
                delay_ms: 10.0,
                jitter_ms: 10.0,
                keep_order: true,
                ..none()
            })),
        ),
        case(
            "10% duplication",
            one(udp(Impairments {
                duplicate_pct: 10.0,
                ..none()
            })),
        ),
        case(
            "5 Mbit/s cap",
            one(all(Impairments {
                rate_kbps: Some(5_000),
                ..none()
            })),
        ),
        case(
            "3 Mbit/s cap lifted",
            vec![
                (
                    0.0,
                    all(Impairments {
                        rate_kbps: Some(3_000),
                        ..none()
                    }),
                ),
                (at(0.5), Impair::default()),
            ],
        ),
        case(
            "1 s UDP blackout",
            vec![
                (0.0, Impair::default()),
                (at(0.4), udp(blocked.clone())),
                (at(0.4) + 1.0, Impair::default()),
            ],
        ),
        case(
            "5 s outage",
            vec![
                (0.0, Impair::default()),
                (at(0.3), all(blocked.clone())),
                (at(0.3) + 5.0, Impair::default()),
            ],
        ),
        case("UDP blocked", one(udp(blocked))),
        Case {
            name: "5% loss, busy host CPU",
            schedule: vec![(0.0, loss5)],
            busy_cpu: true,
        },
    ]
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub shown_pct: f64,
    pub encoder_end_kbps: u64,
    pub latency_p99_ms: Option<f64>,
    pub resumes: u64,
    pub fallback_ms: Option<f64>,
    /// Seconds from the last change of the schedule to 90 % of the maximum.
    pub back_at_90_s: Option<f64>,
    pub ended_early: bool,
}

/// The case in the simulator (`None` for what it has no model of).
pub fn simulated(case: &Case, duration_s: f64, seed: u64, max_kbps: u32) -> Option<Outcome> {
    if case.busy_cpu {
        return None;
    }
    let mut config = SimConfig {
        seed,
        duration_ms: (duration_s * 1000.0) as u64,
        bitrate_kbps: max_kbps,
        ..SimConfig::default()
    };
    let mut block_since: Option<(f64, bool)> = None;
    for (at_s, impair) in &case.schedule {
        let at_ms = (at_s * 1000.0) as u64;
        if let Some((since, udp_only)) = block_since.take() {
            let window = ((since * 1000.0) as u64, at_ms);
            if udp_only {
                config.blackouts.push(window)
            } else {
                config.outages.push(window)
            }
        }
        if impair.link.block && *at_s > 0.0 {
            block_since = Some((*at_s, impair.udp_only));
            continue;
        }
        config.rate_schedule.push((at_ms, impair.link.rate_kbps));
        if *at_s == 0.0 {
            // The simulator's control channel is never impaired, its media
            // path always: cases set at the start impair UDP (or a cap).
            config.impairments = Impairments {
                delay_ms: impair.link.delay_ms.max(config.impairments.delay_ms),
                rate_kbps: None,
                ..impair.link.clone()
            };
        }
    }
    let report = simulate(&config);
    let last_change_ms = case
        .schedule
        .last()
        .map_or(0, |(at, _)| (at * 1000.0) as u64);
    Some(Outcome {
        shown_pct: report.shown_ratio() * 100.0,
        encoder_end_kbps: u64::from(report.encoder_kbps_at(config.duration_ms)),
        latency_p99_ms: Some(report.latency_percentile_ms(99.0)),
        resumes: report.resumes,
        fallback_ms: report.fallback_after_ms,
        back_at_90_s: report
            .reached_kbps_after(last_change_ms, max_kbps * 9 / 10)
            .map(|ms| ms.saturating_sub(last_change_ms) as f64 / 1000.0),
        ended_early: report.ended_early,
    })
}

/// The case with real processes: the host and a headless viewer across
/// the routed LAN. `None` when the LAN cannot be built (not root).
pub fn real(case: &Case, duration_s: f64, seed: u64, verbose: bool) -> Option<Outcome> {
    let mut lan = RoutedLan::create("sc", seed)?;
    let dir = scratch_dir("scenario");
    let data_dir = dir.join("host");
    let host = LanHost::start(&lan.lan, &data_dir, &["--mdns", "off"]).ok()?;
    let url = host.entitle_from(&lan.lan, &data_dir).ok()?;
    let busy: Vec<std::process::Child> = if case.busy_cpu {
        (0..2)
            .filter_map(|cpu| {
                std::process::Command::new("taskset")
                    .args(["-c", &cpu.to_string(), "sh", "-c", "while :; do :; done"])
                    .spawn()
                    .ok()
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut schedule = case.schedule.iter().peekable();
    if let Some((_, first)) = schedule.next() {
        lan.set(&first.router_settings());
    }
    let duration = format!("{duration_s}");
    let mut viewer = Lan::command_in(&lan.lan.viewer_ns, &binary("viewer"))
        .args([
            "stream",
            "--headless",
            "--mute",
            "--duration",
            &duration,
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    let mut lines: Vec<Value> = Vec::new();
    for line in BufReader::new(viewer.stdout.take()?).lines() {
        let Ok(line) = line else { break };
        while let Some((at_s, impair)) = schedule.peek() {
            if started.elapsed() < Duration::from_secs_f64(*at_s) {
                break;
            }
            lan.set(&impair.router_settings());
            schedule.next();
        }
        if let Ok(value) = serde_json::from_str::<Value>(&line) {
            if verbose && value["type"] == "stats" {
                eprintln!(
                    "{}: t={:.1}s encoder {} kbps, received {:.0} kbps, decoded {}, lost {}",
                    case.name,
                    value["t_s"].as_f64().unwrap_or(0.0),
                    value["encoder_kbps"],
                    value["bitrate_kbps"].as_f64().unwrap_or(0.0),
                    value["frames_decoded"],
                    value["frames_lost"]
                );
            }
            lines.push(value);
        }
    }
    let _ = viewer.wait();
    for mut child in busy {
        let _ = child.kill();
        let _ = child.wait();
    }
    drop(host);
    Some(outcome(case, &lines))
}

fn outcome(case: &Case, lines: &[Value]) -> Outcome {
    let summary = lines
        .iter()
        .rev()
        .find(|l| l["type"] == "summary")
        .cloned()
        .unwrap_or_default();
    let num = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let sent = num(&summary, "frames_sent").max(1);
    let last_change_s = case.schedule.last().map_or(0.0, |(at, _)| *at);
    let stats: Vec<&Value> = lines.iter().filter(|l| l["type"] == "stats").collect();
    let max_kbps = stats
        .iter()
        .map(|l| num(l, "encoder_kbps"))
        .max()
        .unwrap_or(0)
        .max(10_000);
    let back_at_90_s = stats
        .iter()
        .filter(|l| l["t_s"].as_f64().unwrap_or(0.0) >= last_change_s)
        .find(|l| num(l, "encoder_kbps") * 10 >= max_kbps * 9)
        .map(|l| l["t_s"].as_f64().unwrap_or(0.0) - last_change_s);
    Outcome {
        shown_pct: num(&summary, "frames_decoded") as f64 * 100.0 / sent as f64,
        encoder_end_kbps: num(&summary, "encoder_kbps"),
        latency_p99_ms: summary["latency_ms"]["p99"].as_f64(),
        resumes: num(&summary, "resumes"),
        fallback_ms: summary["fallback_after_ms"].as_f64(),
        back_at_90_s,
        ended_early: summary["end"] != "user_quit",
    }
}

/// One row of the side-by-side table.
pub fn row(case: &Case, seed: u64, real: Option<&Outcome>, sim: Option<&Outcome>) -> String {
    let pct = |o: Option<&Outcome>| o.map_or("—".into(), |o| format!("{:.1} %", o.shown_pct));
    let kbps = |o: Option<&Outcome>| o.map_or("—".into(), |o| o.encoder_end_kbps.to_string());
    let p99 = |o: Option<&Outcome>| {
        o.and_then(|o| o.latency_p99_ms)
            .map_or("—".into(), |ms| format!("{ms:.0}"))
    };
    let back = |o: Option<&Outcome>| {
        o.and_then(|o| o.back_at_90_s)
            .map_or("—".into(), |s| format!("{s:.1} s"))
    };
    format!(
        "| {} | {seed} | {} | {} | {} | {} | {} | {} | {} | {} |",
        case.name,
        pct(real),
        pct(sim),
        kbps(real),
        kbps(sim),
        p99(real),
        p99(sim),
        back(real),
        back(sim),
    )
}

pub const TABLE_HEAD: &str = "| case | seed | shown (real) | shown (sim) | encoder kbps at end (real) | (sim) | latency p99 ms (real) | (sim) | to 90 % after the last change (real) | (sim) |\n|---|---|---|---|---|---|---|---|---|---|";
