//! `viewer stream`: its arguments (`args`), the connection and the network
//! driver (`connect`, `net`), the window with its overlay and input
//! capture (`window`) or the headless mode (`headless`), and how a stream
//! ended (`ending`).
//!
//! This module holds one running stream: the network task on its own tokio
//! runtime thread and the decoder threads, wired with bounded channels. Both
//! the window and the headless mode drive this; neither touches a socket.

pub mod args;
pub mod connect;
pub mod ending;
pub mod headless;
pub mod net;
pub mod notes;
pub mod synthetic_input;
pub mod window;

use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;

use anyhow::Context;
use common::stream_url::StreamUrl;
use tokio::sync::{mpsc, watch};

use crate::clock::SharedClock;
use crate::platform::audio::{AudioOutput, AudioThread};
use crate::platform::video::{Display, VideoThread};
use crate::stats::StreamStats;
use crate::stream::connect::ConnectError;
use crate::stream::net::{MediaSinks, StreamEnd};

/// Frames waiting for the decoder; more means the decoder is behind.
const VIDEO_QUEUE_FRAMES: usize = 8;
/// Opus packets waiting for the audio decoder (~320 ms at 10 ms packets).
const AUDIO_QUEUE_PACKETS: usize = 32;

pub struct StreamOptions {
    pub url: StreamUrl,
    /// Send UDP here instead of to the host (an impairment relay, say).
    pub media_via: Option<std::net::SocketAddr>,
    /// Synthetic input to send (tests of reliable input).
    pub synthetic: crate::stream::synthetic_input::SyntheticInput,
    /// The size and rate to ask the host for; `None` takes the app's defaults.
    pub request: Option<common::control::DisplayRequest>,
    pub audio: AudioOutput,
    /// Pictures for a window, and how to wake it; `None` when headless.
    pub display: Option<Display>,
    /// Input from the window and gamepads; `None` when headless.
    pub input: Option<crate::input::InputReceiver>,
    /// Start the gamepad thread, sending here; `None` when headless.
    pub gamepads: Option<crate::input::InputSender>,
}

pub struct RunningStream {
    pub stats: Arc<StreamStats>,
    /// What the host says in words (gamepads, clipboard).
    pub notes: std::sync::mpsc::Receiver<crate::stream::notes::HostNote>,
    quit: watch::Sender<bool>,
    network: JoinHandle<Result<StreamEnd, ConnectError>>,
    decoders: Vec<JoinHandle<()>>,
    /// Tells the gamepad thread to stop.
    gamepads_quit: Arc<std::sync::atomic::AtomicBool>,
}

impl RunningStream {
    pub fn start(options: StreamOptions) -> anyhow::Result<RunningStream> {
        ffmpeg_next::init().context("initialising FFmpeg")?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
        let stats = Arc::new(StreamStats::default());
        let clock = Arc::new(SharedClock::default());
        let (video_tx, video_rx) = sync_channel(VIDEO_QUEUE_FRAMES);
        let (audio_tx, audio_rx) = sync_channel(AUDIO_QUEUE_PACKETS);
        let (keyframe_tx, keyframe_rx) = mpsc::channel(4);
        let (quit_tx, quit_rx) = watch::channel(false);

        let codec = Arc::new(std::sync::OnceLock::new());
        let video = VideoThread {
            codec: codec.clone(),
            frames: video_rx,
            stats: stats.clone(),
            clock: clock.clone(),
            keyframe_requests: keyframe_tx,
            display: options.display,
        };
        let audio = AudioThread {
            packets: audio_rx,
            stats: stats.clone(),
            output: options.audio,
        };
        let mut decoders = vec![
            spawn_logged("video-decode", move || {
                raise_priority("video-decode");
                video.run()
            })?,
            spawn_logged("audio-decode", move || {
                raise_priority("audio-decode");
                audio.run()
            })?,
        ];
        let sinks = MediaSinks {
            video: video_tx,
            video_codec: codec,
            audio: audio_tx,
            keyframe_requests: keyframe_rx,
        };
        let gamepads_quit = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut rumble = None;
        if let Some(input) = options.gamepads {
            // Unbounded: rumble comes a few times a second at most, paced by the host.
            let (rumble_tx, rumble_rx) = std::sync::mpsc::channel();
            rumble = Some(rumble_tx);
            decoders.push(crate::platform::gamepad::spawn(
                input,
                rumble_rx,
                gamepads_quit.clone(),
            )?);
        }
        let (notes_tx, notes) = std::sync::mpsc::channel();
        let net_options = crate::stream::net::NetOptions {
            notes: notes_tx,
            url: options.url,
            media_via: options.media_via,
            synthetic: options.synthetic,
            display: options.request,
            input: options.input,
            rumble,
        };
        let net_stats = stats.clone();
        let network = std::thread::Builder::new()
            .name("network".into())
            .spawn(move || {
                raise_priority("network");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ConnectError::Protocol(format!("tokio runtime: {e}")))?;
                runtime.block_on(crate::stream::net::run(
                    net_options,
                    sinks,
                    net_stats,
                    clock,
                    quit_rx,
                ))
            })?;
        Ok(RunningStream {
            stats,
            notes,
            quit: quit_tx,
            network,
            decoders,
            gamepads_quit,
        })
    }

    /// Asks the host to end the session (goodbye, then the final report).
    pub fn quit(&self) {
        let _ = self.quit.send(true);
    }

    pub fn is_finished(&self) -> bool {
        self.network.is_finished()
    }

    /// Waits for the network task and the decoders to finish.
    pub fn join(self) -> Result<StreamEnd, ConnectError> {
        let end = self
            .network
            .join()
            .unwrap_or_else(|_| Err(ConnectError::Protocol("network thread panicked".into())));
        self.gamepads_quit
            .store(true, std::sync::atomic::Ordering::Relaxed);
        for decoder in self.decoders {
            let _ = decoder.join();
        }
        end
    }
}

/// A thread a frame passes through asks to run ahead of the rest of the
/// machine (see `common::thread_priority`); a refusal is logged, not fatal.
pub(crate) fn raise_priority(thread: &str) {
    if let Err(why) = common::thread_priority::raise_for_media() {
        tracing::info!(thread, why = %why, "normal thread priority");
    }
}

fn spawn_logged(
    name: &str,
    body: impl FnOnce() -> anyhow::Result<()> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let thread_name = name.to_string();
    std::thread::Builder::new().name(thread_name.clone()).spawn(move || {
        if let Err(e) = body() {
            tracing::error!(thread = %thread_name, error = %format!("{e:#}"), "decoder stopped");
        }
    })
}
