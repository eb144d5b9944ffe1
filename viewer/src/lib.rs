//! The viewer: the launcher (an eframe window: hosts, sign-in, applications,
//! settings) and the stream it starts as a child process, which connects to
//! a host, decodes and shows the stream (a winit window drawn with pixels
//! and an egui overlay), or runs headless for tests.
//!
//! Parts: `launcher`, `stream` (arguments, network driver, window, overlay,
//! input capture, headless mode), `platform` (decoders, audio output,
//! gamepads), which never imports `stream`. At the root: the `signin`
//! command, and what `stream` and `platform` share: `stats`, the `input`
//! channel and the `clock`.

pub mod clock;
pub mod input;
pub mod launcher;
pub mod platform;
pub mod signin;
pub mod stats;
pub mod stream;
