//! Glass-to-glass latency: ours next to a reference GStreamer pipeline and a
//! null copy, in the same invocation, interleaved in rounds.
//!
//! On a private Xvfb wide enough for two areas side by side (W×H each,
//! 1280×720 by default), a game (this binary's hidden `game` mode) paints a
//! time code in a band at its top at 1 kHz: the wall clock in ms and a
//! frame counter as 16-px black and white cells, each bit beside its
//! complement, with a CRC-16 (tests/src/g2g/code.rs), and scrolls a noise
//! texture below it ~60 times a second. Each system captures the game's
//! area and shows it in a window moved to x = W beside it:
//!
//! - null copy (hidden `copy` mode): MIT-SHM GetImage of the area and
//!   PutImage into its window whenever the area changes: the floor.
//! - GStreamer, exactly these two lines, each given to `gst-launch-1.0 -q`
//!   (sync=false; every element at its defaults otherwise):
//!   `ximagesrc startx=0 starty=0 endx=W-1 endy=H-1 use-damage=false !
//!   video/x-raw,framerate=60/1 ! videoconvert ! x264enc tune=zerolatency
//!   speed-preset=ultrafast ! rtph264pay ! udpsink host=127.0.0.1 port=RELAY`
//!   and `udpsrc port=P caps=application/x-rtp,media=video,
//!   encoding-name=H264,payload=96,clock-rate=90000 ! rtph264depay !
//!   avdec_h264 ! videoconvert ! ximagesink sync=false`.
//! - ours: `host serve --capture desktop:0,0,WxH` (its defaults otherwise:
//!   60 fps, its bitrate) and `viewer stream --mute --no-overlay`.
//!
//! Each system starts fresh every round, warms up 2 s, then for S seconds:
//! - latency: ~100 MIT-SHM grabs a second at random (exponential) times of
//!   one strip holding both bands; latency = game code − display code from
//!   the same snapshot (resolution: the game's 1 ms paint period). Samples
//!   whose bands fail their checks are rejected and counted, never used.
//! - frames shown/s: distinct frame counters seen on the display, read
//!   right after every XDamage event on its band (not latency samples).
//! - CPU: utime+stime from /proc of the system's processes (host + viewer;
//!   both gst-launch; the copy), % of one core; Xvfb's own shown apart. The
//!   game and the sampler count for no one.
//! - wire kbps: UDP payload bytes through a counting relay in front of the
//!   receiver (the viewer's `--media-via`; the reference's udpsink); ours
//!   carries its audio (a test tone), FEC parity and headers in it too.
//!
//! `scripts/bench-setup` installs GStreamer; without gst-launch-1.0 the
//! reference is skipped with a note. Build the host and viewer first:
//! `cargo build --release -p host -p viewer && cargo run --release -p e2e
//! --bin g2g_bench [-- --seconds 15 --rounds 3 --systems null,gstreamer,ours
//! --load --json]`

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use e2e::g2g::code::BAND_WIDTH_PX;
use e2e::g2g::cpu::{Spinner, child_named, cpu_seconds, total_cpu_seconds};
use e2e::g2g::report::{RoundResult, Settings, SystemReport, percentile};
use e2e::g2g::sampler::{sample, wait_for_code};
use e2e::g2g::systems::{Running, Scene, System, gstreamer_available, spawn_role};
use e2e::{Xvfb, binary};

#[derive(Parser, Debug)]
struct Args {
    /// Sampled seconds per system and round (after a 2 s warm-up).
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, value_delimiter = ',', default_value = "null,gstreamer,ours")]
    systems: Vec<System>,
    /// Keep one core busy beside everything (a spinning process).
    #[arg(long)]
    load: bool,
    /// The game's area (and each display's).
    #[arg(long, default_value_t = 1280)]
    width: u16,
    #[arg(long, default_value_t = 720)]
    height: u16,
    /// Run ours at this bitrate instead of its default (10 Mbit/s at
    /// 720p60), e.g. 2048 to match the reference's x264enc default.
    #[arg(long)]
    ours_bitrate_kbps: Option<u32>,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    role: Option<Role>,
}

/// The bench's helper processes (started by the bench itself).
#[derive(Subcommand, Debug)]
enum Role {
    #[command(hide = true)]
    Game {
        #[arg(long)]
        width: u16,
        #[arg(long)]
        height: u16,
    },
    #[command(hide = true)]
    Copy {
        #[arg(long)]
        width: u16,
        #[arg(long)]
        height: u16,
    },
}

const WARM_UP: Duration = Duration::from_secs(2);
const GAME_HZ: f64 = 1000.0;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let display = || std::env::var("DISPLAY").unwrap_or_default();
    match args.role {
        Some(Role::Game { width, height }) => {
            e2e::g2g::game::run(&display(), width, height, GAME_HZ)
        }
        Some(Role::Copy { width, height }) => {
            e2e::g2g::copy::run(&display(), width, height, width as i16)
        }
        None => bench(args),
    }
}

