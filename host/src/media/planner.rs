//! What a session streams and where its input goes, decided per session:
//! the synthetic pattern, the desktop (or a rectangle of it), or an
//! application's window — launched for the session, or the one `host run`
//! started for everyone.

use std::path::PathBuf;
use std::sync::Arc;

use common::api::Application;
use common::control::{VideoCodec, VideoParams};

use crate::apps::instance::{AppInstance, DisplayChoice, InstanceSpec, LaunchError};
use crate::media::pipeline::{AUDIO_SAMPLE_RATE_HZ, PipelineParts};
use crate::platform::cpal_audio::CpalCapture;
use crate::platform::ffmpeg_audio::OpusEncoder;
use crate::platform::ffmpeg_video::EncoderSettings;
pub use crate::platform::ffmpeg_video::can_encode;
use crate::platform::sandbox::{Grants, Sandbox};
use crate::platform::synthetic::{LoggedInput, Silence, TONE_HZ, TestPattern, Tone};
use crate::platform::x11::Rect;
use crate::platform::x11::capture::{Target, X11Capture};
use crate::platform::x11::inject::XTestInjector;
use crate::platform::{AudioSource, InputSink};

/// `--capture`: what sessions show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureMode {
    /// Applications with a command are launched and their window captured;
    /// those without stream the synthetic pattern.
    Apps,
    /// Every session streams the X display (or a rectangle of it); nothing is launched.
    Desktop(Option<Rect>),
    /// Every session streams the synthetic pattern (tests, benchmarks).
    Synthetic,
}

impl std::str::FromStr for CaptureMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "apps" => Ok(CaptureMode::Apps),
            "synthetic" => Ok(CaptureMode::Synthetic),
            "desktop" => Ok(CaptureMode::Desktop(None)),
            _ => match text.strip_prefix("desktop:") {
                Some(rect) => Ok(CaptureMode::Desktop(Some(rect.parse()?))),
                None => Err(format!(
                    "{text:?}: expected apps, synthetic, desktop or desktop:X,Y,WxH"
                )),
            },
        }
    }
}

/// `--audio`: where sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioChoice {
    Tone,
    /// A cpal input device, by (part of) its name, or `default`.
    Device(String),
}

type Factory<T> = Box<dyn FnOnce() -> anyhow::Result<T> + Send>;

/// What one session streams.
pub struct SessionMedia {
    pub parts: PipelineParts,
    /// Made on the session's input thread.
    pub input: Factory<Box<dyn InputSink>>,
    pub app: Option<AppHandle>,
    /// The X display whose clipboard is shared with the viewer.
    pub clipboard_display: Option<String>,
}

/// The application a session shows: its own, or the shared one.
pub enum AppHandle {
    Owned(AppInstance),
    Shared(Arc<AppInstance>),
}

impl std::ops::Deref for AppHandle {
    type Target = AppInstance;

    fn deref(&self) -> &AppInstance {
        match self {
            AppHandle::Owned(instance) => instance,
            AppHandle::Shared(instance) => instance,
        }
    }
}

pub struct MediaPlanner {
    pub capture: CaptureMode,
    pub display: DisplayChoice,
    pub audio: AudioChoice,
    /// Sessions' private directories go here.
    pub run_dir: PathBuf,
    /// Extra environment for launched applications (machine role).
    pub app_env: Vec<(String, String)>,
    /// How launched applications are confined, and what they are granted
    /// (the machine role's credentials) and never granted (the data
    /// directory).
    pub sandbox: Sandbox,
    pub app_grants: Grants,
    /// The instance `host run` started, shown to every session of its app.
    pub shared: Option<Arc<AppInstance>>,
    /// Input of synthetic sessions is written here (JSON lines).
    pub input_log: Option<PathBuf>,
}

impl MediaPlanner {
    /// Decides and prepares a session's media; may launch its application
    /// (blocking: call off the async runtime).
    pub fn plan(
        &self,
        app: &Application,
        session_id: &str,
        video: &VideoParams,
    ) -> Result<SessionMedia, LaunchError> {
        let size = (video.width, video.height);
        let (display, target, handle) = match &self.capture {
            CaptureMode::Synthetic => return Ok(self.synthetic_media(video)),
            CaptureMode::Desktop(rect) => {
                let display = self.shared_display()?;
                let rect = match rect {
                    Some(rect) => *rect,
                    None => screen_rect(&display).map_err(LaunchError::Display)?,
                };
                (display, Target::Screen(rect), None)
            }
            CaptureMode::Apps => {
                let instance = match &self.shared {
                    Some(shared) if shared.name == app.name => AppHandle::Shared(shared.clone()),
                    _ if app.command.is_empty() => return Ok(self.synthetic_media(video)),
                    _ => AppHandle::Owned(AppInstance::launch(InstanceSpec {
                        app,
                        size,
                        display: &self.display,
                        env: self.app_env.clone(),
                        run_dir: self.run_dir.join(session_id),
                        sandbox: &self.sandbox,
                        grants: self.app_grants.clone(),
                        cancel: None,
                    })?),
                };
                (instance.display.clone(), instance.target(), Some(instance))
            }
        };
        let (capture_display, input_display) = (display.clone(), display.clone());
        let parts = PipelineParts {
            video: video.clone(),
            video_source: Box::new(move || {
                Ok(Box::new(X11Capture::open(&capture_display, target, size)?))
            }),
            video_encoder: encoder(video),
            audio_source: self.audio_source(),
            audio_encoder: opus(),
        };
        Ok(SessionMedia {
            parts,
            input: Box::new(move || Ok(Box::new(XTestInjector::open(&input_display, target)?))),
            app: handle,
            clipboard_display: Some(display),
        })
    }

