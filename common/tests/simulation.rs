//! The session machines (`HostSession`, `ViewerSession`) in the simulator:
//! the acceptance cases of the transport, in virtual time, seeded. Each
//! case is 20 s at 720p60 with a 10 Mbit/s maximum, over a LAN path.

use common::testing::{Impairments, SimConfig, SimReport, simulate};

const MAX_KBPS: u32 = 10_000;

fn lan(impairments: Impairments) -> SimConfig {
    SimConfig {
        impairments: Impairments {
            delay_ms: 1.0,
            ..impairments
        },
        ..SimConfig::default()
    }
}

fn run(name: &str, config: &SimConfig) -> SimReport {
    let report = simulate(config);
    eprintln!(
        "{name} (seed {}): shown {:.2} % ({} of {}), first picture {:?} ms, longest freeze {:.0} ms, \
         latency p50 {:.1} p99 {:.1} ms, encoder at end {} kbps, parity {} %, keyframes {}, \
         requests {}, nacks {}, retransmitted {}, FEC rebuilt {}, late shards {}",
        config.seed,
        report.shown_ratio() * 100.0,
        report.frames_shown,
        report.frames_sent,
        report.first_picture_ms,
        report.longest_freeze_ms,
        report.latency_percentile_ms(50.0),
        report.latency_percentile_ms(99.0),
        report.encoder_kbps_at(config.duration_ms),
        report.final_parity_pct,
        report.keyframes_sent,
        report.keyframe_requests,
        report.nacks,
        report.retransmitted_shards,
        report.frames_recovered_by_fec,
        report.shards_late,
    );
    assert!(!report.ended_early, "{name}: the session ended");
    report
}

#[test]
fn clean_shows_everything_at_the_maximum() {
    let report = run("clean", &lan(Impairments::default()));
    assert_eq!(report.frames_shown, report.frames_sent);
    assert_eq!(report.encoder_kbps_at(20_000), MAX_KBPS);
}

#[test]
fn the_host_hands_one_reading_a_second_to_its_control_plane() {
    let report = run("clean", &lan(Impairments::default()));
    let seconds = SimConfig::default().duration_ms / 1000;
    let readings = report.stats.len() as u64;
    assert!(
        readings.abs_diff(seconds) <= 1,
        "{readings} readings in {seconds} s"
    );
    let last = report.stats.last().expect("a reading");
    assert_eq!(last.encoder_kbps, MAX_KBPS);
    assert!(last.received_kbps > 0.5 * f64::from(MAX_KBPS), "{last:?}");
    assert_eq!(last.loss, 0.0, "{last:?}");
}

#[test]
fn five_percent_random_loss() {
    for seed in 1..=3 {
        let config = SimConfig {
            seed,
            ..lan(Impairments {
                loss_pct: 5.0,
                ..Default::default()
            })
        };
        let report = run("5% loss", &config);
        assert!(report.shown_ratio() >= 0.995, "seed {seed}");
        assert!(
            report.encoder_kbps_at(20_000) >= MAX_KBPS * 8 / 10,
            "seed {seed}"
        );
    }
}

#[test]
fn twenty_percent_loss_from_the_first_packet() {
    for seed in 1..=3 {
        let config = SimConfig {
            seed,
            ..lan(Impairments {
                loss_pct: 20.0,
                ..Default::default()
            })
        };
        let report = run("20% loss", &config);
        assert!(
            report.first_picture_ms.is_some_and(|ms| ms <= 1_000.0),
            "seed {seed}"
        );
        assert!(report.shown_ratio() >= 0.97, "seed {seed}");
    }
}

#[test]
fn five_percent_bursty_loss() {
    for seed in 1..=3 {
        let config = SimConfig {
            seed,
            ..lan(Impairments {
                burst_loss_pct: 5.0,
                burst_ms: 8.0,
                ..Default::default()
            })
        };
        let report = run("5% bursts", &config);
        assert!(report.shown_ratio() >= 0.98, "seed {seed}");
        assert!(report.longest_freeze_ms <= 250.0, "seed {seed}");
    }
}

#[test]
fn jitter_with_reordering_and_duplication_cost_nothing() {
    let cases = [
        (
            "15±5 ms jitter, reordering",
            Impairments {
                delay_ms: 10.0,
                jitter_ms: 10.0,
                reorder_pct: 5.0,
                ..Default::default()
            },
        ),
        (
            "15±5 ms jitter, in order",
            Impairments {
                delay_ms: 10.0,
                jitter_ms: 10.0,
                keep_order: true,
                ..Default::default()
            },
        ),
        (
            "10% duplication",
            Impairments {
                delay_ms: 1.0,
                duplicate_pct: 10.0,
                ..Default::default()
            },
        ),
    ];
    for (name, impairments) in cases {
        let config = SimConfig {
            impairments,
            ..SimConfig::default()
        };
        let report = run(name, &config);
        let missing: Vec<&u64> = report
            .sent_at_ms
            .iter()
            .filter(|t| !report.shown_at_ms.contains(t))
            .collect();
        eprintln!("{name}: not shown {missing:?}");
        assert_eq!(report.frames_shown, report.frames_sent, "{name}");
        assert!(
            report.encoder_kbps_at(20_000) >= MAX_KBPS * 9 / 10,
            "{name}"
        );
        assert_eq!(
            report.frames_recovered_by_fec, 0,
            "{name}: FEC rebuilt with nothing lost"
        );
    }
}

