//! Test support, free of I/O: a seeded network emulator, and a simulator
//! that runs the product's own session machines over it in virtual time.

pub mod driver;
pub mod link;

pub use driver::{SimConfig, SimReport, simulate};
pub use link::{Impairments, Link, LinkStats};
