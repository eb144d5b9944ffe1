//! The stream process: `viewer stream [flags from the settings]
//! --url-stdin`, run as a child (one winit event loop per process; a crashed
//! decoder never takes the launcher down). The entitlement URL goes down its
//! stdin, never on its command line (which every local user can read in
//! /proc). Its stderr is passed through to ours and
//! watched for the "connected" log line; its last stdout line says why it
//! ended (`{"ended": CODE, "words": ...}`).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use super::credentials::Secret;
use super::failure::StreamEnding;
use super::settings::{Codec, Renderer, Settings};
use super::state::StreamEvent;
use super::worker::Waker;

/// `viewer stream`'s flags for these settings (the URL is not among them).
pub fn stream_arguments(settings: &Settings) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["stream".into()];
    let mut flag = |name: &str, value: Option<String>| {
        args.push(name.into());
        if let Some(value) = value {
            args.push(value.into());
        }
    };
    if let Some((w, h)) = settings.resolution.size() {
        flag("--resolution", Some(format!("{w}x{h}")));
    }
    flag("--fps", Some(settings.fps.to_string()));
    if let Some(kbps) = settings.bitrate_kbps() {
        flag("--bitrate-kbps", Some(kbps.to_string()));
    }
    // H.264 is what the host sends when nothing is asked for.
    if settings.codec != Codec::H264 {
        flag("--codec", Some(settings.codec.arg().into()));
    }
    if settings.fullscreen {
        flag("--fullscreen", None);
    }
    if !settings.vsync {
        flag("--no-vsync", None);
    }
    if settings.renderer != Renderer::Auto {
        flag("--renderer", Some(settings.renderer.arg().into()));
    }
    flag("--mouse", Some(settings.mouse.arg().into()));
    if !settings.stats_overlay {
        flag("--no-overlay", None);
    }
    if let Some(device) = &settings.audio_device {
        flag("--audio-device", Some(device.clone()));
    }
    flag(
        "--shortcut-modifiers",
        Some(settings.shortcut_modifiers.arg().into()),
    );
    args
}

/// Does this stderr line of the stream process say it is connected?
fn says_connected(line: &str) -> bool {
    line.contains(NET_TARGET) && line.contains(" connected")
}

/// The log target of the stream's network side, which says "connected".
const NET_TARGET: &str = "viewer::stream::net";

/// A running stream process; its events arrive on [`StreamChild::try_recv`].
pub struct StreamChild {
    events: mpsc::Receiver<StreamEvent>,
    pid: u32,
}

impl StreamChild {
    /// Starts `current_exe stream ... URL`. Failing to start is an event
    /// too, so the caller has one path for every outcome.
    pub fn spawn(settings: &Settings, url: &Secret, waker: Waker) -> StreamChild {
        // Three events at most: connected, ended (or could not start).
        let (tx, events) = mpsc::sync_channel(4);
        let started = std::env::current_exe().and_then(|exe| {
            let mut command = Command::new(exe);
            // The "connected" line must get through whatever filter is set.
            if let Ok(filter) = std::env::var("RUST_LOG") {
                command.env("RUST_LOG", format!("{filter},{NET_TARGET}=info"));
            }
            let mut child = command
                .args(stream_arguments(settings))
                .arg("--url-stdin")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            // One line, then end of file.
            if let Some(mut stdin) = child.stdin.take() {
                writeln!(stdin, "{}", url.expose())?;
            }
            Ok(child)
        });
        let mut child = match started {
            Ok(child) => child,
            Err(e) => {
                let _ = tx.send(StreamEvent::CouldNotStart(e.to_string()));
                waker();
                return StreamChild { events, pid: 0 };
            }
        };
        let pid = child.id();
        tracing::info!(pid, "stream process started");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take();
        let (stderr_tx, stderr_waker) = (tx.clone(), waker.clone());
        let stderr_thread = std::thread::Builder::new()
            .name("stream-stderr".into())
            .spawn(move || {
                let Some(stderr) = stderr else { return };
                let mut told = false;
                let mut ours = std::io::stderr();
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let _ = writeln!(ours, "{line}");
                    if !told && says_connected(&line) {
                        told = true;
                        let _ = stderr_tx.send(StreamEvent::Connected);
                        stderr_waker();
                    }
                }
            });
        let spawned = std::thread::Builder::new()
            .name("stream-wait".into())
            .spawn(move || {
                let mut last = None;
                if let Some(stdout) = stdout {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        if !line.trim().is_empty() {
                            last = Some(line);
                        }
                    }
                }
                let exit = match child.wait() {
                    Ok(status) => crate::platform::files::exit_reason(status),
                    Err(e) => format!("cannot wait for it: {e}"),
                };
                if let Ok(thread) = stderr_thread {
                    let _ = thread.join();
                }
                let ending = last.as_deref().and_then(StreamEnding::parse);
                tracing::info!(pid, %exit, "stream process ended");
                let _ = tx.send(StreamEvent::Ended { ending, exit });
                waker();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot watch the stream process");
        }
        StreamChild { events, pid }
    }

    pub fn try_recv(&self) -> Option<StreamEvent> {
        self.events.try_recv().ok()
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

#[cfg(test)]
mod tests {
    use super::super::settings::{MouseMode, Resolution, ShortcutModifiers};
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn default_settings_ask_for_nothing_special() {
        let args = strings(stream_arguments(&Settings::default()));
        assert_eq!(
            args,
            [
                "stream",
                "--fps",
                "60",
                "--mouse",
                "absolute",
                "--shortcut-modifiers",
                "ctrl+alt+shift",
            ]
        );
    }

    #[test]
    fn every_setting_becomes_a_flag() {
        let settings = Settings {
            resolution: Resolution::P1080,
            fps: 120,
            bitrate_mbps: None,
            codec: Codec::Hevc,
            fullscreen: true,
            vsync: false,
            renderer: Renderer::Software,
            audio_device: Some("USB Audio".into()),
            mouse: MouseMode::Relative,
            stats_overlay: false,
            shortcut_modifiers: ShortcutModifiers::CtrlAlt,
        };
        let args = strings(stream_arguments(&settings)).join(" ");
        assert_eq!(
            args,
            "stream --resolution 1920x1080 --fps 120 --bitrate-kbps 40000 --codec hevc \
             --fullscreen --no-vsync --renderer software --mouse relative --no-overlay --audio-device USB Audio \
             --shortcut-modifiers ctrl+alt"
        );
    }

    #[test]
    fn the_connected_line_is_recognised() {
        assert!(says_connected(
            "2026-01-01T00:00:00Z  INFO viewer::stream::net: connected session=s1 video=H264"
        ));
        assert!(!says_connected(
            "2026-01-01T00:00:00Z  INFO viewer::stream::net: disconnected"
        ));
        assert!(!says_connected("INFO host: connected"));
    }
}
