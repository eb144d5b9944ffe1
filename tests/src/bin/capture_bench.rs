//! The host side on a real X server: the demo game runs on a private Xvfb
//! (1920×1080) and a rectangle of the screen is captured with MIT-SHM at
//! 720p and 1080p, converted BGRA→YUV, encoded (libx264) and sent as sealed
//! shards over loopback UDP. Reports per-stage medians and the host pipeline
//! latency (capture start → last shard sent) p50/p99, next to the raw encode
//! time of the same run. Several runs; medians of run medians.
//!
//! `cargo run --release -p e2e --bin capture_bench [-- --frames N --runs R]`

use std::time::{Duration, Instant};

use clap::Parser;
use common::StreamKind;
use common::packetizer::{DEFAULT_MAX_PAYLOAD, Packetizer};
use common::seal::{MediaKey, Sealer};
use common::stats::Percentiles;
use e2e::bench::{median, micros};
use e2e::{Xvfb, binary, runtime_dir};
use host::platform::ffmpeg_video::{EncoderSettings, FfmpegVideoEncoder};
use host::platform::x11::Rect;
use host::platform::x11::capture::{Target, X11Capture};
use host::platform::{BgraFrame, VideoEncoder, VideoSource};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 120)]
    frames: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const STAGES: [&str; 5] = [
    "capture",
    "convert",
    "encode",
    "packetize+seal+send",
    "pipeline",
];
const WARM_UP: usize = 10;

fn run_once(
    display: &str,
    width: u32,
    height: u32,
    frames: usize,
) -> anyhow::Result<Vec<Vec<f64>>> {
    let rect = Rect {
        x: 0,
        y: 0,
        width: width as u16,
        height: height as u16,
    };
    let mut capture = X11Capture::open(display, Target::Screen(rect), (width, height))?;
    anyhow::ensure!(capture.uses_shm(), "MIT-SHM is not in use");
    let params = host::media::planner::video_params(width, height, 60, None);
    let mut encoder = FfmpegVideoEncoder::new(&EncoderSettings::from_params(&params))?;
    let mut sealer = Sealer::new(&MediaKey::from_bytes([7; 32]));
    let mut packetizer = Packetizer::new(StreamKind::Video, DEFAULT_MAX_PAYLOAD);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let sink = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(sink.local_addr()?)?;
    sink.set_nonblocking(true)?;
    let mut frame = BgraFrame::new(width, height);
    let mut samples = vec![Vec::with_capacity(frames); STAGES.len()];
    let mut drain = vec![0u8; 2048];
    for index in 0..frames + WARM_UP {
        // The game draws at 60 fps: pace like the host does.
        std::thread::sleep(Duration::from_millis(16));
        let start = Instant::now();
        capture.capture(0, &mut frame)?;
        let capture_us = micros(start);
        let Some(encoded) = encoder.encode(&frame, index == 0)? else {
            continue;
        };
        let t = Instant::now();
        for (header, payload) in packetizer.packetize(&encoded.data, 0, encoded.keyframe) {
            socket.send(&sealer.seal(header, &payload))?;
        }
        let send_us = micros(t);
        let pipeline_us = micros(start);
        while sink.recv(&mut drain).is_ok() {}
        if index >= WARM_UP {
            let values = [
                capture_us,
                encoded.convert_us as f64,
                encoded.encode_us as f64,
                send_us,
                pipeline_us,
            ];
            for (stage, value) in values.into_iter().enumerate() {
                samples[stage].push(value);
            }
        }
    }
    Ok(samples)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ffmpeg_next::init()?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    let dir = std::env::temp_dir().join(format!("capture-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let xvfb = Xvfb::start(1920, 1080)?;
    let mut game = std::process::Command::new(binary("demo-game"))
        .args(["--width", "1920", "--height", "1080"])
        .env("DISPLAY", &xvfb.display)
        .env("XDG_RUNTIME_DIR", runtime_dir(&dir))
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "capture → convert → encode → send on Xvfb with the demo game drawing; {} frames × {} runs; ms",
        args.frames, args.runs
    );
    println!(
        "| resolution | capture | BGRA→YUV | encode | packetize+seal+send | pipeline p50 | pipeline p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let mut run_medians = vec![Vec::new(); STAGES.len()];
        let mut pooled_pipeline = Vec::new();
        for _ in 0..args.runs {
            let mut samples = run_once(&xvfb.display, width, height, args.frames)?;
            pooled_pipeline.extend_from_slice(&samples[4]);
            for (stage, values) in samples.iter_mut().enumerate() {
                run_medians[stage].push(median(values));
            }
        }
        let ms = |stage: usize| median(&mut run_medians[stage].clone()) / 1000.0;
        let p99 = Percentiles::of(&pooled_pipeline).map_or(0.0, |p| p.p99) / 1000.0;
        println!(
            "| {width}x{height} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {p99:.2} |",
            ms(0),
            ms(1),
            ms(2),
            ms(3),
            ms(4)
        );
    }
    let _ = game.kill();
    let _ = game.wait();
    Ok(())
}
