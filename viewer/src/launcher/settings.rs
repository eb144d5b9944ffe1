//! The launcher's settings (`settings.toml` in the config directory): what
//! every stream asks for (resolution, fps, bitrate, codec) and how its
//! window behaves. A file that does not parse never stops the launcher: it
//! opens with the defaults and says which line was wrong.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::platform::files::{Access, write_atomically};

pub const SETTINGS_FILE: &str = "settings.toml";

/// The launcher's configuration directory: `--config-dir`, else the
/// platform's (`$XDG_CONFIG_HOME/viewer` on Linux).
pub fn config_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    directories::ProjectDirs::from("org", "appstream", "viewer").map(|d| d.config_dir().into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// Whatever the application is set up for on the host.
    #[serde(rename = "app-default")]
    AppDefault,
    #[serde(rename = "720p")]
    P720,
    #[serde(rename = "1080p")]
    P1080,
    #[serde(rename = "1440p")]
    P1440,
    #[serde(rename = "4k")]
    P2160,
}

impl Resolution {
    pub const ALL: [Resolution; 5] = [
        Resolution::AppDefault,
        Resolution::P720,
        Resolution::P1080,
        Resolution::P1440,
        Resolution::P2160,
    ];

    pub fn size(self) -> Option<(u32, u32)> {
        match self {
            Resolution::AppDefault => None,
            Resolution::P720 => Some((1280, 720)),
            Resolution::P1080 => Some((1920, 1080)),
            Resolution::P1440 => Some((2560, 1440)),
            Resolution::P2160 => Some((3840, 2160)),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Resolution::AppDefault => "Application default",
            Resolution::P720 => "720p (1280×720)",
            Resolution::P1080 => "1080p (1920×1080)",
            Resolution::P1440 => "1440p (2560×1440)",
            Resolution::P2160 => "4K (3840×2160)",
        }
    }

    /// The bitrate at 60 fps, kbit/s (as Moonlight suggests).
    fn bitrate_at_60fps_kbps(self) -> Option<u32> {
        match self {
            Resolution::AppDefault => None,
            Resolution::P720 => Some(10_000),
            Resolution::P1080 => Some(20_000),
            Resolution::P1440 => Some(40_000),
            Resolution::P2160 => Some(80_000),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    H264,
    Hevc,
    Av1,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::H264, Codec::Hevc, Codec::Av1];

    /// As `viewer stream --codec` spells it.
    pub fn arg(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Hevc => "hevc",
            Codec::Av1 => "av1",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Codec::H264 => "H.264",
            Codec::Hevc => "HEVC (H.265)",
            Codec::Av1 => "AV1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MouseMode {
    /// The pointer maps onto the picture (desktop applications).
    Absolute,
    /// The pointer is captured and moves are sent as deltas (3D games).
    Relative,
}

impl MouseMode {
    pub fn arg(self) -> &'static str {
        match self {
            MouseMode::Absolute => "absolute",
            MouseMode::Relative => "relative",
        }
    }
}

/// How the stream window draws (the stream's `--renderer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Renderer {
    /// The GPU, unless wgpu's only adapter rasterizes on the CPU.
    Auto,
    Gpu,
    Software,
}

impl Renderer {
    pub const ALL: [Renderer; 3] = [Renderer::Auto, Renderer::Gpu, Renderer::Software];

    pub fn arg(self) -> &'static str {
        match self {
            Renderer::Auto => "auto",
            Renderer::Gpu => "gpu",
            Renderer::Software => "software",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Renderer::Auto => "Automatic",
            Renderer::Gpu => "GPU",
            Renderer::Software => "Software (no GPU)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShortcutModifiers {
    #[serde(rename = "ctrl+alt+shift")]
    CtrlAltShift,
    #[serde(rename = "ctrl+alt")]
    CtrlAlt,
}

impl ShortcutModifiers {
    pub fn arg(self) -> &'static str {
        match self {
            ShortcutModifiers::CtrlAltShift => "ctrl+alt+shift",
            ShortcutModifiers::CtrlAlt => "ctrl+alt",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ShortcutModifiers::CtrlAltShift => "Ctrl+Alt+Shift",
            ShortcutModifiers::CtrlAlt => "Ctrl+Alt",
        }
    }
}

