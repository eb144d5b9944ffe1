//! `viewer stream`'s options: what the launcher passes from its settings,
//! and the test-only knobs of the headless mode.

use std::time::Duration;

use clap::{Args, ValueEnum};
use common::control::{DisplayRequest, VideoCodec};
use common::stream_url::StreamUrl;

use crate::platform::present::RendererChoice;
use crate::stream::window::{MouseMode, WindowOptions};

#[derive(Args, Debug, Clone)]
pub struct StreamArgs {
    /// No window: print one JSON stats line per second and a summary.
    #[arg(long)]
    pub headless: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Do not open an audio device.
    #[arg(long)]
    pub mute: bool,
    /// Play through this output device (a cpal device name) instead of the default.
    #[arg(long)]
    pub audio_device: Option<String>,
    /// Send media UDP to this address instead of the host (a relay).
    #[arg(long)]
    pub media_via: Option<std::net::SocketAddr>,
    /// Headless only: type this many synthetic key events (A..Z press and
    /// release) on the reliable control channel, to test input delivery.
    #[arg(long, default_value_t = 0)]
    pub send_keys: u64,
    /// Headless only: send this many synthetic events of every kind
    /// (keys, absolute and relative moves, clicks, wheel), in order.
    #[arg(long, default_value_t = 0, conflicts_with = "send_keys")]
    pub send_input: u64,
    /// Headless only: put this text on the host's clipboard once media flows.
    #[arg(long)]
    pub clipboard: Option<String>,
    /// Ask the host for this picture size (e.g. 1920x1080); a virtual
    /// display is made this size. Default: the application's.
    #[arg(long, value_parser = parse_resolution)]
    pub resolution: Option<(u32, u32)>,
    /// Frames per second to ask for. Default: the application's.
    #[arg(long)]
    pub fps: Option<u32>,
    /// Video bitrate to ask for, in kbit/s. Default: by resolution.
    #[arg(long)]
    pub bitrate_kbps: Option<u32>,
    /// Video codec to ask for; the host falls back to H.264 without it.
    #[arg(long, value_enum)]
    pub codec: Option<CodecArg>,
    /// Start in fullscreen.
    #[arg(long)]
    pub fullscreen: bool,
    /// Present without waiting for vertical sync (lowest latency, may tear).
    #[arg(long)]
    pub no_vsync: bool,
    /// How to draw the picture: the GPU (a YUV shader), software
    /// (softbuffer, SIMD YUV→BGRA), or auto: software where wgpu's only
    /// adapter rasterizes on the CPU (lavapipe, llvmpipe, SwiftShader).
    #[arg(long, value_enum, default_value_t = RendererChoice::Auto)]
    pub renderer: RendererChoice,
    /// Absolute: the pointer maps onto the picture (desktop apps).
    /// Relative: the pointer is locked and moves are sent as deltas (3D games).
    #[arg(long, value_enum, default_value_t = MouseMode::Absolute)]
    pub mouse: MouseMode,
    /// Start with the statistics overlay hidden.
    #[arg(long)]
    pub no_overlay: bool,
    /// The modifiers of the shortcuts, e.g. ctrl+alt+shift (Moonlight's) or ctrl+alt.
    #[arg(long, default_value = "ctrl+alt+shift", value_parser = crate::stream::window::shortcuts::parse_chord)]
    pub shortcut_modifiers: crate::stream::window::shortcuts::Chord,
    /// Read the URL from the first line of stdin instead (what the launcher
    /// does: a URL on the command line is visible to every local user).
    #[arg(long, conflicts_with = "url")]
    pub url_stdin: bool,
    /// appstream://HOST:PORT/stream?token=...&fp=...
    #[arg(required_unless_present = "url_stdin")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    H264,
    Hevc,
    Av1,
}

impl From<CodecArg> for VideoCodec {
    fn from(codec: CodecArg) -> Self {
        match codec {
            CodecArg::H264 => VideoCodec::H264,
            CodecArg::Hevc => VideoCodec::Hevc,
            CodecArg::Av1 => VideoCodec::Av1,
        }
    }
}

/// `WIDTHxHEIGHT`, even, 64 to 7680 × 64 to 4320.
pub fn parse_resolution(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{text:?} is not a resolution like 1920x1080");
    let (w, h) = text.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(64..=7680).contains(&w) || !(64..=4320).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "{text:?}: width and height must be even, 64..7680 × 64..4320"
        ));
    }
    Ok((w, h))
}

impl StreamArgs {
    /// What to ask the host for; `None` leaves everything to the
    /// application. Zero size or rate means "the application's".
    pub fn display_request(&self) -> Option<DisplayRequest> {
        let codec = self.codec.map(VideoCodec::from).filter(|codec| {
            let decodable = crate::platform::video::can_decode(*codec);
            if !decodable {
                crate::stream::ending::say(&format!(
                    "this viewer cannot decode {codec:?}; asking for H.264 instead"
                ));
            }
            decodable
        });
        if self.resolution.is_none()
            && self.fps.is_none()
            && self.bitrate_kbps.is_none()
            && codec.is_none()
        {
            return None;
        }
        let (width, height) = self.resolution.unwrap_or((0, 0));
        Some(DisplayRequest {
            width,
            height,
            fps: self.fps.unwrap_or(0),
            bitrate_kbps: self.bitrate_kbps,
            codec,
        })
    }

    /// Runs the stream (window or headless); returns the process exit code.
    pub fn run(self) -> i32 {
        let text = match (&self.url, self.url_stdin) {
            (Some(url), _) => url.clone(),
            (None, _) => {
                let mut line = String::new();
                // The URL is a few hundred bytes: bounded, so a stuck or
                // endless stdin cannot grow it.
                let _ = std::io::BufRead::read_line(
                    &mut std::io::Read::take(std::io::stdin().lock(), 4096),
                    &mut line,
                );
                line.trim().to_string()
            }
        };
        let url = match StreamUrl::parse(&text) {
            Ok(url) => url,
            Err(e) => {
                eprintln!("viewer: bad stream URL: {e}");
                crate::stream::ending::print_end_line(
                    "bad_url",
                    &format!("The link is not a stream link: {e}"),
                );
                return 2;
            }
        };
        let request = self.display_request();
        let duration = self.duration.map(Duration::from_secs_f64);
        let audio = if self.mute {
            crate::platform::audio::AudioOutput::Muted
        } else {
            crate::platform::audio::AudioOutput::Device(self.audio_device.clone())
        };
        if self.headless {
            let synthetic = crate::stream::synthetic_input::SyntheticInput {
                count: self.send_keys.max(self.send_input),
                mixed: self.send_input > 0,
                clipboard: self.clipboard,
            };
            crate::stream::headless::run(url, self.media_via, synthetic, request, duration, audio)
        } else {
            let options = WindowOptions {
                fullscreen: self.fullscreen,
                vsync: !self.no_vsync,
                renderer: self.renderer,
                mouse: self.mouse,
                overlay: !self.no_overlay,
                chord: self.shortcut_modifiers,
            };
            crate::stream::window::run(url, self.media_via, request, duration, audio, options)
        }
    }
}
