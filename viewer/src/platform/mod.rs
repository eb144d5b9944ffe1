//! What the stream runs on: video decoders and the picture handed to a
//! window (`video`), presenting it (`present`: GPU or software), audio playback with its jitter buffer (`audio`,
//! `jitter`, `freq`), gamepads (`gamepad`), and what differs between operating
//! systems for files and child processes (`files`). Nothing here imports
//! `crate::stream`; what both sides share (statistics, the input channel,
//! the clock) sits at the crate root.

pub mod audio;
pub mod files;
pub mod freq;
pub mod gamepad;
pub mod jitter;
pub mod present;
pub mod video;