fn bench(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        usize::from(args.width) >= BAND_WIDTH_PX
            && args.width.is_multiple_of(2)
            && args.height >= 64,
        "the area must be at least {BAND_WIDTH_PX} px wide (the time code) and even"
    );
    if args.systems.contains(&System::Ours) {
        // Fails early, saying how to build them, when they are missing.
        let _ = (binary("host"), binary("viewer"));
    }
    let mut settings = Settings {
        width: args.width,
        height: args.height,
        rounds: args.rounds,
        seconds: args.seconds,
        load: args.load,
        ours_bitrate_kbps: args.ours_bitrate_kbps,
        skipped: Vec::new(),
    };
    let mut systems = args.systems.clone();
    if systems.contains(&System::Gstreamer) && !gstreamer_available() {
        eprintln!(
            "g2g_bench: gst-launch-1.0 not found: skipping the GStreamer reference (scripts/bench-setup installs it)"
        );
        settings
            .skipped
            .push("GStreamer (gst-launch-1.0 not installed; scripts/bench-setup)".into());
        systems.retain(|s| *s != System::Gstreamer);
    }
    let (w, h) = (u32::from(args.width), u32::from(args.height));
    let xvfb = Xvfb::start(2 * w + 40, h + 40)?;
    let xvfb_pid = child_named(std::process::id(), "Xvfb");
    let scene = Scene {
        display: xvfb.display.clone(),
        width: args.width,
        height: args.height,
        dir: std::env::temp_dir().join(format!("g2g-bench-{}", std::process::id())),
        ours_bitrate_kbps: args.ours_bitrate_kbps,
    };
    let mut game = spawn_role("game", &scene)?;
    let result = run_rounds(&args, &systems, &scene, xvfb_pid);
    let _ = game.kill();
    let _ = game.wait();
    let _ = std::fs::remove_dir_all(&scene.dir);
    let reports = result?;
    if args.json {
        println!("{}", e2e::g2g::report::to_json(&settings, &reports));
    } else {
        print!("{}", e2e::g2g::report::to_markdown(&settings, &reports));
    }
    Ok(())
}

fn run_rounds(
    args: &Args,
    systems: &[System],
    scene: &Scene,
    xvfb_pid: Option<u32>,
) -> anyhow::Result<Vec<SystemReport>> {
    wait_for_code(&scene.display, 0, scene.width, Duration::from_secs(10))?;
    let _spinner = args.load.then(Spinner::start).transpose()?;
    let mut reports: Vec<SystemReport> = systems
        .iter()
        .map(|&system| SystemReport {
            system,
            rounds: Vec::new(),
        })
        .collect();
    for round in 1..=args.rounds {
        for report in &mut reports {
            let result = run_round(report.system, round, args, scene, xvfb_pid)?;
            eprintln!(
                "g2g_bench: round {round} {}: p50 {} ms p90 {} ms p99 {} ms, {:.1} frames shown/s, CPU {:.0} %, {} samples ({} rejected)",
                report.system.label(),
                result.p50_ms,
                result.p90_ms,
                result.p99_ms,
                result.frames_shown_per_s,
                result.cpu_pct,
                result.samples_used,
                result.rejected.total()
            );
            report.rounds.push(result);
        }
    }
    Ok(reports)
}

fn run_round(
    system: System,
    round: usize,
    args: &Args,
    scene: &Scene,
    xvfb_pid: Option<u32>,
) -> anyhow::Result<RoundResult> {
    let running = Running::start(system, scene, round)?;
    wait_for_code(
        &scene.display,
        scene.width,
        scene.width,
        Duration::from_secs(60),
    )?;
    std::thread::sleep(WARM_UP);
    let pids = running.pids();
    let (cpu_before, xvfb_before) = (total_cpu_seconds(&pids), xvfb_pid.and_then(cpu_seconds));
    let wire_before = running.wire_bytes();
    let started = Instant::now();
    let seed = round as u64 * 31 + system as u64;
    let sampling = sample(
        &scene.display,
        scene.width,
        Duration::from_secs_f64(args.seconds),
        seed,
    )?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_pct = (total_cpu_seconds(&pids) - cpu_before) / elapsed * 100.0;
    let xvfb_cpu_pct = match (xvfb_before, xvfb_pid.and_then(cpu_seconds)) {
        (Some(before), Some(after)) => (after - before) / elapsed * 100.0,
        _ => f64::NAN,
    };
    let wire_kbps = match (wire_before, running.wire_bytes()) {
        (Some(before), Some(after)) => Some((after - before) as f64 * 8.0 / 1000.0 / elapsed),
        _ => None,
    };
    let viewer_summary = running.stop()?;
    let latencies = &sampling.latencies_ms;
    Ok(RoundResult {
        round,
        p50_ms: percentile(latencies, 0.50),
        p90_ms: percentile(latencies, 0.90),
        p99_ms: percentile(latencies, 0.99),
        frames_shown_per_s: sampling.frames_shown as f64 / elapsed,
        cpu_pct,
        xvfb_cpu_pct,
        wire_kbps,
        samples_used: latencies.len(),
        rejected: sampling.rejected,
        viewer_summary,
    })
}
