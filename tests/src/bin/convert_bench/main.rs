//! BGRA→I420 (BT.601, limited range: what swscale's default does and what
//! the viewer's decoder assumes) at 720p and 1080p on one thread: swscale
//! as the host used it (rows copied into an FFmpeg frame, FAST_BILINEAR),
//! swscale reading the picture in place (FAST_BILINEAR, and AREA: its
//! exact path), dcv-color-primitives and yuvutils-rs (balanced and fast
//! modes); next to libx264's ultrafast/zerolatency encode of the same
//! pictures, the budget the conversion must stay a tenth of. Each
//! converter's largest difference from swscale's exact output is shown.
//! Then I420→I420 scaling of a resized window's picture to the stream's
//! size (pic-scale against swscale). Medians of run medians.
//!
//! `cargo run --release -p e2e --bin convert_bench [-- --frames N --runs R]`
//!
//! `--save-demo-frame PATH` instead grabs one frame of the demo game
//! (1280×720 on a private Xvfb, as the host's capture reads it) into a PNG:
//! how `assets/fixtures/demo-game-frame.png`, which the host's converter
//! test compares with swscale, was made.

mod converters;
mod demo_frame;
mod scaling;

use std::time::Instant;

use clap::Parser;
use e2e::bench::{median, micros};
use host::platform::convert::bgra_to_i420;
use host::platform::ffmpeg_video::EncoderSettings;
use host::platform::open_video_encoder;
use host::platform::synthetic::TestPattern;
use host::platform::{BgraFrame, I420Frame};

use converters::{EXACT, METHODS, max_difference};

#[derive(Parser, Debug)]
pub struct Args {
    /// Frames per run (distinct pictures of the moving test pattern).
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Save a frame of the demo game as a PNG and exit.
    #[arg(long)]
    save_demo_frame: Option<std::path::PathBuf>,
}

pub fn pictures(width: u32, height: u32, frames: usize) -> Vec<BgraFrame> {
    let mut pattern = TestPattern::new(width, height, 60);
    (0..frames)
        .map(|index| {
            let mut picture = BgraFrame::new(width, height);
            pattern.paint(index as u64 * 16_667, &mut picture);
            picture
        })
        .collect()
}

/// Median of run medians of `step` over the pictures, in ms.
pub fn time_ms(
    pictures: &[BgraFrame],
    runs: usize,
    mut step: impl FnMut(&BgraFrame) -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let mut run_medians = Vec::new();
    for _ in 0..runs {
        let mut times = Vec::with_capacity(pictures.len());
        for picture in pictures {
            let t = Instant::now();
            step(picture)?;
            times.push(micros(t));
        }
        run_medians.push(median(&mut times));
    }
    Ok(median(&mut run_medians) / 1000.0)
}

/// CPU time of this process so far (all its threads, x264's included), µs.
fn process_cpu_us() -> anyhow::Result<f64> {
    let mut total_ns = 0.0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let schedstat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        let on_cpu_ns = schedstat.split_whitespace().next().unwrap_or("0");
        total_ns += on_cpu_ns.parse::<f64>()?;
    }
    Ok(total_ns / 1000.0)
}

/// The encode of the pictures, libx264 as the host sets it up: median wall
/// time per frame (its threads at work at once) and mean CPU time per
/// frame (all its threads), ms.
fn encode_ms(
    width: u32,
    height: u32,
    pictures: &[BgraFrame],
    runs: usize,
) -> anyhow::Result<(f64, f64)> {
    let params = host::media::planner::video_params(width, height, 60, None);
    let mut frames = Vec::new();
    for picture in pictures {
        let mut frame = I420Frame::new(width, height);
        bgra_to_i420(picture.view(), &mut frame)?;
        frames.push(frame);
    }
    let (mut wall_medians, mut cpu_means) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut encoder = open_video_encoder(&EncoderSettings::from_params(&params))?;
        let mut times = Vec::new();
        let mut cpu_us = 0.0;
        for (index, frame) in frames.iter_mut().enumerate() {
            let cpu_before = process_cpu_us()?;
            let encoded = encoder.encode(frame, index == 0)?;
            let cpu = process_cpu_us()? - cpu_before;
            if let Some(encoded) = encoded
                && index > 0
            {
                times.push(encoded.encode_us as f64);
                cpu_us += cpu;
            }
        }
        cpu_means.push(cpu_us / times.len() as f64);
        wall_medians.push(median(&mut times));
    }
    Ok((
        median(&mut wall_medians) / 1000.0,
        median(&mut cpu_means) / 1000.0,
    ))
}

fn conversion_table(args: &Args) -> anyhow::Result<()> {
    let sizes = [(1280u32, 720u32), (1920, 1080)];
    let mut table = vec![Vec::new(); METHODS.len()];
    let mut worst = vec![[0u8; 3]; METHODS.len()];
    let mut encodes = Vec::new();
    for (width, height) in sizes {
        let pictures = pictures(width, height, args.frames);
        let mut outputs = Vec::new();
        for (index, method) in METHODS.iter().enumerate() {
            let mut convert = (method.make)(width, height)?;
            let mut out = I420Frame::new(width, height);
            let ms = time_ms(&pictures, args.runs, |picture| {
                convert(picture.view(), &mut out)
            })?;
            table[index].push(ms);
            outputs.push(out);
        }
        for (index, out) in outputs.iter().enumerate() {
            let difference = max_difference(&outputs[EXACT], out);
            for plane in 0..3 {
                worst[index][plane] = worst[index][plane].max(difference[plane]);
            }
        }
        encodes.push(encode_ms(width, height, &pictures, args.runs.min(3))?);
    }
    println!(
        "\n| converter | 720p ms | vs swscale | 1080p ms | vs swscale | max Δ Y/U/V vs swscale AREA |"
    );
    println!("|---|---|---|---|---|---|");
    for (index, method) in METHODS.iter().enumerate() {
        let [y, u, v] = worst[index];
        println!(
            "| {} | {:.3} | {:.2} | {:.3} | {:.2} | {y}/{u}/{v} |",
            method.name,
            table[index][0],
            table[index][0] / table[0][0],
            table[index][1],
            table[index][1] / table[0][1],
        );
    }
    let (wall, cpu): (Vec<f64>, Vec<f64>) = encodes.iter().copied().unzip();
    println!(
        "| libx264 ultrafast/zerolatency encode, same pictures (wall) | {:.3} | | {:.3} | | |",
        wall[0], wall[1]
    );
    println!(
        "| libx264 encode, CPU time of all its threads | {:.3} | | {:.3} | | |",
        cpu[0], cpu[1]
    );
    let best = (0..METHODS.len())
        .min_by(|&a, &b| table[a][1].total_cmp(&table[b][1]))
        .unwrap_or(0);
    println!(
        "\nfastest at 1080p: {}; conversion / encode wall time: 720p {:.1} %, 1080p {:.1} %; \
         / encode CPU time: 720p {:.1} %, 1080p {:.1} %",
        METHODS[best].name,
        100.0 * table[best][0] / wall[0],
        100.0 * table[best][1] / wall[1],
        100.0 * table[best][0] / cpu[0],
        100.0 * table[best][1] / cpu[1]
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.save_demo_frame {
        return demo_frame::save_demo_frame(path);
    }
    ffmpeg_next::init()?;
    ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    println!(
        "convert_bench: BGRA→I420 BT.601 limited, one thread, {} frames × {} runs, {} cores; ms per frame",
        args.frames,
        args.runs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    conversion_table(&args)?;
    scaling::scaling_table(&args)?;
    Ok(())
}
