//! The viewer: connects to a host, decodes and shows the stream (a winit
//! window drawn with pixels and an egui overlay), or runs headless for tests.

pub mod audio;
pub mod connect;
pub mod freq;
pub mod headless;
pub mod net;
pub mod signin;
pub mod stats;
pub mod stream;
pub mod synthetic_input;
pub mod video;
pub mod window;
