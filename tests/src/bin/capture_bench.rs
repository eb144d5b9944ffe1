//! The host side on a real X server: the demo game runs on a private Xvfb
//! (1920×1080) and a rectangle of the screen streams through the host's
//! own pipeline at 720p and 1080p: the capture thread grabs it with
//! MIT-SHM and converts BGRA→I420 straight from the segment, the encode
//! thread encodes the newest picture (libx264), and this thread packetizes,
//! seals and sends each unit over loopback UDP as it arrives.
//!
//! Per frame, measured in the same run: capture (conversion included),
//! the wait in the slot, encode, packetize+seal+send, and the host
//! pipeline: capture start → last shard sent. The acceptance reads
//! `pipeline p50 ≤ capture p50 + encode p50 + 1 ms` off one row. Several
//! runs; medians of run medians, p99 pooled.
//!
//! `cargo run --release -p e2e --bin capture_bench [-- --frames N --runs R]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use common::StreamKind;
use common::packetizer::{DEFAULT_MAX_PAYLOAD, Packetizer};
use common::seal::{MediaKey, Sealer};
use common::stats::Percentiles;
use e2e::bench::{median, micros};
use e2e::{Xvfb, binary, runtime_dir};
use host::clock::unix_now_us;
use host::media::pipeline::{AUDIO_SAMPLE_RATE_HZ, MEDIA_QUEUE_UNITS, Pipeline, PipelineParts};
use host::platform::ffmpeg_audio::OpusEncoder;
use host::platform::ffmpeg_video::{EncoderSettings, FfmpegVideoEncoder};
use host::platform::synthetic::Silence;
use host::platform::x11::Rect;
use host::platform::x11::capture::{Target, X11Capture};
use host::platform::{AudioEncoder, AudioSource, VideoEncoder, VideoSource};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 300)]
    frames: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const STAGES: [&str; 5] = [
    "capture+convert",
    "wait",
    "encode",
    "packetize+seal+send",
    "pipeline",
];
const PIPELINE: usize = 4;
const WARM_UP: usize = 30;

/// The host's pipeline on a rectangle of `display`, with silence for audio.
fn parts(display: &str, width: u32, height: u32) -> PipelineParts {
    let rect = Rect {
        x: 0,
        y: 0,
        width: width as u16,
        height: height as u16,
    };
    let display = display.to_string();
    let video = host::media::planner::video_params(width, height, 60, None);
    let settings = EncoderSettings::from_params(&video);
    PipelineParts {
        video,
        video_source: Box::new(move || {
            let capture = X11Capture::open(&display, Target::Screen(rect), (width, height))?;
            anyhow::ensure!(capture.uses_shm(), "MIT-SHM is not in use");
            Ok(Box::new(capture) as Box<dyn VideoSource>)
        }),
        video_encoder: Box::new(move || {
            Ok(Box::new(FfmpegVideoEncoder::new(&settings)?) as Box<dyn VideoEncoder>)
        }),
        audio_source: Box::new(|| Ok(Box::new(Silence) as Box<dyn AudioSource>)),
        audio_encoder: Box::new(|| {
            Ok(Box::new(OpusEncoder::new(AUDIO_SAMPLE_RATE_HZ, 10)?) as Box<dyn AudioEncoder>)
        }),
    }
}

/// One run: per-stage samples (µs) and the pictures replaced in the slot.
fn run_once(
    display: &str,
    width: u32,
    height: u32,
    frames: usize,
) -> anyhow::Result<(Vec<Vec<f64>>, u64)> {
    let (units_tx, mut units) = tokio::sync::mpsc::channel(MEDIA_QUEUE_UNITS);
    let pipeline = Pipeline::start(parts(display, width, height), units_tx)?;
    let mut sealer = Sealer::new(&MediaKey::from_bytes([7; 32]));
    let mut packetizer = Packetizer::new(StreamKind::Video, DEFAULT_MAX_PAYLOAD);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let sink = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(sink.local_addr()?)?;
    sink.set_nonblocking(true)?;
    let mut drain = vec![0u8; 2048];
    // By capture time: (packetize+seal+send, capture start → last shard sent).
    let mut sent: HashMap<u64, (f64, f64)> = HashMap::new();
    let mut video_units = 0;
    let mut times = Vec::new();
    while video_units < frames + WARM_UP {
        let unit = units
            .blocking_recv()
            .ok_or_else(|| anyhow::anyhow!("the pipeline stopped"))?;
        if unit.stream != StreamKind::Video {
            continue;
        }
        let t = Instant::now();
        for (header, payload) in packetizer.packetize(&unit.data, unit.capture_us, unit.keyframe) {
            socket.send(&sealer.seal(header, &payload))?;
        }
        let send_us = micros(t);
        let pipeline_us = unix_now_us().saturating_sub(unit.capture_us) as f64;
        while sink.recv(&mut drain).is_ok() {}
        video_units += 1;
        if video_units > WARM_UP {
            sent.insert(unit.capture_us, (send_us, pipeline_us));
        }
        // Taken as they come: the pipeline keeps the last 1024 only.
        times.extend(pipeline.take_frame_times());
    }
    times.extend(pipeline.take_frame_times());
    let replaced = pipeline.replaced();
    drop(pipeline);
    let mut samples = vec![Vec::with_capacity(frames); STAGES.len()];
    for frame in times {
        let Some(&(send_us, pipeline_us)) = sent.get(&frame.capture_us) else {
            continue;
        };
        let row = [
            frame.capture_took_us as f64,
            frame.waited_us as f64,
            frame.encode_us as f64,
            send_us,
            pipeline_us,
        ];
        for (stage, value) in samples.iter_mut().zip(row) {
            stage.push(value);
        }
    }
    anyhow::ensure!(
        !samples[PIPELINE].is_empty(),
        "no frame times matched the units sent"
    );
    Ok((samples, replaced))
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
        "the host's pipeline (capture thread → newest-wins slot → encode thread) on Xvfb with the demo game drawing, \
         then packetize+seal+send on loopback; {} frames × {} runs, {} cores; ms",
        args.frames,
        args.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| resolution | capture+convert p50 / p99 | wait p50 | encode p50 / p99 | packetize+seal+send p50 | pipeline p50 / p99 | capture + encode + 1 (p50s) | replaced |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let mut run_medians = vec![Vec::new(); STAGES.len()];
        let mut pooled = vec![Vec::new(); STAGES.len()];
        let mut replaced = 0;
        for _ in 0..args.runs {
            let (samples, run_replaced) = run_once(&xvfb.display, width, height, args.frames)?;
            replaced += run_replaced;
            for (stage, mut values) in samples.into_iter().enumerate() {
                pooled[stage].extend_from_slice(&values);
                run_medians[stage].push(median(&mut values));
            }
        }
        let p50 = |stage: usize| median(&mut run_medians[stage].clone()) / 1000.0;
        let p99 = |stage: usize| Percentiles::of(&pooled[stage]).map_or(0.0, |p| p.p99) / 1000.0;
        println!(
            "| {width}x{height} | {:.2} / {:.2} | {:.2} | {:.2} / {:.2} | {:.2} | {:.2} / {:.2} | {:.2} | {replaced} |",
            p50(0),
            p99(0),
            p50(1),
            p50(2),
            p99(2),
            p50(3),
            p50(PIPELINE),
            p99(PIPELINE),
            p50(0) + p50(2) + 1.0,
        );
    }
    let _ = game.kill();
    let _ = game.wait();
    Ok(())
}
