//! The viewer side on a real X server: `viewer stream` in its window under
//! a private Xvfb (wgpu on lavapipe), fed by `host serve` with the synthetic
//! source at 720p60 and 1080p60 over loopback. Reports, from the viewer's
//! own per-frame stage times, last shard received → frame presented p50/p99
//! and the decode time measured in the same run. Several runs; medians of
//! run values.
//!
//! `cargo run --release -p e2e --bin viewer_bench [-- --seconds S --runs R
//! --renderer auto|gpu|software --overlay --no-vsync]`

use std::process::{Command, Stdio};

use clap::Parser;
use e2e::bench::median;
use e2e::{HostProcess, Xvfb, binary, runtime_dir, scratch_dir};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 12.0)]
    seconds: f64,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Present without waiting for vsync (the viewer's --no-vsync).
    #[arg(long)]
    no_vsync: bool,
    /// The viewer's --renderer: auto, gpu or software.
    #[arg(long, default_value = "auto")]
    renderer: String,
    /// Keep the stats overlay on (drawn every frame).
    #[arg(long)]
    overlay: bool,
}

/// One run: the viewer's summary `stages` (p50, p99 of each stage).
fn run_once(
    xvfb: &Xvfb,
    width: u32,
    height: u32,
    args: &Args,
) -> anyhow::Result<serde_json::Value> {
    let seconds = args.seconds;
    let dir = scratch_dir("viewer-bench");
    let host = HostProcess::start(&dir.join("host"), width, height, 60)?;
    let url = host.entitle()?;
    let out = Command::new(binary("viewer"))
        .args([
            "stream",
            "--mute",
            "--renderer",
            &args.renderer,
            "--duration",
        ])
        .arg(seconds.to_string())
        .args(args.no_vsync.then_some("--no-vsync"))
        .args((!args.overlay).then_some("--no-overlay"))
        .arg(&url)
        .env("DISPLAY", &xvfb.display)
        .env("XDG_RUNTIME_DIR", runtime_dir(&dir))
        .stderr(Stdio::null())
        .output()?;
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .ok_or_else(|| anyhow::anyhow!("the viewer printed no summary"))?;
    host.stop()?;
    Ok(summary)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let xvfb = Xvfb::start(1920, 1200)?;
    println!(
        "| picture | renderer | overlay | last shard → presented p50 | p99 | decode p50 | decode p99 | frames presented/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let mut columns: Vec<Vec<f64>> = vec![Vec::new(); 5];
        let mut renderer = String::new();
        for _ in 0..args.runs {
            let summary = run_once(&xvfb, width, height, &args)?;
            renderer = summary["renderer"].as_str().unwrap_or("?").to_string();
            let stages = &summary["stages"];
            let get = |stage: &str, p: &str| stages[stage][p].as_f64().unwrap_or(f64::NAN);
            let presented = summary["frames_presented"].as_f64().unwrap_or(0.0);
            let run = [
                get("shard_to_present_ms", "p50"),
                get("shard_to_present_ms", "p99"),
                get("decode_ms", "p50"),
                get("decode_ms", "p99"),
                presented / args.seconds,
            ];
            eprintln!("{width}x{height}: {run:.2?}");
            for (column, value) in columns.iter_mut().zip(run) {
                column.push(value);
            }
        }
        let m: Vec<f64> = columns.iter_mut().map(|c| median(c)).collect();
        println!(
            "| {width}×{height} | {renderer} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} |",
            if args.overlay { "on" } else { "off" },
            m[0],
            m[1],
            m[2],
            m[3],
            m[4]
        );
    }
    Ok(())
}
