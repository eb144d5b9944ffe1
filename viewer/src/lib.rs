//! The viewer: the launcher (an eframe window: hosts, sign-in, applications,
//! settings) and the stream it starts as a child process, which connects to
//! a host, decodes and shows the stream (a winit window drawn with pixels
//! and an egui overlay), or runs headless for tests.

pub mod audio;
pub mod connect;
pub mod ending;
pub mod freq;
pub mod gamepad;
pub mod headless;
pub mod input;
pub mod jitter;
pub mod launcher;
pub mod net;
pub mod signin;
pub mod stats;
pub mod stream;
pub mod stream_args;
pub mod synthetic_input;
pub mod video;
pub mod window;