pub const FPS_CHOICES: [u32; 3] = [30, 60, 120];
pub const BITRATE_MIN_MBPS: u32 = 1;
pub const BITRATE_MAX_MBPS: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub resolution: Resolution,
    #[serde(deserialize_with = "fps")]
    pub fps: u32,
    /// None: "auto", by resolution and fps (see [`Settings::bitrate_kbps`]).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bitrate_mbps"
    )]
    pub bitrate_mbps: Option<u32>,
    pub codec: Codec,
    pub fullscreen: bool,
    pub vsync: bool,
    pub renderer: Renderer,
    /// A cpal output device's name; None: the system's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_device: Option<String>,
    pub mouse: MouseMode,
    pub stats_overlay: bool,
    pub shortcut_modifiers: ShortcutModifiers,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resolution: Resolution::AppDefault,
            fps: 60,
            bitrate_mbps: None,
            codec: Codec::H264,
            fullscreen: false,
            vsync: true,
            renderer: Renderer::Auto,
            audio_device: None,
            mouse: MouseMode::Absolute,
            stats_overlay: true,
            shortcut_modifiers: ShortcutModifiers::CtrlAltShift,
        }
    }
}

fn fps<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let fps = u32::deserialize(d)?;
    if FPS_CHOICES.contains(&fps) {
        Ok(fps)
    } else {
        Err(serde::de::Error::custom(format!(
            "fps {fps} must be 30, 60 or 120"
        )))
    }
}

fn bitrate_mbps<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let mbps = u32::deserialize(d)?;
    if (BITRATE_MIN_MBPS..=BITRATE_MAX_MBPS).contains(&mbps) {
        Ok(Some(mbps))
    } else {
        Err(serde::de::Error::custom(format!(
            "bitrate_mbps {mbps} must be {BITRATE_MIN_MBPS} to {BITRATE_MAX_MBPS}"
        )))
    }
}

impl Settings {
    /// The bitrate "auto" stands for: 10 Mbit/s at 720p60, 20 at 1080p60,
    /// 40 at 1440p60, 80 at 4K60, scaled by fps/60. None with the
    /// application's own resolution (the host decides).
    pub fn auto_bitrate_kbps(&self) -> Option<u32> {
        let at_60 = self.resolution.bitrate_at_60fps_kbps()?;
        Some((u64::from(at_60) * u64::from(self.fps) / 60) as u32)
    }

    /// What to ask the host for: the user's choice, else the automatic one.
    pub fn bitrate_kbps(&self) -> Option<u32> {
        match self.bitrate_mbps {
            Some(mbps) => Some(mbps * 1000),
            None => self.auto_bitrate_kbps(),
        }
    }

