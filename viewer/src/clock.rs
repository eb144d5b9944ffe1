//! Our wall clock in microseconds, and the host's as clock sync estimates
//! it: the network task sets the offset, the decoder threads read it.

use std::sync::atomic::{AtomicI64, Ordering};

pub fn unix_now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The host clock minus ours, shared with the decoder threads.
#[derive(Debug, Default)]
pub struct SharedClock {
    /// Set by the network task from clock sync.
    pub(crate) offset_us: AtomicI64,
}

impl SharedClock {
    pub fn host_now_us(&self) -> u64 {
        unix_now_us().saturating_add_signed(self.offset_us())
    }

    pub fn offset_us(&self) -> i64 {
        self.offset_us.load(Ordering::Relaxed)
    }
}
