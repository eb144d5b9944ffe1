//! The glass-to-glass latency bench (`g2g_bench`): a game painting a time
//! code, the systems under test showing it beside it, and a sampler reading
//! both off one private X screen. See tests/src/bin/g2g_bench.rs.

pub mod code;
pub mod copy;
pub mod cpu;
pub mod game;
pub mod relay;
pub mod report;
pub mod sampler;
pub mod systems;
pub mod x11;
