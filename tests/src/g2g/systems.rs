//! The three systems the bench compares, each started fresh for a round
//! with its display window beside the game's area:
//!
//! - `null`: the null copy (g2g_bench's hidden `copy` mode), the floor;
//! - `gstreamer`: the reference, two gst-launch-1.0 processes (`SENDER`,
//!   `RECEIVER`) with a counting relay between them;
//! - `ours`: `host serve --capture desktop:0,0,WxH` at its defaults and
//!   `viewer stream --mute --no-overlay` with its media through a counting
//!   relay (`--media-via`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::relay::{Relay, free_udp_port};
use super::x11::{close_window, mapped_windows, place_new_window};
use crate::{HostProcess, binary, runtime_dir};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Null,
    Gstreamer,
    Ours,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Null => "null copy",
            System::Gstreamer => "GStreamer",
            System::Ours => "ours",
        }
    }
}

/// The reference sender, `{W}`, `{H}`, `{PORT}` filled in.
pub const SENDER: &str = "ximagesrc startx=0 starty=0 endx={W-1} endy={H-1} use-damage=false \
    ! video/x-raw,framerate=60/1 ! videoconvert \
    ! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay \
    ! udpsink host=127.0.0.1 port={PORT}";
/// The reference receiver.
pub const RECEIVER: &str = "udpsrc port={PORT} \
    caps=application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000 \
    ! rtph264depay ! avdec_h264 ! videoconvert ! ximagesink sync=false";

/// Where the systems run.
pub struct Scene {
    pub display: String,
    pub width: u16,
    pub height: u16,
    /// Scratch space (host data, viewer logs).
    pub dir: PathBuf,
    /// Ours at this bitrate instead of its default (to compare at the
    /// reference's rate).
    pub ours_bitrate_kbps: Option<u32>,
}

/// Starts one of this binary's helper modes (`game`, `copy`) on the scene.
pub fn spawn_role(role: &str, scene: &Scene) -> anyhow::Result<Child> {
    let (w, h) = (scene.width.to_string(), scene.height.to_string());
    Ok(Command::new(std::env::current_exe()?)
        .args([role, "--width", &w, "--height", &h])
        .env("DISPLAY", &scene.display)
        .spawn()?)
}

/// A started system; stopped (killed) on drop.
pub struct Running {
    children: Vec<Child>,
    host: Option<HostProcess>,
    relay: Option<Relay>,
    system: System,
    display: String,
    window: Option<u32>,
    viewer_stdout: Option<std::thread::JoinHandle<Vec<String>>>,
}

/// Whether gst-launch-1.0 can run here.
pub fn gstreamer_available() -> bool {
    Command::new("gst-launch-1.0")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Running {
    pub fn start(system: System, scene: &Scene, round: usize) -> anyhow::Result<Running> {
        let mut running = Running {
            children: Vec::new(),
            host: None,
            relay: None,
            system,
            display: scene.display.clone(),
            window: None,
            viewer_stdout: None,
        };
        let others = mapped_windows(&scene.display)?;
        let dir = scene.dir.join(format!("{system:?}-{round}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        let (w, h) = (scene.width, scene.height);
        match system {
            System::Null => {
                let copy = spawn_role("copy", scene)?;
                running.children.push(copy);
                return Ok(running); // its window places itself
            }
            System::Gstreamer => {
                let port = free_udp_port()?;
                let receiver = gst_launch(RECEIVER, w, h, port, scene, &dir.join("receiver.log"))?;
                running.children.push(receiver);
                std::thread::sleep(Duration::from_millis(500));
                let relay = Relay::start(([127, 0, 0, 1], port).into())?;
                let sender = gst_launch(
                    SENDER,
                    w,
                    h,
                    relay.listen.port(),
                    scene,
                    &dir.join("sender.log"),
                )?;
                running.children.push(sender);
                running.relay = Some(relay);
            }
            System::Ours => running.start_ours(scene, &dir)?,
        }
        let at = (i32::from(w), 0);
        running.window = Some(place_new_window(
            &scene.display,
            &others,
            256,
            at,
            Duration::from_secs(60),
        )?);
        Ok(running)
    }

    fn start_ours(&mut self, scene: &Scene, dir: &Path) -> anyhow::Result<()> {
        let (w, h) = (scene.width, scene.height);
        let media_port = free_udp_port()?;
        let capture = format!("desktop:0,0,{w}x{h}");
        let port = media_port.to_string();
        let bitrate = scene.ours_bitrate_kbps.map(|kbps| kbps.to_string());
        let mut options = vec!["--capture", &capture, "--media-port", &port];
        if let Some(kbps) = &bitrate {
            options.extend(["--bitrate-kbps", kbps]);
        }
        let env = [("DISPLAY", scene.display.as_str()), ("RUST_LOG", "warn")];
        let host =
            HostProcess::start_with_env(&dir.join("host"), w.into(), h.into(), 60, &options, &env)?;
        let relay = Relay::start(([127, 0, 0, 1], media_port).into())?;
        let url = host.entitle()?;
        let mut viewer = Command::new(binary("viewer"))
            .args([
                "stream",
                "--mute",
                "--no-overlay",
                "--duration",
                "3600",
                "--media-via",
            ])
            .arg(relay.listen.to_string())
            .arg(url)
            .env("DISPLAY", &scene.display)
            .env("XDG_RUNTIME_DIR", runtime_dir(dir))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("viewer.log"))?)
            .spawn()
            .context("starting the viewer")?;
        let stdout = viewer.stdout.take().context("viewer stdout")?;
        self.viewer_stdout = Some(std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect()
        }));
        self.children.push(viewer);
        self.host = Some(host);
        self.relay = Some(relay);
        Ok(())
    }

    /// The processes whose CPU time is the system's.
    pub fn pids(&self) -> Vec<u32> {
        let host = self.host.as_ref().map(HostProcess::pid);
        self.children.iter().map(Child::id).chain(host).collect()
    }

    /// Media payload bytes so far, sender to receiver (none for the null copy).
    pub fn wire_bytes(&self) -> Option<u64> {
        let relay = self.relay.as_ref()?;
        Some(match self.system {
            System::Ours => relay.downstream(),
            _ => relay.upstream(),
        })
    }

    /// Stops the system; ours returns the viewer's `summary` line.
    pub fn stop(mut self) -> anyhow::Result<Option<serde_json::Value>> {
        let mut summary = None;
        if let (System::Ours, Some(window)) = (self.system, self.window) {
            // Closed as a person would: the viewer says goodbye and sums up.
            close_window(&self.display, window)?;
            let viewer = self.children.first_mut().context("no viewer")?;
            let deadline = Instant::now() + Duration::from_secs(15);
            while viewer.try_wait()?.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = viewer.kill();
            let lines = self
                .viewer_stdout
                .take()
                .map(|t| t.join().unwrap_or_default());
            summary = lines
                .unwrap_or_default()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v["type"] == "summary");
        }
        if let Some(host) = self.host.take() {
            host.stop()?;
        }
        Ok(summary)
    }
}

fn gst_launch(
    line: &str,
    w: u16,
    h: u16,
    port: u16,
    scene: &Scene,
    log: &Path,
) -> anyhow::Result<Child> {
    let line = line
        .replace("{W-1}", &(w - 1).to_string())
        .replace("{H-1}", &(h - 1).to_string())
        .replace("{PORT}", &port.to_string());
    Command::new("gst-launch-1.0")
        .arg("-q")
        .args(line.split_whitespace())
        .env("DISPLAY", &scene.display)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("starting gst-launch-1.0")
}

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
