//! Per-stage times of the media pipeline, in one process, without sockets:
//! paint (BGRA) → convert (BGRA→I420, the host's converter) → encode
//! (libx264) → packetize+seal → open+depacketize → decode (H.264) →
//! present (the planes copied out and converted YUV→BGRA into a
//! window-sized buffer, as the software presenter does). Several runs;
//! medians of run medians.
//!
//! `cargo run --release -p e2e --bin pipeline_bench [-- --frames N --runs R]`

use std::time::Instant;

use clap::Parser;
use common::StreamKind;
use common::packetizer::{DEFAULT_MAX_PAYLOAD, Depacketizer, DepacketizerEvent, Packetizer};
use common::seal::{MediaKey, Opener, Sealer};
use common::stats::Percentiles;
use e2e::bench::{median, micros};
use host::platform::convert::Converter;
use host::platform::ffmpeg_video::EncoderSettings;
use host::platform::open_video_encoder;
use host::platform::synthetic::TestPattern;
use host::platform::{BgraFrame, I420Frame};
use viewer::platform::present::Letterbox;
use viewer::platform::video::{PlaneCopier, VideoDecoder, YuvPicture};

#[derive(Parser, Debug)]
struct Args {
    /// Frames per run (after a warm-up of 30).
    #[arg(long, default_value_t = 300)]
    frames: usize,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const STAGES: [&str; 7] = [
    "paint",
    "convert",
    "encode",
    "packetize+seal",
    "receive+open",
    "decode",
    "present",
];
const WARM_UP: usize = 30;

/// One run: per-stage samples in microseconds, and the mean frame size.
fn run_once(width: u32, height: u32, frames: usize) -> anyhow::Result<(Vec<Vec<f64>>, f64)> {
    let params = host::media::planner::video_params(width, height, 60, None);
    let mut source = TestPattern::new(width, height, 60);
    let mut encoder = open_video_encoder(&EncoderSettings::from_params(&params))?;
    let key = MediaKey::from_bytes([7; 32]);
    let (mut sealer, mut opener) = (Sealer::new(&key), Opener::new(&key));
    let mut packetizer = Packetizer::new(StreamKind::Video, DEFAULT_MAX_PAYLOAD);
    let mut depacketizer = Depacketizer::new(StreamKind::Video, Default::default());
    let mut decoder = VideoDecoder::new(common::control::VideoCodec::H264)?;
    let (mut copier, mut shown, mut letterbox) = (
        PlaneCopier::default(),
        YuvPicture::default(),
        Letterbox::default(),
    );
    let mut window_buffer = vec![0u8; width as usize * height as usize * 4];
    let mut picture = BgraFrame::new(width, height);
    let (mut converter, mut yuv) = (Converter::default(), I420Frame::new(width, height));
    let mut samples = vec![Vec::with_capacity(frames); STAGES.len()];
    let mut bytes = 0usize;

    for index in 0..frames + WARM_UP {
        let t = Instant::now();
        source.paint(index as u64 * 16_667, &mut picture);
        let paint_us = micros(t);
        let t = Instant::now();
        converter.convert(picture.view(), &mut yuv)?;
        let convert_us = micros(t);
        let Some(encoded) = encoder.encode(&mut yuv, index == 0)? else {
            continue;
        };
        let t = Instant::now();
        let datagrams: Vec<Vec<u8>> = packetizer
            .packetize(&encoded.data, 0, encoded.keyframe)
            .into_iter()
            .map(|(header, payload)| sealer.seal(header, &payload))
            .collect();
        let seal_us = micros(t);
        let t = Instant::now();
        let mut frame = None;
        for datagram in &datagrams {
            let (header, payload) = opener.open(datagram)?;
            depacketizer.handle_shard(0, &header, &payload)?;
            while let Some(event) = depacketizer.poll_event() {
                if let DepacketizerEvent::Frame(f) = event {
                    frame = Some(f);
                }
            }
        }
        let open_us = micros(t);
        let frame = frame.ok_or_else(|| anyhow::anyhow!("frame {index} not reassembled"))?;
        let t = Instant::now();
        let mut present_us = 0.0;
        decoder.decode(&frame.data, |decoded| {
            let t = Instant::now();
            if copier.copy(decoded, &mut shown).is_ok() {
                let _ = letterbox.draw(&shown, &mut window_buffer, (width, height));
            }
            present_us += micros(t);
        })?;
        let decode_us = micros(t) - present_us;
        if index >= WARM_UP {
            bytes += encoded.data.len();
            let row = [
                paint_us,
                convert_us,
                encoded.encode_us as f64,
                seal_us,
                open_us,
                decode_us,
                present_us,
            ];
            for (stage, value) in samples.iter_mut().zip(row) {
                stage.push(value);
            }
        }
    }
    Ok((samples, bytes as f64 / frames as f64))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ffmpeg_next::init()?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    println!(
        "pipeline_bench: {} runs x {} frames, {} cores, libx264 ultrafast/zerolatency",
        args.runs,
        args.frames,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (width, height) in [(1280u32, 720u32), (1920, 1080)] {
        let mut run_medians = vec![Vec::new(); STAGES.len()];
        let mut pooled = vec![Vec::new(); STAGES.len()];
        let mut frame_bytes = Vec::new();
        for _ in 0..args.runs {
            let (samples, mean_bytes) = run_once(width, height, args.frames)?;
            frame_bytes.push(mean_bytes);
            for (stage, mut values) in samples.into_iter().enumerate() {
                pooled[stage].extend_from_slice(&values);
                run_medians[stage].push(median(&mut values));
            }
        }
        println!(
            "\n{width}x{height} (mean frame {:.1} KB)",
            median(&mut frame_bytes) / 1000.0
        );
        println!("| stage | median of run medians (ms) | p99 pooled (ms) |");
        println!("|---|---|---|");
        let mut total = 0.0;
        for (stage, name) in STAGES.iter().enumerate() {
            let med = median(&mut run_medians[stage]) / 1000.0;
            let p99 = Percentiles::of(&pooled[stage]).map_or(0.0, |p| p.p99) / 1000.0;
            total += med;
            println!("| {name} | {med:.3} | {p99:.3} |");
        }
        println!("| sum of medians | {total:.3} | |");
    }
    Ok(())
}
