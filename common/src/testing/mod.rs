//! Test support, free of I/O: a seeded network emulator and a two-peer
//! stream driver in virtual time.

pub mod driver;
pub mod link;

pub use driver::{CongestionConfig, SimConfig, SimReport, simulate};
pub use link::{Impairments, Link, LinkStats};