    /// Reads `settings.toml`; a missing file is the defaults, a broken one
    /// is the defaults plus a sentence naming the line.
    pub fn load(path: &Path) -> (Settings, Option<String>) {
        match std::fs::read_to_string(path) {
            Ok(text) => match Settings::parse(&text) {
                Ok(settings) => (settings, None),
                Err(words) => (Settings::default(), Some(words)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Settings::default(), None),
            Err(e) => (
                Settings::default(),
                Some(format!(
                    "{SETTINGS_FILE} cannot be read ({e}); using the defaults."
                )),
            ),
        }
    }

    /// Parses the file's text; the error names the line (1-based).
    pub fn parse(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().trim_end_matches('.');
            match e.span() {
                Some(span) => {
                    let line = line_of(text, span.start);
                    format!("{SETTINGS_FILE} line {line}: {message}; using the defaults.")
                }
                None => format!("{SETTINGS_FILE}: {message}; using the defaults."),
            }
        })
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain fields and enums cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes the file (through a temporary file, so a crash never leaves
    /// half of one).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomically(path, self.to_toml().as_bytes(), Access::Default)
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stream_what_the_application_is_set_up_for() {
        let s = Settings::default();
        assert_eq!(s.resolution, Resolution::AppDefault);
        assert_eq!(s.fps, 60);
        assert_eq!(s.codec, Codec::H264);
        assert!(s.vsync && s.stats_overlay && !s.fullscreen);
        assert_eq!(s.mouse, MouseMode::Absolute);
        assert_eq!(s.shortcut_modifiers, ShortcutModifiers::CtrlAltShift);
        assert_eq!(s.bitrate_kbps(), None);
        // An empty file is the defaults too, and the defaults survive a round trip.
        assert_eq!(Settings::parse(""), Ok(Settings::default()));
        assert_eq!(Settings::parse(&s.to_toml()), Ok(s));
    }

    #[test]
    fn automatic_bitrate_follows_resolution_and_fps() {
        let at = |resolution, fps| {
            Settings {
                resolution,
                fps,
                ..Settings::default()
            }
            .bitrate_kbps()
        };
        assert_eq!(at(Resolution::P720, 60), Some(10_000));
        assert_eq!(at(Resolution::P1080, 60), Some(20_000));
        assert_eq!(at(Resolution::P1440, 60), Some(40_000));
        assert_eq!(at(Resolution::P2160, 60), Some(80_000));
        assert_eq!(at(Resolution::P720, 30), Some(5_000));
        assert_eq!(at(Resolution::P1080, 120), Some(40_000));
        assert_eq!(at(Resolution::P2160, 120), Some(160_000));
        assert_eq!(at(Resolution::AppDefault, 60), None);
        // Once the user picks a bitrate, it wins.
        let chosen = Settings {
            resolution: Resolution::P1080,
            bitrate_mbps: Some(35),
            ..Settings::default()
        };
        assert_eq!(chosen.bitrate_kbps(), Some(35_000));
        assert_eq!(chosen.auto_bitrate_kbps(), Some(20_000));
    }

    #[test]
    fn a_parse_error_names_the_line() {
        let text = "resolution = \"1080p\"\nfps = 60\ncodec = \"mpeg2\"\n";
        let e = Settings::parse(text).unwrap_err();
        assert!(e.starts_with("settings.toml line 3: "), "{e}");
        assert!(e.contains("mpeg2") || e.contains("variant"), "{e}");

        let e = Settings::parse("fps = 75\n").unwrap_err();
        assert!(e.starts_with("settings.toml line 1: "), "{e}");
        assert!(e.contains("fps 75 must be 30, 60 or 120"), "{e}");

        let e = Settings::parse("vsync = true\n\nbitrate_mbps = 0\n").unwrap_err();
        assert!(e.starts_with("settings.toml line 3: "), "{e}");

        let e = Settings::parse("[[[\n").unwrap_err();
        assert!(e.starts_with("settings.toml line 1: "), "{e}");
    }

    #[test]
    fn a_broken_file_loads_as_the_defaults_with_words() {
        let dir = std::env::temp_dir().join(format!("launcher-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(SETTINGS_FILE);
        assert_eq!(Settings::load(&path), (Settings::default(), None));
        std::fs::write(&path, "fullscreen = true\nmouse = \"sideways\"\n").unwrap();
        let (settings, words) = Settings::load(&path);
        assert_eq!(settings, Settings::default());
        assert!(words.unwrap().starts_with("settings.toml line 2: "));
        let chosen = Settings {
            resolution: Resolution::P1440,
            fps: 120,
            audio_device: Some("USB Audio".into()),
            ..Settings::default()
        };
        chosen.save(&path).unwrap();
        assert_eq!(Settings::load(&path), (chosen, None));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
