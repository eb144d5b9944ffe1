//! Platform boundary: the traits the pipeline is written against, a synthetic
//! implementation of each for tests, and the real backends. Every
//! `#[cfg(target_os)]` of the host lives under this module.

pub mod convert;
pub mod cpal_audio;
pub mod cpu;
pub mod ffmpeg_audio;
pub mod ffmpeg_video;
pub mod gamepad;
pub mod i420;
#[cfg(unix)]
pub mod private_dir;
#[cfg(target_os = "linux")]
pub mod sandbox;
pub mod synthetic;
#[cfg(target_os = "linux")]
pub mod uinput_pads;
#[cfg(target_os = "linux")]
pub mod x11;
pub mod x264_video;
#[cfg(target_os = "linux")]
pub mod xvfb;

use std::path::Path;

use anyhow::Context;

pub use convert::BgraView;
pub use i420::I420Frame;

/// A BGRA picture (the layout X11 capture produces), for sources that draw
/// their own (the test pattern) and for tests.
#[derive(Debug, Clone)]
pub struct BgraFrame {
    pub width: u32,
    pub height: u32,
    /// Bytes per row.
    pub stride: usize,
    pub data: Vec<u8>,
}

impl BgraFrame {
    pub fn new(width: u32, height: u32) -> Self {
        let stride = width as usize * 4;
        BgraFrame {
            width,
            height,
            stride,
            data: vec![0; stride * height as usize],
        }
    }

    pub fn view(&self) -> BgraView<'_> {
        BgraView {
            data: &self.data,
            stride: self.stride,
            width: self.width,
            height: self.height,
        }
    }
}

/// Whether a capture produced a new picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captured {
    New,
    /// Nothing was drawn since the last capture; the frame was not written
    /// (it holds whatever picture it held: frames rotate between threads).
    Unchanged,
}

/// What the pipeline asks of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grab {
    /// A source that can tell nothing was drawn answers `Unchanged`.
    IfChanged,
    /// A picture is wanted anyway (the refresh of an unchanged picture, a
    /// keyframe asked for).
    Always,
}

/// Something that produces pictures to stream. Made and used on the
/// capture thread (a scaler's FFmpeg context is not `Send`).
pub trait VideoSource {
    /// The stream's size: every frame handed to `capture` is this size.
    fn size(&self) -> (u32, u32);
    /// Fills `frame` with the picture at `capture_us` (host clock) as I420,
    /// scaled to the stream's size if the captured picture is another size
    /// (a resized window).
    fn capture(
        &mut self,
        capture_us: u64,
        grab: Grab,
        frame: &mut I420Frame,
    ) -> anyhow::Result<Captured>;
}

/// Where the viewer's input goes (XTest, uinput, or a log in tests). Runs
/// on the session's input thread.
pub trait InputSink: Send {
    /// `seq` is the viewer's sequence number of the event.
    fn apply(&mut self, seq: u64, event: &common::control::InputEvent) -> anyhow::Result<()>;
    /// Returns once everything applied so far has reached its destination.
    fn flush(&mut self) -> anyhow::Result<()>;
}

/// One encoded access unit, and how long encoding it took.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    pub data: Vec<u8>,
    pub keyframe: bool,
    pub encode_us: u64,
}

/// The host's encoder for `settings`' codec: H.264 through libx264 itself
/// (each picture's quantizer from the host's rate control), HEVC and AV1
/// through FFmpeg.
pub fn open_video_encoder(
    settings: &ffmpeg_video::EncoderSettings,
) -> anyhow::Result<Box<dyn VideoEncoder>> {
    Ok(match settings.codec {
        common::control::VideoCodec::H264 => Box::new(x264_video::X264Encoder::new(settings)?),
        _ => Box::new(ffmpeg_video::FfmpegVideoEncoder::new(settings)?),
    })
}

/// Made and used on one thread (FFmpeg and x264 handles are not `Send`).
pub trait VideoEncoder {
    /// Encodes one picture of the stream's size; with low-latency settings
    /// one picture gives at most one access unit, and it comes out right
    /// away. The encoder sets the frame's timestamp and picture type.
    fn encode(
        &mut self,
        frame: &mut I420Frame,
        force_keyframe: bool,
    ) -> anyhow::Result<Option<EncodedVideo>>;
    /// Follows congestion control; takes effect from the next frame.
    fn set_bitrate_kbps(&mut self, bitrate_kbps: u32);
}

/// Interleaved f32 stereo at 48 kHz.
pub trait AudioSource: Send {
    fn read(&mut self, interleaved: &mut [f32]);
}

pub trait AudioEncoder {
    /// Samples per channel in one encoded packet.
    fn frame_samples(&self) -> usize;
    /// Encodes exactly `frame_samples()` interleaved stereo samples.
    fn encode(&mut self, interleaved: &[f32]) -> anyhow::Result<Vec<Vec<u8>>>;
}

/// Writes a secret file readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

/// Opens a regular file for reading without ever blocking in `open` (a FIFO
/// would wait for a writer); anything but a regular file is refused.
pub fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Makes an existing file readable by the owner only.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
