//! Transport figures in simulation (virtual time, seeded): FEC + NACK +
//! keyframe requests against random loss, a blackout, reordering and
//! duplication.

use common::testing::{Impairments, SimConfig, simulate};

fn config(impairments: Impairments) -> SimConfig {
    SimConfig {
        impairments: Impairments {
            delay_ms: 10.0,
            ..impairments
        },
        ..SimConfig::default()
    }
}

#[test]
fn five_percent_loss_delivers_nearly_every_frame_in_time() {
    for seed in 1..=3 {
        let report = simulate(&SimConfig {
            seed,
            ..config(Impairments {
                loss_pct: 5.0,
                ..Default::default()
            })
        });
        eprintln!("5% loss, seed {seed}: {report:?}");
        assert!(
            report.in_time_ratio() >= 0.995,
            "seed {seed}: {:.4} of frames in time",
            report.in_time_ratio()
        );
        assert!(report.frames_recovered_by_fec > 0);
    }
}

#[test]
fn twenty_percent_loss_keeps_the_stream_going() {
    let report = simulate(&config(Impairments {
        loss_pct: 20.0,
        ..Default::default()
    }));
    eprintln!("20% loss: {report:?}");
    assert!(
        report.shown_ratio() >= 0.95,
        "{:.4} of frames shown",
        report.shown_ratio()
    );
    assert!(report.final_parity_pct > 30, "parity followed the loss up");
}

#[test]
fn a_blackout_recovers_within_a_round_trip_and_a_frame() {
    let mut cfg = config(Impairments::default());
    cfg.duration_ms = 5_000;
    cfg.blackouts = vec![(2_000, 2_500)];
    let report = simulate(&cfg);
    eprintln!("blackout: {report:?}");
    let rtt_ms = cfg.feedback_delay_ms as f64 + cfg.impairments.delay_ms;
    let frame_ms = 1000.0 / f64::from(cfg.fps);
    let recovered = report.recovery_after_blackout_ms[0];
    // 1 ms of slack: the simulation ticks in milliseconds.
    assert!(
        recovered <= rtt_ms + frame_ms + 1.0,
        "good picture {recovered} ms after the link came back (RTT {rtt_ms} + frame {frame_ms:.1})"
    );
}

#[test]
fn reordering_and_duplication_cost_nothing() {
    let report = simulate(&config(Impairments {
        reorder_pct: 5.0,
        duplicate_pct: 5.0,
        jitter_ms: 3.0,
        ..Default::default()
    }));
    eprintln!("reorder+dup: {report:?}");
    assert_eq!(report.frames_lost, 0);
    assert_eq!(report.frames_shown, report.frames_sent);
    assert_eq!(report.keyframes_sent, 1);
    assert_eq!(report.retransmitted_shards, 0);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let cfg = SimConfig {
        duration_ms: 3_000,
        ..config(Impairments {
            loss_pct: 10.0,
            jitter_ms: 5.0,
            ..Default::default()
        })
    };
    assert_eq!(simulate(&cfg), simulate(&cfg));
}