    fn shared_display(&self) -> Result<String, LaunchError> {
        match &self.display {
            DisplayChoice::Shared(display) => Ok(display.clone()),
            _ => Err(LaunchError::Display(anyhow::anyhow!(
                "desktop capture needs an X display: set DISPLAY"
            ))),
        }
    }

    fn synthetic_media(&self, video: &VideoParams) -> SessionMedia {
        let log = self.input_log.clone();
        SessionMedia {
            parts: synthetic_parts(video),
            input: Box::new(move || {
                let file = match log {
                    Some(path) => Some(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&path)
                            .map_err(|e| {
                                anyhow::anyhow!("opening the input log {}: {e}", path.display())
                            })?,
                    ),
                    None => None,
                };
                Ok(Box::new(LoggedInput::new(file)))
            }),
            app: None,
            clipboard_display: None,
        }
    }

    fn audio_source(&self) -> Factory<Box<dyn AudioSource>> {
        match &self.audio {
            AudioChoice::Tone => {
                Box::new(|| Ok(Box::new(Tone::new(TONE_HZ, AUDIO_SAMPLE_RATE_HZ))))
            }
            AudioChoice::Device(name) => {
                let name = name.clone();
                Box::new(
                    move || match CpalCapture::open(&name, AUDIO_SAMPLE_RATE_HZ) {
                        Ok(capture) => Ok(Box::new(capture) as Box<dyn AudioSource>),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "no audio capture; streaming silence");
                            Ok(Box::new(Silence))
                        }
                    },
                )
            }
        }
    }
}

fn encoder(video: &VideoParams) -> Factory<Box<dyn crate::platform::VideoEncoder>> {
    let video = video.clone();
    Box::new(move || crate::platform::open_video_encoder(&EncoderSettings::from_params(&video)))
}

fn opus() -> Factory<Box<dyn crate::platform::AudioEncoder>> {
    Box::new(|| Ok(Box::new(OpusEncoder::new(AUDIO_SAMPLE_RATE_HZ, 10)?)))
}

/// The synthetic test pattern and tone, encoded with FFmpeg.
pub fn synthetic_parts(video: &VideoParams) -> PipelineParts {
    let source = video.clone();
    PipelineParts {
        video: video.clone(),
        video_source: Box::new(move || {
            Ok(Box::new(TestPattern::new(
                source.width,
                source.height,
                source.fps,
            )))
        }),
        video_encoder: encoder(video),
        audio_source: Box::new(|| Ok(Box::new(Tone::new(TONE_HZ, AUDIO_SAMPLE_RATE_HZ)))),
        audio_encoder: opus(),
    }
}

/// The whole screen of `display`.
pub fn screen_rect(display: &str) -> anyhow::Result<Rect> {
    let (conn, screen) = x11rb::connect(Some(display))?;
    let screen = &x11rb::connection::Connection::setup(&conn).roots[screen];
    Ok(Rect {
        x: 0,
        y: 0,
        width: screen.width_in_pixels,
        height: screen.height_in_pixels,
    })
}

/// Default bitrate for a resolution at 60 fps (Moonlight-like: 10 Mbps at
/// 720p60, 20 at 1080p60), scaled by pixel rate.
pub fn default_bitrate_kbps(width: u32, height: u32, fps: u32) -> u32 {
    let pixels_per_second = u64::from(width) * u64::from(height) * u64::from(fps);
    let per_720p60 = 1280 * 720 * 60;
    ((pixels_per_second * 10_000 / per_720p60) as u32).clamp(1_000, 100_000)
}

pub fn video_params(width: u32, height: u32, fps: u32, bitrate_kbps: Option<u32>) -> VideoParams {
    VideoParams {
        codec: VideoCodec::H264,
        width,
        height,
        fps,
        bitrate_kbps: bitrate_kbps.unwrap_or_else(|| default_bitrate_kbps(width, height, fps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_modes_parse() {
        assert_eq!("apps".parse(), Ok(CaptureMode::Apps));
        assert_eq!("desktop".parse(), Ok(CaptureMode::Desktop(None)));
        assert!(matches!(
            "desktop:0,0,640x480".parse::<CaptureMode>(),
            Ok(CaptureMode::Desktop(Some(_)))
        ));
        let error = "desktop:nope".parse::<CaptureMode>().unwrap_err();
        assert!(error.contains("X,Y,WxH"), "{error}");
        assert!("window".parse::<CaptureMode>().is_err());
    }
}