#[test]
fn a_five_megabit_cap_leaves_no_standing_queue() {
    let config = SimConfig {
        rate_schedule: vec![(0, Some(5_000))],
        ..lan(Impairments::default())
    };
    let report = run("5 Mbit/s cap", &config);
    eprintln!(
        "5 Mbit/s cap after 2 s: {:.2} % shown",
        report.shown_ratio_between(2_000, 20_000) * 100.0
    );
    let missing: Vec<&u64> = report
        .sent_at_ms
        .iter()
        .filter(|t| !report.shown_at_ms.contains(t))
        .collect();
    eprintln!(
        "timeline {:?}\nnot shown {missing:?}",
        report.encoder_timeline
    );
    assert_eq!(
        report.shown_ratio_between(2_000, 20_000),
        1.0,
        "no frame lost after 2 s"
    );
    assert!(report.latency_percentile_ms(99.0) <= 100.0);
}

#[test]
fn a_lifted_cap_is_found_again_within_five_seconds() {
    let config = SimConfig {
        rate_schedule: vec![(0, Some(3_000)), (10_000, None)],
        ..lan(Impairments::default())
    };
    let report = run("3 Mbit/s cap lifted at 10 s", &config);
    let back = report.reached_kbps_after(10_000, MAX_KBPS * 9 / 10);
    eprintln!(
        "back at 90 % at {back:?} ms; timeline {:?}",
        report.encoder_timeline
    );
    assert!(back.is_some_and(|ms| ms <= 15_000));
}

#[test]
fn a_one_second_blackout() {
    let config = SimConfig {
        blackouts: vec![(8_000, 9_000)],
        ..lan(Impairments::default())
    };
    let report = run("1 s UDP blackout", &config);
    let rtt_ms = 2.0 * (config.impairments.delay_ms + config.control_delay_ms as f64);
    let picture = report.picture_after_return_ms[0].expect("a picture after the blackout");
    let back = report.reached_kbps_after(9_000, MAX_KBPS * 9 / 10);
    eprintln!(
        "blackout: picture {picture} ms after the return (RTT {rtt_ms} ms), 90 % at {back:?} ms"
    );
    assert!(
        picture <= rtt_ms + 2.0 * 1000.0 / 60.0 + 1.0,
        "picture {picture} ms after the return"
    );
    assert!(
        report
            .reached_kbps_after(9_000, MAX_KBPS * 9 / 10)
            .is_some_and(|ms| ms <= 14_000)
    );
}

#[test]
fn a_five_second_outage_resumes_the_same_session() {
    let config = SimConfig {
        outages: vec![(6_000, 11_000)],
        ..lan(Impairments::default())
    };
    let report = run("5 s outage", &config);
    assert_eq!(report.resumes, 1);
    let picture = report.picture_after_return_ms[0].expect("a picture after the outage");
    let back = report.reached_kbps_after(11_000, MAX_KBPS * 9 / 10);
    eprintln!(
        "outage: picture {picture} ms after the return, 90 % at {back:?} ms, resumes {}",
        report.resumes
    );
    assert!(picture <= 1_000.0, "picture {picture} ms after the return");
    assert!(
        report
            .reached_kbps_after(11_000, MAX_KBPS * 9 / 10)
            .is_some_and(|ms| ms <= 16_000)
    );
}

#[test]
fn blocked_udp_falls_back_to_the_websocket_within_two_seconds() {
    let config = SimConfig {
        duration_ms: 5_000,
        ..lan(Impairments {
            block: true,
            ..Default::default()
        })
    };
    let report = run("UDP blocked", &config);
    eprintln!(
        "UDP blocked: fell back after {:?} ms",
        report.fallback_after_ms
    );
    assert!(report.fallback_after_ms.is_some_and(|ms| ms <= 2_000.0));
    assert!(report.first_picture_ms.is_some_and(|ms| ms <= 2_000.0));
    assert!(report.shown_ratio() >= 0.95);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let config = SimConfig {
        duration_ms: 3_000,
        ..lan(Impairments {
            loss_pct: 10.0,
            jitter_ms: 5.0,
            ..Default::default()
        })
    };
    assert_eq!(simulate(&config), simulate(&config));
}
